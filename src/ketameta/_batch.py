"""Batched (vectorised) fits of many univariate models.

Used by permutation tests and other resampling: B models with outcomes ``Y`` (B, k), variances
``V`` (k,) or (B, k) and a shared design ``X`` (k, p) are fitted at once. The same blocks also
serve :func:`ketameta.rma_batch`: there each fit may have its own valid rows (a mask: masked
cells get weight 0) and its own design (``X`` of shape (B, k, p), preconditioned per fit, whose
row products are formed per block, so memory stays O(B k p^2) per block, never k x k). A permutation of the
rows of X relative to ``(y, v)`` is the same model as the inverse permutation of ``(y, v)``
with X fixed, so permutation tests and sign-flip tests both fit a shared X (see
:func:`ketameta.permutest`).

The estimating equations, the estimators' closed forms and the safeguarded Newton iteration are
those of :mod:`ketameta._tau2` and :mod:`ketameta._linalg` (moment sums of ``z = (x~, e0)``,
with ``x~`` the centred and scaled design and ``e0`` the residuals of a pilot fit; here the
unweighted fit, whose ``(X~'X~)^-1`` is shared by all B models). Because X is shared, the
sums of the products ``x~ x~'`` for a whole batch are one matrix product
``W (B*m, k) @ (x~_i x~_i') (k, p(p+1)/2)``, and the cross products with ``e0`` another.
Rows are processed in blocks sized to stay in cache; each block's Newton iteration runs on
the fits that have not converged yet. Each batched fit equals the single fit of
:func:`ketameta.rma` to rounding (``tests/unit/test_engine_consistency.py``).
"""

from __future__ import annotations

import numpy as np

from ._linalg import GEMM_MAX, _intercept_column, _pairs, precondition
from .errors import ModelError

_REL_TOL = 1e-15
_MAXITER = 500


class BatchDesign:
    """The shared design, prepared once: ``X~ = X T`` (see :func:`ketameta._linalg.precondition`),
    the products of its rows and the unweighted fit's pieces.
    """

    def __init__(self, X):
        X = np.asarray(X, dtype=float)
        k, p = X.shape
        io = _intercept_column(X)
        po = p + (1 if io is None else 0)           # x rows, plus a row of ones if needed
        Z = np.empty((po + 1, k))
        Z[:p] = X.T
        if io is None:
            Z[p] = 1.0
        Z[-1] = 0.0
        _, self.T = precondition(Z, np.ones(k), p, io)
        self.Xo = np.ascontiguousarray(Z[:po])      # (po, k)
        self.k, self.p, self.po = k, p, po
        self.io = io if io is not None else p
        iu0, iu1, full = _pairs(po)
        self.PX = (self.Xo[iu0] * self.Xo[iu1]).T.copy()   # (k, n_pairs): x~_i x~_i'
        self.full = full
        G0 = self.Xo[:p] @ self.Xo[:p].T
        self.A0 = np.linalg.inv(G0)
        self.XA0 = self.Xo[:p].T @ self.A0          # (k, p): OLS coefficients are Y @ XA0
        self.i_ww = full[self.io, self.io]


def _power_rows(V, t, order, out=None):
    """``(1 / (V + t))^m`` for m = 1..order: (order, n, k) (as in :mod:`ketameta._linalg`; each
    power is one contiguous (n, k) array, so the element-wise passes run over n k at once).
    """
    n, k = V.shape
    W = np.empty((order, n, k)) if out is None else out
    w = W[0]
    np.add(V, t[:, None], out=w)
    np.divide(1.0, w, out=w)
    if order > 1:
        np.multiply(w, w, out=W[1])
        if order > 2:
            np.multiply(W[1], w, out=W[2])
    return W


