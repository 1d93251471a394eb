"""Invariants of leave1out, influence, cumul, regtest, ranktest and trimfill.

The vectorised diagnostics must equal :func:`ketameta.rma` refitted on each subset (a direct
loop here). Fits are converged to rounding level on both sides, so agreement is checked at
relative 1e-9 (measured: ~1e-13; the looser bound leaves room for the conditioning of
moderator designs).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import ketameta as km
from ketameta import _deletion
from ketameta.diagnostics import cumul, influence, leave1out
from ketameta.errors import ModelError
from ketameta.pubbias import _kendall_exact_cdf, ranktest, regtest, trimfill
from tests.conftest import load_fixture

RTOL = 1e-9
METHODS = ["REML", "ML", "PM", "EB", "DL", "HE", "HS", "SJ", "EE"]


def _bcg(mods=False):
    case = load_fixture("bcg__REML_z_mods")
    inp = case["input"]
    m = pd.DataFrame(inp["mods"]) if mods else None
    return np.asarray(inp["yi"]), np.asarray(inp["vi"]), m


def _normand():
    case = load_fixture("normand1999__REML_z")
    return np.asarray(case["input"]["yi"]), np.asarray(case["input"]["vi"])


def _close(actual, expected, what, rtol=RTOL):
    np.testing.assert_allclose(np.asarray(actual, float), np.asarray(expected, float),
                               rtol=rtol, atol=1e-11, err_msg=what)


def _refit(y, v, X, keep, res):
    fixed = res.tau2 if res.info.get("tau2_fixed") else None
    return km.rma(y[keep], v[keep], mods=X[keep], intercept=False, method=res.method,
                  test=res.test, level=res.level, tau2=fixed, r2=False)


def _check_leave1out(res, y, v, rtol=RTOL):
    out = leave1out(res)
    X = res.X
    one = res.p == 1
    for i in range(res.k):
        keep = np.arange(res.k) != i
        r = _refit(y, v, X, keep, res)
        est = out.estimate[i] if not one else [out.estimate[i]]
        _close(est, r.beta, f"estimate {i}", rtol)
        _close(out.se[i] if not one else [out.se[i]], r.se, f"se {i}", rtol)
        _close(out.pval[i] if not one else [out.pval[i]], r.pval, f"pval {i}", rtol)
        _close(out.ci_lb[i] if not one else [out.ci_lb[i]], r.ci_lb, f"ci_lb {i}", rtol)
        _close([out.tau2[i], out.Q[i], out.Qp[i], out.I2[i], out.H2[i]],
               [r.tau2, r.QE, r.QEp, r.I2, r.H2], f"heterogeneity {i}", rtol)


# -- leave1out ----------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("test", ["z", "knha", "adhoc"])
def test_leave1out_equals_refits_intercept_only(method, test):
    y, v, _ = _bcg()
    _check_leave1out(km.rma(y, v, method=method, test=test), y, v)


@pytest.mark.parametrize("method", ["REML", "ML", "DL", "EE"])
@pytest.mark.parametrize("test", ["z", "t", "knha", "adhoc"])
def test_leave1out_equals_refits_with_moderators(method, test):
    """With the raw publication year as a moderator X'WX has condition number ~2e11, and the
    refits with rma carry up to ~2e-9 relative rounding error (measured against the same
    models with centred/scaled moderators, which leave1out matches to ~1e-13), hence 1e-8."""
    y, v, mods = _bcg(mods=True)
    _check_leave1out(km.rma(y, v, mods=mods, method=method, test=test), y, v, rtol=1e-8)


def test_leave1out_large_tau2_changes_use_direct_sums():
    """dat.normand1999: deleting study 3 moves tau^2 from 0.79 to 0.31 (outside the series
    region), so that fit is summed directly; all rows must still equal refits."""
    y, v = _normand()
    res = km.rma(y, v)
    d = _deletion._Data(res)
    sums = _deletion._LeaveOneOutSums(d, d.tau2)
    out = leave1out(res)
    rho = np.abs(out.tau2 - res.tau2) * sums.s
    assert (rho > _deletion._RHO_MAX).any()
    _check_leave1out(res, y, v)


def test_leave1out_dominant_study_and_boundary():
    """One study with a tiny variance (its own term dominates every sum) and tau^2 = 0 fits."""
    y = np.array([0.10, 0.32, 0.05, 0.41, 0.22, 0.18, 0.30, 0.12])
    v = np.array([1e-6, 0.02, 0.03, 0.05, 0.04, 0.02, 0.06, 0.03])
    for method in ("REML", "ML", "PM", "DL"):
        res = km.rma(y, v, method=method)
        d = _deletion._Data(res)
        assert _deletion._LeaveOneOutSums(d, d.tau2).dominated[0]
        _check_leave1out(res, y, v)


def test_leave1out_full_estimate_zero_some_deletions_positive():
    """tau^2 = 0 for the full data (series centre 0) while some reduced fits have tau^2 > 0."""
    rng = np.random.default_rng(28)
    v = rng.uniform(0.01, 0.2, 12)
    y = rng.normal(0.1, np.sqrt(v))
    res = km.rma(y, v)
    refits = [km.rma(np.delete(y, i), np.delete(v, i)).tau2 for i in range(12)]
    assert res.tau2 == 0 and sum(t > 0 for t in refits) >= 2  # the case this test is about
    _check_leave1out(res, y, v)


def test_leave1out_fixed_tau2():
    y, v, _ = _bcg()
    res = km.rma(y, v, tau2=0.2)
    out = leave1out(res)
    assert np.all(out.tau2 == 0.2)
    _check_leave1out(res, y, v)


def test_leave1out_many_studies_rows_match_refits():
    """A larger k (series path for every row)."""
    rng = np.random.default_rng(7)
    k = 400
    v = rng.uniform(0.01, 0.4, k)
    y = rng.normal(0.2, np.sqrt(v + 0.05))
    res = km.rma(y, v)
    out = leave1out(res)
    for i in (0, 1, 137, 399):
        r = km.rma(np.delete(y, i), np.delete(v, i))
        _close([out.estimate[i], out.se[i], out.tau2[i], out.I2[i]],
               [r.beta[0], r.se[0], r.tau2, r.I2], f"row {i}")


def test_leave1out_two_studies():
    res = km.rma([0.2, 0.5], [0.04, 0.09])
    out = leave1out(res)
    _close(out.estimate, [0.5, 0.2], "estimate")
    _close(out.se, [0.3, 0.2], "se")
    assert np.all(out.tau2 == 0) and np.all(out.Q == 0) and np.all(out.Qp == 1)


def test_leave1out_inestimable_coefficient_is_nan():
    """Deleting the only study in a moderator level leaves that coefficient inestimable."""
    y = np.array([0.1, 0.3, 0.2, 0.5, 0.4, 0.25, 0.35])
    v = np.array([0.02, 0.03, 0.025, 0.04, 0.03, 0.02, 0.05])
    mods = pd.DataFrame({"g": ["a", "a", "a", "b", "b", "b", "c"]})
    res = km.rma(y, v, mods=mods)
    out = leave1out(res)
    assert np.all(np.isnan(out.estimate[6])) and np.isnan(out.tau2[6])
    assert np.all(np.isfinite(out.estimate[:6]))
    inf = influence(res)
    assert np.isnan(inf.cook_d[6]) and not inf.inf[6]


def test_leave1out_views():
    y, v, mods = _bcg(mods=True)
    out = leave1out(km.rma(y, v, slab=[f"s{i}" for i in range(13)]))
    frame = out.to_frame()
    assert frame.shape == (13, 11) and frame.index[0] == "s0"
    json.dumps(out.to_dict())
    assert "Leave-one-out" in repr(out)
    out = leave1out(km.rma(y, v, mods=mods, test="knha"))
    frame = out.to_frame()
    assert "estimate[ablat]" in frame.columns and "tval[year]" in frame.columns
    assert out.estimate.shape == (13, 3)
    assert "tau2" not in leave1out(km.rma(y, v, method="EE")).to_frame().columns


# -- influence ------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["REML", "DL", "EE"])
@pytest.mark.parametrize("test", ["z", "knha", "adhoc"])
def test_influence_matches_refits_and_definitions(method, test):
    y, v, mods = _bcg(mods=True)
    res = km.rma(y, v, mods=mods, method=method, test=test)
    inf = influence(res)
    X, k, p = res.X, res.k, res.p
    svb = np.linalg.inv(res.vb)
    w = 1 / (v + res.tau2)
    for i in range(k):
        keep = np.arange(k) != i
        r = _refit(y, v, X, keep, res)
        dfb = res.beta - r.beta
        xi = X[i]
        _close(inf.tau2_del[i], r.tau2, "tau2_del")
        _close(inf.QE_del[i], r.QE, "QE_del")
        _close(inf.cook_d[i], dfb @ svb @ dfb, "cook_d")
        _close(inf.cov_r[i], np.linalg.det(r.vb) / np.linalg.det(res.vb), "cov_r")
        resid = y[i] - xi @ r.beta
        _close(inf.rstudent[i],
               resid / np.sqrt(r.s2w * (v[i] + r.tau2) + xi @ r.vb @ xi), "rstudent")
        vb_del = np.linalg.inv((X.T * (1 / (v + r.tau2))) @ X)
        _close(inf.dfbetas[i], dfb / np.sqrt(r.s2w * np.diag(vb_del)), "dfbetas")
    _close(inf.hat.sum(), p, "sum of hat values", rtol=1e-9)
    _close(inf.weight, 100 * w / w.sum(), "weights")
    rule = ((np.abs(inf.dffits) > 3 * np.sqrt(p / (k - p)))
            | (stats.chi2.cdf(inf.cook_d, p) > 0.5) | (inf.hat > 3 * p / k)
            | np.any(np.abs(inf.dfbetas) > 1, axis=1))
    assert inf.inf.tolist() == rule.tolist()


def test_influence_hat_values_sum_to_p():
    rng = np.random.default_rng(3)
    k = 30
    v = rng.uniform(0.02, 0.2, k)
    x = rng.normal(size=(k, 2))
    y = 0.3 + x @ [0.2, -0.1] + rng.normal(0, np.sqrt(v + 0.03))
    for mods in (None, x):
        res = km.rma(y, v, mods=mods)
        assert influence(res).hat.sum() == pytest.approx(res.p, rel=1e-12)


def test_influence_views():
    y, v, mods = _bcg(mods=True)
    inf = influence(km.rma(y, v, mods=mods))
    frame = inf.to_frame()
    assert list(frame.columns[:9]) == ["rstudent", "dffits", "cook_d", "cov_r", "tau2_del",
                                       "QE_del", "hat", "weight", "inf"]
    assert list(frame.columns[9:]) == ["dfbetas[intrcpt]", "dfbetas[ablat]", "dfbetas[year]"]
    d = inf.to_dict()
    json.dumps(d)
    assert d["inf"][3] is True
    assert "*" in repr(inf) and "DFBETAS" in repr(inf)


# -- cumul ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("test", ["z", "knha", "adhoc"])
def test_cumul_rows_equal_refits_and_last_row_is_full_fit(method, test):
    y, v, _ = _bcg()
    res = km.rma(y, v, method=method, test=test)
    out = cumul(res)
    for i in range(1, res.k):  # the first row has k = 1 (checked below)
        r = km.rma(y[:i + 1], v[:i + 1], method=method, test=test)
        _close([out.estimate[i], out.se[i], out.pval[i], out.ci_lb[i], out.tau2[i], out.Q[i],
                out.I2[i], out.H2[i]],
               [r.beta[0], r.se[0], r.pval[0], r.ci_lb[0], r.tau2, r.QE, r.I2, r.H2],
               f"row {i}")
    _close([out.estimate[-1], out.se[-1], out.tau2[-1]], [res.beta[0], res.se[0], res.tau2],
           "last row = full fit")
    # one study: tau^2 = 0, Q = 0, z test (metafor switches to test="z" for k = 1)
    assert out.k[0] == 1 and out.tau2[0] == 0 and out.Q[0] == 0 and out.Qp[0] == 1
    _close([out.estimate[0], out.se[0]], [y[0], np.sqrt(v[0])], "first row")


def test_cumul_order_ties_missing_and_omitted_rows():
    y, v, mods = _bcg(mods=True)
    year = mods["year"].to_numpy(float)
    out = cumul(km.rma(y, v), order=year)
    expected = np.argsort(year, kind="stable")
    assert out.order.tolist() == expected.tolist()
    r = km.rma(y[expected[:5]], v[expected[:5]])
    _close(out.estimate[4], r.beta[0], "5th cumulative estimate")
    # decreasing order
    out_d = cumul(km.rma(y, v), order=year, decreasing=True)
    assert out_d.order[0] == int(np.argmax(year))
    # a missing order value drops the study; a row omitted by rma is skipped
    yy = y.copy()
    yy[2] = np.nan
    yr = year.copy()
    yr[5] = np.nan
    res = km.rma(yy, v)
    out = cumul(res, order=yr)
    assert out.k[-1] == 11 and len(out.slab) == 11
    assert "3" not in out.slab and "6" not in out.slab


def test_cumul_views_and_errors():
    y, v, mods = _bcg(mods=True)
    out = cumul(km.rma(y, v))
    frame = out.to_frame()
    assert list(frame.columns) == ["k", "estimate", "se", "zval", "pval", "ci_lb", "ci_ub", "Q",
                                   "Qp", "tau2", "I2", "H2"]
    json.dumps(out.to_dict())
    assert "Cumulative" in repr(out)
    with pytest.raises(ModelError, match="without moderators"):
        cumul(km.rma(y, v, mods=mods))
    with pytest.raises(ModelError, match="order has 3 values"):
        cumul(km.rma(y, v), order=[1, 2, 3])


# -- errors ----------------------------------------------------------------------------------------


def test_errors_for_too_few_studies():
    one = km.rma([0.3], [0.05])
    with pytest.raises(ModelError, match="at least 2"):
        leave1out(one)
    with pytest.raises(ModelError, match="at least 2"):
        influence(one)
    with pytest.raises(ModelError, match="at least 2"):
        trimfill(one)
    two = km.rma([0.3, 0.1], [0.05, 0.02])
    with pytest.raises(ModelError, match="at least 3"):
        ranktest(two)
    with pytest.raises(ModelError, match="model='lm' needs"):
        regtest(two, model="lm")
    with pytest.raises(ModelError):
        leave1out("not a model")


def test_errors_for_unsupported_models_and_options():
    y, v, mods = _bcg(mods=True)
    res_m = km.rma(y, v, mods=mods)
    with pytest.raises(ModelError, match="without moderators"):
        trimfill(res_m)
    with pytest.raises(ModelError, match="without moderators"):
        ranktest(res_m)
    res = km.rma(y, v)
    with pytest.raises(ModelError, match="estimator"):
        trimfill(res, estimator="X0")
    with pytest.raises(ModelError, match="side"):
        trimfill(res, side="up")
    with pytest.raises(ModelError, match="sample sizes"):
        regtest(res, predictor="ni")
    with pytest.raises(ModelError, match="predictor"):
        regtest(res, predictor="foo")
    with pytest.raises(ModelError, match="full rank"):
        regtest(km.rma([0.1, 0.3, 0.2, 0.4], [0.05] * 4))


# -- trimfill --------------------------------------------------------------------------------------


@pytest.mark.parametrize("estimator", ["L0", "R0", "Q0"])
@pytest.mark.parametrize("side", ["left", "right"])
def test_trimfill_symmetric_data_gives_k0_zero(estimator, side):
    """Deviations 0.1 * (1, -2, -3, 4, -5, 6, 7, -8) around 0.5 with equal variances: the
    estimate is 0.5 and the positive ranks sum to k(k+1)/4 on either side."""
    y = 0.5 + 0.1 * np.array([1, -2, -3, 4, -5, 6, 7, -8])
    res = km.rma(y, np.full(8, 0.04))
    taf = trimfill(res, side=side, estimator=estimator)
    assert taf.k0 == 0
    assert taf.fit is res and not taf.fill.any()


def test_trimfill_filled_studies_are_reflections():
    y, v, _ = _bcg()
    res = km.rma(y, v, method="EE")
    taf = trimfill(res)
    assert taf.k0 == 4 and taf.side == "right"
    filled = taf.yi[taf.fill]
    # reflected about the last truncated estimate: the 4 smallest outcomes, mirrored
    order = np.argsort(y, kind="stable")[:4]
    beta_t = km.rma(np.delete(y, order), np.delete(v, order), method="EE").beta[0]
    _close(np.sort(filled), np.sort(2 * beta_t - y[order]), "filled outcomes")
    _close(np.sort(taf.vi[taf.fill]), np.sort(v[order]), "filled variances")
    refit = km.rma(taf.yi, taf.vi, method="EE")
    _close(taf.beta, refit.beta, "refit")
    assert taf.slab[-1] == "Filled 4"
    json.dumps(taf.to_dict())
    assert "missing studies on the right side: 4" in repr(taf)
    assert taf.to_frame()["fill"].sum() == 4


# -- regtest ---------------------------------------------------------------------------------------


def test_regtest_rma_equals_meta_regression_on_sei():
    y, v, _ = _bcg()
    for method, test in (("REML", "z"), ("DL", "knha")):
        res = km.rma(y, v, method=method, test=test)
        rt = regtest(res)
        fit = km.rma(y, v, mods=pd.DataFrame({"sei": np.sqrt(v)}), method=method, test=test)
        _close([rt.zval, rt.pval, rt.est, rt.ci_lb], [fit.zval[1], fit.pval[1], fit.beta[0],
                                                       fit.ci_lb[0]], "regtest")
        assert rt.dfs == fit.dfs


def test_regtest_lm_equals_weighted_least_squares():
    """Cross-check with statsmodels WLS (weights 1/vi, scale estimated)."""
    import statsmodels.api as sm

    y, v, _ = _bcg()
    rt = regtest(km.rma(y, v), model="lm")
    wls = sm.WLS(y, sm.add_constant(np.sqrt(v)), weights=1 / v).fit()
    _close([rt.zval, rt.pval, rt.est], [wls.tvalues[1], wls.pvalues[1], wls.params[0]], "lm")
    _close([rt.ci_lb, rt.ci_ub], wls.conf_int()[0], "lm ci")
    assert rt.dfs == wls.df_resid


def test_regtest_sample_size_predictors():
    y, v, mods = _bcg(mods=True)
    ni = np.arange(100, 1400, 100)
    res = km.rma(y, v)
    assert regtest(res, predictor="ni", ni=ni).est is None
    # with 1/ni as predictor the limit estimate (ni -> inf) is the intercept of yi ~ 1/ni
    limit = km.rma(y, v, mods=1 / ni).beta[0]
    assert regtest(res, predictor="ninv", ni=ni).est == pytest.approx(limit, rel=1e-10)
    rt = regtest(res, predictor="sqrtninv", ni=ni, model="lm")
    assert rt.dfs == 11
    # with moderators: the test works, there is no limit estimate
    rt = regtest(km.rma(y, v, mods=mods))
    assert rt.est is None and np.isfinite(rt.zval)
    json.dumps(rt.to_dict())
    assert "Regression Test" in repr(rt)


# -- ranktest --------------------------------------------------------------------------------------


def test_kendall_exact_distribution():
    for n in (2, 5, 9):
        N = n * (n - 1) // 2
        cdf = [_kendall_exact_cdf(c, n) for c in range(N + 1)]
        assert cdf[-1] == pytest.approx(1.0, abs=1e-14)
        pmf = np.diff([0.0] + cdf)
        _close(pmf, pmf[::-1], "symmetry")
    # n = 4: inversion counts 0..6 of the 24 permutations are 1, 3, 5, 6, 5, 3, 1
    _close(np.diff([0.0] + [_kendall_exact_cdf(c, 4) for c in range(7)]) * 24,
           [1, 3, 5, 6, 5, 3, 1], "Mahonian numbers")


def test_ranktest_large_k_and_ties_use_normal_approximation():
    rng = np.random.default_rng(11)
    k = 250
    v = rng.uniform(0.01, 0.3, k)
    y = rng.normal(0, np.sqrt(v))
    rk = ranktest(km.rma(y, v))
    assert not rk.exact
    w = 1 / v
    ys = (y - np.sum(w * y) / w.sum()) / np.sqrt(v - 1 / w.sum())
    ref = stats.kendalltau(ys, v, method="asymptotic")
    _close([rk.tau, rk.pval], [ref.statistic, ref.pvalue], "asymptotic")
    json.dumps(rk.to_dict())
    rk_ties = ranktest(km.rma(y[:20], np.round(v[:20], 1) + 0.05))
    assert not rk_ties.exact
