"""km.rma_batch: every fit equals km.rma on the same rows.

* Property test (hypothesis draws the layout: m, k in 2..40, number of moderators, shared or
  per-fit design, mask, estimator, test; the data come from a seeded generator with
  heterogeneous sampling variances spanning three orders of magnitude).
* A seeded grid over every estimator x test x layout.
* Edge cases: one study per fit, tau^2 = 0 on the boundary, non-convergence (flagged, NaN,
  never raised), fewer valid rows than coefficients, saturated models, non-positive
  variances, rank-deficient per-fit designs, missing cells, views and input errors.

Agreement is relative 1e-10 on beta, se, tau2, the CI bounds, p-values, QE, QEp, I2, H2 and
QM (with an absolute floor at 1e-10 of the natural scale of each quantity, for values that
are 0 up to rounding, e.g. a coefficient of 1e-17), loosened to 1e-17 cond(X'WX) for
ill-conditioned designs, where two correct computations differ by their rounding.
"""

from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ketameta as km
from ketameta import _batch
from ketameta.errors import ModelError

RTOL = 1e-10
ITER_PAIRS: list = []
METHODS = list(km.METHODS)
TESTS = list(km.TESTS)


def _data(seed, m, k, q, per_fit, masked, p_keep=0.7):
    rng = np.random.default_rng(seed)
    V = np.exp(rng.uniform(np.log(1e-3), np.log(1.0), size=(m, k)))
    tau2 = rng.choice([0.0, 0.02, 0.3], size=(m, 1))
    X = None
    if q:
        X = rng.normal(size=(m, k, q) if per_fit else (k, q))
    mu = 0.3 + (0 if X is None else (X @ rng.normal(0, 0.2, q)))
    Y = mu + rng.normal(size=(m, k)) * np.sqrt(V + tau2)
    mask = rng.random((m, k)) < p_keep if masked else None
    return Y, V, X, mask


def _close(a, b, what, floor=0.0, rtol=RTOL):
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    tol = rtol * np.maximum(np.abs(b), floor)
    with np.errstate(invalid="ignore"):
        bad = ~((np.abs(a - b) <= tol) | (np.isnan(a) & np.isnan(b)) | (a == b))
    assert not bad.any(), f"{what}: {a} vs {b}"


def _check_fit(res, i, Y, V, X, mask, method, test):
    keep = np.ones(Y.shape[1], bool) if mask is None else mask[i]
    mods = None if X is None else (X if X.ndim == 2 else X[i])[keep]
    try:
        one = km.rma(Y[i][keep], V[i][keep], mods=mods, method=method, test=test, r2=False)
    except ModelError:
        assert res.status[i] != "ok" and not res.converged[i]
        assert np.isnan(res.beta[i]).all() and np.isnan(res.tau2[i])
        return False
    assert res.status[i] == "ok" and res.converged[i], res.status[i]
    assert res.k[i] == one.k
    scale = float(np.mean(V[i][keep]))
    # 1e-10, or rounding times the condition number of X'WX for ill-conditioned designs (e.g.
    # a saturated EE fit of 4 random rows: cond ~1e10, where both fits are ~5e-8 from an
    # extended-precision reference)
    xw = one.X / np.sqrt(one.vi + one.tau2)[:, None]
    rtol = max(RTOL, 1e-17 * np.linalg.cond(xw.T @ xw))
    _close(res.tau2[i], one.tau2, "tau2", floor=scale, rtol=rtol)
    _close(res.se_tau2[i], one.se_tau2, "se_tau2", floor=scale, rtol=rtol)
    for key in ("beta", "ci_lb", "ci_ub"):
        _close(getattr(res, key)[i], getattr(one, key), key, floor=float(one.se.max()),
               rtol=rtol)
    for key in ("se", "zval", "pval"):
        _close(getattr(res, key)[i], getattr(one, key), key, floor=1e-300, rtol=rtol)
    for key in ("QE", "QEp", "I2", "H2", "QM", "QMp"):
        _close(getattr(res, key)[i], getattr(one, key), key, floor=1e-12, rtol=rtol)
    assert res.s2w[i] == pytest.approx(one.s2w, rel=1e-9)
    if one.dfs is None:
        assert np.isnan(res.df[i])
    else:
        assert res.df[i] == one.dfs
    # Newton steps: the same iteration, so the same count up to rounding at the last step
    ITER_PAIRS.append((int(res.iterations[i]), int(one.info.get("iterations", 0))))
    return True