def _chol(M):
    """Batched Cholesky ``M = L L'`` of (n, p, p) symmetric matrices: ``(L, ok)``."""
    n, p, _ = M.shape
    L = np.zeros_like(M)
    ok = np.ones(n, bool)
    for j in range(p):
        s = M[:, j, j] - np.einsum("ni,ni->n", L[:, j, :j], L[:, j, :j])
        good = s > 0
        ok &= good
        ljj = np.sqrt(np.where(good, s, 1.0))
        L[:, j, j] = ljj
        if j + 1 < p:
            off = M[:, j + 1:, j] - np.einsum("nik,nk->ni", L[:, j + 1:, :j], L[:, j, :j])
            L[:, j + 1:, j] = off / ljj[:, None]
    return L, ok


def _chol_solve(L, R):
    """Solve ``L L' X = R`` for (n, p, r) right-hand sides."""
    n, p, _ = L.shape
    Y = np.empty_like(R)
    for j in range(p):
        Y[:, j] = (R[:, j] - np.einsum("ni,nir->nr", L[:, j, :j], Y[:, :j])) / L[:, j, j, None]
    X = np.empty_like(R)
    for j in range(p - 1, -1, -1):
        back = np.einsum("ni,nir->nr", L[:, j + 1:, j], X[:, j + 1:])
        X[:, j] = (Y[:, j] - back) / L[:, j, j, None]
    return X


