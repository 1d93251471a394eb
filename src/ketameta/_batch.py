"""Batched (vectorised) fits of many univariate models that share one design matrix.

Used by permutation tests and other resampling: B models with outcomes ``Y`` (B, k), variances
``V`` (k,) or (B, k) and a shared design ``X`` (k, p) are fitted at once. A permutation of the
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
    the products of its rows and the unweighted fit's pieces."""

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
        self.h0 = np.einsum("ij,ij->i", self.XA0, self.Xo[:p].T)   # unweighted hat values
        self.i_ww = full[self.io, self.io]


def _power_rows(V, t, order):
    """``(1 / (V + t))^m`` for m = 1..order: (n, order, k) (as in :mod:`ketameta._linalg`)."""
    n, k = V.shape
    W = np.empty((n, order, k))
    w = W[:, 0]
    np.add(V, t[:, None], out=w)
    np.divide(1.0, w, out=w)
    if order > 1:
        np.multiply(w, w, out=W[:, 1])
        if order > 2:
            np.multiply(W[:, 1], w, out=W[:, 2])
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
    """One block of fits: outcomes, variances and the pilot (unweighted) fit."""

    def __init__(self, des: BatchDesign, Y, V):
        self.des = des
        self.Y, self.V = Y, V
        self.Bo = Y @ des.XA0                       # (n, p) unweighted coefficients (in x~)
        self.E0 = Y - self.Bo @ des.Xo[:des.p]      # (n, k) its residuals
        self.E0sq = self.E0 * self.E0

    def sums(self, rows, t, order):
        """Moment sums at ``w = 1/(V + t)`` for the fits ``rows``: ``(M, c, s, sw)`` with M
        (n, order, p, p) = X~'W^m X~, c (n, order, p) = X~'W^m e0, s (n, order) = e0'W^m e0 and
        sw (n, order) = sum(w^m)."""
        des = self.des
        k, p = des.k, des.p
        V = self.V[rows] if self.V.ndim == 2 else np.broadcast_to(self.V, (rows.size, k))
        W = _power_rows(V, t, order)
        n = rows.size
        XX = (W.reshape(n * order, k) @ des.PX).reshape(n, order, -1)
        WE = W * self.E0[rows][:, None, :]
        c = (WE.reshape(n * order, k) @ des.Xo[:p].T).reshape(n, order, p)
        s = np.einsum("nmk,nk->nm", WE, self.E0[rows])
        M = XX[:, :, des.full[:p, :p]]
        return M, c, s, XX[:, :, des.i_ww]


def _quantities(M, c, s, sw, order):
    """Per-fit WLS quantities from the sums (the identities of :class:`ketameta._linalg.Moments`).

    Returns dict with d (the shift of the coefficients from the pilot), rss, ypp, trP and,
    for ``order=3``, yppp and trPP; ``ok`` is False where X~'WX~ is not positive definite."""
    n, _, p, _ = M.shape
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


def _solve(fdf, f0, start, scale, shape_a, shape_c):
    """Vectorised :func:`ketameta._tau2.solve_decreasing` (same start, bracket, shaped Newton
    step and stopping rules, per fit). ``fdf(rows, x)`` gives ``(f, f')`` for the fits
    ``rows`` at ``x``. Returns ``(tau2, ok)``; ``ok`` is False where no bracket was found (200
    quadruplings) or the iteration did not converge."""
    B = f0.size
    tau = np.zeros(B)
    ok = np.isfinite(f0)
    rows = np.flatnonzero(ok & (f0 > 0))
    if rows.size == 0:
        return tau, ok
    x = np.maximum(start[rows], np.maximum(1e-8 * np.maximum(scale[rows], 1e-300), 1e-12))
    lo = np.zeros(rows.size)
    hi = np.full(rows.size, np.inf)
    prev = np.full(rows.size, np.nan)
    n_expand = np.zeros(rows.size, dtype=int)
    c = shape_c[rows]
    for _ in range(_MAXITER):
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
        prev = np.where(newton, step, np.nan)
        more = ~done
        rows, x, lo, hi, prev, c, n_expand = (rows[more], xn[more], lo[more], hi[more],
                                              prev[more], c[more], n_expand[more])
    if rows.size:
        ok[rows] = False
    return tau, ok


