"""The shared sums behind leave-one-out, influence and cumulative fits (see :mod:`ketameta.diagnostics`).

Every subset fit is a weighted least-squares problem whose normal equations are sums over its
rows; these classes compute the sums of all k subsets together (power series around the
full-data tau^2, or direct block sums) and solve every subset's estimating equation at once.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy import linalg, special

from ._dist import chi2_sf, norm_isf, norm_sf, t_isf, t_sf
from .errors import ModelError

log = logging.getLogger(__name__)

#: Largest |tau2_i - center| * max(c) for which the power series is used.
_RHO_MAX = 0.5
#: Most series terms (used at |rho| = _RHO_MAX); fewer are used when all |rho| are smaller
#: (see _n_terms). The truncation error stays below ~1e-16 relative.
_NTERMS = 64
#: A fit is summed directly when one row carries more than this share of a sum.
_DOMINANT = 0.9
#: Elements per block of directly summed fits (blocks are (rows, k) arrays).
_BLOCK = 1 << 21
_REL_TOL = 1e-14
_MAXITER = 200



# =============================================================================================
# Sums over row subsets
# =============================================================================================


class _Data:
    """The full fit's data in the form the subset sums use."""

    def __init__(self, res):
        self.y = np.asarray(res.yi, dtype=float)
        self.v = np.asarray(res.vi, dtype=float)
        self.X = np.asarray(res.X, dtype=float)
        self.k, self.p = self.X.shape
        self.method = res.method
        self.test = res.test
        self.level = float(res.level)
        self.tau2 = float(res.tau2)
        self.fixed_tau2 = self.tau2 if res.info.get("tau2_fixed") else None
        self.b_full = np.asarray(res.beta, dtype=float)
        # residuals of the full fit: subset fits on e are shifted by b_full, nothing else
        self.e = self.y - self.X @ self.b_full
        # reparametrise x -> R^-T x with sqrt(w) X = QR (full-fit weights), so the sums are
        # well conditioned whatever the moderators' scales; coefficients map back by R^-1
        w = 1.0 / (self.v + self.tau2)
        R = np.linalg.qr(np.sqrt(w)[:, None] * self.X, mode="r")
        self.Rinv = linalg.solve_triangular(R, np.eye(self.p))
        Xt = self.X @ self.Rinv
        self.Z = np.column_stack([np.ones(self.k), Xt, self.e])
        self.q = self.Z.shape[1]
        self.ZZ = (self.Z[:, :, None] * self.Z[:, None, :]).reshape(self.k, self.q * self.q)
        self.scale = float(np.var(self.y)) + float(np.mean(self.v))


