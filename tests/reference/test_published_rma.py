"""Published worked examples for rma, predict and confint.

Each test names the source and the page/table. Numbers printed in a paper or book are
compared at their printed precision (absolute half a unit in the last printed digit) unless a
comment documents a measured gap and its cause. Full-precision metafor values quoted by
another project (Kacker 2004 in statsmodels) are compared at relative 1e-9.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import ketameta as km
from ketameta.confint import confint
from ketameta.predict import predict

from ..conftest import load_fixture


def half_unit(decimals):
    return 0.5 * 10.0**-decimals + 1e-12


def close(actual, printed, decimals):
    assert np.asarray(actual, dtype=float) == pytest.approx(
        np.asarray(printed, dtype=float), abs=half_unit(decimals)
    )


def metafor_default_reml_tau2(yi, vi, X, threshold=1e-5):
    """tau^2 from metafor's REML Fisher scoring (HE start, stop when |step| < threshold).

    metafor's documented outputs were produced with the default threshold 1e-5, which stops
    short of the optimum (shared/README.md); with this emulation the documented values can be
    reproduced digit for digit, and with threshold -> 0 it converges to ketameta's exact root.
    """
    from ketameta._linalg import WFit

    y, v = np.asarray(yi, float), np.asarray(vi, float)
    k, p = X.shape
    ols = WFit(y, np.ones(k), X)
    tau2 = max(0.0, (float(np.dot(ols.e, ols.e)) - ols.trPD(v)) / (k - p))
    for _ in range(10_000):
        f = WFit(y, 1.0 / (v + tau2), X)
        step = (f.ypp() - f.trP()) / f.trPDPD()
        tau2 += step
        if abs(step) < threshold:
            break
    return tau2


# -- Colditz et al. (1994) BCG vaccine trials, metafor documentation (rma.uni, regplot,
#    predict.rma, confint.rma pages; tools.md sections 6.2-6.4) -------------------------------

def _bcg():
    case = load_fixture("bcg__REML_z_mods")  # yi/vi = escalc("RR") of dat.bcg, with ablat, year
    return case["input"]["yi"], case["input"]["vi"], pd.DataFrame(case["input"]["mods"])


def test_colditz1994_random_effects_reml():
    yi, vi, _ = _bcg()
    res = km.rma(yi, vi)
    close(res.tau2, 0.3132, 4)
    close(res.se_tau2, 0.1664, 4)
    close(res.I2, 92.22, 2)
    close(res.H2, 12.86, 2)
    close(res.QE, 152.2330, 4)
    close([res.beta[0], res.se[0], res.zval[0], res.ci_lb[0], res.ci_ub[0]],
          [-0.7145, 0.1798, -3.9744, -1.0669, -0.3622], 4)
    # predict(res, transf=exp): 0.4894 [0.3441, 0.6962], PI [0.1546, 1.5490]
    pr = predict(res, transf=np.exp)
    close(pr.loc[0, ["pred", "ci_lb", "ci_ub", "pi_lb", "pi_ub"]].to_numpy(),
          [0.4894, 0.3441, 0.6962, 0.1546, 1.5490], 4)
    # confint(res): tau^2 0.3132 [0.1197, 1.1115]; tau 0.5597 [0.3460, 1.0543]
    ci = confint(res).random
    close(ci.loc["tau^2", ["ci_lb", "ci_ub"]].to_numpy(), [0.1197, 1.1115], 4)
    close(ci.loc["tau", ["ci_lb", "ci_ub"]].to_numpy(), [0.3460, 1.0543], 4)
    # The documented I^2 bounds (81.9177, 97.6781) were printed from a run with metafor's
    # default confint tolerance (uniroot tol ~1.2e-4 on tau^2); at the exact roots the lower
    # bound is 81.9206. The upper bound agrees at the printed precision.
    close(ci.loc["I^2(%)", "ci_ub"], 97.6781, 4)
    assert ci.loc["I^2(%)", "ci_lb"] == pytest.approx(81.9177, abs=0.005)


def test_colditz1994_meta_regression_ablat():
    yi, vi, mods = _bcg()
    exact = km.rma(yi, vi, mods=mods[["ablat"]])
    X = exact.X
    # The documented output is a default-threshold run: its tau^2 (0.076355) prints as 0.0764,
    # while the exact REML root is 0.076348. Reproduce the documented numbers at that tau^2 ...
    t_doc = metafor_default_reml_tau2(yi, vi, X)
    close(t_doc, 0.0764, 4)
    res = km.rma(yi, vi, mods=mods[["ablat"]], tau2=t_doc)
    # ... and check that the same iteration run to convergence gives ketameta's estimate.
    assert metafor_default_reml_tau2(yi, vi, X, threshold=1e-15) == pytest.approx(
        exact.tau2, rel=1e-10)
    # SE(tau^2) = sqrt(2 / tr(PP)) evaluated at the documented run's tau^2
    from ketameta._linalg import WFit

    fit_doc = WFit(np.asarray(yi), 1.0 / (np.asarray(vi) + t_doc), X)
    close(np.sqrt(2.0 / fit_doc.trPDPD()), 0.0591, 4)
    close(res.I2, 68.39, 2)
    t_re_doc = metafor_default_reml_tau2(yi, vi, np.ones((len(yi), 1)))
    close(100 * (t_re_doc - t_doc) / t_re_doc, 75.62, 2)
    assert exact.R2 == pytest.approx(75.62, abs=0.01)  # exact: 75.6266
    close(res.QE, 30.7331, 4)
    close(res.QM, 16.3571, 4)
    close(res.beta, [0.2515, -0.0291], 4)
    close(res.se, [0.2491, 0.0072], 4)
    close(res.ci_lb, [-0.2368, -0.0432], 4)
    # predict(res, newmods=c(10, ..., 60), transf=exp)
    pr = predict(res, newmods=[10, 20, 30, 40, 50, 60], transf=np.exp)
    close(pr["pred"], [0.9612, 0.7185, 0.5371, 0.4015, 0.3001, 0.2243], 4)
    close(pr["pi_ub"], [1.8478, 1.3117, 0.9600, 0.7266, 0.5678, 0.4552], 4)
    ci = confint(exact).random
    # documented with confint's default uniroot tolerance (eps^0.25 = 1.2e-4 on tau^2): the
    # exact upper root is 0.784835 (printed 0.7849); allow that tolerance, not more
    assert ci.loc["tau^2", ["ci_lb", "ci_ub"]].to_numpy() == pytest.approx(
        [0.0167, 0.7849], abs=1.22e-4)
    # knha (tools.md 6.9e, local re-run of metafor 3.8.1): F(1, 11) = 12.5905
    rk = km.rma(yi, vi, mods=mods[["ablat"]], test="knha", tau2=t_doc)  # default-run tau^2
    close(rk.QM, 12.5905, 4)
    close(rk.se, [0.2839, 0.0082], 4)


def test_colditz1994_meta_regression_ablat_year():
    yi, vi, mods = _bcg()
    exact = km.rma(yi, vi, mods=mods[["ablat", "year"]])
    close(exact.tau2, 0.1108, 4)
    close(exact.R2, 64.63, 2)
    close(exact.QE, 28.3251, 4)
    # exact optimum: QM = 12.20449 (the metafor fixture at threshold 1e-12 agrees, see
    # test_metafor_rma.py); the documented 12.2043 is reproduced at the default-threshold tau^2
    res = km.rma(yi, vi, mods=mods[["ablat", "year"]],
                 tau2=metafor_default_reml_tau2(yi, vi, exact.X))
    close(res.QM, 12.2043, 4)
    close(res.beta, [-3.5455, -0.0280, 0.0019], 4)
    close(res.se, [29.0959, 0.0102, 0.0147], 4)


# -- Viechtbauer (2005), J Educ Behav Stat 30:261-293, pp. 271-272 (tools.md 6.12) ---------------

V2005_1 = (
    [-0.581, 0.530, 0.771, 1.031, 0.553, 0.295, 0.078, 0.573, -0.176, -0.232],
    [0.023, 0.052, 0.060, 0.115, 0.095, 0.203, 0.200, 0.211, 0.051, 0.040],
    {  # method: tau2, I2, H2, SE(tau2)
        "HS": (0.2282, 77.2284, 4.3914, 0.1328), "HE": (0.1484, 68.7988, 3.2050, 0.1234),
        "DL": (0.2768, 80.4447, 5.1137, 0.1841), "ML": (0.1967, 74.5098, 3.9231, 0.1255),
        "REML": (0.2232, 76.8399, 4.3178, 0.1464), "EB": (0.1920, 74.0511, 3.8537, 0.1330),
        "SJ": (0.1992, 74.7545, 3.9611, 0.0979),
    },
)
V2005_2 = (
    [0.100, -0.162, -0.090, -0.049, -0.046, -0.010, -0.431, -0.261, 0.134, 0.019, 0.175, 0.056,
     0.045, 0.103, 0.121, -0.482, 0.290, 0.342],
    [0.016, 0.015, 0.050, 0.050, 0.032, 0.052, 0.036, 0.024, 0.034, 0.033, 0.031, 0.034, 0.039,
     0.167, 0.134, 0.096, 0.016, 0.035],
    {
        "HS": (0.0099, 22.9266, 1.2975, 0.0138), "HE": (0.0, 0.0, 1.0, 0.0217),
        "DL": (0.0126, 27.5275, 1.3798, 0.0159), "ML": (0.0132, 28.4505, 1.3976, 0.0151),
        "REML": (0.0157, 32.0203, 1.4710, 0.0167), "EB": (0.0104, 23.7198, 1.3110, 0.0156),
        "SJ": (0.0248, 42.6734, 1.7444, 0.0118),
    },
)


@pytest.mark.parametrize("data", [V2005_1, V2005_2], ids=["example1", "example2"])
@pytest.mark.parametrize("method", ["HS", "HE", "DL", "ML", "REML", "EB", "SJ"])
def test_viechtbauer2005_tau2_estimators(data, method):
    yi, vi, table = data
    tau2, i2, h2, se = table[method]
    res = km.rma(yi, vi, method=method)
    close(res.tau2, tau2, 4)
    close(res.se_tau2, se, 4)
    if method in ("ML", "REML", "EB"):
        # The published I^2/H^2 of the iterative estimators come from iterations stopped at
        # metafor's default threshold (1e-5); at the exact optimum they differ by up to 0.0019
        # in I^2 (example 2, REML: 32.0220 vs 32.0203) and 1e-4 in H^2. tau^2 agrees at the
        # printed precision.
        assert res.I2 == pytest.approx(i2, abs=0.002)
        assert res.H2 == pytest.approx(h2, abs=2e-4)
    else:
        close(res.I2, i2, 4)
        close(res.H2, h2, 4)


# -- Raudenbush (2009), Handbook of Research Synthesis ch. 16, Table 16.3; data Raudenbush &
#    Bryk (1985), teacher expectancy (tools.md 6.9a, 6.10) ---------------------------------------

R1985_YI = [0.03, 0.12, -0.14, 1.18, 0.26, -0.06, -0.02, -0.32, 0.27, 0.80, 0.54, 0.18, -0.02,
            0.23, -0.18, -0.06, 0.30, 0.07, -0.07]
R1985_VI = [0.0156, 0.0216, 0.0279, 0.1391, 0.1362, 0.0106, 0.0106, 0.0484, 0.0269, 0.0630,
            0.0912, 0.0497, 0.0835, 0.0841, 0.0253, 0.0279, 0.0193, 0.0088, 0.0303]
TABLE_16_3 = {  # tau2, mu, SE(z), z, SE(knha), t(knha), CI(knha)
    "EE": (0.0, 0.0604, 0.0365, 1.6553, 0.0515, 1.1733, (-0.0477, 0.1685)),
    "ML": (0.0126, 0.0777, 0.0475, 1.6368, 0.0593, 1.3110, (-0.0468, 0.2023)),
    "REML": (0.0188, 0.0837, 0.0516, 1.6208, 0.0616, 1.3593, (-0.0457, 0.2131)),
    "DL": (0.0259, 0.0893, 0.0558, 1.6009, 0.0636, 1.4050, (-0.0442, 0.2229)),
    "HE": (0.0804, 0.1143, 0.0792, 1.4432, 0.0711, 1.6078, (-0.0351, 0.2637)),
}


@pytest.mark.parametrize("method", list(TABLE_16_3))
def test_raudenbush2009_table_16_3(method):
    tau2, mu, se, z, se_k, t_k, ci_k = TABLE_16_3[method]
    res = km.rma(R1985_YI, R1985_VI, method=method)
    rk = km.rma(R1985_YI, R1985_VI, method=method, test="knha")
    # vi are the 4-decimal values printed by metadat, so statistics may move by one unit in
    # the 4th decimal (measured: ML z 1.6369 vs 1.6368, REML t 1.3592 vs 1.3593).
    tol = 1.5e-4
    assert res.tau2 == pytest.approx(tau2, abs=tol)
    assert [res.beta[0], res.se[0], res.zval[0]] == pytest.approx([mu, se, z], abs=tol)
    assert [rk.se[0], rk.zval[0], rk.ci_lb[0], rk.ci_ub[0]] == pytest.approx(
        [se_k, t_k, *ci_k], abs=tol)
    # Raudenbush & Bryk (1985), pp. 83-92: Q = 35.8295 (35.85 in paper)
    close(res.QE, 35.8295, 4)


# -- Kacker (2004), Metrologia 41:132-136; metafor values at full precision kept in statsmodels
#    (statsmodels/stats/tests/results/results_meta.py; tools.md 6.9c) ------------------------

KACKER_Y = [61.0, 61.4, 62.21, 62.3, 62.34, 62.6, 62.7, 62.84, 65.9]
KACKER_V = [0.2025, 1.2100, 0.0900, 0.2025, 0.3844, 0.5625, 0.0676, 0.0225, 1.8225]


@pytest.mark.parametrize(
    "method,test,b,se,ci_lb,ci_ub,tau2",
    [
        ("PM", "z", 62.4076199113286, 0.338030602684471, 61.7450921043947, 63.0701477182625,
         0.705395309224248),
        ("DL", "z", 62.3901386044504, 0.245749668040304, 61.9084781058787, 62.8717991030221,
         0.288049246973751),
        ("DL", "knha", 62.3901386044504, 0.29477605699879, 61.710383798052, 63.0698934108488,
         0.288049246973751),
        ("EE", "z", 62.5833970939982, 0.107845705498231, 62.3720233953344, 62.7947707926621, 0),
        ("EE", "knha", 62.5833970939982, 0.189889223522271, 62.1455117593252, 63.0212824286713,
         0),
    ],
)
def test_kacker2004_metafor_full_precision(method, test, b, se, ci_lb, ci_ub, tau2):
    res = km.rma(KACKER_Y, KACKER_V, method=method, test=test)
    # statsmodels ran metafor with control=list(tol=1e-9) for PM, so PM is compared at 1e-9.
    np.testing.assert_allclose([res.beta[0], res.se[0], res.ci_lb[0], res.ci_ub[0]],
                               [b, se, ci_lb, ci_ub], rtol=1e-9)
    np.testing.assert_allclose(res.tau2, tau2, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(res.QE, 24.801897741835, rtol=1e-9)
    if method != "PM":
        np.testing.assert_allclose([res.I2, res.H2], [67.744403741711, 3.10023721772938],
                                   rtol=1e-9)


def test_kacker2004_table1_tau():
    # Kacker (2004) Table 1 (tau, not tau^2): PM 0.8399, CA (= Hedges, HE) 1.1837
    for method, tau in [("PM", 0.8399), ("HE", 1.1837)]:
        close(km.rma(KACKER_Y, KACKER_V, method=method).tau, tau, 4)


@pytest.mark.xfail(strict=True, reason=(
    "Kacker (2004) Table 1 prints DL tau = 0.5359; the DerSimonian-Laird formula (and metafor, "
    "whose full-precision DL tau^2 = 0.288049246973751 we match at 1e-9 above) gives "
    "sqrt(0.28805) = 0.5367. The table's DL variant is not described in the available text."))
def test_kacker2004_table1_tau_dl():
    close(km.rma(KACKER_Y, KACKER_V, method="DL").tau, 0.5359, 4)


# -- Lipsey & Wilson (2001), Practical Meta-Analysis, Exhibits 7.3 and 7.6 (tools.md 6.14) ------

LW_Y = [-0.33, 0.32, 0.39, 0.31, 0.17, 0.64, -0.33, 0.15, -0.02, 0.00]
LW_V = [0.084, 0.035, 0.017, 0.034, 0.072, 0.117, 0.102, 0.093, 0.012, 0.067]
LW_RANDOM = [0, 0, 0, 0, 0, 0, 1, 1, 1, 1]
LW_INTENSITY = [7, 3, 7, 5, 7, 7, 4, 4, 5, 6]


def test_lipsey2001_exhibit_7_3_equal_and_random_effects():
    ee = km.rma(LW_Y, LW_V, method="EE")
    close([ee.beta[0], ee.se[0], ee.zval[0], ee.pval[0], ee.ci_lb[0], ee.ci_ub[0]],
          [0.1549, 0.0609, 2.5450, 0.0109, 0.0356, 0.2742], 4)
    close([ee.QE, ee.QEp], [14.7640, 0.0976], 4)
    dl = km.rma(LW_Y, LW_V, method="DL")
    close([dl.beta[0], dl.se[0], dl.zval[0], dl.pval[0], dl.ci_lb[0], dl.ci_ub[0]],
          [0.1534, 0.0858, 1.7893, 0.0736, -0.0146, 0.3215], 4)
    close(dl.tau2, 0.025955, 6)


def test_lipsey2001_exhibits_7_4_and_7_6_fixed_effects_regression():
    an = km.rma(LW_Y, LW_V, mods=pd.DataFrame({"random": LW_RANDOM}), method="EE")
    close([an.QM, an.QMp, an.QE, an.QEp], [7.0739, 0.0078, 7.6901, 0.4643], 4)
    reg = km.rma(LW_Y, LW_V, mods=pd.DataFrame({"random": LW_RANDOM,
                                                "intensity": LW_INTENSITY}), method="EE")
    close(reg.beta, [0.32233263, -0.32978043, -0.00408559], 8)
    close(reg.se, [0.29977632, 0.13041815, 0.04928185], 8)
    close([reg.QM, reg.QMp, reg.QE, reg.QEp], [7.0807, 0.0290, 7.6832, 0.3614], 4)