class _Block:
    """One block of fits: outcomes, variances, design and the pilot (unweighted) fit.

    Parameters
    ----------
    des : BatchDesign or None
        The shared design; None when ``Xf`` gives one design per fit.
    Y : ndarray (n, k)
    V : ndarray (k,) or (n, k)
        Sampling variances (finite and positive in every valid cell).
    mask : ndarray (n, k) of bool, optional
        Valid cells; the others get weight 0 (their Y, V and X must be finite).
    Xf : ndarray (n, k, p), optional
        Per-fit designs (``des`` None); ``io`` is the index of their intercept column or None.
    """

    def __init__(self, des: BatchDesign | None, Y, V, mask=None, Xf=None, io=None):
        n, k = Y.shape
        self.Y, self.mask = Y, mask
        self._bufs: dict = {}
        self.V = V if V.ndim == 2 else np.broadcast_to(V, (n, k))
        self.Vw = self.V if mask is None else np.where(mask, self.V, np.inf)
        self.kk = np.full(n, float(k)) if mask is None else mask.sum(axis=1).astype(float)
        if Xf is None:
            self.shared, self.p, self.T = True, des.p, des.T
            self.Xo, self.PX, self.full, self.i_ww = des.Xo, des.PX, des.full, des.i_ww
        else:
            self._per_fit(Xf, io)
        p = self.p
        if self.shared and mask is None:
            self.Bo = Y @ des.XA0                   # (n, p) unweighted coefficients (in x~)
            self.A0 = np.broadcast_to(des.A0, (n, p, p))
            self.rank_ok = np.ones(n, bool)
        else:
            # unweighted fit over the valid rows of each fit (pilot e0 = y)
            self.E0 = Y
            W0 = (np.ones((1, n, k)) if mask is None else mask[None].astype(float))
            M, c, _, _ = self.wsums(W0)
            M0, c0 = M[:, 0], c[:, 0]
            dg = np.sqrt(np.abs(np.einsum("nii->ni", M0)))
            dg = np.where(dg > 0, dg, 1.0)
            Ls, ok = _chol(M0 / dg[:, :, None] / dg[:, None, :])
            # a pivot of the column-scaled Gram matrix below 1e-12: (numerically) collinear
            piv = np.einsum("nii->ni", Ls)
            self.rank_ok = ok & np.all(piv * piv > 1e-12, axis=1)
            M0 = np.where(self.rank_ok[:, None, None], M0, np.eye(p))
            L0, _ = _chol(M0)
            sol = _chol_solve(L0, np.concatenate([c0[:, :, None],
                                                  np.broadcast_to(np.eye(p), (n, p, p))], 2))
            self.Bo, self.A0 = sol[:, :, 0], sol[:, :, 1:]
        self.E0 = Y - self._xb(self.Bo)             # (n, k) the pilot's residuals
        if mask is not None:
            self.E0 = np.where(mask, self.E0, 0.0)

    def _per_fit(self, Xf, io):
        """Per-fit designs: centre the moderators at their means over the valid rows (as
        :func:`ketameta._linalg.precondition`, per fit) and tabulate the row products.
        """
        n, k, p = Xf.shape
        po = p + (1 if io is None else 0)
        Xo = np.empty((n, po, k))
        Xo[:, :p] = Xf.transpose(0, 2, 1)
        if io is None:
            Xo[:, p] = 1.0
            self.T = None
        elif p > 1:
            wm = np.ones((n, k)) if self.mask is None else self.mask
            m = np.einsum("npk,nk->np", Xo[:, :p], wm) / self.kk[:, None]
            m[:, io] = 0.0
            Xo[:, :p] -= m[:, :, None]
            T = np.broadcast_to(np.eye(p), (n, p, p)).copy()
            T[:, io] -= m
            self.T = T
        else:
            self.T = None
        if self.mask is not None:
            Xo *= self.mask[:, None, :]
        iu0, iu1, full = _pairs(po)
        self.shared, self.p, self.Xo, self.full = False, p, Xo, full
        self.PXf = Xo[:, iu0] * Xo[:, iu1]          # (n, n_pairs, k)
        self.PX = None
        self.i_ww = full[io if io is not None else p, io if io is not None else p]

    def _xb(self, B):
        """``X~ b`` for every fit: (n, k)."""
        if self.shared:
            return B @ self.Xo[:self.p]
        return np.einsum("np,npk->nk", B, self.Xo[:, :self.p])

    def wsums(self, W, rows=None, e=True):
        """Moment sums with weight rows ``W`` (r, n, k) for the fits ``rows`` (all: None):
        ``(M, c, s, sw)`` with M (n, r, p, p) = X~'W_j X~, c (n, r, p) = X~'W_j e0,
        s (n, r) = e0'W_j e0 and sw (n, r) = sum(W_j); with ``e=False`` only ``(M, sw)``.
        """
        r, n, k = W.shape
        p = self.p
        if self.shared:
            XX = (W.reshape(r * n, k) @ self.PX).reshape(r, n, -1)
        else:
            PXf = self.PXf if rows is None else self.PXf[rows]
            XX = np.einsum("rnk,nqk->rnq", W, PXf)
        XX = XX.transpose(1, 0, 2)
        M, sw = XX[:, :, self.full[:p, :p]], XX[:, :, self.i_ww]
        if not e:
            return M, sw
        E0 = self.E0 if rows is None else np.take(self.E0, rows, 0, out=self._buf("E", (n, k)))
        WE = np.multiply(W, E0, out=self._buf("WE", W.shape))
        if self.shared:
            c = (WE.reshape(r * n, k) @ self.Xo[:p].T).reshape(r, n, p).transpose(1, 0, 2)
            WE *= E0
            s = (WE.reshape(r * n, k) @ np.ones(k)).reshape(r, n).T
        else:
            Xo = self.Xo if rows is None else self.Xo[rows]
            c = np.einsum("rnk,npk->nrp", WE, Xo[:, :p])
            s = np.einsum("rnk,nk->nr", WE, E0)
        return M, c, s, sw

    def sums(self, rows, t, order):
        """Moment sums at ``w = 1/(V + t)`` (powers 1..order) for the fits ``rows`` (None:
        all): ``(M, c, s, sw)`` as :meth:`wsums`.
        """
        k = self.Y.shape[1]
        n = self.Y.shape[0] if rows is None else rows.size
        V = self.Vw if rows is None else np.take(self.Vw, rows, 0, out=self._buf("V", (n, k)))
        return self.wsums(_power_rows(V, t, order, out=self._buf("W", (order, n, k))), rows)

    def _buf(self, name, shape):
        """A reusable work array of the given shape (the passes of an iteration allocate no
        new memory: large fresh arrays cost page faults on every pass).
        """
        size = int(np.prod(shape))
        b = self._bufs.get(name)
        if b is None or b.size < size:
            b = self._bufs[name] = np.empty(size)
        return b[:size].reshape(shape)


