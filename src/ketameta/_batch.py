"""Batched (vectorised) fits of many univariate models that share k and p.

Used by permutation tests and other resampling: B models with outcomes ``Y`` (B, k), variances
``V`` (k,) or (B, k) and designs ``X`` (k, p) or (B, k, p) are fitted at once with numpy
broadcasting, so 10,000 refits cost a few array passes instead of 10,000 Python-level fits.
The estimating equations and the iteration are the same as in :mod:`ketameta._tau2`
(safeguarded Newton to machine precision), so each batched fit equals the single fit.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from .errors import ModelError

_REL_TOL = 1e-15


class BatchWFit:
    """Batched weighted least squares: arrays with a leading batch axis."""

    def __init__(self, Y, W, X):
        # Y, W: (B, k); X: (B, k, p) or (k, p)
        self.Y, self.W = Y, W
        shared = X.ndim == 2
        self.X = X
        if shared:
            M = np.einsum("bk,ki,kj->bij", W, X, X)
            xwy = np.einsum("bk,ki->bi", W * Y, X)
        else:
            M = np.einsum("bk,bki,bkj->bij", W, X, X)
            xwy = np.einsum("bk,bki->bi", W * Y, X)
        self.A = np.linalg.inv(M)
        self.b = np.einsum("bij,bj->bi", self.A, xwy)
        if shared:
            self.E = Y - self.b @ X.T
            XA = np.einsum("ki,bij->bkj", X, self.A)
            self.h = W * np.einsum("bkj,kj->bk", XA, X)
        else:
            self.E = Y - np.einsum("bki,bi->bk", X, self.b)
            XA = np.einsum("bki,bij->bkj", X, self.A)
            self.h = W * np.einsum("bkj,bkj->bk", XA, X)
        self._shared = shared

    def _xt(self, a):
        """X' a for a (B, k) -> (B, p)."""
        if self._shared:
            return a @ self.X
        return np.einsum("bk,bki->bi", a, self.X)

    def _xtdx(self, d):
        """X' diag(d) X for d (B, k) -> (B, p, p)."""
        if self._shared:
            return np.einsum("bk,ki,kj->bij", d, self.X, self.X)
        return np.einsum("bk,bki,bkj->bij", d, self.X, self.X)

    def rss(self):
        return np.sum(self.W * self.E**2, axis=1)

    def ypp(self):
        u = self.W * self.E
        return np.sum(u * u, axis=1)

    def yppp(self):
        u = self.W * self.E
        g = self._xt(self.W * u)
        return np.sum(self.W * u * u, axis=1) - np.einsum("bi,bij,bj->b", g, self.A, g)

    def trP(self):
        return np.sum(self.W * (1 - self.h), axis=1)

    def trPP(self):
        w2 = self.W**2
        AG = np.einsum("bij,bjk->bik", self.A, self._xtdx(w2))
        return np.sum(w2, axis=1) - 2 * np.sum(w2 * self.h, axis=1) + np.einsum(
            "bij,bji->b", AG, AG
        )


def _batch_solve(f_and_df, start, B, scale):
    """Vectorised safeguarded Newton for decreasing functions; returns tau2 (B,), ok (B,)."""
    zero = np.zeros(B)
    f0, _ = f_and_df(zero)
    tau = np.zeros(B)
    active = np.isfinite(f0) & (f0 > 0)
    ok = np.isfinite(f0)
    if not active.any():
        return tau, ok
    lo = np.zeros(B)
    hi = np.maximum(np.where(np.isfinite(start), start, 0.0), max(1e-8 * scale, 1e-12))
    fhi, _ = f_and_df(hi)
    for _ in range(200):
        grow = active & (fhi > 0)
        if not grow.any():
            break
        lo = np.where(grow, hi, lo)
        hi = np.where(grow, hi * 4.0, hi)
        fhi, _ = f_and_df(hi)
    else:
        ok &= ~(active & (fhi > 0))
    x = np.where(active & (start > lo) & (start < hi), start, 0.5 * (lo + hi))
    done = ~active
    for _ in range(500):
        fx, dfx = f_and_df(x)
        pos = fx > 0
        lo = np.where(active & pos, x, lo)
        hi = np.where(active & ~pos, x, hi)
        with np.errstate(divide="ignore", invalid="ignore"):
            xn = x - fx / dfx
        bad = ~np.isfinite(xn) | (dfx >= 0) | (xn <= lo) | (xn >= hi)
        xn = np.where(bad, 0.5 * (lo + hi), xn)
        conv = (np.abs(xn - x) <= _REL_TOL * np.maximum(np.abs(xn), 1e-300)) | (
            hi - lo <= _REL_TOL * np.maximum(hi, 1e-300)
        ) | (fx == 0)
        x = np.where(done, x, np.where(fx == 0, x, xn))
        done |= conv
        if done.all():
            break
    else:
        ok &= done
    tau = np.where(active, x, 0.0)
    return tau, ok


