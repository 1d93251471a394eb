"""Documented metafor outputs for the diagnostics and publication-bias methods.

Sources are quoted verbatim in ../shared/reference/tools.md (metafor 5.1-12 pkgdown pages,
dat.bcg = Colditz et al. 1994 BCG trials, log risk ratios). Numbers are compared at their
printed precision (absolute half a unit in the last printed digit).

metafor's documentation runs use its default control (REML Fisher scoring stops once the
step in tau^2 is <= 1e-5), ketameta iterates to rounding level. Where that moves a printed
digit (the influence table of section 6.4: cook.d 7.3180 vs 7.3179, cov.r 1.8002 vs 1.8003,
weight 2.7919 vs 2.7920, ...; the cumulative table of section 6.6: I2 33.976 vs 33.975,
48.413 vs 48.412), the test reproduces metafor's stopping rule for every fit involved (the
full model and each reduced fit) and then matches every printed digit. Everything else is
compared with ketameta's converged results directly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import ketameta as km
from ketameta import _deletion
from ketameta.diagnostics import cumul, influence, leave1out
from ketameta.pubbias import ranktest, regtest, trimfill

from ..conftest import load_fixture
from .test_metafor_diagnostics import _metafor_default_reml_tau2


def close(actual, printed, decimals):
    tol = 0.5 * 10.0**-decimals + 1e-12
    np.testing.assert_allclose(np.asarray(actual, float), np.asarray(printed, float), rtol=0,
                               atol=tol)


def table(text):
    """Rows of a printed table -> array (the first column, a row label, is dropped)."""
    return np.array([[float(x) for x in line.split()[1:]] for line in text.strip().splitlines()])


def _bcg():
    case = load_fixture("bcg__REML_z_mods")  # yi/vi = escalc("RR") of dat.bcg, + ablat, year
    inp = case["input"]
    return np.asarray(inp["yi"]), np.asarray(inp["vi"]), pd.DataFrame(inp["mods"])


def _metafor_default_fisher(y, v, X, threshold=1e-5):
    """metafor's REML Fisher scoring with default control, for a model with design X."""
    from ketameta._linalg import WFit

    k, p = X.shape
    if k <= p:
        return 0.0
    if p == 1:
        return _metafor_default_reml_tau2(y, v, threshold)
    ols = WFit(y, np.ones(k), X)
    tau2 = max(0.0, (float(np.dot(ols.e, ols.e)) - ols.trPD(v)) / (k - p))
    change = threshold + 1
    while change > threshold:
        old = tau2
        f = WFit(y, 1.0 / (v + tau2), X)
        adj = (f.ypp() - f.trP()) / f.trPDPD()
        while tau2 + adj < 0:
            adj /= 2
        tau2 += adj
        change = abs(old - tau2)
    return tau2


@pytest.fixture
def metafor_default_subset_fits(monkeypatch):
    """Give every reduced/cumulative fit metafor's default-control REML tau^2."""

    def tau2_rows(d, sums, bad):
        n = sums.n_obs.size
        tau2 = np.zeros(n)
        for i in range(n):
            keep = _deletion._subset_rows(sums, i)
            tau2[i] = _metafor_default_fisher(d.y[keep], d.v[keep], d.X[keep])
        return tau2, np.ones(n, bool)

    monkeypatch.setattr(_deletion, "_tau2_rows", tau2_rows)


# -- section 6.4: influence(res), res <- rma(yi, vi, mods = ~ ablat + year, data=dat) ----------
#    https://wviechtb.github.io/metafor/reference/influence.rma.uni.html