def _quantities(M, c, s, sw, order):
    """Per-fit WLS quantities from the sums (the identities of :class:`ketameta._linalg.Moments`).

    Returns dict with d (the shift of the coefficients from the pilot), rss, ypp, trP and,
    for ``order=3``, yppp and trPP; ``ok`` is False where X~'WX~ is not positive definite.
    """
    n, _, p, _ = M.shape
    if p == 1:
        return _quantities1(M[:, :, 0, 0], c[:, :, 0], s, sw, order)
    L, ok = _chol(M[:, 0])
    if order >= 2:
        R = np.concatenate([c[:, :2].transpose(0, 2, 1), M[:, 1]]
                           + ([M[:, 2]] if order >= 3 else []), axis=2)
    else:
        R = c[:, 0, :, None]
    Sol = _chol_solve(L, R)
    d = Sol[:, :, 0]
    Md = np.einsum("nmij,nj->nmi", M, d)
    quads = s - np.einsum("nmi,ni->nm", 2.0 * c - Md, d)
    out = {"d": d, "rss": quads[:, 0], "ok": ok, "L": L}
    if order >= 2:
        AM2 = Sol[:, :, 2:2 + p]
        out["ypp"] = quads[:, 1]
        out["trP"] = sw[:, 0] - np.einsum("nii->n", AM2)
        out["sw"], out["sw2"] = sw[:, 0], sw[:, 1]
    if order >= 3:
        AM3 = Sol[:, :, 2 + p:]
        g = c[:, 1] - Md[:, 1]                      # X~'W^2 e
        Ag = Sol[:, :, 1] - np.einsum("nij,nj->ni", AM2, d)
        out["yppp"] = quads[:, 2] - np.einsum("ni,ni->n", g, Ag)
        out["trPP"] = (sw[:, 1] - 2.0 * np.einsum("nii->n", AM3)
                       + np.einsum("nij,nji->n", AM2, AM2))
    return out


def _quantities1(M, c, s, sw, order):
    """:func:`_quantities` for one coefficient (scalars per fit; the same identities)."""
    m1 = M[:, 0]
    ok = m1 > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        a = 1.0 / m1
        L = np.sqrt(m1)[:, None, None]
    d = a * c[:, 0]
    out = {"d": d[:, None], "rss": s[:, 0] - d * (2.0 * c[:, 0] - m1 * d), "ok": ok, "L": L}
    if order >= 2:
        m2 = M[:, 1]
        am2 = a * m2
        out["ypp"] = s[:, 1] - d * (2.0 * c[:, 1] - m2 * d)
        out["trP"] = sw[:, 0] - am2
        out["sw"], out["sw2"] = sw[:, 0], sw[:, 1]
    if order >= 3:
        m3 = M[:, 2]
        g = c[:, 1] - m2 * d
        out["yppp"] = (s[:, 2] - d * (2.0 * c[:, 2] - m3 * d)) - a * g * g
        out["trPP"] = sw[:, 1] - 2.0 * a * m3 + am2 * am2
    return out