def _check_all(Y, V, X, mask, method, test):
    res = km.rma_batch(Y, V, X=X, method=method, test=test, mask=mask)
    n_ok = sum(_check_fit(res, i, Y, V, X, mask, method, test) for i in range(Y.shape[0]))
    return res, n_ok


@settings(max_examples=200, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1), m=st.integers(1, 6), k=st.integers(2, 40),
       q=st.integers(0, 3), per_fit=st.booleans(), masked=st.booleans(),
       method=st.sampled_from(METHODS), test=st.sampled_from(TESTS))
def test_property_each_fit_equals_rma(seed, m, k, q, per_fit, masked, method, test):
    Y, V, X, mask = _data(seed, m, k, q, per_fit, masked)
    _check_all(Y, V, X, mask, method, test)


@pytest.mark.parametrize("method", METHODS)
def test_grid_every_test_and_layout(method):
    ITER_PAIRS.clear()
    n_ok = 0
    for j, (q, per_fit, masked) in enumerate([(0, False, False), (2, False, False),
                                              (2, True, False), (0, False, True),
                                              (1, False, True), (3, True, True)]):
        Y, V, X, mask = _data(100 + j, 8, 14, q, per_fit, masked)
        for test in TESTS:
            n_ok += _check_all(Y, V, X, mask, method, test)[1]
    assert n_ok >= 150
    its = np.array(ITER_PAIRS)
    assert np.mean(its[:, 0] == its[:, 1]) > 0.95 and np.all(np.abs(its[:, 0] - its[:, 1]) <= 3)
    if method in ("REML", "ML", "PM", "EB"):
        assert its[:, 0].max() > 0
    else:
        assert (its == 0).all()


def test_shared_variances_and_no_intercept():
    Y, V, X, _ = _data(7, 5, 12, 2, False, False)
    v = V[0]
    res = km.rma_batch(Y, v, X=X, intercept=False, method="REML", test="knha")
    for i in range(5):
        one = km.rma(Y[i], v, mods=X, intercept=False, method="REML", test="knha")
        _close(res.beta[i], one.beta, "beta", floor=one.se.max())
        _close(res.se[i], one.se, "se")
        _close(res.QM[i], one.QM, "QM")
    assert res.coef_names == ["mod1", "mod2"] and res.btt == [0, 1]


# ---------------------------------------------------------------------------------------------
# edge cases
# ---------------------------------------------------------------------------------------------

def test_one_study_per_fit_like_rma():
    Y, V, _, _ = _data(3, 4, 6, 0, False, False)
    mask = np.zeros((4, 6), bool)
    mask[:, 0] = True
    mask[1, :3] = True
    for method in ("EE", "REML", "DL", "SJ"):
        for test in ("z", "knha", "adhoc"):
            res, n_ok = _check_all(Y, V, None, mask, method, test)
            assert n_ok == 4
            one = [0, 2, 3]
            assert (res.tau2[one] == 0).all() and np.isnan(res.se_tau2[one]).all()
            assert np.isnan(res.df[one]).all()                 # z test, as rma
            assert (res.QE[one] == 0).all() and (res.I2[one] == 0).all()


def test_tau2_boundary_and_identical_outcomes():
    rng = np.random.default_rng(4)
    V = rng.uniform(0.05, 0.2, size=(3, 10))
    Y = np.vstack([np.full(10, 0.4), 0.1 + 0.01 * rng.normal(size=10),
                   rng.normal(size=10) * np.sqrt(V[2] + 0.5)])
    for method in METHODS:
        res, n_ok = _check_all(Y, V, None, None, method, "knha")
        assert n_ok == 3
        if method != "SJ":                         # SJ is positive by construction
            assert res.tau2[0] == 0.0 and res.tau2[1] == 0.0
        if method in ("REML", "ML", "PM", "EB"):
            assert res.iterations[0] == 0 and res.iterations[2] > 0