INF_TABLE = """
1    0.2978  0.1785 0.0348 1.8003   0.1317 28.3142 0.1725  3.3664
2   -0.4303 -0.2368 0.0620 1.9207   0.1308 27.5744 0.2367  4.8106
3   -0.5100 -0.1094 0.0125 1.2348   0.1191 27.7572 0.0487  2.7920
4   -1.4032 -2.9415 7.3179 3.5225   0.0906 23.1836 0.8082 11.2312
5   -0.1490 -0.0263 0.0032 2.6341   0.1497 27.2543 0.2483  9.0681
6    1.0551  0.8926 0.7205 1.3621   0.0994 21.2875 0.4061 12.4817
7   -2.5961 -0.6815 0.4173 0.2379   0.0544 19.1240 0.0766  4.4008
8    0.4793  0.3703 0.1899 2.9984   0.1498 24.1266 0.3627 12.8020
9    0.2027  0.1305 0.0237 2.2071   0.1501 28.2874 0.1030  8.7848
10  -0.9872 -0.3870 0.1470 1.0702   0.1072 24.7567 0.1310  7.9919
11  -0.1197 -0.0030 0.0052 2.8336   0.1583 25.5103 0.2214 11.9238
12   1.4677  0.2171 0.0469 0.9274   0.1059 26.1197 0.0235  2.2836
13   2.1302  0.8150 0.4994 0.2178   0.0498 21.4920 0.1612  8.0630
"""
DFBS_TABLE = """
1   0.1492 -0.0622 -0.1491
2  -0.0949 -0.1001  0.0963
3  -0.0280 -0.0403  0.0283
4   2.2248 -2.5380 -2.2161
5   0.0350  0.0063 -0.0354
6   0.5935 -0.0008 -0.5954
7  -0.2659  0.5368  0.2591
8  -0.0394 -0.2110  0.0431
9   0.0728 -0.0865 -0.0718
10 -0.1188 -0.0973  0.1194
11  0.0631 -0.0343 -0.0631
12 -0.0413  0.0465  0.0419
13 -0.8276  0.6269  0.8279
"""
INF_COLS = ["rstudent", "dffits", "cook_d", "cov_r", "tau2_del", "QE_del", "hat", "weight"]


def test_bcg_influence_table_ablat_year(metafor_default_subset_fits):
    """tools.md section 6.4 (influence.rma.uni.html): every column, the dfbetas and the
    influence flag (study 4 only), with metafor's default stopping rule for all 14 fits."""
    yi, vi, mods = _bcg()
    X = np.column_stack([np.ones(yi.size), mods.to_numpy(float)])
    res = km.rma(yi, vi, mods=mods, tau2=_metafor_default_fisher(yi, vi, X))
    inf = influence(res)
    close(inf.to_frame()[INF_COLS].to_numpy(float), table(INF_TABLE), 4)
    close(inf.dfbetas, table(DFBS_TABLE), 4)
    assert inf.inf.tolist() == [i == 3 for i in range(13)]
    assert inf.coef_names == ["intrcpt", "ablat", "year"]


def test_bcg_influence_converged_flags_and_leverages():
    """Without the emulation: the same flag, and the columns whose printed digits do not
    depend on the stopping rule (tau2_del, QE_del, hat)."""
    yi, vi, mods = _bcg()
    inf = influence(km.rma(yi, vi, mods=mods))
    printed = table(INF_TABLE)
    for j in (4, 5, 6):
        close(inf.to_frame()[INF_COLS[j]], printed[:, j], 4)
    assert inf.inf.tolist() == [i == 3 for i in range(13)]


# -- section 6.6: trimfill (trimfill.html) --------------------------------------------------


def test_bcg_trimfill_random_effects():
    """tools.md 6.6: 'Estimated number of missing studies on the right side: 1 (SE = 2.4528)';
    k = 14, tau^2 0.3313 (SE = 0.1701), Q(df = 13) = 154.6750, estimate -0.6571, se 0.1785,
    ci -1.0070, -0.3072, I^2 92.14%, H^2 12.72."""
    yi, vi, _ = _bcg()
    taf = trimfill(km.rma(yi, vi))
    assert (taf.k0, taf.side, taf.estimator) == (1, "right", "L0")
    close(taf.se_k0, 2.4528, 4)
    fit = taf.fit
    assert fit.k == 14 and int(taf.fill.sum()) == 1
    close(fit.tau2, 0.3313, 4)
    close(fit.se_tau2, 0.1701, 4)
    close(fit.QE, 154.6750, 4)
    close(fit.beta[0], -0.6571, 4)
    close(fit.se[0], 0.1785, 4)
    close([fit.ci_lb[0], fit.ci_ub[0]], [-1.0070, -0.3072], 4)
    close(fit.I2, 92.14, 2)
    close(fit.H2, 12.72, 2)


def test_bcg_trimfill_random_effects_zval_default_control(monkeypatch):
    """The printed z = -3.6805 (converged: -3.68055...) needs metafor's stopping rule."""
    from ketameta import pubbias

    real = pubbias.rma

    def rma_like_metafor(yi, vi, mods=None, method="REML", **kw):
        if mods is not None or kw.get("tau2") is not None:
            return real(yi, vi, mods=mods, method=method, **kw)
        y, v = np.asarray(yi, float), np.asarray(vi, float)
        return real(y, v, method=method, tau2=_metafor_default_reml_tau2(y, v), **kw)

    monkeypatch.setattr(pubbias, "rma", rma_like_metafor)
    yi, vi, _ = _bcg()
    fit = trimfill(km.rma(yi, vi)).fit
    close(fit.zval[0], -3.6805, 4)
    close(fit.pval[0], 0.0002, 4)
    close(fit.tau, 0.5756, 4)