def _solve(fdf, f0, start, scale, shape_a, shape_c):
    """Vectorised :func:`ketameta._tau2.solve_decreasing` (same start, bracket, shaped Newton
    step and stopping rules, per fit). ``fdf(rows, x)`` gives ``(f, f')`` for the fits
    ``rows`` at ``x``. Returns ``(tau2, ok, iterations)``; ``ok`` is False where no bracket was
    found (200 quadruplings) or the iteration did not converge; ``iterations`` counts the
    evaluations of ``fdf`` as :func:`ketameta._tau2.solve_decreasing` does (0 at the
    boundary).
    """
    B = f0.size
    tau = np.zeros(B)
    its = np.zeros(B, dtype=np.int64)
    ok = np.isfinite(f0)
    rows = np.flatnonzero(ok & (f0 > 0))
    if rows.size == 0:
        return tau, ok, its
    x = np.maximum(start[rows], np.maximum(1e-8 * np.maximum(scale[rows], 1e-300), 1e-12))
    lo = np.zeros(rows.size)
    hi = np.full(rows.size, np.inf)
    prev = np.full(rows.size, np.nan)
    n_expand = np.zeros(rows.size, dtype=int)
    c = shape_c[rows]
    for it in range(1, _MAXITER + 1):
        if rows.size == 0:
            break
        fx, d = fdf(rows, x)
        unbounded = np.isinf(hi)
        n_expand = np.where(unbounded & ~np.isfinite(fx), 201, n_expand)
        zero = fx == 0
        pos = fx > 0
        lo = np.where(pos, x, lo)
        hi = np.where(pos | zero, hi, x)
        unbounded = np.isinf(hi)
        dd = d + shape_a * fx / (x + c)
        with np.errstate(divide="ignore", invalid="ignore"):
            xn = x - fx / dd
        newton = (dd < 0) & np.isfinite(dd) & (lo < xn) & (xn < hi)
        n_expand = n_expand + (~newton & unbounded)
        xn = np.where(newton, xn, np.where(unbounded, 4.0 * x, 0.5 * (lo + hi)))
        step = np.abs(xn - x)
        tol = _REL_TOL * np.maximum(np.abs(xn), 1e-300)
        with np.errstate(invalid="ignore"):
            predicted = newton & (step < prev) & (step * step / prev <= 0.5 * tol)
            narrow = ~unbounded & (hi - lo <= _REL_TOL * np.maximum(hi, 1e-300))
        failed = n_expand > 200
        ok[rows[failed]] = False
        done = zero | (step <= tol) | narrow | predicted | failed
        tau[rows] = np.where(zero, x, xn)
        its[rows] = it
        prev = np.where(newton, step, np.nan)
        more = ~done
        rows, x, lo, hi, prev, c, n_expand = (rows[more], xn[more], lo[more], hi[more],
                                              prev[more], c[more], n_expand[more])
    if rows.size:
        ok[rows] = False
    return tau, ok, its


def _tr(A, B):
    """``tr(A B)`` for stacks of p x p matrices."""
    return np.einsum("nij,nji->n", A, B)


def _masked(blk: _Block, X):
    """``X`` (n, k) with the masked cells set to 0."""
    return X if blk.mask is None else np.where(blk.mask, X, 0.0)


def he_pieces(blk: _Block, want_se=True):
    """The unweighted fit of the Hedges estimator: ``rss``, ``tr(P V)`` and ``tr(P V P V)``
    (P the unweighted projector; from the sums with weights ``1, v, v^2``; the last is None
    with ``want_se=False``).
    """
    V0 = _masked(blk, blk.V)
    W = blk._buf("W", (2 if want_se else 1,) + V0.shape)
    W[0] = V0
    if want_se:
        np.multiply(V0, V0, out=W[1])
    M, sw = blk.wsums(W, e=False)
    AM = np.einsum("nij,njk->nik", blk.A0, M[:, 0])
    trpv = sw[:, 0] - np.einsum("nii->n", AM)
    trpvpv = sw[:, 1] - 2.0 * _tr(blk.A0, M[:, 1]) + _tr(AM, AM) if want_se else None
    rss = np.einsum("nk,nk->n", blk.E0, blk.E0)        # E0 is 0 in the masked cells
    return rss, trpv, trpvpv