def _tau2_block(blk: _Block, method, df):
    """tau^2 of every fit of a block (as :func:`ketameta._tau2.estimate`) and convergence."""
    des = blk.des
    n, k = blk.Y.shape
    every = np.arange(n)
    ones = np.ones(n, bool)
    if method == "EE":
        return np.zeros(n), ones
    V = blk.V if blk.V.ndim == 2 else np.broadcast_to(blk.V, (n, k))
    if method == "HE":
        trpv = V @ (1.0 - des.h0)
        return np.maximum(0.0, (np.sum(blk.E0sq, axis=1) - trpv) / df), ones
    if method == "SJ":
        t0 = np.var(blk.Y, axis=1)
        t0 = np.where(t0 > 0, t0, 1e-12)
        q = _quantities(*blk.sums(every, t0, 1), 1)
        return np.maximum(0.0, t0 * q["rss"] / df), q["ok"]
    ml = method in ("ML", "REML")
    order = 3 if ml else 2
    q0 = _quantities(*blk.sums(every, np.zeros(n), order), order)
    if method == "DL":
        return np.maximum(0.0, (q0["rss"] - df) / q0["trP"]), q0["ok"]
    if method == "HS":
        return np.maximum(0.0, (q0["rss"] - k) / q0["sw"]), q0["ok"]
    Yc = blk.Y - blk.Y.mean(axis=1, keepdims=True)
    scale = np.einsum("nk,nk->n", Yc, Yc) / k + V.sum(axis=1) / k
    shape_c = k / q0["sw"]
    if ml:
        reml = method == "REML"
        trpv = V @ (1.0 - des.h0)
        start = np.maximum(0.0, (np.sum(blk.E0sq, axis=1) - trpv) / df)

        def score(q):
            if reml:
                return q["ypp"] - q["trP"], -2.0 * q["yppp"] + q["trPP"]
            return q["ypp"] - q["sw"], -2.0 * q["yppp"] + q["sw2"]

        shape_a = 2.0
    elif method in ("PM", "EB"):
        start = np.maximum(0.0, (q0["rss"] - df) / q0["trP"])

        def score(q):
            return q["rss"] - df, -q["ypp"]

        shape_a = 1.0
    else:
        raise ModelError(f"Unknown method {method!r}.")

    def fdf(rows, x):
        q = _quantities(*blk.sums(rows, x, order), order)
        f, d = score(q)
        return np.where(q["ok"], f, np.nan), d

    f0, _ = score(q0)
    f0 = np.where(q0["ok"], f0, np.nan)
    return _solve(fdf, f0, start, scale, shape_a, shape_c)


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
    step = max(1, GEMM_MAX // (3 * k * max(des.PX.shape[1], des.po)))
    out = {key: [] for key in ("beta", "se", "zval", "QM", "tau2", "ok")}
    btt = list(btt)
    for s0 in range(0, B, step):
        sl = slice(s0, min(B, s0 + step))
        blk = _Block(des, Y[sl], v[sl] if v.ndim == 2 else v)
        n = blk.Y.shape[0]
        if tau2_fixed is not None:
            t2, ok = np.full(n, float(tau2_fixed)), np.ones(n, bool)
        else:
            t2, ok = _tau2_block(blk, method, k - p)
        t2 = np.where(np.isfinite(t2), t2, 0.0)
        res = _final(blk, t2, test, btt)
        for key in ("beta", "se", "zval", "QM"):
            out[key].append(res[key])
        out["tau2"].append(t2)
        out["ok"].append(ok & res["ok"])
    return {key: np.concatenate(val) for key, val in out.items()}


def _final(blk: _Block, t2, test, btt):
    """Coefficients, standard errors, z/t statistics and QM of the fits at tau^2 = t2."""
    des = blk.des
    n, k = blk.Y.shape
    p = des.p
    M, c, s, sw = blk.sums(np.arange(n), t2, 1)
    L, ok = _chol(M[:, 0])
    R = np.concatenate([c[:, 0, :, None], np.broadcast_to(np.eye(p), (n, p, p))], axis=2)
    Sol = _chol_solve(L, R)
    d = Sol[:, :, 0]
    At = Sol[:, :, 1:]
    At = 0.5 * (At + At.transpose(0, 2, 1))
    T = des.T
    bt = blk.Bo + d
    if T is None:
        beta, vb = bt, At
    else:
        beta = bt @ T.T
        vb = T @ At @ T.T
    if test in ("knha", "adhoc"):
        Md = np.einsum("nij,nj->ni", M[:, 0], d)
        rss = s[:, 0] - np.einsum("ni,ni->n", 2.0 * c[:, 0] - Md, d)
        s2w = np.where(rss <= np.finfo(float).eps, 0.0, rss / (k - p))
        if test == "adhoc":
            s2w = np.where(s2w < 1.0, 1.0, s2w)
        vb = vb * s2w[:, None, None]
    se = np.sqrt(np.einsum("nii->ni", vb))
    with np.errstate(divide="ignore", invalid="ignore"):
        zval = beta / se
        b = beta[:, btt]
        sub = vb[:, btt][:, :, btt]
        if len(btt) == 1:
            QM = b[:, 0] * (b[:, 0] / sub[:, 0, 0])
        else:
            Ls, oks = _chol(sub)
            QM = np.einsum("ni,ni->n", b, _chol_solve(Ls, b[:, :, None])[:, :, 0])
            QM = np.where(oks, QM, np.nan)
    if test in ("knha", "adhoc", "t"):
        QM = QM / len(btt)
    return {"beta": beta, "se": se, "zval": zval, "QM": QM, "ok": ok}