@pytest.mark.parametrize("estimator, se_k0", [("L0", 2.3853), ("R0", 3.1623)])
def test_bcg_trimfill_equal_effects(estimator, se_k0):
    """tools.md 6.6: EE model, 4 missing on the right (SE 2.3853 for L0, 3.1623 for R0;
    R0 test of H0: p-val = 0.0312), k = 17, Q(df = 16) = 262.7316, I^2 93.91%, H^2 16.42,
    estimate -0.2910, se 0.0383, z -7.6057, ci -0.3660, -0.2160."""
    yi, vi, _ = _bcg()
    taf = trimfill(km.rma(yi, vi, method="EE"), estimator=estimator)
    assert (taf.k0, taf.side) == (4, "right")
    close(taf.se_k0, se_k0, 4)
    if estimator == "R0":
        close(taf.p_k0, 0.0312, 4)
    else:
        assert taf.p_k0 is None
    fit = taf.fit
    assert fit.k == 17
    close(fit.QE, 262.7316, 4)
    close(fit.I2, 93.91, 2)
    close(fit.H2, 16.42, 2)
    close(fit.beta[0], -0.2910, 4)
    close(fit.se[0], 0.0383, 4)
    close(fit.zval[0], -7.6057, 4)
    close([fit.ci_lb[0], fit.ci_ub[0]], [-0.3660, -0.2160], 4)


# -- section 6.9 "Regression/rank tests on dat.bcg RE model" (local re-run, metafor 3.8.1) ---


def test_bcg_regtest_rma():
    """regtest(res): z = -0.8033, p = 0.4218, limit b = -0.5104 (CI -1.1182, 0.0974)."""
    yi, vi, _ = _bcg()
    rt = regtest(km.rma(yi, vi))
    assert rt.model == "rma" and rt.predictor == "sei" and rt.dfs is None
    close(rt.zval, -0.8033, 4)
    close(rt.pval, 0.4218, 4)
    close([rt.est, rt.ci_lb, rt.ci_ub], [-0.5104, -1.1182, 0.0974], 4)


def test_bcg_regtest_lm():
    """regtest(res, model="lm"): t = -1.4013, df = 11, p = 0.1887, b = -0.1909
    (CI -0.6753, 0.2935)."""
    yi, vi, _ = _bcg()
    rt = regtest(km.rma(yi, vi), model="lm")
    assert rt.dfs == 11
    close(rt.zval, -1.4013, 4)
    close(rt.pval, 0.1887, 4)
    close([rt.est, rt.ci_lb, rt.ci_ub], [-0.1909, -0.6753, 0.2935], 4)


def test_bcg_ranktest():
    """tools.md 6.6 (ranktest.html): Kendall's tau = 0.0256, p = 0.9524."""
    yi, vi, _ = _bcg()
    rk = ranktest(km.rma(yi, vi))
    assert rk.exact
    close(rk.tau, 0.0256, 4)
    close(rk.pval, 0.9524, 4)


# -- section 6.6: leave1out(res) on the REML RE model (leave1out.html) -------------------------

L1O_TABLE = """
-1   -0.7071 0.1900 -3.7223 0.0002 -1.0794 -0.3348 151.5826 0.0000 0.3362 93.2259 14.7622
-2   -0.6540 0.1807 -3.6195 0.0003 -1.0082 -0.2999 145.3176 0.0000 0.2926 92.2540 12.9098
-3   -0.6856 0.1857 -3.6916 0.0002 -1.0495 -0.3216 150.1970 0.0000 0.3207 92.9354 14.1551
-4   -0.6284 0.1766 -3.5580 0.0004 -0.9746 -0.2822  96.5626 0.0000 0.2628 90.4125 10.4302
-5   -0.7642 0.1918 -3.9845 0.0001 -1.1401 -0.3883 151.3200 0.0000 0.3278 92.7634 13.8187
-6   -0.7109 0.2003 -3.5499 0.0004 -1.1034 -0.3184 128.1867 0.0000 0.3596 90.9118 11.0033
-7   -0.6552 0.1805 -3.6307 0.0003 -1.0090 -0.3015 145.8296 0.0000 0.2930 92.2777 12.9495
-8   -0.7948 0.1799 -4.4184 0.0000 -1.1473 -0.4422  67.9858 0.0000 0.2732 87.0314  7.7109
-9   -0.7412 0.1967 -3.7686 0.0002 -1.1267 -0.3557 152.2051 0.0000 0.3495 93.2133 14.7346
-10  -0.6530 0.1843 -3.5439 0.0004 -1.0142 -0.2919 139.8271 0.0000 0.2987 92.2322 12.8737
-11  -0.7579 0.1958 -3.8708 0.0001 -1.1416 -0.3741 151.4655 0.0000 0.3405 91.8110 12.2114
-12  -0.7598 0.1821 -4.1727 0.0000 -1.1167 -0.4029 150.7868 0.0000 0.3082 92.6782 13.6579
-13  -0.7775 0.1855 -4.1908 0.0000 -1.1412 -0.4139 149.7884 0.0000 0.3037 92.3444 13.0623
"""


