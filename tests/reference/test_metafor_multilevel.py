"""ketameta.rma_mv / robust against metafor 3.8.1 (+ clubSandwich 0.5.8).

Two kinds of reference values:

* the pinned fixtures ``rma_mv__konstantopoulos2011_3level.json`` and
  ``robust__konstantopoulos2011_CR2.json`` written by
  ``tests/reference/generate/make_metafor_fixtures.R`` (``rma.mv`` with ``rel.tol = 1e-10``);
* further values from one R session (R 4.2.2, metafor 3.8.1, metadat 1.2-0, clubSandwich 0.5.8,
  the Debian bookworm packages), printed with ``sprintf("%.15g")`` by the code below. They
  extend the fixtures to moderators, ML, a within-cluster sampling covariance (``vcalc``), CR0/CR1,
  CR2 with several coefficients (HTZ), ``rma.uni`` + CR2 with omitted rows, and profile CIs::

    library(metafor); library(clubSandwich)
    ctl <- list(rel.tol = 1e-10, eval.max = 10000, iter.max = 10000)
    k <- dat.konstantopoulos2011; k$yc <- k$year - mean(k$year)
    res <- rma.mv(yi, vi, mods = ~ yc + school, random = ~ 1 | district/school, data = k,
                  control = ctl)                                             # case A
    robust(res, cluster = k$district, clubSandwich = TRUE)                   # A, CR2
    robust(res, cluster = k$district); robust(res, k$district, adjust = FALSE)  # A, CR1/CR0
    rma.mv(yi, vi, random = ~ 1 | district/school, data = k, method = "ML", control = ctl)  # B
    V <- vcalc(vi, cluster = district, obs = school, rho = 0.5, data = k)
    res <- rma.mv(yi, V, random = ~ 1 | district/school, data = k, control = ctl)       # C
    robust(res, cluster = k$district, clubSandwich = TRUE)                   # C, CR2
    V <- vcalc(vi, cluster = district, time1 = school, phi = 0.6, data = k)
    rma.mv(yi, V, random = ~ 1 | district/school, data = k, control = ctl)  # D
    res <- rma.mv(yi, vi, random = ~ 1 | district/school, data = k, control = ctl)
    confint(res, control = list(tol = 1e-12))                                # E
    d <- dat.bangertdrowns2004
    res <- rma(yi, vi, mods = ~ length, data = d, control = list(threshold = 1e-12))  # F
    robust(res, cluster = d$grade, clubSandwich = TRUE); robust(res, cluster = d$grade)

Tolerance: ``TOL["iterative"]`` (relative 1e-6) throughout; metafor's optimiser stops at a
relative 1e-10 and ours at 1e-10 too, and the measured worst gap is ~3e-8 (sigma2 of the fixture).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import ketameta as km
from ketameta.rma import rma
from ketameta.rma_mv import rma_mv
from ketameta.robust import SmallDfWarning, robust

from ..conftest import TOL, assert_rel, load_fixture

RTOL = TOL["iterative"]

# dat.konstantopoulos2011$year (metadat 1.2-0), rows in dataset order; a district-level covariate
K_YEAR = np.array(
    [1976] * 4 + [1989] * 4 + [1994] * 3 + [1976] * 4 + [1997] * 4 + [1976] * 11 + [1997] * 11
    + [2000] * 11 + [1995] * 2 + [1994] * 2,
    dtype=float,
)
# dat.bangertdrowns2004 (metadat 1.2-0): grade and length for all 48 rows; rows 34-35 (ids 34, 35)
# have no length and are omitted by rma(), as metafor does.
BD_GRADE = [4, 2, 2, 4, 1, 4, 3, 1, 4, 1, 4, 4, 1, 4, 4, 4, 4, 4, 4, 4, 1, 3, 1, 3, 2, 3, 3, 3, 1,
            1, 1, 1, 4, 3, 4, 3, 2, 4, 4, 4, 2, 3, 4, 4, 1, 3, 2, 4]
BD_LENGTH = [15, 10, 2, 9, 14, 1, 4, 15, 4, 9, 15, 15, 8, 4, 14, 15, 4, 10, 10, 3, 24, 19, 4, 12, 1,
             1, 1, 1, 14, 20, 10, 7, 11, np.nan, np.nan, 1, 6, 15, 15, 2, 4, 24, 11, 15, 8, 15, 15,
             15]
# yi, vi of those two rows (metadat 1.2-0, dat.bangertdrowns2004[34:35, c("yi", "vi")])
BD_ROWS_34_35 = ((0.12, 0.044), (1.12, 0.129))

R = {
    "A": {
        "beta": [0.191929050825196, 0.0051112245715377, -0.00430559937431653],
        "se": [0.10002273835365, 0.00936217559845187, 0.014544354953661],
        "sigma2": [0.0702851028847264, 0.0341938112273392],
        "QE": 500.23430668802, "QM": 0.408892173257317, "QMp": 0.815098685451035,
        "logLik": -7.66613819565763, "AIC": 25.3322763913153, "BIC": 35.1837359590759,
        "AICc": 26.6088721359961,
        "CR2": {"se": [0.0985801736457641, 0.00998494334119742, 0.0122322671709884],
                "dfs": [7.91230909076508, 4.22636085314532, 2.20054150145355],
                "pval": [0.0878071853354043, 0.634320016857586, 0.755733982646111],
                "ci_lb": [-0.035836524114105, -0.0220355494047783, -0.0525973592806995],
                "ci_ub": [0.419694625764497, 0.0322579985478537, 0.0439861605320664],
                "QM": 0.191084426690239, "QMdf": [2, 2.45638200810157],
                "QMp": 0.837276025771021},
        "CR1": {"se": [0.10114629937736, 0.0100171317390134, 0.013353172649457],
                "pval": [0.0943247224231356, 0.623654362387325, 0.755384505489249],
                "QM": 0.241858942781002, "QMp": 0.790706074286575},
        "CR0": {"se": [0.0862578539358885, 0.00854263865034473, 0.0113876238979375]},
    },
    "B": {"beta": 0.184455383965623, "se": 0.0804816821655682,
          "sigma2": [0.0577383588584795, 0.0328647918613754], "logLik": -8.39493557126298,
          "AIC": 22.789871142526, "BIC": 28.8659262147314},
    "C": {"beta": 0.190519499374412, "se": 0.0861298312741682,
          "sigma2": [0.0577386307139066, 0.0452818940921675], "QE": 535.91483707405,
          "logLik": -9.05958257296374, "CR2_se": 0.0861140169316174,
          "CR2_dfs": 9.56216609864843},
    "D": {"beta": 0.180612559796233, "se": 0.0866016652653649,
          "sigma2": [0.0594429274628313, 0.046478993880146], "QE": 579.17003036133,
          "logLik": -9.69133992488566},
    "E": {"sigma2.1": [0.0222396906665036, 0.207241619212353],
          "sigma2.2": [0.0162652550139237, 0.0628275803300841]},
    "F": {"k": 46, "beta": [0.0691866104400724, 0.0149416774999111], "tau2": 0.0440990042878503,
          "CR2": {"se": [0.077002027399675, 0.00815344707619347],
                  "dfs": [2.49162633976576, 2.51356688255888],
                  "pval": [0.447159890348177, 0.181769984355306], "QM": 3.3582745919581,
                  "QMdf": [1, 2.51356688255888], "QMp": 0.181769984355306},
          "CR1": {"se": [0.090360370024267, 0.00967536150763888],
                  "pval": [0.523889009698537, 0.262513790051387], "QM": 2.3848678285849,
                  "QMp": 0.262513790051387}},
}


def _k2011():
    inp = load_fixture("rma_mv__konstantopoulos2011_3level")["input"]
    return inp["yi"], inp["vi"], inp["cluster"], inp["id"]


def _bangertdrowns48():
    """All 48 rows: the 46 of the fixture plus rows 34-35 in their dataset position."""
    inp = load_fixture("bangertdrowns2004__REML_z_mods")["input"]
    yi, vi = list(inp["yi"]), list(inp["vi"])
    (y34, v34), (y35, v35) = BD_ROWS_34_35
    return yi[:33] + [y34, y35] + yi[33:], vi[:33] + [v34, v35] + vi[33:]


# -- pinned fixtures -----------------------------------------------------------------------
def test_rma_mv_konstantopoulos2011_3level_fixture():
    case = load_fixture("rma_mv__konstantopoulos2011_3level")
    exp = case["expected"]
    yi, vi, cl, sid = _k2011()
    fit = rma_mv(yi, vi, cluster=cl, id=sid, method=case["call"]["method"])
    for key in ("beta", "se", "sigma2", "QE", "logLik"):
        assert_rel(getattr(fit, key), exp[key], RTOL, key)
    assert fit.n_clusters == 11 and fit.k == 56
    assert fit.s_nlevels == [11, 56]


def test_robust_konstantopoulos2011_CR2_fixture():
    case = load_fixture("robust__konstantopoulos2011_CR2")
    exp = case["expected"]
    yi, vi, cl, _ = _k2011()
    rob = robust(rma_mv(yi, vi, cluster=cl), cluster=cl, adjust="CR2")
    for key in ("beta", "se", "dfs", "pval"):
        assert_rel(getattr(rob, key), exp[key], RTOL, key)


# -- further metafor / clubSandwich values (R session in the module docstring) -------------
def _case_a():
    yi, vi, cl, sid = _k2011()
    mods = pd.DataFrame({"yc": K_YEAR - K_YEAR.mean(), "school": np.asarray(sid, dtype=float)})
    return rma_mv(yi, vi, cluster=cl, mods=mods), cl


def test_case_a_rma_mv_with_moderators():
    fit, _ = _case_a()
    exp = R["A"]
    for key in ("beta", "se", "sigma2", "QE", "QM", "QMp", "logLik", "AIC", "BIC", "AICc"):
        assert_rel(getattr(fit, key), exp[key], RTOL, key)
    assert fit.coef_names == ["intrcpt", "yc", "school"]


def test_case_a_robust_cr2_satterthwaite_and_htz():
    fit, cl = _case_a()
    exp = R["A"]["CR2"]
    with pytest.warns(SmallDfWarning, match="school"):
        rob = robust(fit, cluster=cl, adjust="CR2")
    for key in ("se", "dfs", "pval", "ci_lb", "ci_ub", "QM", "QMp"):
        assert_rel(getattr(rob, key), exp[key], RTOL, key)
    assert_rel(rob.QMdf, exp["QMdf"], RTOL, "QMdf")
    assert rob.QMtest == "HTZ"


@pytest.mark.parametrize("adjust", ["CR1", "CR0"])
def test_case_a_robust_cr1_cr0(adjust):
    fit, cl = _case_a()
    exp = R["A"][adjust]
    rob = robust(fit, cluster=cl, adjust=adjust)
    for key, val in exp.items():
        assert_rel(getattr(rob, key), val, RTOL, key)
    assert np.all(rob.dfs == 11 - 3)


def test_case_b_ml():
    yi, vi, cl, _ = _k2011()
    fit = rma_mv(yi, vi, cluster=cl, method="ML")
    for key, val in R["B"].items():
        assert_rel(getattr(fit, key), val, RTOL, key)


def test_case_c_sampling_covariance_from_rho():
    yi, vi, cl, _ = _k2011()
    fit = rma_mv(yi, vi, cluster=cl, rho=0.5)
    exp = R["C"]
    for key in ("beta", "se", "sigma2", "QE", "logLik"):
        assert_rel(getattr(fit, key), exp[key], RTOL, key)
    rob = robust(fit, cluster=cl)
    assert_rel(rob.se, exp["CR2_se"], RTOL, "CR2 se")
    assert_rel(rob.dfs, exp["CR2_dfs"], RTOL, "CR2 dfs")


def test_case_d_ar1_in_time():
    yi, vi, cl, sid = _k2011()
    fit = rma_mv(yi, vi, cluster=cl, rho=0.6, time=sid)
    for key, val in R["D"].items():
        assert_rel(getattr(fit, key), val, RTOL, key)


def test_case_e_profile_likelihood_ci():
    yi, vi, cl, _ = _k2011()
    ci = rma_mv(yi, vi, cluster=cl).confint()
    assert_rel(ci.random.loc["sigma^2.1", ["ci_lb", "ci_ub"]], R["E"]["sigma2.1"], RTOL, "s1")
    assert_rel(ci.random.loc["sigma^2.2", ["ci_lb", "ci_ub"]], R["E"]["sigma2.2"], RTOL, "s2")


def test_case_f_rma_uni_robust_with_omitted_rows():
    yi, vi = _bangertdrowns48()
    res = rma(yi, vi, mods=pd.DataFrame({"length": BD_LENGTH}))
    exp = R["F"]
    assert res.k == exp["k"]
    assert_rel(res.beta, exp["beta"], RTOL, "beta")
    assert_rel(res.tau2, exp["tau2"], RTOL, "tau2")
    with pytest.warns(SmallDfWarning):
        rob = robust(res, cluster=BD_GRADE)  # length 48: the two omitted rows are dropped
    for key in ("se", "dfs", "pval", "QM", "QMp"):
        assert_rel(getattr(rob, key), exp["CR2"][key], RTOL, key)
    assert_rel(rob.QMdf, exp["CR2"]["QMdf"], RTOL, "QMdf")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rob1 = robust(res, cluster=BD_GRADE, adjust="CR1")
    for key, val in exp["CR1"].items():
        assert_rel(getattr(rob1, key), val, RTOL, key)


# -- predict() on rma_mv fits and on their CR2-robust versions (metafor 3.8.1, clubSandwich) -----

def _mv_case(name):
    import pandas as pd

    d = load_fixture(name)
    inp = d["input"]
    mods = pd.DataFrame({"year_c": inp["year_c"]}) if "year_c" in inp else None
    fit = km.rma_mv(np.asarray(inp["yi"]), np.asarray(inp["vi"]), cluster=np.asarray(inp["cluster"]),
                    id=np.asarray(inp["id"]), mods=mods, method="REML")
    return d, inp, fit


def test_predict_rma_mv_with_moderator_matches_metafor():
    d, inp, fit = _mv_case("predict_mv__konstantopoulos2011_year")
    e = d["expected"]
    pr = km.predict(fit, newmods=np.asarray(inp["newmods"]))
    for col, key in (("pred", "pred"), ("se", "se"), ("ci_lb", "ci_lb"), ("ci_ub", "ci_ub"),
                     ("pi_lb", "pi_lb"), ("pi_ub", "pi_ub")):
        assert_rel(pr[col].to_numpy(), e[key], TOL["iterative"], col)


def test_predict_rma_mv_intercept_only_matches_metafor():
    d, inp, fit = _mv_case("predict_mv__konstantopoulos2011_intercept")
    e = d["expected"]
    pr = km.predict(fit)
    for col in ("pred", "se", "ci_lb", "ci_ub", "pi_lb", "pi_ub"):
        assert_rel(pr[col].to_numpy(), e[col], TOL["iterative"], col)


def test_predict_robust_cr2_uses_the_contrast_satterthwaite_df_as_metafor():
    d, inp, fit = _mv_case("predict_mv__konstantopoulos2011_year")
    r = d["expected"]["robust"]
    rob = km.robust(fit, cluster=np.asarray(inp["cluster"]), adjust="CR2")
    assert_rel(rob.dfs, r["dfs"], TOL["iterative"], "coefficient dfs")
    pr = km.predict(rob, newmods=np.asarray(inp["newmods"]))
    for col in ("pred", "se", "ci_lb", "ci_ub", "pi_lb", "pi_ub", "ddf"):
        assert_rel(pr[col].to_numpy(), r[col], TOL["iterative"], col)
    # the df of a unit contrast is the coefficient's df
    assert rob.contrast_df([0.0, 1.0]) == pytest.approx(rob.dfs[1], rel=1e-12)