def test_nonconvergence_is_flagged_not_raised(monkeypatch):
    Y, V, X, _ = _data(11, 20, 15, 1, False, False)
    monkeypatch.setattr(_batch, "_MAXITER", 2)
    res = km.rma_batch(Y, V, X=X, method="REML")
    bad = ~res.converged
    assert bad.any() and (res.status[bad] == "not converged").all()
    assert np.isnan(res.beta[bad]).all() and np.isnan(res.tau2[bad]).all()
    assert np.isnan(res.pval[bad]).all() and np.isnan(res.QE[bad]).all()
    monkeypatch.undo()
    full = km.rma_batch(Y, V, X=X, method="REML")
    good = res.converged
    assert full.converged.all() and good.any()
    np.testing.assert_array_equal(res.beta[good], full.beta[good])


def test_invalid_fits_are_flagged_with_nans():
    Y, V, X, _ = _data(12, 7, 8, 1, True, False)
    mask = np.ones((7, 8), bool)
    mask[0, 1:] = False          # one row, two coefficients
    mask[1, 2:] = False          # k = p = 2
    V[2, 3] = 0.0                # non-positive variance
    X[3, :, 0] = 1.5             # moderator constant: collinear with the intercept
    mask[4] = False              # no rows
    Y[5, 2] = np.nan             # a missing outcome: omitted, as rma does
    mask[6, 5] = False
    V[6, 5] = -1.0               # a masked cell's variance is ignored
    for method, test in (("REML", "knha"), ("EE", "z")):
        res, n_ok = _check_all(Y, V, X, mask, method, test)
        want = ["k < p", "ok" if method == "EE" else "k = p (saturated)", "vi <= 0",
                "rank deficient", "no valid rows", "ok", "ok"]
        assert res.status.tolist() == want
        assert n_ok == want.count("ok")
        assert res.k.tolist() == [1, 2, 8, 8, 0, 7, 7]


def test_shared_rank_deficient_design_raises_like_rma():
    Y, V, _, _ = _data(13, 3, 6, 0, False, False)
    X = np.column_stack([np.arange(6.0), 2 * np.arange(6.0)])
    with pytest.raises(ModelError):
        km.rma_batch(Y, V, X=X)
    with pytest.raises(ModelError):
        km.rma(Y[0], V[0], mods=X)


def test_views_and_serialisation():
    Y, V, X, mask = _data(14, 5, 9, 2, False, True)
    res = km.rma_batch(Y, V, X=X, mask=mask, method="PM", test="adhoc")
    df = res.to_frame()
    assert len(df) == 5 * 3 and list(df["fit"][:3]) == [0, 0, 0]
    assert {"tval", "df", "pval", "tau2", "status", "converged"} <= set(df.columns)
    np.testing.assert_array_equal(df["estimate"].to_numpy(), res.beta.ravel())
    d = json.loads(json.dumps(res.to_dict()))
    assert d["m"] == 5 and len(d["beta"]) == 5 and len(d["beta"][0]) == 3
    assert res.tval is res.zval and len(res) == 5 and "5 fits" in repr(res)
    z = km.rma_batch(Y, V, X=X, mask=mask, method="PM").to_frame()
    assert "zval" in z.columns and "df" not in z.columns


def test_input_errors():
    Y, V, X, _ = _data(15, 3, 6, 1, False, False)
    with pytest.raises(ModelError):
        km.rma_batch(Y, V[:, :5])
    with pytest.raises(ModelError):
        km.rma_batch(Y, V, X=X[:5])
    with pytest.raises(ModelError):
        km.rma_batch(Y, V, mask=np.ones((3, 5), bool))
    with pytest.raises(ModelError):
        km.rma_batch(Y, V, method="XYZ")
    with pytest.raises(ModelError):
        km.rma_batch(Y, V, test="q")
    with pytest.raises(ModelError):
        km.rma_batch(Y, V, level=100)
    with pytest.raises(ModelError):
        km.rma_batch(Y, V, intercept=False)