def test_bcg_leave1out_table():
    """tools.md 6.6: the whole printed table (estimate .. H2), converged results."""
    yi, vi, _ = _bcg()
    out = leave1out(km.rma(yi, vi)).to_frame()
    assert list(out.columns) == ["estimate", "se", "zval", "pval", "ci_lb", "ci_ub", "Q", "Qp",
                                 "tau2", "I2", "H2"]
    close(out.to_numpy(float), table(L1O_TABLE), 4)


# -- section 6.6: cumul(res, order=year), slab "author, year" (cumul.html, digits=3) ------------

AUTHORS = ["Aronson", "Ferguson & Simes", "Rosenthal et al", "Hart & Sutherland",
           "Frimodt-Moller et al", "Stein & Aronson", "Vandiviere et al", "TPT Madras",
           "Coetzee & Berjak", "Rosenthal et al", "Comstock et al", "Comstock & Webster",
           "Comstock et al"]  # dat.bcg, tools.md section 6.1

CUMUL_LABELS = ["Aronson, 1948", "Ferguson & Simes, 1949", "Stein & Aronson, 1953",
                "Rosenthal et al, 1960", "Rosenthal et al, 1961", "Coetzee & Berjak, 1968",
                "Comstock & Webster, 1969", "Frimodt-Moller et al, 1973",
                "Vandiviere et al, 1973", "Comstock et al, 1974", "Comstock et al, 1976",
                "Hart & Sutherland, 1977", "TPT Madras, 1980"]
# columns k estimate se zval pval ci.lb ci.ub Q Qp tau2 I2 H2 (H2 printed as a second block)
CUMUL_TABLE = """
x  1   -0.889 0.571 -1.559 0.119 -2.008  0.229   0.000 1.000 0.000  0.000  1.000
x  2   -1.325 0.349 -3.797 0.000 -2.009 -0.641   0.931 0.334 0.000  0.000  1.000
x  3   -0.972 0.245 -3.960 0.000 -1.453 -0.491   3.188 0.203 0.087 40.709  1.687
x  4   -1.001 0.222 -4.504 0.000 -1.437 -0.565   3.861 0.277 0.076 33.975  1.515
x  5   -1.101 0.200 -5.516 0.000 -1.493 -0.710   7.642 0.106 0.086 48.412  1.938
x  6   -0.973 0.188 -5.188 0.000 -1.341 -0.606  10.185 0.070 0.105 60.001  2.500
x  7   -0.901 0.191 -4.725 0.000 -1.275 -0.527  13.212 0.040 0.120 59.998  2.500
x  8   -0.789 0.197 -4.004 0.000 -1.175 -0.403  19.575 0.007 0.178 72.390  3.622
x  9   -0.866 0.196 -4.411 0.000 -1.250 -0.481  22.821 0.004 0.202 73.506  3.775
x 10   -0.785 0.180 -4.359 0.000 -1.138 -0.432  34.120 0.000 0.201 81.403  5.377
x 11   -0.708 0.178 -3.970 0.000 -1.058 -0.359  39.612 0.000 0.228 83.011  5.886
x 12   -0.795 0.180 -4.418 0.000 -1.147 -0.442  67.986 0.000 0.273 87.031  7.711
x 13   -0.715 0.180 -3.974 0.000 -1.067 -0.362 152.233 0.000 0.313 92.221 12.856
"""


def test_bcg_cumul_by_year(metafor_default_subset_fits):
    """tools.md 6.6: order (ties of 1973 kept in data order), labels and every printed value,
    with metafor's default stopping rule for the 13 cumulative fits."""
    yi, vi, mods = _bcg()
    year = mods["year"].astype(int).tolist()
    slab = [f"{a}, {y}" for a, y in zip(AUTHORS, year)]
    out = cumul(km.rma(yi, vi, slab=slab), order=year)
    frame = out.to_frame()
    assert list(frame.index) == CUMUL_LABELS
    close(frame.to_numpy(float), table(CUMUL_TABLE), 3)
