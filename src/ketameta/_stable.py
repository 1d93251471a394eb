"""Numerically stable (dense) fits for data whose sampling variances span many orders of
magnitude.

The O(k) moment formulas of :mod:`ketameta._linalg` add and subtract sums whose terms grow
with the weights; when ``max(v) / min(v)`` reaches ~1e7 (the ratio at which metafor warns
that results may be unstable) they can lose several digits and even return a negative trace.
For such data, and only up to :data:`DENSE_MAX` studies, :func:`ketameta.rma` switches to the
classes here: the projector ``M = I - QQ'`` of the QR factorisation of ``W^{1/2} X`` is formed
explicitly (O(k^2) memory), so every trace is a sum of non-negative terms
(``tr(P D P D) = sum_ij d_i d_j w_i w_j M_ij^2``) and hat values ``h_i = ||q_i||^2`` are exact
to rounding. The interfaces mirror :class:`ketameta._linalg.WFit` and
:class:`ketameta._linalg.Moments`, so the estimators run unchanged.
"""

from __future__ import annotations

import math

import numpy as np

#: Largest k for which the dense stable path is used (k x k doubles: 72 MB at k = 3000).
DENSE_MAX = 3000
#: Variance ratio from which the stable path is used (metafor's warning threshold, 1/evtol).
RATIO_MIN = 1e7


def use_stable(v: np.ndarray) -> bool:
    """True when ``v`` spans at least :data:`RATIO_MIN` and k is at most :data:`DENSE_MAX`."""
    return v.size <= DENSE_MAX and float(v.max() / v.min()) >= RATIO_MIN


class DenseFit:
    """Weighted least squares with an explicit projector (stable; O(k^2))."""

    def __init__(self, y, w, X):
        y = np.asarray(y, float)
        w = np.asarray(w, float)
        self.y, self.w, self.X = y, w, X
        s = np.sqrt(w)
        Q, R = np.linalg.qr(s[:, None] * X)
        self._Q, self._s = Q, s
        self.b = np.linalg.solve(R, Q.T @ (s * y))
        Rinv = np.linalg.inv(R)
        self.A = Rinv @ Rinv.T
        self.e = y - X @ self.b
        self.h = np.einsum("ij,ij->i", Q, Q)
        M = -(Q @ Q.T)
        M[np.diag_indices_from(M)] += 1.0
        self._M = M
        self._logdet = 2.0 * float(np.log(np.abs(np.diag(R))).sum())

    def rss(self) -> float:
        return float(np.dot(self.w, self.e * self.e))

    def ypp(self) -> float:
        u = self.w * self.e
        return float(np.dot(u, u))

    def yppp(self) -> float:
        # y'PPPy = u' P u with u = W e = P y; P = S M S
        su = self._s * (self.w * self.e)
        return float(su @ self._M @ su)

    def trP(self) -> float:
        return float(np.sum(self.w * (1.0 - self.h)))

    def trPD(self, d) -> float:
        return float(np.sum(np.asarray(d) * self.w * (1.0 - self.h)))

    def trPDPD(self, d=None) -> float:
        g = self.w if d is None else np.asarray(d) * self.w
        return float(np.einsum("i,ij,j,ij->", g, self._M, g, self._M))

    def trPPD(self, d) -> float:
        # tr(P P D) = sum_ij w_i M_ij w_j M_ji d_i  (P = S M S)
        d = np.asarray(d)
        return float(np.einsum("i,ij,j,ij->", d * self.w, self._M, self.w, self._M))

    def logdet_xtwx(self) -> float:
        return self._logdet


class _Eval:
    __slots__ = ("t", "rss", "ypp", "yppp", "trP", "trPP", "sw", "sw2", "fit")


class DenseMoments:
    """Same interface as :class:`ketameta._linalg.Moments`, computed with :class:`DenseFit`."""

    def __init__(self, y, v, X, intercept_col=-1):
        self.y, self.v, self.X = np.asarray(y, float), np.asarray(v, float), X
        self.k, self.p = X.shape
        self._cache: dict = {}

    def row_sums(self, specs):  # noqa: D102 - the dense path has nothing to precompute
        return None

    def unweighted(self):
        """``(rss_ols, tr(P_ols V))`` of the unweighted fit (Hedges start)."""
        f = DenseFit(self.y, np.ones(self.k), self.X)
        return float(np.dot(f.e, f.e)), f.trPD(self.v)

    def at(self, t: float, order: int = 2) -> _Eval:
        t = float(t)
        if t in self._cache:
            return self._cache[t]
        w = 1.0 / (self.v + t)
        f = DenseFit(self.y, w, self.X)
        ev = _Eval()
        ev.t, ev.fit = t, f
        ev.rss, ev.ypp, ev.yppp = f.rss(), f.ypp(), f.yppp()
        ev.trP, ev.trPP = f.trP(), f.trPDPD()
        ev.sw, ev.sw2 = float(w.sum()), float((w * w).sum())
        self._cache[t] = ev
        return ev

    def coef(self, ev: _Eval):
        return ev.fit.b.copy(), ev.fit.A.copy()

    def logdet(self, ev: _Eval) -> float:
        return ev.fit.logdet_xtwx()

    def logdet_xtx(self) -> float:
        sign, val = np.linalg.slogdet(self.X.T @ self.X)
        return float(val) if sign > 0 else -math.inf