def batch_tau2(method, Y, v, X):
    """tau^2 for each of B models (closed forms exactly as in :func:`ketameta._tau2.estimate`)."""
    B, k = Y.shape
    p = X.shape[-1]
    V = np.broadcast_to(v, (B, k))
    df = k - p
    if method == "EE":
        return np.zeros(B), np.ones(B, bool)
    if df < 1:
        raise ModelError(f"method='{method}' needs k > p (k = {k}, p = {p}).")
    fe = BatchWFit(Y, 1.0 / V, X)
    if method == "DL":
        return np.maximum(0.0, (fe.rss() - df) / fe.trP()), np.ones(B, bool)
    if method == "HS":
        return np.maximum(0.0, (fe.rss() - k) / np.sum(1.0 / V, axis=1)), np.ones(B, bool)
    if method == "SJ":
        t0 = np.var(Y, axis=1)
        t0 = np.where(t0 > 0, t0, 1e-12)
        f0 = BatchWFit(Y, 1.0 / (V + t0[:, None]), X)
        return np.maximum(0.0, t0 * f0.rss() / df), np.ones(B, bool)
    ols = BatchWFit(Y, np.ones((B, k)), X)
    he = np.maximum(0.0, (np.sum(ols.E**2, axis=1) - np.sum(V * (1 - ols.h), axis=1)) / df)
    if method == "HE":
        return he, np.ones(B, bool)
    scale = float(np.var(Y)) + float(np.mean(V))
    if method in ("ML", "REML"):
        reml = method == "REML"

        def fdf(t):
            f = BatchWFit(Y, 1.0 / (V + t[:, None]), X)
            if reml:
                return f.ypp() - f.trP(), -2.0 * f.yppp() + f.trPP()
            w = f.W
            return f.ypp() - np.sum(w, axis=1), -2.0 * f.yppp() + np.sum(w * w, axis=1)

        return _batch_solve(fdf, he, B, scale)
    if method in ("PM", "EB"):

        def fdf(t):
            f = BatchWFit(Y, 1.0 / (V + t[:, None]), X)
            return f.rss() - df, -f.ypp()

        start = np.maximum(0.0, (fe.rss() - df) / fe.trP())
        return _batch_solve(fdf, start, B, scale)
    raise ModelError(f"Unknown method {method!r}.")


def batch_fit(method, test, Y, v, X, btt, tau2_fixed=None):
    """Fit B models; return dict with beta (B,p), se (B,p), zval (B,p), QM (B,), ok (B,)."""
    B, k = Y.shape
    p = X.shape[-1]
    V = np.broadcast_to(v, (B, k))
    if tau2_fixed is not None:
        t2, ok = np.full(B, float(tau2_fixed)), np.ones(B, bool)
    else:
        t2, ok = batch_tau2(method, Y, v, X)
    f = BatchWFit(Y, 1.0 / (V + t2[:, None]), X)
    vb = f.A
    if test == "knha":
        rss = f.rss()
        s2w = np.where(rss <= np.finfo(float).eps, 0.0, rss / (k - p))
        vb = vb * s2w[:, None, None]
    se = np.sqrt(np.einsum("bii->bi", vb))
    with np.errstate(divide="ignore", invalid="ignore"):
        zval = f.b / se
        bt = f.b[:, btt]
        sub = vb[:, btt][:, :, btt]
        QM = np.einsum("bi,bi->b", bt, np.linalg.solve(sub, bt[..., None])[..., 0])
    if test in ("knha", "t"):
        QM = QM / len(btt)
    return {"beta": f.b, "se": se, "zval": zval, "QM": QM, "tau2": t2, "ok": ok}


def pvalues(zval, dfs):
    """Two-sided p-values for z (dfs None) or t statistics."""
    if dfs is None:
        return 2 * stats.norm.sf(np.abs(zval))
    return 2 * stats.t.sf(np.abs(zval), dfs)