def test_memory_stays_per_block_with_per_fit_designs():
    """Per-fit designs are tabulated one block at a time: the peak is far below m k^2."""
    m, k, q = 3000, 30, 2
    Y, V, X, mask = _data(16, m, k, q, True, True, p_keep=0.9)
    tracemalloc.start()
    res = km.rma_batch(Y, V, X=X, mask=mask)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert res.converged.all()
    assert peak < 0.5 * m * k * k * 8          # an m x k x k tensor would be 21.6 MB
    assert peak < 4 * Y.nbytes + 2 * X.nbytes


# ---------------------------------------------------------------------------------------------
# permutation tests for many fits
# ---------------------------------------------------------------------------------------------

def _all_refits(y, v, x, method, test):
    """zval of every sign pattern (x None) or every ordering of the moderator rows."""
    from itertools import permutations, product

    k = y.size
    if x is None:
        return np.array([km.rma(np.array(s) * y, v, method=method, test=test).zval
                         for s in product([-1.0, 1.0], repeat=k)])
    return np.array([km.rma(y, v, mods=x[list(o)], method=method, test=test).zval
                     for o in permutations(range(k))])


@pytest.mark.parametrize("with_mods", [False, True])
def test_permutest_batch_refits_are_permutations_of_each_fit(with_mods):
    """Every permuted refit is the rma fit of one sign pattern / one ordering of the fit's own
    valid rows (masked cells never move in)."""
    rng = np.random.default_rng(21)
    m, k = 3, 7
    V = rng.uniform(0.02, 0.3, size=(m, k))
    X = rng.normal(size=(m, k, 1)) if with_mods else None
    Y = 0.2 + rng.normal(size=(m, k)) * np.sqrt(V + 0.05)
    mask = np.ones((m, k), bool)
    mask[0, [1, 4]] = False
    mask[2, 6] = False
    Y[0, 1] = np.nan                     # a masked cell may hold anything
    res = km.rma_batch(Y, V, X=X, mask=mask, method="REML", test="knha")
    pb = km.permutest_batch(res, iter=40, seed=5, return_perm=True)
    assert pb.zval_perm.shape == (m, 40, res.p)
    for i in range(m):
        keep = mask[i]
        x = None if X is None else X[i][keep]
        ref = _all_refits(Y[i][keep], V[i][keep], x, "REML", "knha")
        np.testing.assert_allclose(pb.zval_perm[i, 0], res.zval[i], rtol=0)
        for z in pb.zval_perm[i, 1:]:
            gap = np.min(np.max(np.abs(ref - z) / np.abs(ref), axis=1))
            assert gap < 1e-8


def test_permutest_batch_pvalues_seed_and_views():
    Y, V, X, mask = _data(22, 6, 10, 1, False, True, p_keep=0.8)
    mask[5, 1:] = False                  # k < p: not fitted, NaN p-values
    res = km.rma_batch(Y, V, X=X, mask=mask, method="DL")
    a = km.permutest_batch(res, iter=100, seed=3)
    b = km.permutest_batch(res, iter=100, seed=3)
    np.testing.assert_array_equal(a.pval, b.pval)
    ok = res.ok
    assert not ok[5] and np.isnan(a.pval[5]).all() and np.isnan(a.QMp[5])
    assert np.all((a.pval[ok] >= 1 / 100) & (a.pval[ok] <= 1))
    # one tested moderator: the omnibus test is the moderator's test
    np.testing.assert_allclose(a.QMp[ok], a.pval[ok, 1], rtol=0)
    assert len(a.to_frame()) == 12 and json.dumps(a.to_dict())
    with pytest.raises(ModelError):
        km.permutest_batch(res, iter=1)
