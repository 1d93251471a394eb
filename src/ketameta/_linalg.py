"""Weighted least-squares building blocks with cost linear in k.

Every quantity of a univariate (meta-)regression that metafor computes from k x k matrices
(``P = W - W X (X'WX)^-1 X'W``, its traces, quadratic forms and hat values) is computed here
from p x p matrices and length-k vectors, so fitting costs O(k p^2) time and O(k p) memory.

Identities used (``A = (X'WX)^-1``, ``h_i = w_i x_i' A x_i``, ``e = y - X b``):

* ``y'Py = sum(w e^2)``, ``y'PPy = sum(w^2 e^2)``
* ``tr(P D) = sum(d w (1 - h))``
* ``tr(P D P D) = sum(d^2 w^2) - 2 sum(d^2 w^2 h) + tr((A M)^2)`` with ``M = X' diag(d w^2) X``

Two engines use them:

* :class:`WFit` fits one weight vector directly (residuals, hat values); other modules use it.
* :class:`Moments` serves the iterative estimators, which need the fit at many values of
  tau^2 for the same data. With ``z_i = (x_i, e0_i)`` (``e0`` the residuals of the
  equal-effects fit, so that nothing cancels: the regression of ``y`` on ``X`` with any
  weights is ``b0`` plus the regression of ``e0`` on ``X``) every quantity above is a
  function of the p x p blocks of ``S_m = sum_i w_i^m z_i z_i'`` for m = 1, 2, 3:

  - ``M_m = X'W^m X``, ``c_m = X'W^m e0``, ``s_m = e0'W^m e0``; ``d = A c_1``, ``b = b0 + d``
  - ``sum(w^m e^2) = s_m - d'(2 c_m - M_m d)``; ``X'W^2 e = c_2 - M_2 d``
  - ``tr(P) = sum(w) - tr(A M_2)``, ``tr(PP) = sum(w^2) - 2 tr(A M_3) + tr((A M_2)^2)``
  - ``y'PPPy = sum(w^3 e^2) - g'A g`` with ``g = X'W^2 e``.

  The row products ``z_i z_i'`` are tabulated once (or per block when the table would be
  large), so each value of tau^2 costs one matrix product over k (in cache-sized blocks)
  plus O(p^3) algebra, instead of several passes building residuals, hat values and
  weighted design matrices. Batched fits (:mod:`ketameta._batch`) use the same sums with a
  leading batch axis.

The functions are private; the public models in :mod:`ketameta.rma` use them.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import linalg

from .errors import ModelError

#: Rows per block when summing over k: a block of weight rows and row products stays in cache.
CHUNK = 16_384
#: The table of row products is stored when it has at most this many entries (128 MB);
#: larger designs form each block's products on the fly (memory O(CHUNK p^2)).
_STORE_MAX = 1 << 24


def _inv_pd(M: np.ndarray) -> np.ndarray:
    """Inverse of a symmetric positive-definite p x p matrix (Cholesky)."""
    try:
        c = linalg.cho_factor(M, lower=True, check_finite=False)
        return linalg.cho_solve(c, np.eye(M.shape[0]), check_finite=False)
    except linalg.LinAlgError:
        return np.linalg.pinv(M)


def _inv(M: np.ndarray) -> np.ndarray:
    """Inverse of a small symmetric matrix (LU; pseudo-inverse if it is singular)."""
    try:
        return np.linalg.inv(M)
    except np.linalg.LinAlgError:
        return np.linalg.pinv(M)


class WFit:
    """Weighted least-squares fit ``b = (X'WX)^-1 X'W y`` and the traces of ``P``.

    Parameters
    ----------
    y, w : ndarray of shape (k,)
        Outcomes and weights.
    X : ndarray of shape (k, p)
        Design matrix.
    """

    __slots__ = ("y", "w", "X", "A", "b", "e", "_h", "_XA")

    def __init__(self, y, w, X):
        self.y, self.w, self.X = y, w, X
        XtW = X.T * w
        self.A = _inv_pd(XtW @ X)
        self.b = self.A @ (XtW @ y)
        self.e = y - X @ self.b
        self._XA = None
        self._h = None

    @property
    def h(self) -> np.ndarray:
        """Hat values of the weighted fit: ``h_i = w_i x_i' A x_i`` (computed on first use)."""
        if self._h is None:
            self._XA = self.X @ self.A
            self._h = self.w * np.einsum("ij,ij->i", self._XA, self.X)
        return self._h

    # quadratic forms ---------------------------------------------------------
    def rss(self) -> float:
        """``y'Py = sum(w e^2)``."""
        return float(np.dot(self.w, self.e * self.e))

    def ypp(self) -> float:
        """``y'PPy = sum(w^2 e^2)``."""
        u = self.w * self.e
        return float(np.dot(u, u))

    def yppp(self) -> float:
        """``y'PPPy = u'Pu`` with ``u = W e``."""
        u = self.w * self.e
        g = self.X.T @ (self.w * u)
        return float(np.dot(self.w, u * u) - g @ self.A @ g)

    # traces -------------------------------------------------------------------
    def trP(self) -> float:
        """``tr(P)``."""
        return float(np.sum(self.w * (1.0 - self.h)))

    def trPD(self, d) -> float:
        """``tr(P D)`` for ``D = diag(d)``."""
        return float(np.sum(d * self.w * (1.0 - self.h)))

    def trPDPD(self, d=None) -> float:
        """``tr(P D P D)``; with ``d=None`` this is ``tr(P P)``."""
        w2 = self.w * self.w
        a = w2 if d is None else d * w2
        dd = np.ones_like(self.w) if d is None else d
        M = (self.X.T * a) @ self.X
        AM = self.A @ M
        return float(np.sum(dd * dd * w2) - 2.0 * np.sum(dd * dd * w2 * self.h) + np.sum(AM * AM.T))

    def trPPD(self, d) -> float:
        """``tr(P P D)`` (= ``tr(P D P)``)."""
        w2 = self.w * self.w
        G = (self.X.T * w2) @ self.X
        AGA = self.A @ G @ self.A
        q = np.einsum("ij,jk,ik->i", self.X, AGA, self.X)
        return float(np.sum(d * (w2 - 2.0 * w2 * self.h + w2 * q)))

    def logdet_xtwx(self) -> float:
        """``log det(X'WX)``."""
        sign, val = np.linalg.slogdet(self.A)
        return float(-val)


# =============================================================================================
# Fits of one design at many weight vectors, from tabulated row products
# =============================================================================================


def _intercept_column(X: np.ndarray):
    """Index of a column of X that is identically 1, or None."""
    if X.shape[0] == 0:
        return None
    for j in np.flatnonzero(X[0] == 1.0):
        if np.all(X[:, j] == 1.0):
            return int(j)
    return None


def _weight_rows(v: np.ndarray, specs, out: np.ndarray) -> np.ndarray:
    """Fill ``out[i]`` with the weights of ``specs[i]`` for variances ``v``.

    A spec ``(t, m)`` is ``(1 / (v + t))^m``; ``(None, m)`` is ``v^m`` (``m = 0``: ones).
    """
    base: dict = {}
    for i, (t, m) in enumerate(specs):
        row = out[i]
        if t is None:
            if m == 0:
                row.fill(1.0)
            elif m == 1:
                row[...] = v
            else:
                np.power(v, m, out=row)
            continue
        w = base.get(t)
        if w is None:
            w = np.add(v, t)
            np.divide(1.0, w, out=w)
            base[t] = w
        if m == 1:
            row[...] = w
        elif m == 2:
            np.multiply(w, w, out=row)
        elif m == 3:
            np.multiply(w, w, out=row)
            row *= w
        else:
            np.power(w, m, out=row)
    return out


class Eval:
    """WLS quantities at ``w = 1/(v + t)`` computed from moment sums (see module notes).

    ``rss = sum(w e^2)``, ``ypp = y'PPy``, ``trP``; with ``order=3`` also ``yppp = y'PPPy``
    and ``trPP = tr(PP)``. ``sw``/``sw2`` are ``sum(w)``/``sum(w^2)``. ``d`` is the shift
    from the pilot coefficients (``b = b0 + d``), ``A = (X'WX)^-1`` and ``M = X'WX``.
    """

    __slots__ = ("t", "A", "M", "d", "rss", "ypp", "yppp", "trP", "trPP", "sw", "sw2")


class Moments:
    """One design ``(y, v, X)`` prepared for WLS fits at any ``w = 1/(v + t)``.

    The pilot fit is the equal-effects fit (weights ``1/v``); ``z_i = (x_i[, 1], e0_i)``
    (a column of ones is appended when X has none, for ``sum(w^m)``). Sums over k run in
    blocks of :data:`CHUNK` rows; results are cached per weight specification, so the fits
    at the same tau^2 (the last Newton step, the final fit, the equal-effects statistics)
    cost one pass.
    """

    def __init__(self, y, v, X):
        y = np.asarray(y, dtype=float)
        v = np.asarray(v, dtype=float)
        X = np.asarray(X, dtype=float)
        k, p = X.shape
        self.k, self.p, self.y, self.v, self.X = k, p, y, v, X
        w0 = 1.0 / v
        XtW = X.T * w0
        self.b0 = _inv(XtW @ X) @ (XtW @ y)
        e0 = y - X @ self.b0
        io = _intercept_column(X)
        q1 = p + (1 if io is not None else 2)
        self.io = io if io is not None else p
        self.ie = q1 - 1
        self.q1 = q1
        Z = np.empty((k, q1))
        Z[:, :p] = X
        if io is None:
            Z[:, p] = 1.0
        Z[:, -1] = e0
        iu0, iu1 = np.triu_indices(q1)
        self._iu = (iu0, iu1)
        full = np.empty((q1, q1), dtype=np.intp)
        full[iu0, iu1] = np.arange(iu0.size)
        full[iu1, iu0] = np.arange(iu0.size)
        self._full = full
        q = iu0.size
        if k * q <= _STORE_MAX:
            ZZ = np.empty((k, q))
            for s in range(0, k, CHUNK):
                Zc = Z[s:s + CHUNK]
                np.multiply(Zc[:, iu0], Zc[:, iu1], out=ZZ[s:s + CHUNK])
            self._ZZ, self._Z = ZZ, None
        else:
            self._ZZ, self._Z = None, Z
        self._sums: dict = {}
        self._evals: dict = {}

    # -- sums ----------------------------------------------------------------------------------
    def row_sums(self, specs) -> np.ndarray:
        """``sum_i a_i z_i z_i'`` (upper triangle, flattened) for each weight spec: (r, q)."""
        missing = [s for s in dict.fromkeys(specs) if s not in self._sums]
        if missing:
            R = self._pass(missing)
            for s, row in zip(missing, R):
                self._sums[s] = row
        return np.array([self._sums[s] for s in specs])

    def sums(self, specs) -> np.ndarray:
        """Full symmetric ``(r, q1, q1)`` sums for the weight specs (see :func:`_weight_rows`)."""
        return self.row_sums(specs)[:, self._full]

    def _pass(self, specs) -> np.ndarray:
        k, r = self.k, len(specs)
        ZZ = self._ZZ
        if k <= CHUNK:
            W = _weight_rows(self.v, specs, np.empty((r, k)))
            return W @ (ZZ if ZZ is not None else self._products(self._Z))
        out = np.zeros((r, len(self._iu[0])))
        buf = np.empty((r, CHUNK))
        for s in range(0, k, CHUNK):
            vc = self.v[s:s + CHUNK]
            W = _weight_rows(vc, specs, buf[:, :vc.size])
            block = ZZ[s:s + CHUNK] if ZZ is not None else self._products(self._Z[s:s + CHUNK])
            out += W @ block
        return out

    def _products(self, Zc):
        iu0, iu1 = self._iu
        return Zc[:, iu0] * Zc[:, iu1]

    # -- fits ----------------------------------------------------------------------------------
    def unweighted(self):
        """``(X'X, sum(v x x'), sum(v), OLS quantities)`` for the Hedges start: returns
        ``(M0, rss_ols, trPV)`` with ``trPV = tr(P_ols V)``."""
        R = self.row_sums([(None, 0), (None, 1)])
        full, p, ie, io = self._full, self.p, self.ie, self.io
        if p == 1:
            r0, rv = R.tolist()
            m0 = r0[full[0, 0]]
            d = r0[full[0, ie]] / m0
            rss = r0[full[ie, ie]] - d * (2.0 * r0[full[0, ie]] - m0 * d)
            trpv = rv[full[io, io]] - rv[full[0, 0]] / m0
            return np.array([[m0]]), rss, trpv
        S = R[:, full]
        M0 = S[0, :p, :p]
        A0 = _inv(M0)
        c0 = S[0, :p, ie]
        d = A0 @ c0
        rss = float(S[0, ie, ie] - d @ (2.0 * c0 - M0 @ d))
        trpv = float(S[1, io, io] - np.vdot(A0, S[1, :p, :p]))
        return M0, rss, trpv

    def at(self, t: float, order: int = 2) -> Eval:
        """The fit at ``w = 1/(v + t)``; ``order=3`` adds ``yppp`` and ``trPP``."""
        t = float(t)
        ev = self._evals.get((t, 3)) or self._evals.get((t, order))
        if ev is not None:
            return ev
        specs = [(t, 1), (t, 2), (t, 3)][:order]
        R = self.row_sums(specs)
        ev = Eval()
        ev.t = t
        full, p, ie, io = self._full, self.p, self.ie, self.io
        if p == 1:
            rows = R.tolist()
            i_xx, i_xe, i_ee, i_11 = full[0, 0], full[0, ie], full[ie, ie], full[io, io]
            r1, r2 = rows[0], rows[1]
            m1 = r1[i_xx]
            a = 1.0 / m1 if m1 != 0 else 0.0
            d = a * r1[i_xe]
            ev.A, ev.M, ev.d = a, m1, d
            ev.rss = r1[i_ee] - d * (2.0 * r1[i_xe] - m1 * d)
            ev.ypp = r2[i_ee] - d * (2.0 * r2[i_xe] - r2[i_xx] * d)
            ev.sw, ev.sw2 = r1[i_11], r2[i_11]
            am2 = a * r2[i_xx]
            ev.trP = ev.sw - am2
            if order >= 3:
                r3 = rows[2]
                g = r2[i_xe] - r2[i_xx] * d
                ev.yppp = (r3[i_ee] - d * (2.0 * r3[i_xe] - r3[i_xx] * d)) - a * g * g
                ev.trPP = ev.sw2 - 2.0 * a * r3[i_xx] + am2 * am2
        else:
            S = R[:, full]
            M1, c1 = S[0, :p, :p], S[0, :p, ie]
            M2, c2 = S[1, :p, :p], S[1, :p, ie]
            A = _inv(M1)
            d = A @ c1
            ev.A, ev.M, ev.d = A, M1, d
            ev.rss = float(S[0, ie, ie] - d @ (2.0 * c1 - M1 @ d))
            ev.ypp = float(S[1, ie, ie] - d @ (2.0 * c2 - M2 @ d))
            ev.sw, ev.sw2 = float(S[0, io, io]), float(S[1, io, io])
            AM2 = A @ M2
            ev.trP = ev.sw - float(np.trace(AM2))
            if order >= 3:
                M3, c3 = S[2, :p, :p], S[2, :p, ie]
                g = c2 - M2 @ d
                ev.yppp = float(S[2, ie, ie] - d @ (2.0 * c3 - M3 @ d) - g @ A @ g)
                ev.trPP = ev.sw2 - 2.0 * float(np.vdot(A, M3)) + float(np.vdot(AM2, AM2.T))
        self._evals[(t, order)] = ev
        return ev

    def coef(self, ev: Eval):
        """``(b, A)`` as arrays (``A`` symmetrised) for an :meth:`at` result."""
        if self.p == 1:
            return self.b0 + ev.d, np.array([[ev.A]])
        A = ev.A
        return self.b0 + ev.d, 0.5 * (A + A.T)

    def logdet_xtx(self) -> float:
        """``log det(X'X)``."""
        S = self.sums([(None, 0)])[0]
        p = self.p
        return float(np.linalg.slogdet(S[:p, :p])[1])


def logdet_pd(M) -> float:
    """``log det`` of a symmetric positive-definite matrix (a scalar for p = 1)."""
    if np.ndim(M) == 0:
        return math.log(M)
    return float(np.linalg.slogdet(M)[1])


def check_full_rank(X: np.ndarray, names) -> None:
    """Raise :class:`ModelError` naming the moderators that are linear combinations of others."""
    if X.shape[1] == 0:
        return
    # Fast path: the singular values of the unit-scaled columns from their Gram matrix. When
    # the smallest is far above the tolerance (eigenvalue errors are ~1e-16 of the largest),
    # every subset of columns passes too (singular values of a column subset interlace those
    # of the whole matrix), so the column-by-column check below would keep every column.
    G = X.T @ X
    dg = np.diag(G)
    if np.all(dg > 0) and np.all(np.isfinite(dg)):
        sc = np.sqrt(dg)
        lam = np.linalg.eigvalsh(G / np.outer(sc, sc))
        if lam[0] > 1e-12 * lam[-1]:
            return
    # scale columns so that the rank decision does not depend on units
    scale = np.sqrt(np.sum(X * X, axis=0))
    if np.any(scale == 0):
        zero = [names[j] for j in np.flatnonzero(scale == 0)]
        raise ModelError(
            f"Moderator(s) {', '.join(map(repr, zero))} are zero for every study, so their "
            "coefficients cannot be estimated. Remove them from the model."
        )
    Xs = X / scale
    tol = 1e-10
    kept: list[int] = []
    collinear: list[int] = []
    for j in range(Xs.shape[1]):
        cand = kept + [j]
        s = np.linalg.svd(Xs[:, cand], compute_uv=False)
        if s[-1] / s[0] < tol:
            collinear.append(j)
        else:
            kept.append(j)
    if collinear:
        bad = ", ".join(repr(names[j]) for j in collinear)
        raise ModelError(
            f"The model matrix is not of full rank: {bad} "
            f"{'is a linear combination' if len(collinear) == 1 else 'are linear combinations'} "
            f"of {', '.join(repr(names[j]) for j in kept)}. Remove or combine the collinear "
            "moderator(s); with few studies a moderator can also be constant across all of them."
        )