def sj_pieces(blk: _Block, t0):
    """``tr(P D P D)``, ``tr(P P D)`` (D = diag(v)) and ``tr(P P)`` at ``w = 1/(v + t0)``, the
    traces behind the Sidik-Jonkman standard error (see :class:`ketameta._linalg.WFit`).
    """
    V0 = _masked(blk, blk.V)
    W = _power_rows(blk.Vw, t0, 3)
    w2, w3 = W[1], W[2]
    rows = np.concatenate([W, [V0 * w2, V0 * w3, V0 * V0 * w3, V0 * V0 * w2]])
    M, sw = blk.wsums(rows, e=False)
    L, _ = _chol(M[:, 0])
    p = blk.p
    A = _chol_solve(L, np.broadcast_to(np.eye(p), (L.shape[0], p, p)).copy())
    AM2, AMv2 = A @ M[:, 1], A @ M[:, 3]
    trpp = sw[:, 1] - 2.0 * _tr(A, M[:, 2]) + _tr(AM2, AM2)
    trpdpd = sw[:, 6] - 2.0 * _tr(A, M[:, 5]) + _tr(AMv2, AMv2)
    trppd = sw[:, 3] - 2.0 * _tr(A, M[:, 4]) + _tr(AM2, AMv2)
    return trpdpd, trppd, trpp


def _masked_moments(blk: _Block):
    """Per-fit mean and population variance of Y over the valid cells."""
    kk = blk.kk
    Y0 = _masked(blk, blk.Y)
    ybar = Y0.sum(axis=1) / kk
    Yc = _masked(blk, blk.Y - ybar[:, None])
    return ybar, np.einsum("nk,nk->n", Yc, Yc) / kk


def _tau2_block(blk: _Block, method, df, q0=None, info=None):
    """tau^2 of every fit of a block (as :func:`ketameta._tau2.estimate`), convergence and
    iteration counts: ``(tau2, ok, iterations)``.

    ``df`` (scalar or (n,)) is k - p per fit. ``q0``: the fits at tau^2 = 0
    (:func:`_quantities` of order >= 2), when the caller has them.
    ``info`` (a dict), when given, receives the pieces the standard errors need (``he``:
    :func:`he_pieces`; ``t0``: the Sidik-Jonkman starting value; ``q_sj``: its fit).
    """
    n = blk.Y.shape[0]
    df = np.broadcast_to(np.asarray(df, dtype=float), (n,))
    every = None
    ones = np.ones(n, bool)
    its = np.zeros(n, dtype=np.int64)
    info = {} if info is None else info
    if method == "EE":
        return np.zeros(n), ones, its
    ml = method in ("ML", "REML")
    if method == "HE" or ml:
        rss, trpv, _ = info["he"] = he_pieces(blk, want_se=method == "HE")
        start = np.maximum(0.0, (rss - trpv) / df)          # Hedges (HE) estimate
        if method == "HE":
            return start, ones, its
    if method == "SJ":
        _, t0 = _masked_moments(blk)
        t0 = np.where(t0 > 0, t0, 1e-12)
        q = info["q_sj"] = _quantities(*blk.sums(every, t0, 1), 1)
        info["t0"] = t0
        return np.maximum(0.0, t0 * q["rss"] / df), q["ok"], its
    order = 3 if ml else 2
    if q0 is None:
        q0 = _quantities(*blk.sums(every, np.zeros(n), 2), 2)
    if method == "DL":
        return np.maximum(0.0, (q0["rss"] - df) / q0["trP"]), q0["ok"], its
    if method == "HS":
        return np.maximum(0.0, (q0["rss"] - blk.kk) / q0["sw"]), q0["ok"], its
    _, vy = _masked_moments(blk)
    scale = vy + _masked(blk, blk.V).sum(axis=1) / blk.kk
    shape_c = blk.kk / q0["sw"]
    if ml:
        reml = method == "REML"

        def score(q, rows):
            if reml:
                return q["ypp"] - q["trP"], -2.0 * q["yppp"] + q["trPP"]
            return q["ypp"] - q["sw"], -2.0 * q["yppp"] + q["sw2"]

        shape_a = 2.0
    elif method in ("PM", "EB"):
        start = np.maximum(0.0, (q0["rss"] - df) / q0["trP"])

        def score(q, rows):
            return q["rss"] - (df if rows is None else df[rows]), -q["ypp"]

        shape_a = 1.0
    else:
        raise ModelError(f"Unknown method {method!r}.")

    def fdf(rows, x):
        q = _quantities(*blk.sums(rows, x, order), order)
        f, d = score(q, rows)
        return np.where(q["ok"], f, np.nan), d

    # the estimating equation at tau^2 = 0 (its derivative is not needed: order 2 suffices)
    if ml:
        f0 = q0["ypp"] - (q0["trP"] if method == "REML" else q0["sw"])
    else:
        f0 = q0["rss"] - df
    f0 = np.where(q0["ok"], f0, np.nan)
    tau, ok, its = _solve(fdf, f0, start, scale, shape_a, shape_c)
    if ml:
        _interior_maxima(blk, method == "REML", fdf, f0, scale, shape_a, shape_c, tau, its)
    return tau, ok, its


