"""The dense, numerically stable path used when sampling variances span >= 1e7 (metafor's
warning threshold): it must agree with explicit-matrix formulas where the O(k) moment
formulas lose digits."""

import numpy as np
import pytest

import ketameta as km
from ketameta._stable import DenseFit, use_stable


def _dense_P(w, X):
    W = np.diag(w)
    return W - W @ X @ np.linalg.solve(X.T @ W @ X, X.T @ W)


@pytest.mark.parametrize("method", ["REML", "ML", "PM", "DL", "HS", "HE", "SJ"])
def test_extreme_variance_ratio_matches_dense_estimating_equations(method):
    rng = np.random.default_rng(7)
    k = 15
    x = rng.normal(size=k)
    vi = 10.0 ** rng.uniform(-5, 4, size=k)  # ratio ~1e9
    vi[3] = 1e-6
    yi = 0.3 + 0.2 * x + rng.normal(size=k) * np.sqrt(vi + 0.1)
    assert use_stable(vi)
    res = km.rma(yi, vi, mods=x[:, None], method=method)
    assert res.info.get("stable_dense") is True
    X = np.column_stack([np.ones(k), x])
    t = res.tau2
    P = _dense_P(1 / (vi + t), X)
    if method == "REML" and t > 0:
        score = yi @ P @ P @ yi - np.trace(P)
        assert abs(score) <= 1e-8 * np.trace(P)
    if method == "PM" and t > 0:
        assert yi @ P @ yi == pytest.approx(k - 2, rel=1e-9)
    if method == "DL":
        P0 = _dense_P(1 / vi, X)
        assert t == pytest.approx(max(0.0, (yi @ P0 @ yi - (k - 2)) / np.trace(P0)), rel=1e-8)
    assert np.isfinite(res.se_tau2) or method in ("EE",)


def test_densefit_traces_equal_explicit_matrices():
    rng = np.random.default_rng(3)
    k = 9
    X = np.column_stack([np.ones(k), rng.normal(size=k)])
    w = 10.0 ** rng.uniform(-4, 4, size=k)
    y = rng.normal(size=k)
    d = rng.uniform(0.5, 2, size=k)
    f = DenseFit(y, w, X)
    P, D = _dense_P(w, X), np.diag(d)
    assert f.rss() == pytest.approx(y @ P @ y, rel=1e-9)
    assert f.ypp() == pytest.approx(y @ P @ P @ y, rel=1e-9)
    assert f.yppp() == pytest.approx(y @ P @ P @ P @ y, rel=1e-8)
    assert f.trP() == pytest.approx(np.trace(P), rel=1e-9)
    assert f.trPDPD(d) == pytest.approx(np.trace(P @ D @ P @ D), rel=1e-8)
    assert f.trPDPD() == pytest.approx(np.trace(P @ P), rel=1e-8)
    assert f.trPPD(d) == pytest.approx(np.trace(P @ P @ D), rel=1e-8)
