"""Property-based tests of the model code: what must hold for ANY valid input.

Hypothesis draws data sets (k effect sizes with positive sampling variances, optionally one
moderator) and checks, for every tau^2 estimator of :func:`ketameta.rma`:

* results do not depend on the order of the studies;
* location equivariance (yi + c shifts the intercept by c, leaves slopes and tau^2 alone) and
  scale equivariance (yi * c, vi * c^2 scale beta by c and tau^2 by c^2);
* tau^2 >= 0 and the usual ranges (p in [0, 1], I^2 in [0, 100], H^2 >= 1, se >= 0);
* ML and REML solve their estimating equations -- the score, computed here independently with
  dense k x k matrices, is 0 at an interior estimate and <= 0 at tau^2 = 0 -- and Paule-Mandel
  solves ``Q_gen(tau^2) = k - p`` (``Q_gen(0) <= k - p`` on the boundary);
* permutation p-values lie in ``[1/iter, 1]`` (metafor counts the observed data as one
  permutation), hence also in ``[1/(B + 1), 1]`` for B requested permutations;
* confidence intervals are ordered and contain their estimate (for tau^2 only with Paule-Mandel:
  the Q-profile interval is built from Q_gen, so an ML/REML/DL/... estimate can fall outside it,
  in metafor too); the prediction interval contains the confidence interval;
* no valid input crashes: the only exception allowed is :class:`~ketameta.errors.ModelError`;
* :func:`ketameta.escalc` symmetries: swapping the arms flips the sign of SMD/MD/OR/RR/RD and
  keeps the variance; swapping events and non-events flips the sign of the log odds ratio.

One fixed profile (``PROFILE``: derandomized, no deadline) keeps the run reproducible and under a
minute; set ``KETAMETA_HYPOTHESIS_EXAMPLES`` to explore more.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

import ketameta as km
from ketameta.errors import ModelError

N_EXAMPLES = int(os.environ.get("KETAMETA_HYPOTHESIS_EXAMPLES", "100"))
PROFILE = settings(max_examples=N_EXAMPLES, deadline=None, derandomize=True,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
                   print_blob=True)
FEW = settings(PROFILE, max_examples=max(10, N_EXAMPLES // 3))

METHODS = km.METHODS  # EE, DL, HE, HS, SJ, ML, REML, EB, PM
RANDOM_METHODS = tuple(m for m in METHODS if m != "EE")
TESTS = km.TESTS


# --------------------------------------------------------------------------- strategies

def _finite(lo, hi):
    return st.floats(min_value=lo, max_value=hi, allow_nan=False, allow_infinity=False)


@st.composite
def datasets(draw, min_k=2, max_k=12, mods=None):
    """(yi, vi, x) with positive variances; ``x`` a moderator column or None.

    Effects and variances are drawn on a common scale (so heterogeneity ranges from none to a
    lot); ``mods=None`` lets hypothesis decide whether there is a moderator.
    """
    with_mod = draw(st.booleans()) if mods is None else mods
    k = draw(st.integers(min_value=min_k + (1 if with_mod else 0), max_value=max_k))
    scale = draw(st.sampled_from([0.01, 0.3, 1.0, 10.0]))
    yi = np.array(draw(st.lists(_finite(-3, 3), min_size=k, max_size=k))) * scale
    vi = np.array(draw(st.lists(_finite(0.01, 2.0), min_size=k, max_size=k))) * scale**2
    x = None
    if with_mod:
        x = np.array(draw(st.lists(_finite(-5, 5), min_size=k, max_size=k)))
        # a moderator needs spread: no (near-)constant columns
        assume(np.ptp(x) > 1e-3)
    return yi, vi, x


def _fit(yi, vi, x, method, test="z", **kw):
    mods = None if x is None else x[:, None]
    return km.rma(yi, vi, mods=mods, method=method, test=test, **kw)


def _fit_or_skip(yi, vi, x, method, test="z"):
    """Fit; a ModelError (e.g. no convergence, collinear moderator) is legitimate: skip."""
    try:
        return _fit(yi, vi, x, method, test)
    except ModelError:
        assume(False)


def _p_ok(res):
    """p-values in [0, 1]; NaN only for 0/0 (estimate and its SE both exactly 0: a perfect fit
    under Knapp-Hartung, where metafor also gives zval = pval = NaN)."""
    p = np.asarray(res.pval, float)
    return ((p >= 0) & (p <= 1)) | (np.isnan(p) & (res.se == 0) & (res.beta == 0))


def _scale(yi, vi):
    return float(np.var(yi) + np.mean(vi))


def _close(a, b, scale=1.0, rtol=1e-6, what=""):
    a, b = np.asarray(a, float), np.asarray(b, float)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-9 * max(scale, 1e-12), err_msg=what)


# --------------------------------------------------------------------------- dense reference

def _dense(yi, vi, x, tau2):
    """W, X and P = W - W X (X'WX)^-1 X'W with dense k x k matrices."""
    k = len(yi)
    X = np.ones((k, 1)) if x is None else np.column_stack([np.ones(k), x])
    W = np.diag(1.0 / (vi + tau2))
    P = W - W @ X @ np.linalg.solve(X.T @ W @ X, X.T @ W)
    return W, X, P


def _score(yi, vi, x, tau2, method):
    """d logL / d tau^2 (times 2) for ML and REML: y'PPy - tr(W) or y'PPy - tr(P)."""
    W, _, P = _dense(yi, vi, x, tau2)
    ypp = float(yi @ P @ P @ yi)
    return ypp - (np.trace(P) if method == "REML" else np.trace(W)), ypp + np.trace(W)


def _qgen(yi, vi, x, tau2):
    """Generalised Q statistic sum w_i (y_i - x_i'b)^2 = y'Py."""
    _, _, P = _dense(yi, vi, x, tau2)
    return float(yi @ P @ yi)


# --------------------------------------------------------------------------- rma invariances

COMPARED = ("beta", "se", "pval", "ci_lb", "ci_ub", "QE", "QM", "I2", "H2")


@PROFILE
@given(data=datasets(), method=st.sampled_from(METHODS), test=st.sampled_from(TESTS),
       perm_seed=st.integers(0, 2**32 - 1))
def test_results_do_not_depend_on_study_order(data, method, test, perm_seed):
    yi, vi, x = data
    res = _fit_or_skip(yi, vi, x, method, test)
    # every residual exactly zero under Knapp-Hartung: se = 0 and the test statistic is 0/0 or
    # x/0 depending on the rounding of beta (about 1e-18 in one order, 0 in another): undefined
    assume(np.all(np.asarray(res.se) > 0))
    order = np.random.default_rng(perm_seed).permutation(len(yi))
    res2 = _fit(yi[order], vi[order], None if x is None else x[order], method, test)
    s = _scale(yi, vi)
    _close(res2.tau2, res.tau2, s, what="tau2")
    for name in COMPARED:
        _close(getattr(res2, name), getattr(res, name), s, rtol=1e-5, what=name)


@PROFILE
@given(data=datasets(), method=st.sampled_from(METHODS), c=_finite(-50, 50))
def test_location_equivariance(data, method, c):
    yi, vi, x = data
    res = _fit_or_skip(yi, vi, x, method)
    shifted = _fit(yi + c, vi, x, method)
    s = _scale(yi, vi)
    _close(shifted.tau2, res.tau2, s, what="tau2 must not change")
    expected = res.beta.copy()
    expected[0] += c
    np.testing.assert_allclose(shifted.beta, expected, rtol=1e-6,
                               atol=1e-7 * (abs(c) + math.sqrt(s)), err_msg="beta")
    _close(shifted.se, res.se, s, rtol=1e-5, what="se")
    _close(shifted.QE, res.QE, s, rtol=1e-5, what="QE")


@PROFILE
@given(data=datasets(), method=st.sampled_from(METHODS),
       c=st.one_of(_finite(0.05, 20), _finite(-20, -0.05)))
def test_scale_equivariance(data, method, c):
    yi, vi, x = data
    res = _fit_or_skip(yi, vi, x, method)
    scaled = _fit(yi * c, vi * c * c, x, method)
    s = _scale(yi, vi)
    _close(scaled.tau2, res.tau2 * c * c, s * c * c, what="tau2 scales by c^2")
    _close(scaled.beta, res.beta * c, math.sqrt(s) * abs(c), rtol=1e-5, what="beta scales by c")
    _close(scaled.se, res.se * abs(c), math.sqrt(s) * abs(c), rtol=1e-5, what="se scales by |c|")
    _close(scaled.QE, res.QE, 1.0, rtol=1e-5, what="QE is scale free")
    _close(scaled.pval, res.pval, 1.0, rtol=1e-5, what="p-values are scale free")


@PROFILE
@given(data=datasets(), method=st.sampled_from(METHODS), test=st.sampled_from(TESTS))
def test_ranges(data, method, test):
    yi, vi, x = data
    res = _fit_or_skip(yi, vi, x, method, test)
    assert math.isfinite(res.tau2) and res.tau2 >= 0
    assert np.all(np.isfinite(res.beta)) and np.all(res.se >= 0)
    assert np.all(_p_ok(res)), res.pval
    assert 0 <= res.QEp <= 1 and res.QE >= 0
    assert 0 <= res.I2 <= 100 + 1e-9
    # H^2 = (tau^2 + vt) / vt >= 1; for EE metafor reports QE / (k - p), which can be < 1
    assert res.H2 >= (0 if method == "EE" else 1 - 1e-9)
    assert np.all(res.ci_lb <= res.beta) and np.all(res.beta <= res.ci_ub)
    if res.R2 is not None:
        assert 0 <= res.R2 <= 100 + 1e-9
    d = res.to_dict()
    assert d["k"] == len(yi) and d["p"] == (1 if x is None else 2)


# --------------------------------------------------------------------------- estimating equations

@PROFILE
@given(data=datasets(), method=st.sampled_from(["REML", "ML"]))
def test_ml_reml_solve_their_estimating_equation(data, method):
    yi, vi, x = data
    res = _fit_or_skip(yi, vi, x, method)
    if res.tau2 > 0:
        score, size = _score(yi, vi, x, res.tau2, method)
        assert abs(score) <= 1e-7 * size, f"score {score:.3g} at interior tau2 = {res.tau2:.6g}"
    else:
        score, size = _score(yi, vi, x, 0.0, method)
        assert score <= 1e-9 * size, f"score {score:.3g} > 0 at tau2 = 0: the optimum is interior"


@PROFILE
@given(data=datasets())
def test_pm_solves_generalised_q_equation(data):
    yi, vi, x = data
    res = _fit_or_skip(yi, vi, x, "PM")
    df = len(yi) - (1 if x is None else 2)
    if res.tau2 > 0:
        assert _qgen(yi, vi, x, res.tau2) == pytest.approx(df, rel=1e-7)
    else:
        assert _qgen(yi, vi, x, 0.0) <= df * (1 + 1e-9)


@PROFILE
@given(data=datasets(mods=False))
def test_dl_is_the_truncated_moment_estimator(data):
    """DerSimonian-Laird, written out: max(0, (Q - (k-1)) / (sum w - sum w^2 / sum w))."""
    yi, vi, _ = data
    res = _fit_or_skip(yi, vi, None, "DL")
    w = 1 / vi
    q = float(np.sum(w * (yi - np.sum(w * yi) / np.sum(w)) ** 2))
    expected = max(0.0, (q - (len(yi) - 1)) / (np.sum(w) - np.sum(w**2) / np.sum(w)))
    _close(res.tau2, expected, _scale(yi, vi), rtol=1e-8)


# --------------------------------------------------------------------------- inference

@FEW
@given(data=datasets(max_k=9), method=st.sampled_from(METHODS), test=st.sampled_from(TESTS),
       B=st.integers(20, 120), seed=st.integers(0, 2**31 - 1))
def test_permutation_p_values_in_range(data, method, test, B, seed):
    yi, vi, x = data
    res = _fit_or_skip(yi, vi, x, method, test)
    # a perfect fit under Knapp-Hartung (se = 0, zval = 0/0 or inf) is a known, reported case:
    # see the test_regression_permutest_* tests below
    assume(np.all(res.se > 0) and np.all(np.isfinite(res.zval)))
    try:
        pt = km.permutest(res, iter=B, seed=seed)
    except ModelError as exc:  # a permuted data set whose tau^2 solver gives up
        assert any(m in str(exc) for m in _SOLVER_GAVE_UP), str(exc)
        assume(False)
    lo = 1.0 / pt.iter
    assert lo >= 1.0 / (B + 1) - 1e-15 or pt.exact
    pvals = np.atleast_1d(pt.pval)
    # NaN only where the observed statistic itself is undefined (0/0 under a perfect fit)
    undefined = ~np.isfinite(np.atleast_1d(res.zval)) & np.isnan(pvals)
    ok = undefined | ((pvals >= lo - 1e-12) & (pvals <= 1.0))
    assert np.all(ok), (pvals, res.zval, pt.iter)
    assert (math.isnan(pt.QMp) and not math.isfinite(res.QM)) or lo - 1e-12 <= pt.QMp <= 1.0
    if not pt.exact:
        assert pt.iter == B and np.all(undefined | (pvals >= 1.0 / (B + 1)))


@PROFILE
@given(data=datasets(), method=st.sampled_from(RANDOM_METHODS),
       level=st.sampled_from([80, 90, 95, 99]))
def test_confint_bounds_ordered_and_contain_estimate(data, method, level):
    yi, vi, x = data
    res = _fit_or_skip(yi, vi, x, method)
    try:
        ci = km.confint(res, level=level)
    except ModelError as exc:
        assert any(m in str(exc) for m in _SOLVER_GAVE_UP) or "needs k > p" in str(exc), str(exc)
        assume(False)
    r = ci.random
    for row in ("tau^2", "tau", "I^2(%)", "H^2"):
        assert 0 <= r.loc[row, "ci_lb"] <= r.loc[row, "ci_ub"], row
    if method in ("PM", "EB"):
        # PM solves Q_gen = k - p, which lies between the chi^2 quantiles defining the bounds
        s = _scale(yi, vi)
        assert r.loc["tau^2", "ci_lb"] <= res.tau2 + 1e-9 * s
        assert res.tau2 <= r.loc["tau^2", "ci_ub"] + 1e-9 * s
    f = ci.fixed
    assert np.all(f["ci_lb"] <= f["estimate"]) and np.all(f["estimate"] <= f["ci_ub"])


@PROFILE
@given(data=datasets(), method=st.sampled_from(METHODS), test=st.sampled_from(TESTS),
       level=st.sampled_from([80, 95, 99]))
def test_prediction_interval_contains_confidence_interval(data, method, test, level):
    yi, vi, x = data
    res = _fit_or_skip(yi, vi, x, method, test)
    newmods = None if x is None else np.linspace(x.min() - 1, x.max() + 1, 7)
    pr = km.predict(res, newmods=newmods, level=level)
    assert np.all(pr["ci_lb"] <= pr["pred"]) and np.all(pr["pred"] <= pr["ci_ub"])
    if method == "EE":
        assert "pi_lb" not in pr
    else:
        assert np.all(pr["pi_lb"] <= pr["ci_lb"] + 1e-12)
        assert np.all(pr["ci_ub"] <= pr["pi_ub"] + 1e-12)


# --------------------------------------------------------------------------- robustness

@st.composite
def any_valid_input(draw, log10_vi_range=3.0):
    """Anything the documentation calls valid: k >= 1, finite yi, vi > 0, optional mods.

    ``log10_vi_range`` bounds how many orders of magnitude the variances span around a common
    scale (itself anywhere in 1e-8 .. 1e8).
    """
    k = draw(st.integers(1, 15))
    yi = draw(st.lists(st.one_of(_finite(-1e6, 1e6), st.sampled_from([0.0, 1.0, -1.0])),
                       min_size=k, max_size=k))
    centre = draw(_finite(-8, 8))
    half = log10_vi_range / 2
    exps = draw(st.lists(st.one_of(_finite(-half, half), st.sampled_from([-half, 0.0, half])),
                         min_size=k, max_size=k))
    vi = [10.0 ** (centre + e) for e in exps]
    n_mods = draw(st.integers(0, 3))
    mods = None
    if n_mods:
        row = st.lists(_finite(-1e3, 1e3), min_size=n_mods, max_size=n_mods)
        mods = np.array(draw(st.lists(row, min_size=k, max_size=k)))
    return np.array(yi), np.array(vi), mods


#: What an iterative tau^2 solver says when it gives up (the only ModelErrors a valid, full-rank
#: model with k > p may meet; the estimators without iterations never raise).
_SOLVER_GAVE_UP = ("did not converge", "could not bracket", "not finite at tau^2 = 0")


def _known_model_error(exc, yi, mods, method):
    """A ModelError from valid input names one of the documented reasons, and that reason holds."""
    msg = str(exc)
    k = len(yi)
    X = np.ones((k, 1)) if mods is None else np.column_stack([np.ones(k), mods])
    p = X.shape[1]
    if msg.startswith("Too few studies for the model"):
        assert k < p, msg
    elif "the model is saturated" in msg or "needs more studies than coefficients" in msg:
        assert k <= p and method != "EE", msg
    elif "are zero for every study" in msg:
        assert np.any(np.all(X == 0, axis=0)), msg
    elif msg.startswith("The model matrix is not of full rank"):
        # the engine drops a column when its scaled singular values fall below 1e-10; the full
        # matrix then has a ratio at least as small
        sv = np.linalg.svd(X / np.sqrt(np.sum(X * X, axis=0)), compute_uv=False)
        assert sv[-1] / sv[0] < 1e-10 * (1 + 1e-6), (msg, sv)
    elif any(m in msg for m in _SOLVER_GAVE_UP):
        assert method in ("ML", "REML", "PM", "EB"), msg
    else:
        pytest.fail(f"unexpected ModelError for valid input: {msg}")


def _no_crash(data, method, test):
    yi, vi, mods = data
    try:
        res = km.rma(yi, vi, mods=mods, method=method, test=test)
    except ModelError as exc:
        _known_model_error(exc, yi, mods, method)
        return
    assert math.isfinite(res.tau2) and res.tau2 >= 0
    assert np.all(np.isfinite(res.beta)), res.beta
    assert np.all(np.isfinite(res.se) & (res.se >= 0)), res.se
    assert np.all(_p_ok(res)), res.pval
    d = res.to_dict()
    assert d["k"] == len(yi) and d["beta"] == [float(b) for b in res.beta] and d["tau2"] == res.tau2
    assert res.summary().splitlines()[1].startswith(res.model_label)
    pr = km.predict(res)
    fitted = res.X @ res.beta
    np.testing.assert_allclose(pr["pred"], fitted if len(pr) == res.k else fitted[:1], rtol=1e-9,
                               atol=1e-9 * (1 + np.max(np.abs(fitted))))
    if method != "EE" and res.k > res.p:
        try:
            ci = km.confint(res)
        except ModelError as exc:
            assert any(m in str(exc) for m in _SOLVER_GAVE_UP), str(exc)
        else:
            r = ci.random
            assert 0 <= r.loc["tau^2", "ci_lb"] <= r.loc["tau^2", "ci_ub"]


@PROFILE
@given(data=any_valid_input(log10_vi_range=6.0), method=st.sampled_from(METHODS),
       test=st.sampled_from(TESTS))
def test_no_crash_on_any_valid_input(data, method, test):
    """Variances within six orders of magnitude of each other (any common scale): a result
    with finite estimates, or a ModelError that says what to change; never anything else
    (ZeroDivisionError, LinAlgError, ValueError from math, ...)."""
    _no_crash(data, method, test)


@settings(PROFILE, max_examples=max(N_EXAMPLES, 150),
          phases=(Phase.explicit, Phase.reuse, Phase.generate))
@given(data=any_valid_input(log10_vi_range=16.0), method=st.sampled_from(METHODS),
       test=st.sampled_from(TESTS))
def test_no_crash_with_extreme_variance_ratios(data, method, test):
    """The same with variances from 1e-8 to 1e8 in one data set (metafor warns but fits)."""
    _no_crash(data, method, test)


@pytest.mark.parametrize("kw", [
    dict(yi=[], vi=[]),
    dict(yi=[0.1, 0.2], vi=[0.1]),
    dict(yi=[0.1, 0.2], vi=[0.1, 0.0]),
    dict(yi=[0.1, 0.2], vi=[0.1, -1.0]),
    dict(yi=[np.nan], vi=[0.1]),
    dict(yi=[0.1, 0.2, 0.3], vi=[0.1, 0.1, 0.1], method="nope"),
    dict(yi=[0.1, 0.2, 0.3], vi=[0.1, 0.1, 0.1], test="nope"),
    dict(yi=[0.1, 0.2, 0.3], vi=[0.1, 0.1, 0.1], level=100),
    dict(yi=[0.1, 0.2, 0.3], vi=[0.1, 0.1, 0.1], mods=[[1.0], [1.0], [1.0]]),
    dict(yi=[0.1, 0.2], vi=[0.1, 0.1], mods=[[1.0], [2.0]]),
], ids=["k0", "lengths", "vi0", "vi_negative", "all_missing", "method", "test", "level",
        "collinear", "saturated"])
def test_invalid_inputs_raise_model_error(kw):
    """The boundary of 'valid': these are refused with a ModelError that says why."""
    with pytest.raises(ModelError, match=r"\w"):
        km.rma(**kw)


# --------------------------------------------------------------------------- escalc

def _arms(draw, k):
    m = st.lists(_finite(-50, 50), min_size=k, max_size=k)
    sd = st.lists(_finite(0.1, 30), min_size=k, max_size=k)
    n = st.lists(st.integers(2, 500), min_size=k, max_size=k)
    return dict(m1i=draw(m), sd1i=draw(sd), n1i=draw(n), m2i=draw(m), sd2i=draw(sd), n2i=draw(n))


@st.composite
def two_arm_means(draw):
    return _arms(draw, draw(st.integers(1, 8)))


@st.composite
def two_by_two(draw):
    k = draw(st.integers(1, 8))
    n1 = draw(st.lists(st.integers(1, 300), min_size=k, max_size=k))
    n2 = draw(st.lists(st.integers(1, 300), min_size=k, max_size=k))
    ai = [draw(st.integers(0, n)) for n in n1]
    ci = [draw(st.integers(0, n)) for n in n2]
    return dict(ai=ai, bi=[n - a for n, a in zip(n1, ai)],
                ci=ci, di=[n - c for n, c in zip(n2, ci)])


def _swap_arms(d):
    return dict(m1i=d["m2i"], sd1i=d["sd2i"], n1i=d["n2i"],
                m2i=d["m1i"], sd2i=d["sd1i"], n2i=d["n1i"])


@PROFILE
@given(d=two_arm_means(), measure=st.sampled_from(["SMD", "MD"]),
       vtype=st.sampled_from(["LS", "UB"]))
def test_escalc_mean_difference_flips_sign_when_arms_swap(d, measure, vtype):
    a = km.escalc(measure, vtype=vtype, **d)
    b = km.escalc(measure, vtype=vtype, **_swap_arms(d))
    np.testing.assert_allclose(b["yi"], -a["yi"], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(b["vi"], a["vi"], rtol=1e-12)
    assert np.all(a["vi"] > 0)


@PROFILE
@given(t=two_by_two(), measure=st.sampled_from(["OR", "RR", "RD"]),
       to=st.sampled_from(["only0", "all", "none"]))
def test_escalc_2x2_flips_sign_when_groups_swap(t, measure, to):
    a = km.escalc(measure, to=to, **t)
    b = km.escalc(measure, to=to, ai=t["ci"], bi=t["di"], ci=t["ai"], di=t["bi"])
    np.testing.assert_allclose(b["yi"], -a["yi"], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(b["vi"], a["vi"], rtol=1e-12, atol=1e-15)


@PROFILE
@given(t=two_by_two(), to=st.sampled_from(["only0", "all", "none"]))
def test_escalc_odds_ratio_flips_sign_when_events_and_non_events_swap(t, to):
    a = km.escalc("OR", to=to, **t)
    b = km.escalc("OR", to=to, ai=t["bi"], bi=t["ai"], ci=t["di"], di=t["ci"])
    np.testing.assert_allclose(b["yi"], -a["yi"], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(b["vi"], a["vi"], rtol=1e-12, atol=1e-15)


@PROFILE
@given(r=st.lists(_finite(-0.99, 0.99), min_size=1, max_size=8), n=st.integers(5, 1000))
def test_escalc_correlation_is_odd(r, n):
    for measure in ("COR", "ZCOR"):
        a = km.escalc(measure, ri=r, ni=[n] * len(r))
        b = km.escalc(measure, ri=[-x for x in r], ni=[n] * len(r))
        np.testing.assert_allclose(b["yi"], -a["yi"], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(b["vi"], a["vi"], rtol=1e-12)


# --------------------------------------------------------------------------- known bugs
# Cases the properties above found (with more examples than the default profile runs). They are
# regressions found by these tests in the model engine (each fixed); each test states the
# expected behaviour.

def test_regression_dl_with_extreme_variance_ratio_does_not_crash():
    yi = np.array([0.0] * 11 + [4.0])
    vi = np.ones(12)
    vi[5] = 1e-8
    x = np.zeros(12)
    x[5], x[11] = 1.0, 2.0
    res = km.rma(yi, vi, mods=x[:, None], method="DL")
    # DL written out with dense matrices
    X = np.column_stack([np.ones(12), x])
    W = np.diag(1 / vi)
    P = W - W @ X @ np.linalg.solve(X.T @ W @ X, X.T @ W)
    expected = max(0.0, (yi @ P @ yi - 10) / np.trace(P))
    assert res.tau2 == pytest.approx(expected, rel=1e-6)
    assert math.isfinite(res.se_tau2)


def test_regression_permutest_perfect_fit_knha_does_not_crash():
    """Two identical outcomes: a perfect fit, se = 0 and zval = 0/0 under Knapp-Hartung (NaN,
    as metafor); the exact permutation test over the 2^2 sign flips reports NaN, not an error."""
    res = km.rma([0.0, 0.0], [1e-4, 1e-4], method="EE", test="knha")
    assert res.se[0] == 0 and math.isnan(res.zval[0]) and math.isnan(res.pval[0])
    pt = km.permutest(res, iter=20, seed=1)
    assert pt.exact and pt.iter == 4
    assert math.isnan(np.atleast_1d(pt.pval)[0]) and math.isnan(pt.QMp)


def test_regression_permutest_qmp_never_below_one_over_iter():
    x = np.array([1.5, 2.0, 1.0, 0.0])
    res = km.rma(0.01 * x, [1e-4] * 4, mods=x[:, None], method="EE", test="knha")
    pt = km.permutest(res, iter=20, seed=0)
    assert math.isnan(pt.QMp) or 1 / pt.iter <= pt.QMp <= 1


def test_regression_permutest_exact_test_of_a_perfect_fit():
    x = np.array([1.0, -1.0, 0.0, 0.0])
    res = km.rma(3 * x, [1e-4] * 4, mods=x[:, None], method="EE", test="knha")
    pt = km.permutest(res, iter=1000, seed=0)
    assert pt.exact
    p = np.atleast_1d(pt.pval)
    assert np.all(np.isnan(p) | ((p >= 1 / pt.iter) & (p <= 1))), (p, res.zval, pt.iter)


def test_regression_saturated_equal_effects_model():
    """k = p under EE: the fit interpolates the data (no residual df), as in metafor."""
    res = km.rma([0.1, 0.5], [1.0, 1.0], mods=[[0.0], [1.0]], method="EE")
    np.testing.assert_allclose(res.beta, [0.1, 0.4], rtol=1e-12)
    np.testing.assert_allclose(res.se, [1.0, math.sqrt(2.0)], rtol=1e-12)
    assert res.QE == 0 and res.k == res.p == 2