def _interior_maxima(blk: _Block, reml, fdf, f0, scale, shape_a, shape_c, tau, its):
    """Interior maxima (:func:`ketameta._tau2.interior_maxima`) of the fits whose likelihood
    score is <= 0 at tau^2 = 0, with this block's score and solver. Updates ``tau`` and ``its``
    in place.
    """
    from ._tau2 import interior_maxima, scan_points

    rows = np.flatnonzero(np.isfinite(f0) & (f0 <= 0))
    if rows.size == 0:
        return
    if blk.p == 1:
        # one coefficient: the score directly from the pilot residuals (a constant shift of
        # each fit's outcomes leaves it unchanged), a few passes over the scanned fits only
        E, Vw = blk.E0[rows], blk.Vw[rows]

        def score(i, x):
            """The score of the scanned fits at positions ``i`` (of ``rows``) at the points
            ``x`` (one row of points per fit: every point in one broadcast pass).
            """
            W = 1.0 / (Vw[i][:, None, :] + x[:, :, None])          # (n, points, k)
            sw = W.sum(axis=2)
            Ei = E[i][:, None, :]
            e = Ei - (W * Ei).sum(axis=2)[:, :, None] / sw[:, :, None]
            W *= W
            ypp = np.einsum("npk,npk->np", W, e * e)
            return ypp - ((sw - W.sum(axis=2) / sw) if reml else sw)
    else:
        def score(i, x):
            out = np.empty(x.shape)
            for j in range(x.shape[1]):
                q = _quantities(*blk.sums(rows[i], x[:, j], 2), 2)
                f = q["ypp"] - (q["trP"] if reml else q["sw"])
                out[:, j] = np.where(q["ok"], f, np.nan)
            return out

    def solve(i, x0):
        sub = rows[i]

        def fdf_sub(r, x):
            return fdf(sub[r], x)

        r, ok, it = _solve(fdf_sub, np.ones(i.size), x0, scale[sub], shape_a, shape_c[sub])
        its[sub] += it
        return r, ok

    vmin = blk.Vw[rows].min(axis=1)          # masked cells are inf in Vw
    found = interior_maxima(score, solve, scan_points(vmin, scale[rows]))
    tau[rows] = np.where(found > 0, found, tau[rows])