class _LeaveOneOutSums:
    """``T_n`` of the k fits that each omit one row, at fit-specific values of tau^2."""

    def __init__(self, d: _Data, center: float):
        self.d = d
        self.n_obs = np.full(d.k, d.k - 1)
        self.center = float(center)
        c = 1.0 / (d.v + self.center)
        self.s = float(c.max())
        ch = c / self.s
        # scaled moments: S[r - 1] = sum_j (c_j / s)^r z_j z_j', r = 1 .. NTERMS + 3
        pw = np.cumprod(np.repeat(ch[:, None], _NTERMS + 3, axis=1), axis=1)
        self.S = pw.T @ d.ZZ
        # rows whose own term dominates a diagonal sum: differences would lose digits
        diag = np.arange(d.q) * (d.q + 1)
        share = np.zeros(d.k)
        for r in (1, 2, 3):
            tot = self.S[r - 1, diag]
            with np.errstate(divide="ignore", invalid="ignore"):
                sh = (ch[:, None] ** r * d.ZZ[:, diag]) / tot
            share = np.maximum(share, np.nanmax(np.where(tot > 0, sh, 0.0), axis=1))
        self.dominated = share > _DOMINANT
        self._coef = {
            n: special.comb(n + np.arange(_NTERMS + 1) - 1, np.arange(_NTERMS + 1))
            for n in (1, 2, 3)
        }

    def fixed(self, a: np.ndarray) -> np.ndarray:
        """``sum_{j != i} a_j z_j z_j'`` for every i (fixed row weights), shape (k, q*q)."""
        full = a @ self.d.ZZ
        return full[None, :] - a[:, None] * self.d.ZZ

    def own(self, t, rows, n=1):
        """The omitted row's own term ``w_i(t_i)^n z_i z_i'``."""
        w = 1.0 / (self.d.v[rows] + t)
        return w[:, None] ** n * self.d.ZZ[rows]

    def at(self, t, rows, powers=(1, 2, 3)) -> np.ndarray:
        """Sums for fits ``rows`` at tau^2 = ``t`` (one value per fit): (len(rows), P, q*q)."""
        d = self.d
        t = np.asarray(t, dtype=float)
        out = np.empty((rows.size, len(powers), d.q * d.q))
        rho = (t - self.center) * self.s
        ser = (np.abs(rho) <= _RHO_MAX) & ~self.dominated[rows]
        if ser.any():
            r_ser = rows[ser]
            nt = _n_terms(float(np.abs(rho[ser]).max()))
            mpow = np.empty((r_ser.size, nt + 1))
            mpow[:, 0] = 1.0
            mpow[:, 1:] = -rho[ser][:, None]
            np.cumprod(mpow, axis=1, out=mpow)
            w = 1.0 / (d.v[r_ser] + t[ser])
            for a, n in enumerate(powers):
                full = (mpow * self._coef[n][:nt + 1]) @ self.S[n - 1:n + nt] * self.s**n
                out[ser, a] = full - w[:, None] ** n * d.ZZ[r_ser]
        if not ser.all():
            idx = np.flatnonzero(~ser)
            step = max(1, _BLOCK // d.k)
            for s0 in range(0, idx.size, step):
                sl = idx[s0:s0 + step]
                W = 1.0 / (d.v[None, :] + t[sl, None])
                W[np.arange(sl.size), rows[sl]] = 0.0
                out[sl] = _power_sums(W, d.ZZ, powers)
        return out


def _n_terms(rho_max):
    """Series terms needed at |rho| <= rho_max: the remainder of the n = 3 series,
    sum_{m > N} C(m + 2, 2) rho^m, is kept below 1e-17 (relative to the leading term).
    """
    if rho_max == 0.0:
        return 0
    for n in range(1, _NTERMS + 1):
        if (n + 3) ** 2 * rho_max ** (n + 1) / (1.0 - rho_max) <= 1e-17:
            return n
    return _NTERMS


def _power_sums(W, ZZ, powers):
    """``(W^n) @ ZZ`` for each n in ``powers`` (increasing): (rows, len(powers), q*q)."""
    out = np.empty((W.shape[0], len(powers), ZZ.shape[1]))
    Wn, n_have = W, 1
    for a, n in enumerate(powers):
        while n_have < n:
            Wn = Wn * W
            n_have += 1
        out[:, a] = Wn @ ZZ
    return out


class _PrefixSums:
    """``T_n`` of the k fits on the first 1, 2, ..., k rows.

    Fits whose tau^2 is within the series region of ``center`` use prefix sums of the
    moments ``(c_j / s)^r z_j z_j'`` (running sums, so no cancellation); the others are summed
    directly over their rows (O(i) for the fit of the first i rows).
    """

    def __init__(self, d: _Data, center: float):
        self.d = d
        self.n_obs = np.arange(1, d.k + 1)
        self.center = float(center)
        c = 1.0 / (d.v + self.center)
        self.s = float(c.max())
        self.ch = c / self.s
        self._coef = {
            n: special.comb(n + np.arange(_NTERMS + 1) - 1, np.arange(_NTERMS + 1))
            for n in (1, 2, 3)
        }

    def fixed(self, a: np.ndarray) -> np.ndarray:
        return np.cumsum(a[:, None] * self.d.ZZ, axis=0)

    def _prefix_moments(self, last, R):
        """``sum_{j <= last_b} (c_j/s)^r z_j z_j'`` for r = 1..R: (len(last), R, q*q)."""
        d = self.d
        out = np.empty((last.size, R, d.q * d.q))
        order = np.argsort(last, kind="stable")
        ls = last[order]
        carry = np.zeros((R, d.q * d.q))
        step = max(1, _BLOCK // (R * d.q * d.q))
        for j0 in range(0, int(ls[-1]) + 1, step):
            j1 = min(d.k, j0 + step)
            pw = np.cumprod(np.repeat(self.ch[j0:j1, None], R, axis=1), axis=1)
            C = np.cumsum(pw[:, :, None] * d.ZZ[j0:j1, None, :], axis=0) + carry
            lo, hi = np.searchsorted(ls, [j0, j1])
            out[order[lo:hi]] = C[ls[lo:hi] - j0]
            carry = C[-1]
        return out

    def at(self, t, rows, powers=(1, 2, 3)) -> np.ndarray:
        d = self.d
        t = np.asarray(t, dtype=float)
        out = np.empty((rows.size, len(powers), d.q * d.q))
        rho = (t - self.center) * self.s
        ser = np.abs(rho) <= _RHO_MAX
        if ser.any():
            nt = _n_terms(float(np.abs(rho[ser]).max()))
            S = self._prefix_moments(rows[ser], nt + max(powers))
            mpow = np.empty((int(ser.sum()), nt + 1))
            mpow[:, 0] = 1.0
            mpow[:, 1:] = -rho[ser][:, None]
            np.cumprod(mpow, axis=1, out=mpow)
            for a, n in enumerate(powers):
                out[ser, a] = np.einsum("bm,bmx->bx", mpow * self._coef[n][:nt + 1],
                                        S[:, n - 1:n + nt]) * self.s**n
        if not ser.all():
            idx = np.flatnonzero(~ser)
            idx = idx[np.argsort(rows[idx], kind="stable")]
            start = 0
            while start < idx.size:
                # a block of fits, sized so the (fits, rows) array stays within _BLOCK
                last = int(rows[idx[start]]) + 1
                n_fit = max(1, _BLOCK // last)
                sl = idx[start:start + n_fit]
                last = int(rows[sl].max()) + 1
                W = 1.0 / (d.v[None, :last] + t[sl, None])
                W[np.arange(last)[None, :] > rows[sl, None]] = 0.0
                out[sl] = _power_sums(W, d.ZZ[:last], powers)
                start += sl.size
        return out


# =============================================================================================
# Weighted least squares from the sums
# =============================================================================================


def _unflat(T, q):
    return T.reshape(T.shape[:-1] + (q, q))


class _Pieces:
    """Quantities of the B subset fits at one weight vector each, from ``T_1`` (and ``T_2``,
    ``T_3`` for the estimating equations): the same identities as :class:`ketameta._linalg.WFit`.
    """

    def __init__(self, T, p, bad=None):
        q = p + 2
        T = _unflat(T, q)
        xs, ye = slice(1, 1 + p), 1 + p
        T1 = T[:, 0]
        self.M = T1[:, xs, xs]
        self.g = T1[:, xs, ye]
        M = self.M
        if bad is not None and bad.any():
            M = M.copy()
            M[bad] = np.eye(p)
        self.A = np.linalg.inv(M)
        self.bs = np.einsum("bij,bj->bi", self.A, self.g)
        self.sw = T1[:, 0, 0]
        self.rss = T1[:, ye, ye] - np.einsum("bi,bi->b", self.g, self.bs)
        self._T, self._xs, self._ye = T, xs, ye

    def second(self):
        """``y'PPy`` and ``tr(P)`` (needs ``T_2``)."""
        T2 = self._T[:, 1]
        xs, ye = self._xs, self._ye
        M2 = T2[:, xs, xs]
        bs = self.bs
        ypp = (T2[:, ye, ye] - 2 * np.einsum("bi,bi->b", bs, T2[:, xs, ye])
               + np.einsum("bi,bij,bj->b", bs, M2, bs))
        trP = self.sw - np.einsum("bij,bji->b", self.A, M2)
        return ypp, trP, T2[:, 0, 0], M2

    def third(self, M2):
        """``y'PPPy`` and ``tr(PP)`` (needs ``T_3``)."""
        T2, T3 = self._T[:, 1], self._T[:, 2]
        xs, ye = self._xs, self._ye
        bs, A = self.bs, self.A
        M3 = T3[:, xs, xs]
        h = T2[:, xs, ye] - np.einsum("bij,bj->bi", M2, bs)
        w3ee = (T3[:, ye, ye] - 2 * np.einsum("bi,bi->b", bs, T3[:, xs, ye])
                + np.einsum("bi,bij,bj->b", bs, M3, bs))
        yppp = w3ee - np.einsum("bi,bij,bj->b", h, A, h)
        AM2 = np.einsum("bij,bjk->bik", A, M2)
        trPP = (T2[:, 0, 0] - 2 * np.einsum("bij,bji->b", A, M3)
                + np.einsum("bij,bji->b", AM2, AM2))
        return yppp, trPP


# =============================================================================================
# tau^2 for every subset fit
# =============================================================================================


def _solve_rows(fdf, f0, start, scale):
    """Vectorised safeguarded Newton for estimating equations decreasing through their root.

    ``fdf(x, rows)`` returns ``(f, f')`` for the fits ``rows`` at ``x``; ``f0`` is ``f(0)`` for
    every fit. A fit with ``f(0) <= 0`` has the boundary solution 0, as in
    :func:`ketameta._tau2.solve_decreasing`. Returns ``(tau2, converged)``.
    """
    n = f0.size
    tau = np.zeros(n)
    ok = np.isfinite(f0)
    rows = np.flatnonzero(ok & (f0 > 0))
    if rows.size == 0:
        return tau, ok
    floor = max(1e-8 * max(scale, 1e-300), 1e-12)
    x = np.where(np.isfinite(start[rows]) & (start[rows] > 0), start[rows], floor)
    lo = np.zeros(rows.size)
    hi = np.full(rows.size, np.inf)
    for _ in range(_MAXITER):
        f, df = fdf(x, rows)
        fin = np.isfinite(f)
        if not fin.all():
            ok[rows[~fin]] = False
            rows, x, lo, hi, f, df = rows[fin], x[fin], lo[fin], hi[fin], f[fin], df[fin]
            if rows.size == 0:
                break
        pos = f > 0
        lo = np.where(pos, x, lo)
        hi = np.where(pos, hi, x)
        with np.errstate(divide="ignore", invalid="ignore"):
            xn = x - f / df
        newton_ok = np.isfinite(xn) & (df < 0) & (xn > lo) & (xn < hi)
        fallback = np.where(np.isinf(hi), 4.0 * x, 0.5 * (lo + hi))
        xn = np.where(newton_ok, xn, fallback)
        done = (
            (f == 0)
            | (np.abs(xn - x) <= _REL_TOL * np.abs(xn))
            | (np.isfinite(hi) & (hi - lo <= _REL_TOL * hi))
        )
        tau[rows] = np.where(f == 0, x, xn)
        keep = ~done
        rows, x, lo, hi = rows[keep], xn[keep], lo[keep], hi[keep]
        if rows.size == 0:
            break
    if rows.size:
        ok[rows] = False
    return tau, ok


def _subset_scan_range(d, sums):
    """Per subset fit: the smallest sampling variance and the scale (population variance of y
    plus mean v) that :func:`ketameta._tau2.scan_points` takes, as the refit of the subset has
    them.
    """
    var_y = _subset_variance(d, sums)
    if isinstance(sums, _LeaveOneOutSums):
        n = d.k - 1
        mean_v = (d.v.sum() - d.v) / n
        order = np.argsort(d.v, kind="stable")
        vmin = np.full(d.k, d.v[order[0]])
        if d.k > 1:
            vmin[order[0]] = d.v[order[1]]
    else:
        n = np.arange(1, d.k + 1)
        mean_v = np.cumsum(d.v) / n
        vmin = np.minimum.accumulate(d.v)
    return vmin, var_y + mean_v


def _interior_rows(fdf, f0, vmin, scale, scale0, tau):
    """Interior maxima (:func:`ketameta._tau2.interior_maxima`) of the subset fits whose ML/REML
    score is <= 0 at tau^2 = 0, with the subset engine's score and solver. Updates ``tau`` in
    place.
    """
    from ._tau2 import interior_maxima, scan_points

    rows = np.flatnonzero(np.isfinite(f0) & (f0 <= 0))
    if rows.size == 0:
        return

    def score(i, X):
        return np.stack([fdf(X[:, j], rows[i])[0] for j in range(X.shape[1])], axis=1)

    def solve(i, x0):
        sub = rows[i]
        return _solve_rows(lambda x, r: fdf(x, sub[r]), np.ones(i.size), x0, scale0)

    found = interior_maxima(score, solve, scan_points(vmin[rows], scale[rows]))
    tau[rows] = np.where(found > 0, found, tau[rows])


def _fixed_pieces(sums, a, p, bad):
    """Pieces of the fits with fixed row weights ``a`` (powers 1 and 2 of ``a``)."""
    T = np.stack([sums.fixed(a), sums.fixed(a * a)], axis=1)
    return _Pieces(T, p, bad)


def _subset_variance(d, sums):
    """Population variance of y in each subset (metafor's SJ starting value)."""
    yc = d.y - d.y.mean()
    if isinstance(sums, _LeaveOneOutSums):
        n = d.k - 1
        s1 = yc.sum() - yc
        s2 = np.dot(yc, yc) - yc * yc
        return np.maximum(s2 / n - (s1 / n) ** 2, 0.0)
    # running (Welford) variances of the prefixes
    out = np.empty(d.k)
    mean = m2 = 0.0
    for i, x in enumerate(yc, start=1):
        dlt = x - mean
        mean += dlt / i
        m2 += dlt * (x - mean)
        out[i - 1] = m2 / i
    return out


def _tau2_rows(d: _Data, sums, bad):
    """tau^2 of every subset fit with the full model's method (0 for the fits flagged ``bad``
    or without residual df) and whether its iteration converged.
    """
    p, k_i = d.p, sums.n_obs
    B = k_i.size
    dfres = (k_i - p).astype(float)
    if d.fixed_tau2 is not None:
        return np.full(B, d.fixed_tau2), np.ones(B, bool)
    if d.method == "EE":
        return np.zeros(B), np.ones(B, bool)
    est = (dfres > 0) & ~bad
    t = np.zeros(B)
    ok = np.ones(B, bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        if d.method in ("DL", "HS", "PM", "EB"):
            fe = _fixed_pieces(sums, 1.0 / d.v, p, bad)
            Q = fe.rss
            _, trP, _, _ = fe.second()
            if d.method == "DL":
                t = np.maximum(0.0, (Q - dfres) / trP)
            elif d.method == "HS":
                t = np.maximum(0.0, (Q - k_i) / fe.sw)
            else:
                start = np.maximum(0.0, (Q - dfres) / trP)

                def fdf(x, rows):
                    T = sums.at(x, rows, (1, 2))
                    pc = _Pieces(T, p, bad[rows])
                    ypp, *_ = pc.second()
                    return pc.rss - dfres[rows], -ypp

                f0 = np.where(est, Q - dfres, -1.0)
                t, ok = _solve_rows(fdf, f0, _start_near(sums, start), d.scale)
        elif d.method in ("HE", "ML", "REML"):
            ols = _fixed_pieces(sums, np.ones(d.k), p, bad)
            vsum = sums.fixed(d.v)
            trPV = _unflat(vsum, p + 2)[:, 0, 0] - np.einsum(
                "bij,bji->b", ols.A, _unflat(vsum, p + 2)[:, 1:1 + p, 1:1 + p]
            )
            he = np.maximum(0.0, (ols.rss - trPV) / dfres)
            if d.method == "HE":
                t = he
            else:
                reml = d.method == "REML"

                def fdf(x, rows):
                    T = sums.at(x, rows, (1, 2, 3))
                    pc = _Pieces(T, p, bad[rows])
                    ypp, trP, sw2, M2 = pc.second()
                    yppp, trPP = pc.third(M2)
                    if reml:
                        return ypp - trP, -2.0 * yppp + trPP
                    return ypp - pc.sw, -2.0 * yppp + sw2

                fe = _fixed_pieces(sums, 1.0 / d.v, p, bad)
                ypp0, trP0, _, _ = fe.second()
                f0 = np.where(est, ypp0 - (trP0 if reml else fe.sw), -1.0)
                t, ok = _solve_rows(fdf, f0, _start_near(sums, he), d.scale)
                # a maximum at the boundary may have a higher one inside (as in rma)
                f0_ml = np.where(est, ypp0 - (trP0 if reml else fe.sw), np.nan)
                _interior_rows(fdf, f0_ml, *_subset_scan_range(d, sums), d.scale, t)
        elif d.method == "SJ":
            t0 = _subset_variance(d, sums)
            t0 = np.where(t0 > 0, t0, 1e-12)
            if isinstance(sums, _LeaveOneOutSums):
                sj = _LeaveOneOutSums(d, float(np.var(d.y)) or 1e-12)
            else:
                sj = sums
            pc = _Pieces(sj.at(t0, np.arange(B), (1,)), p, bad)
            t = np.maximum(0.0, t0 * pc.rss / dfres)
        else:  # pragma: no cover - rma validates the method
            raise ModelError(f"Unknown method {d.method!r}.")
    t = np.where(est, t, 0.0)
    ok &= np.isfinite(t)
    return t, ok


def _start_near(sums, start):
    """Start every iteration at the series center (the full-data estimate), where the sums
    are cheapest; ``start`` (rma's HE or DL start) is used where the center is 0.
    """
    if sums.center > 0:
        return np.full(start.size, sums.center)
    return start


# =============================================================================================
# Model statistics of every subset fit (as ketameta.rma._finish computes them)
# =============================================================================================


def _subset_fits(d: _Data, sums, bad, want_full=False):
    """Estimates, tests and heterogeneity statistics of every subset fit.

    Returns a dict of arrays (leading axis: fit). Fits that cannot be computed (an
    inestimable coefficient, a failed iteration that also fails in :func:`rma`) are NaN.
    """
    p, k_i = d.p, sums.n_obs
    B = k_i.size
    # fits that cannot be computed, as rma would refuse them (metafor reports NA): a
    # coefficient inestimable without the study, fewer studies than coefficients, or
    # k_i == p > 1 with tau^2 to estimate
    saturated = (k_i == p) & (k_i > 1) & (d.method != "EE") & (d.fixed_tau2 is None)
    valid = ~bad & ~saturated & (k_i >= p)
    tau2, conv = _tau2_rows(d, sums, ~valid)
    ok = valid & conv
    t_eval = np.where(ok, tau2, 0.0)
    T = sums.at(t_eval, np.arange(B), (1,))
    pc = _Pieces(T, p, ~ok)
    beta = d.b_full[None, :] + pc.bs @ d.Rinv.T
    A = d.Rinv @ pc.A @ d.Rinv.T
    rss = pc.rss

    dfres = (k_i - p).astype(float)
    # as metafor: a fit of a single study uses z tests whatever the model's test
    use_t = (k_i > 1) if d.test != "z" else np.zeros(B, bool)
    s2w = np.ones(B)
    if d.test in ("knha", "adhoc"):
        with np.errstate(divide="ignore", invalid="ignore"):
            s2w = np.where(rss <= np.finfo(float).eps, 0.0,
                           np.where(dfres > 0, rss / dfres, np.nan))
            if d.test == "adhoc":
                s2w = np.where(s2w < 1.0, 1.0, s2w)     # truncated at 1 (NaN stays NaN)
        s2w = np.where(use_t, s2w, 1.0)
    vb = A * s2w[:, None, None]
    se = np.sqrt(np.einsum("bii->bi", vb))
    with np.errstate(divide="ignore", invalid="ignore"):
        zval = beta / se
    a = 1 - d.level / 100
    dfs = np.where(use_t, dfres, np.nan) if d.test != "z" else None
    with np.errstate(invalid="ignore"):
        t_ok = (use_t & (dfres > 0))[:, None]
        pval = np.where(use_t[:, None],
                        np.where(t_ok, 2 * t_sf(np.abs(zval), np.maximum(dfres, 1)[:, None]),
                                 np.nan),
                        2 * norm_sf(np.abs(zval)))
        crit = np.where(use_t,
                        np.where(dfres > 0, t_isf(a / 2, np.maximum(dfres, 1)), np.nan),
                        norm_isf(a / 2))
    ci_lb = beta - crit[:, None] * se
    ci_ub = beta + crit[:, None] * se

    # heterogeneity statistics, always with equal-effects weights
    fe = _fixed_pieces(sums, 1.0 / d.v, p, ~ok)
    _, trP_fe, _, _ = fe.second()
    has_df = dfres > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        QE = np.where(has_df, np.maximum(0.0, fe.rss), 0.0)
        QEp = np.where(has_df, chi2_sf(QE, np.maximum(dfres, 1)), 1.0)
        vt = np.where(has_df, dfres / trP_fe, 0.0)
        if d.method == "EE":
            I2 = np.where(has_df & (QE > 0), np.maximum(0.0, 100 * (QE - dfres) / QE), 0.0)
            H2 = np.where(has_df, QE / dfres, 1.0)
        else:
            I2 = np.where(has_df, 100 * tau2 / (vt + tau2), 0.0)
            H2 = np.where(has_df, tau2 / vt + 1, 1.0)

    out = dict(beta=beta, se=se, zval=zval, pval=pval, ci_lb=ci_lb, ci_ub=ci_ub, vb=vb,
               tau2=tau2, QE=QE, QEp=QEp, I2=I2, H2=H2, s2w=s2w, dfs=dfs, ok=ok,
               refit=valid & ~conv)
    if want_full:
        # (X'WX)^-1 over all k rows at the subset fit's tau^2 (influence's vb.del)
        own = sums.own(t_eval, np.arange(B))
        Mfull = (_unflat(T[:, 0] + own, p + 2))[:, 1:1 + p, 1:1 + p].copy()
        Mfull[~ok] = np.eye(p)
        out["vb_all"] = d.Rinv @ np.linalg.inv(Mfull) @ d.Rinv.T
    return _refit_failures(d, sums, out)


def _refit_failures(d, sums, out):
    """Refit with :func:`ketameta.rma` any fit whose vectorised iteration did not converge."""
    from .rma import rma

    for i in np.flatnonzero(out["refit"]):
        keep = _subset_rows(sums, i)
        log.info("vectorised iteration did not converge for fit %d; refitting it with rma", i)
        try:
            r = rma(d.y[keep], d.v[keep], mods=d.X[keep], intercept=False, method=d.method,
                    test=d.test, level=d.level, tau2=d.fixed_tau2, r2=False)
        except ModelError:
            continue
        out["beta"][i], out["se"][i], out["zval"][i] = r.beta, r.se, r.zval
        out["pval"][i], out["ci_lb"][i], out["ci_ub"][i] = r.pval, r.ci_lb, r.ci_ub
        out["vb"][i], out["tau2"][i], out["QE"][i], out["QEp"][i] = r.vb, r.tau2, r.QE, r.QEp
        out["I2"][i], out["H2"][i], out["s2w"][i] = r.I2, r.H2, r.s2w
        if "vb_all" in out:
            out["vb_all"][i] = np.linalg.inv((d.X.T / (d.v + r.tau2)) @ d.X)
        out["ok"][i] = True
    for key in ("beta", "se", "zval", "pval", "ci_lb", "ci_ub", "vb", "tau2", "QE", "QEp",
                "I2", "H2", "s2w"):
        arr = out[key]
        arr[~out["ok"]] = np.nan
    return out


def _subset_rows(sums, i):
    k = sums.d.k
    keep = np.ones(k, bool)
    if isinstance(sums, _LeaveOneOutSums):
        keep[i] = False
    else:
        keep[i + 1:] = False
    return keep


