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
  tau^2 for the same data. The design is first centred (``X~ = X T``: moderators minus their
  means when there is an intercept, see :func:`precondition`), and ``z_i = (x~_i, e0_i)``
  with ``e0`` the residuals of the equal-effects fit (the pilot ``b~0``): the regression of
  ``y`` on ``X~`` with any weights is ``b~0`` plus the regression of ``e0`` on ``X~``, so the
  quadratic forms below do not cancel. Every quantity above is then a function of the blocks
  of ``S_m = sum_i w_i^m z_i z_i'`` for m = 1, 2, 3:

  - ``M_m = X~'W^m X~``, ``c_m = X~'W^m e0``, ``s_m = e0'W^m e0``; ``d = A c_1``,
    ``b = T (b~0 + d)``
  - ``sum(w^m e^2) = s_m - d'(2 c_m - M_m d)``; ``X~'W^2 e = c_2 - M_2 d``
  - ``tr(P) = sum(w) - tr(A M_2)``, ``tr(PP) = sum(w^2) - 2 tr(A M_3) + tr((A M_2)^2)``
  - ``y'PPPy = sum(w^3 e^2) - g'A g`` with ``g = X~'W^2 e``.

  The row products ``z_i z_i'`` are tabulated once (or per block when the table would be
  large), so each value of tau^2 costs one matrix product over k (in cache-sized blocks)
  plus O(p^3) algebra (one Cholesky factorisation and one solve), instead of several passes
  building residuals, hat values and weighted design matrices; score and derivative come
  from the same sums. With the centring, the coefficients are accurate to ~1e-15 even for
  designs such as (intercept, publication year), where the normal equations of :class:`WFit`
  lose ~5 digits. Batched fits (:mod:`ketameta._batch`) use the same sums with a leading
  batch axis.

The functions are private; the public models in :mod:`ketameta.rma` use them.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import linalg
from scipy.linalg import lapack

from .errors import ModelError

#: Largest M*N*K of a matrix product formed in one call. OpenBLAS runs larger products on
#: several threads; on a machine whose other cores are busy the threads wait for them, so
#: products are split (over k) to stay single-threaded and cache-sized.
GEMM_MAX = 1 << 18
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


_potrf, _potrs, _potri = (lapack.dpotrf, lapack.dpotrs, lapack.dpotri)