def batch_fit(method, test, Y, v, X, btt, tau2_fixed=None, design=None):
    """Fit B models ``(Y[b], V[b], X)`` with a shared design X.

    Parameters
    ----------
    method, test : str
        As in :func:`ketameta.rma` (normalised names).
    Y : ndarray (B, k)
    v : ndarray (k,) or (B, k)
        Sampling variances, shared or per fit.
    X : ndarray (k, p)
        The shared design matrix.
    btt : list of int
        Coefficients of the omnibus test.
    tau2_fixed : float, optional
        Fixed tau^2 instead of estimating it.
    design : BatchDesign, optional
        ``BatchDesign(X)``, when the caller fits several batches with the same X.

    Returns
    -------
    dict
        beta (B, p), se (B, p), zval (B, p), QM (B,), tau2 (B,) and ok (B,) (estimation
        converged and X'WX positive definite).
    """
    Y = np.asarray(Y, dtype=float)
    v = np.asarray(v, dtype=float)
    des = design if design is not None else BatchDesign(X)
    B, k = Y.shape
    p = des.p
    if method != "EE" and tau2_fixed is None and k <= p:
        raise ModelError(f"method='{method}' needs k > p (k = {k}, p = {p}).")
    # blocks of fits: each matrix product single-threaded (GEMM_MAX) and in cache
    step = block_size(k, des.PX.shape[1], des.po)
    out = {key: [] for key in ("beta", "se", "zval", "QM", "tau2", "ok")}
    btt = list(btt)
    for s0 in range(0, B, step):
        sl = slice(s0, min(B, s0 + step))
        blk = _Block(des, Y[sl], v[sl] if v.ndim == 2 else v)
        n = blk.Y.shape[0]
        if tau2_fixed is not None:
            t2, ok = np.full(n, float(tau2_fixed)), np.ones(n, bool)
        else:
            t2, ok, _ = _tau2_block(blk, method, k - p)
        t2 = np.where(np.isfinite(t2), t2, 0.0)
        res = _final(blk, t2, test, btt)
        for key in ("beta", "se", "zval", "QM"):
            out[key].append(res[key])
        out["tau2"].append(t2)
        out["ok"].append(ok & res["ok"])
    return {key: np.concatenate(val) for key, val in out.items()}


def block_size(k, n_pairs, po):
    """Fits per block: the weight rows and products of a block stay cache-sized and each
    matrix product single-threaded (:data:`ketameta._linalg.GEMM_MAX`).
    """
    return max(1, GEMM_MAX // (3 * k * max(n_pairs, po)))


def final_pieces(blk: _Block, t2, order=1):
    """The fits at tau^2 = t2: ``(beta, A, q)`` with ``A = (X'WX)^-1`` (n, p, p), both in the
    original parametrisation, and ``q`` the :func:`_quantities` of the given order.
    """
    n = blk.Y.shape[0]
    p = blk.p
    q = _quantities(*blk.sums(None, t2, order), order)
    At = _chol_solve(q["L"], np.broadcast_to(np.eye(p), (n, p, p)).copy())
    At = 0.5 * (At + At.transpose(0, 2, 1))
    bt = blk.Bo + q["d"]
    T = blk.T
    if T is None:
        return bt, At, q
    if T.ndim == 2:
        return bt @ T.T, T @ At @ T.T, q
    return np.einsum("nij,nj->ni", T, bt), T @ At @ T.transpose(0, 2, 1), q


def _final(blk: _Block, t2, test, btt):
    """Coefficients, standard errors, z/t statistics and QM of the fits at tau^2 = t2."""
    k = blk.Y.shape[1]
    p = blk.p
    beta, vb, q = final_pieces(blk, t2)
    if test in ("knha", "adhoc"):
        rss = q["rss"]
        s2w = np.where(rss <= np.finfo(float).eps, 0.0, rss / (k - p))
        if test == "adhoc":
            s2w = np.where(s2w < 1.0, 1.0, s2w)
        vb = vb * s2w[:, None, None]
    se = np.sqrt(np.einsum("nii->ni", vb))
    with np.errstate(divide="ignore", invalid="ignore"):
        zval = beta / se
    QM = wald(beta, vb, btt)
    if test in ("knha", "adhoc", "t"):
        QM = QM / len(btt)
    return {"beta": beta, "se": se, "zval": zval, "QM": QM, "ok": q["ok"]}


def wald(beta, vb, btt):
    """``b' V^-1 b`` over the coefficients ``btt`` of each fit (NaN where V is singular)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        b = beta[:, btt]
        sub = vb[:, btt][:, :, btt]
        if len(btt) == 1:
            # NaN for a zero variance (a perfect Knapp-Hartung fit), as ketameta.rma
            vbb = sub[:, 0, 0]
            return np.where(vbb != 0, b[:, 0] * (b[:, 0] / vbb), np.nan)
        Ls, oks = _chol(sub)
        QM = np.einsum("ni,ni->n", b, _chol_solve(Ls, b[:, :, None])[:, :, 0])
        return np.where(oks, QM, np.nan)