def dot_blocked(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """``A @ B`` for A (m, k), B (k, n), summed over blocks of k (see :data:`GEMM_MAX`)."""
    m, k = A.shape
    n = B.shape[1]
    step = max(256, GEMM_MAX // max(1, m * n))
    if k <= step:
        return A @ B
    out = A[:, :step] @ B[:step]
    for s in range(step, k, step):
        out += A[:, s:s + step] @ B[s:s + step]
    return out


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


def _power_rows(v: np.ndarray, t: float, out: np.ndarray) -> np.ndarray:
    """``out[m - 1] = (1 / (v + t))^m`` for m = 1 .. len(out) (as :func:`_weight_rows`)."""
    w = out[0]
    np.add(v, t, out=w)
    np.divide(1.0, w, out=w)
    if out.shape[0] > 1:
        np.multiply(w, w, out=out[1])
        if out.shape[0] > 2:
            np.multiply(out[1], w, out=out[2])
    return out


def precondition(Z: np.ndarray, v: np.ndarray, p: int, io):
    """Centre the moderators (the design rows ``Z[:p]`` other than the intercept) in place.

    ``Z`` holds the design transposed (rows x_1 .. x_p, then a row of ones if ``io`` is None,
    then y). When X has an intercept (row ``io``) the other rows are centred at their means,
    so the weighted Gram matrices of ``X~ = X T`` are well conditioned whatever the
    moderators' offsets (e.g. a publication year next to an intercept: cond(X'WX) ~ 1e11
    becomes ~10). The map is exact in both directions: ``b = T b~``, ``A = T A~ T'`` and
    ``det T = 1``; the rounding of ``x - m`` is a relative perturbation of the data of the
    order of their own rounding. (Scaling is not needed: the Cholesky factorisations used are
    invariant to the scale of the columns.) Designs without an intercept, and intercept-only
    designs, are left as they are.

    Returns ``(G, T)``: ``G = Z W0 Z'`` (W0 = diag(1/v)) of the transformed rows, and T (None
    when nothing was transformed).
    """
    if io is None or p == 1:
        return dot_blocked(Z / v, Z.T), None
    Zx = Z[:p]
    m = Zx.sum(axis=1) / Z.shape[1]
    m[io] = 0.0
    Zx -= m[:, None]
    T = np.eye(p)
    T[io] -= m
    return dot_blocked(Z / v, Z.T), T


_PAIRS: dict = {}


def _pairs(q1):
    """Upper-triangle index pairs of a q1 x q1 matrix and the map from (i, j) to pair."""
    r = _PAIRS.get(q1)
    if r is None:
        iu0, iu1 = np.triu_indices(q1)
        full = np.empty((q1, q1), dtype=np.intp)
        full[iu0, iu1] = np.arange(iu0.size)
        full[iu1, iu0] = np.arange(iu0.size)
        r = _PAIRS[q1] = (iu0, iu1, full)
    return r


_LAYOUT: dict = {}


def _layout(p, q1, io):
    """Index tables of a (p, q1) design, cached: the template of ``delta = (-d, [0,] 1)``, the
    flat indices of ``Yt[m, i, i]`` in (n, q1, p) arrays (traces tr(A M_m), n = 2, 3), the
    pairs of the (x~, e0) block and, for p = 1, the pairs (x x, x e0, e0 e0, 1 1).
    """
    r = _LAYOUT.get((p, q1, io))
    if r is None:
        full = _pairs(q1)[2]
        delta = np.zeros(q1)
        delta[-1] = 1.0
        ar = np.arange(p)
        diag = {n: np.array([m * q1 * p + ar * p + ar for m in range(n)]) for n in (2, 3)}
        xe = list(range(p)) + [q1 - 1]
        idx1 = (full[0, 0], full[0, -1], full[-1, -1], full[io, io])
        r = _LAYOUT[(p, q1, io)] = (delta, diag, full[np.ix_(xe, xe)], idx1)
    return r


class Eval:
    """WLS quantities at ``w = 1/(v + t)`` computed from moment sums (see module notes).

    ``rss = sum(w e^2)``, ``ypp = y'PPy``, ``trP``; with ``order=3`` also ``yppp = y'PPPy``
    and ``trPP = tr(PP)``. ``sw``/``sw2`` are ``sum(w)``/``sum(w^2)``. ``d`` is the shift
    from the pilot coefficients (``b = b0 + d``), ``M = X'WX`` and ``chol`` its Cholesky
    factor (LAPACK ``potrf``, upper; None if ``M`` is not numerically positive definite).
    For p = 1 ``M`` and ``d`` are floats.
    """

    __slots__ = ("t", "M", "chol", "d", "rss", "ypp", "yppp", "trP", "trPP", "sw", "sw2")


class Moments:
    """One design ``(y, v, X)`` prepared for WLS fits at any ``w = 1/(v + t)``.

    The pilot fit is the equal-effects fit (weights ``1/v``); ``z_i = (x_i[, 1], e0_i)``
    (a column of ones is appended when X has none, for ``sum(w^m)``). Sums over k run in
    blocks of :data:`CHUNK` rows; results are cached per weight specification, so the fits
    at the same tau^2 (the last Newton step, the final fit, the equal-effects statistics)
    cost one pass.

    Parameters
    ----------
    y, v : ndarray of shape (k,)
    X : ndarray of shape (k, p)
    intercept_col : int or None
        Index of a column of ones in X, None if there is none; -1 (default): look for one.
    """

    def __init__(self, y, v, X, intercept_col=-1):
        y = np.asarray(y, dtype=float)
        v = np.asarray(v, dtype=float)
        X = np.asarray(X, dtype=float)
        k, p = X.shape
        self.k, self.p, self.y, self.v, self.X = k, p, y, v, X
        io = _intercept_column(X) if intercept_col == -1 else intercept_col
        q1 = p + (1 if io is not None else 2)
        self.io = io if io is not None else p
        self.ie = q1 - 1
        self.q1 = q1
        # z_i as the columns of Z (rows: x~_1 .. x~_p, [1,] e0), so passes over k are contiguous
        Z = np.empty((q1, k))
        Z[:p] = X.T
        if io is None:
            Z[p] = 1.0
        Z[-1] = y
        G, self._T = precondition(Z, v, p, io)
        # pilot: the equal-effects fit (weights 1/v) of y on X~; e0 = its residuals
        if p == 1:
            self.bt0 = np.array([G[0, -1] / G[0, 0]])
        else:
            c, info = _potrf(G[:p, :p])
            if info == 0:
                self.bt0 = _potrs(c, G[:p, -1])[0]
            else:
                self.bt0 = np.linalg.pinv(G[:p, :p]) @ G[:p, -1]
        if k <= CHUNK:
            Z[-1] = y - self.bt0 @ Z[:p]
        else:                       # no k x p temporaries (and no threaded BLAS) at large k
            e0 = Z[-1]
            e0[...] = y
            for j in range(p):
                e0 -= self.bt0[j] * Z[j]
        iu0, iu1, full = _pairs(q1)
        self._iu = (iu0, iu1)
        self._full = full
        q = iu0.size
        if k * q <= _STORE_MAX:
            if k <= CHUNK:
                ZZ = Z[iu0] * Z[iu1]
            else:
                ZZ = np.empty((q, k))
                for j in range(q):
                    np.multiply(Z[iu0[j]], Z[iu1[j]], out=ZZ[j])
            self._ZZ, self._Z = ZZ, None
        else:
            self._ZZ, self._Z = None, Z
        self._ZZT = None if self._ZZ is None else self._ZZ.T
        self._small_k = self._ZZ is not None and k <= CHUNK
        self._delta, self._diag_idx, self._full_xe, self._idx1 = _layout(p, q1, self.io)
        self._sums: dict = {}
        self._evals: dict = {}
        self._logdet_xx = None

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

    def _pass(self, specs, power_of=None) -> np.ndarray:
        """One pass over k: the row sums for ``specs`` (``power_of=t``: the specs are the
        powers 1, 2, ... of ``1/(v + t)``).
        """
        k, r = self.k, len(specs)
        ZZ = self._ZZ
        if power_of is not None:
            def rows(vc, out):
                return _power_rows(vc, power_of, out)
        else:
            def rows(vc, out):
                return _weight_rows(vc, specs, out)
        q = len(self._iu[0])
        # blocks of k: in cache, and each product single-threaded (GEMM_MAX)
        step = max(256, min(CHUNK, GEMM_MAX // (r * q)))
        if k <= step:
            W = rows(self.v, np.empty((r, k)))
            return W @ (ZZ if ZZ is not None else self._products(self._Z)).T
        out = np.zeros((r, q))
        buf = np.empty((r, step))
        for s in range(0, k, step):
            vc = self.v[s:s + step]
            W = rows(vc, buf[:, :vc.size])
            block = ZZ[:, s:s + step] if ZZ is not None else self._products(self._Z[:, s:s + step])
            out += W @ block.T
        return out

    def _products(self, Zc):
        iu0, iu1 = self._iu
        return Zc[iu0] * Zc[iu1]

    # -- fits ----------------------------------------------------------------------------------
    def unweighted(self):
        """The unweighted (OLS) fit for the Hedges estimate: ``(rss_ols, tr(P_ols V))``."""
        R = self.row_sums([(None, 0), (None, 1)])
        full, p, ie, io = self._full, self.p, self.ie, self.io
        if p == 1:
            r0, rv = R.tolist()
            m0 = r0[full[0, 0]]
            d = r0[full[0, ie]] / m0
            rss = r0[full[ie, ie]] - d * (2.0 * r0[full[0, ie]] - m0 * d)
            trpv = rv[full[io, io]] - rv[full[0, 0]] / m0
            return rss, trpv
        # Cholesky of [[X~'X~, X~'e0], [e0'X~, e0'e0]]: its last pivot squared is the Schur
        # complement e0'e0 - e0'X~ (X~'X~)^-1 X~'e0 = the OLS residual sum of squares
        c, info = _potrf(R[0][self._full_xe])
        if info == 0:
            # the leading block of the factor is that of X~'X~: keep log det(X'X) (det T = 1)
            self._logdet_xx = 2.0 * float(np.log(c.diagonal()[:p]).sum())
            Y, info = _potrs(c[:p, :p], R[1][full[:p, :p]])
        if info != 0:
            S = R[:, full]
            M0 = S[0, :p, :p]
            A0 = np.linalg.pinv(M0)
            d = A0 @ S[0, :p, ie]
            rss = float(S[0, ie, ie] - d @ (2.0 * S[0, :p, ie] - M0 @ d))
            return rss, float(S[1, io, io] - np.vdot(A0, S[1, :p, :p]))
        return float(c[p, p]) ** 2, float(R[1][full[io, io]] - Y.trace())

    def at(self, t: float, order: int = 2) -> Eval:
        """The fit at ``w = 1/(v + t)``; ``order=3`` adds ``yppp`` and ``trPP``."""
        t = float(t)
        evals = self._evals
        ev = evals.get((t, 3)) or evals.get((t, order))
        if ev is not None:
            return ev
        sums = self._sums
        rows = [sums.get((t, m)) for m in range(1, order + 1)]
        if any([r is None for r in rows]):
            if self._small_k and order * self.k * self._ZZ.shape[0] <= GEMM_MAX:
                # the common small-k case, inlined: weight rows w, w^2[, w^3] and one product
                W = np.empty((order, self.k))
                w = W[0]
                np.add(self.v, t, out=w)
                np.divide(1.0, w, out=w)
                np.multiply(w, w, out=W[1])
                if order > 2:
                    np.multiply(W[1], w, out=W[2])
                R = W @ self._ZZT
            else:
                R = self._pass(((t, 1), (t, 2), (t, 3))[:order], power_of=t)
            for m in range(order):
                sums[(t, m + 1)] = R[m]
        else:
            R = np.array(rows)
        ev = Eval()
        ev.t = t
        full, p, ie, io = self._full, self.p, self.ie, self.io
        if p == 1:
            rows = R.tolist()
            i_xx, i_xe, i_ee, i_11 = self._idx1
            r1, r2 = rows[0], rows[1]
            m1 = r1[i_xx]
            a = 1.0 / m1
            d = a * r1[i_xe]
            ev.M, ev.chol, ev.d = m1, None, d
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
            # one Cholesky factorisation and one solve give A S_m[x rows] for every order m:
            # Yt[m, j] = A S_m[:p, j] (the right-hand sides are passed transposed, so LAPACK
            # reads and writes them in place)
            c, info = _potrf(S[0, :p, :p])
            RHS = S[:, :, :p].reshape(-1, p)
            if info == 0:
                Y, info = _potrs(c, RHS.T)
            if info != 0:
                c = None
                Y = np.linalg.pinv(S[0, :p, :p]) @ RHS.T
            Yt = Y.T.reshape(order, self.q1, p)
            d = Yt[0, ie]
            # e = e0 - X~ d = Z' delta with delta = (-d, [0,] 1): quadratic forms in S_m
            delta = self._delta.copy()
            delta[:p] = -d
            Sd = S @ delta                        # (order, q1); Sd[m, :p] = c_m - M_m d
            quads = (Sd @ delta).tolist()         # sum(w^m e^2)
            diag = Yt.take(self._diag_idx[order]).sum(axis=1).tolist()  # tr(A M_m)
            ev.M, ev.chol, ev.d = S[0, :p, :p], c, d
            ev.rss, ev.ypp = quads[0], quads[1]
            sw = S[:2, io, io].tolist()
            ev.sw, ev.sw2 = sw[0], sw[1]
            ev.trP = ev.sw - diag[1]
            if order >= 3:
                AM2t = Yt[1, :p]                  # (A M_2)'
                # g = X~'W^2 e = Sd[1, :p]; A g = A S_2[x rows] delta
                ev.yppp = quads[2] - float(Sd[1, :p] @ (delta @ Yt[1]))
                ev.trPP = ev.sw2 - 2.0 * diag[2] + float(np.vdot(AM2t, AM2t.T))
        evals[(t, order)] = ev
        return ev

    def coef(self, ev: Eval):
        """``(b, A)`` with ``A = (X'WX)^-1`` for an :meth:`at` result."""
        if self.p == 1:
            b, A = self.bt0 + ev.d, np.array([[1.0 / ev.M]])
        else:
            b = self.bt0 + ev.d
            A = _chol_inv(ev.chol) if ev.chol is not None else np.linalg.pinv(ev.M)
        T = self._T
        if T is None:
            return b, A
        return T @ b, T @ A @ T.T

    def logdet(self, ev: Eval) -> float:
        """``log det(X'WX)`` for an :meth:`at` result."""
        if self.p == 1:
            return math.log(ev.M)
        if ev.chol is not None:
            return 2.0 * float(np.log(ev.chol.diagonal()).sum())
        return float(np.linalg.slogdet(ev.M)[1])

    def logdet_xtx(self) -> float:
        """``log det(X'X)``."""
        if self._logdet_xx is not None:
            return self._logdet_xx
        r = self.row_sums([(None, 0)])[0]
        p = self.p
        if p == 1:
            return math.log(r[self._full[0, 0]])
        M0 = r[self._full[:p, :p]]
        c, info = _potrf(M0)
        if info == 0:
            return 2.0 * float(np.log(c.diagonal()).sum())
        return float(np.linalg.slogdet(M0)[1])


def quad_inv(M: np.ndarray, b: np.ndarray) -> float:
    """``b' M^-1 b`` for a symmetric positive-definite M (Cholesky); NaN if M is singular."""
    c, info = _potrf(M)
    if info == 0:
        x, info = _potrs(c, b[:, None])
        if info == 0:
            return float(b @ x[:, 0])
    try:
        return float(b @ np.linalg.solve(M, b))
    except np.linalg.LinAlgError:
        return float("nan")


def _chol_inv(c: np.ndarray) -> np.ndarray:
    """Symmetric inverse from an upper Cholesky factor (LAPACK ``potri``)."""
    a, info = _potri(c)
    if info != 0:
        raise np.linalg.LinAlgError("potri failed")
    a = a + a.T
    a.flat[:: a.shape[0] + 1] *= 0.5
    return a


def check_full_rank(X: np.ndarray, names) -> None:
    """Raise :class:`ModelError` naming the moderators that are linear combinations of others."""
    if X.shape[1] == 0:
        return
    # Fast path: with G the Gram matrix of the unit-scaled columns (diagonal 1), its largest
    # eigenvalue is at most p and its smallest at least 1 / tr(G^-1). When tr(G^-1) <= 1e10
    # the singular values of the scaled columns have ratio >= 1e-5 / sqrt(p), far above the
    # tolerance, and so has every subset of the columns (singular values of a column subset
    # interlace those of the whole matrix): the column-by-column check below would keep every
    # column.
    G = dot_blocked(X.T, X)
    dg = G.diagonal()
    if dg.all() and np.isfinite(dg).all():
        sc = 1.0 / np.sqrt(dg)
        c, info = _potrf(G * sc * sc[:, None])
        if info == 0:
            Gi, info = _potri(c)  # upper triangle of G^-1: its diagonal is all we need
            if info == 0 and 0 < Gi.trace() <= 1e10:
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
