"""The covariance structure of the three-level model of :func:`ketameta.rma_mv` and its optimiser.

Block-diagonal marginal covariance (one block per cluster), its log-likelihood (ML/REML) and
derivatives by the Woodbury identity within each block, and the safeguarded Newton / L-BFGS-B
optimisation of the two variance components; no k x k matrix is formed.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
from scipy import linalg, optimize

from .errors import ModelError

log = logging.getLogger(__name__)

#: Estimators of the variance components.
METHODS_MV = ("REML", "ML")
#: Inference for the fixed effects: Wald-type z/chi^2, or t/F with k - p df (metafor's
#: ``test="t"`` with ``dfs="residual"``).
TESTS_MV = ("z", "t")

_LOG2PI = math.log(2 * math.pi)
#: Relative convergence tolerance of the variance-component optimiser.
_RTOL = 1e-10



# ------------------------------------------------------------------------------------------
# cluster structure
# ------------------------------------------------------------------------------------------
class _Structure:
    """Rows sorted by cluster, each cluster in the eigenbasis of its sampling covariance.

    Parameters
    ----------
    codes : ndarray of int, shape (k,)
        Cluster code (0..J-1) of each row, in the caller's row order.
    y, v : ndarray, shape (k,)
        Outcomes and sampling variances.
    X : ndarray, shape (k, p)
        Design matrix.
    blocks : list of ndarray or None
        Within-cluster sampling covariance per cluster code (rows in the caller's order within
        the cluster); ``None`` for ``diag(v)``.
    """

    def __init__(self, codes, y, v, X, blocks=None):
        k, p = X.shape
        self.k, self.p = k, p
        self.codes = codes
        self.J = int(codes.max()) + 1
        self.order = np.argsort(codes, kind="stable")
        cs = codes[self.order]
        self.cid = cs
        self.sizes = np.bincount(cs, minlength=self.J)
        self.starts = np.concatenate(([0], np.cumsum(self.sizes)[:-1]))
        # position of each (caller-order) row within its cluster
        pos_sorted = np.arange(k) - self.starts[cs]
        self.pos = np.empty(k, dtype=int)
        self.pos[self.order] = pos_sorted
        self.v = v
        self.blocks = blocks
        ys, Xs, vs = y[self.order], X[self.order], v[self.order]
        if blocks is None:
            self.lam, self.u, self.ys, self.Xs = vs, np.ones(k), ys, Xs
            self.diagonal = True
        else:
            self.diagonal = False
            lam = np.empty(k)
            u = np.empty(k)
            yr = np.empty(k)
            Xr = np.empty((k, p))
            for n in np.unique(self.sizes):
                cl = np.flatnonzero(self.sizes == n)
                idx = self.starts[cl][:, None] + np.arange(n)[None, :]  # (m, n) sorted rows
                B = np.stack([blocks[c] for c in cl])
                w, Q = np.linalg.eigh(B)
                sing = np.any(w <= 1e-12 * np.abs(w).max(axis=1, keepdims=True), axis=1)
                if np.any(sing):
                    bad = [int(c) for c in cl[sing]]
                    raise ModelError(
                        "The within-cluster sampling covariance is not positive definite for "
                        f"cluster code(s) {bad[:10]} (0-based, order of first appearance); "
                        "check V, use a smaller |rho|, or (with time) give distinct times "
                        "within a cluster."
                    )
                Qt = np.swapaxes(Q, 1, 2)
                lam[idx] = w
                u[idx] = Q.sum(axis=1)  # Q' 1
                yr[idx] = np.einsum("mab,mb->ma", Qt, ys[idx])
                Xr[idx] = np.einsum("mab,mbp->map", Qt, Xs[idx])
            self.lam, self.u, self.ys, self.Xs = lam, u, yr, Xr
            self._vflat = np.concatenate([np.asarray(b, dtype=float).ravel() for b in blocks])
            self._vstart = np.concatenate(([0], np.cumsum(self.sizes**2)[:-1]))
        _, self.logdet_xtx = np.linalg.slogdet(X.T @ X)

    # -- likelihood pieces ----------------------------------------------------------------
    def evaluate(self, s1, s2, reml=True, order=0):
        """Fit the fixed effects at ``(sigma^2_1, sigma^2_2)`` and return likelihood pieces.

        ``order`` 0: estimates and log-likelihoods; 1: plus the score; 2: plus the expected
        (Fisher) information of the (restricted) likelihood; 3: plus the observed information.
        """
        st, cid = self.starts, self.cid
        k, p = self.k, self.p
        Xs, ys, u = self.Xs, self.ys, self.u
        d = self.lam + s2
        inv_d = 1.0 / d
        ud = u * inv_d
        s = np.add.reduceat(u * ud, st)
        den = 1.0 + s1 * s
        g = s1 / den
        a = np.add.reduceat(Xs * ud[:, None], st, axis=0)
        XtWX = (Xs * inv_d[:, None]).T @ Xs - (a * g[:, None]).T @ a
        ty = np.add.reduceat(ud * ys, st)
        XtWy = Xs.T @ (ys * inv_d) - a.T @ (g * ty)
        try:
            c = linalg.cho_factor(XtWX, lower=True, check_finite=False)
        except linalg.LinAlgError as exc:
            raise ModelError(
                "X'WX is not positive definite: the moderators are (numerically) collinear."
            ) from exc
        A = linalg.cho_solve(c, np.eye(p), check_finite=False)
        A = 0.5 * (A + A.T)
        beta = linalg.cho_solve(c, XtWy, check_finite=False)
        logdet_xtwx = 2.0 * float(np.sum(np.log(np.diag(c[0]))))
        r = ys - Xs @ beta
        tr = np.add.reduceat(ud * r, st)
        rss = float(np.sum(r * r * inv_d) - np.sum(g * tr * tr))
        logdet_m = float(np.sum(np.log(d)) + np.sum(np.log(den)))
        ll_ml = -0.5 * (k * _LOG2PI + logdet_m + rss)
        ll_reml = -0.5 * ((k - p) * _LOG2PI - self.logdet_xtx + logdet_m + logdet_xtwx + rss)
        out = {"beta": beta, "vb": A, "rss": rss, "ll_ml": ll_ml, "ll_reml": ll_reml,
               "logdet_m": logdet_m}
        if order < 1:
            return out
        rf = 1.0 if reml else 0.0
        gc = g[cid]
        Wr = r * inv_d - gc * ud * tr[cid]
        B = Xs * inv_d[:, None] - (gc * ud)[:, None] * a[cid]  # rows of W X
        s2u = np.add.reduceat(ud * ud, st)
        trW = float(np.sum(inv_d) - np.sum(g * s2u))
        G2 = B.T @ B
        omega = s / den
        q = a / den[:, None]
        G1 = q.T @ q
        score = np.array([
            -0.5 * (np.sum(omega) - rf * np.sum(A * G1)) + 0.5 * np.sum((tr / den) ** 2),
            -0.5 * (trW - rf * np.sum(A * G2)) + 0.5 * float(Wr @ Wr),
        ])
        out["score"] = score
        if order < 2:
            return out
        s3u = np.add.reduceat(ud * ud * inv_d, st)
        t22 = float(np.sum(inv_d * inv_d) - 2 * np.sum(g * s3u) + np.sum(g * g * s2u * s2u))
        t11 = float(np.sum(omega * omega))
        t12 = float(np.sum(s2u / den**2))
        if reml:
            bsum = np.add.reduceat(B * ud[:, None], st, axis=0)
            WB = B * inv_d[:, None] - (gc * ud)[:, None] * bsum[cid]
            K22 = B.T @ WB
            K11 = (q * omega[:, None]).T @ q
            K12 = q.T @ (bsum / den[:, None])
            AG1, AG2 = A @ G1, A @ G2
            t11 += -2 * np.sum(A * K11) + np.sum(AG1 * AG1.T)
            t22 += -2 * np.sum(A * K22) + np.sum(AG2 * AG2.T)
            t12 += -2 * np.sum(A * K12) + np.sum(AG1 * AG2.T)
        out["info"] = 0.5 * np.array([[t11, t12], [t12, t22]])
        if order < 3:
            return out
        # observed information J = Q - I with Q_ab = (Py)' Mdot_a P Mdot_b (Py), Py = W r
        z = (u * np.add.reduceat(u * Wr, st)[cid], Wr)
        Wz = [zz * inv_d - gc * ud * np.add.reduceat(ud * zz, st)[cid] for zz in z]
        XWz = [Xs.T @ w_ for w_ in Wz]
        Qm = np.array([[z[a_] @ Wz[b_] - XWz[a_] @ A @ XWz[b_] for b_ in range(2)]
                       for a_ in range(2)])
        out["obs_info"] = 0.5 * (Qm + Qm.T) - out["info"]
        return out

    def scores(self, beta, s1, s2):
        """Per-cluster ``X_i' M_i^-1 (y_i - X_i beta)`` (J x p), for sandwich estimators."""
        st = self.starts
        d = self.lam + s2
        ud = self.u / d
        s = np.add.reduceat(self.u * ud, st)
        g = s1 / (1.0 + s1 * s)
        r = self.ys - self.Xs @ beta
        tr = np.add.reduceat(ud * r, st)
        Wr = r / d - g[self.cid] * ud * tr[self.cid]
        return np.add.reduceat(self.Xs * Wr[:, None], st, axis=0)

    def theta(self, rows, s1, s2):
        """Marginal covariance blocks ``M`` for groups of rows (caller order).

        Parameters
        ----------
        rows : ndarray of int, shape (m, n)
            Each line lists the rows of one (robust) cluster.

        Returns
        -------
        ndarray, shape (m, n, n)
        """
        ca = self.codes[rows]
        same = ca[:, :, None] == ca[:, None, :]
        eye = np.eye(rows.shape[1], dtype=bool)[None]
        if self.blocks is None:
            sv = np.where(eye, self.v[rows][:, :, None], 0.0)
        else:
            pa = self.pos[rows]
            flat_idx = (self._vstart[ca][:, :, None] + pa[:, :, None] * self.sizes[ca][:, :, None]
                        + pa[:, None, :])
            sv = np.where(same, self._vflat[np.where(same, flat_idx, 0)], 0.0)
        return sv + s1 * same + s2 * eye


# ------------------------------------------------------------------------------------------
# optimiser
# ------------------------------------------------------------------------------------------
def _optimise(struct, reml, fixed, start):
    """Maximise the (restricted) log-likelihood over the free sigma^2 >= 0.

    Newton-Raphson on the observed information where it is positive definite, Fisher scoring
    (expected information) elsewhere, with step halving, projection onto sigma^2 >= 0 and an
    active set for components at 0; a pseudo-inverse handles a singular information matrix
    (components not separately identified). Falls back to L-BFGS-B with the analytic score if
    that does not converge. The likelihood surface can have two local maxima (an interior one
    and one with a component at 0), so with both components free the optima reached from the
    two boundary solutions are compared with the first one and the best is kept.

    Returns ``(sigma2, info)``.
    """
    key = "ll_reml" if reml else "ll_ml"
    free = np.array([f is None for f in fixed])
    theta0 = np.array([start[i] if free[i] else float(fixed[i]) for i in range(2)], dtype=float)
    main = _climb(struct, reml, fixed, theta0, key)
    runs = [main]
    if free.all():
        for a in range(2):
            fx = [None, None]
            fx[a] = 0.0
            edge = _climb(struct, reml, fx, np.where(np.arange(2) == a, 0.0, theta0), key)
            if edge[0]:
                runs.append(_climb(struct, reml, fixed, edge[1], key))
    ok = [r for r in runs if r[0]]
    if not ok:
        raise ModelError(
            "The variance components did not converge (tried: " + main[4] + "). The "
            "likelihood may be flat: check for clusters with one row only, tiny sampling "
            "variances, or simplify the model."
        )
    best = ok[0]
    for r in ok[1:]:
        if r[2] > best[2] + 1e-12 * abs(best[2]):
            best = r
    _, theta, _, it, how = best
    return theta, {"iterations": it, "optimiser": how, "converged": True,
                   "local_maxima": len({round(float(r[2]), 8) for r in ok})}


def _climb(struct, reml, fixed, theta, key):
    """One optimisation run: ``(converged, theta, loglik, iterations, description)``."""
    free = np.array([f is None for f in fixed])
    theta, ok, it = _newton(struct, reml, free, theta, key, 1000)
    tried = [f"Newton/Fisher scoring ({it} iterations)"]
    if not ok:
        theta, _, ok_lb = _lbfgsb(struct, reml, fixed, theta, key)
        tried.append("L-BFGS-B on the variance scale" + ("" if ok_lb else " (not converged)"))
        theta, ok, it2 = _newton(struct, reml, free, theta, key, 200)
        tried.append(f"Newton/Fisher scoring from the L-BFGS-B solution ({it2} iterations)")
        it += it2
    ll = struct.evaluate(*theta, reml=reml)[key]
    return ok, theta, ll, it, "; ".join(tried)


def _newton(struct, reml, free, theta, key, maxit):
    """Projected Newton (observed information) / Fisher scoring; ``(theta, converged, its)``."""
    scale = max(float(np.median(struct.v)), 1e-12)
    atol = _RTOL * scale * 1e-2
    cur = struct.evaluate(*theta, reml=reml, order=3)
    it = 0
    prev_rel = np.inf
    for it in range(1, maxit + 1):
        sc = cur["score"]
        act = free & ~((theta <= 0) & (sc <= 0))
        step = np.zeros(2)
        newton = False
        if act.any():
            obs = cur["obs_info"][np.ix_(act, act)]
            if np.all(np.linalg.eigvalsh(obs) > 1e-12 * np.abs(obs).max()):
                step[act] = np.linalg.solve(obs, sc[act])
                newton = True
            else:
                sub = cur["info"][np.ix_(act, act)]
                step[act] = np.linalg.pinv(sub, rcond=1e-12, hermitian=True) @ sc[act]
        if not act.any() or np.all(np.abs(step) <= _RTOL * np.abs(theta) + atol):
            return theta, True, it
        # at the rounding floor of the score (e.g. tiny sampling variances) Newton steps stop
        # shrinking (they shrink quadratically otherwise): accept once they are below
        # relative 1e-7 and no longer halve
        rel = float(np.max(np.abs(step) / (np.abs(theta) + atol / _RTOL)))
        if newton and rel <= 1e3 * _RTOL and rel > 0.5 * prev_rel:
            return theta, True, it
        prev_rel = rel if newton else np.inf
        lam = 1.0
        new = None
        for _ in range(60):
            trial = np.where(free, np.maximum(theta + lam * step, 0.0), theta)
            ev = struct.evaluate(*trial, reml=reml, order=3)
            if ev[key] >= cur[key] - 1e-13 * abs(cur[key]):
                new = (trial, ev)
                break
            lam *= 0.5
        if new is None:
            return theta, False, it
        theta, cur = new
    return theta, False, it


def _lbfgsb(struct, reml, fixed, theta0, key):
    free = np.array([f is None for f in fixed])
    scale = max(float(np.median(struct.v)), 1e-12)

    def fun(x):
        t = theta0.copy()
        t[free] = x * scale
        try:
            ev = struct.evaluate(*t, reml=reml, order=1)
        except ModelError:
            return np.inf, np.zeros_like(x)
        return -ev[key] / 1.0, -ev["score"][free] * scale

    res = optimize.minimize(fun, theta0[free] / scale, jac=True, method="L-BFGS-B",
                            bounds=[(0, None)] * int(free.sum()),
                            options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 10000})
    t = theta0.copy()
    t[free] = res.x * scale
    ev = struct.evaluate(*t, reml=reml, order=2)
    return t, ev, bool(res.success)


# ------------------------------------------------------------------------------------------
# input handling
# ------------------------------------------------------------------------------------------
def _codes(cluster, k):
    arr = cluster.to_numpy() if isinstance(cluster, (pd.Series, pd.Index)) else cluster
    arr = np.asarray(arr, dtype=object).ravel()
    if arr.size != k:
        raise ModelError(f"cluster has {arr.size} values but there are {k} effect sizes.")
    miss = pd.isna(arr)
    codes, labels = pd.factorize(pd.Series(arr), sort=False)
    return codes, list(labels), miss


def _rows_of(codes, J):
    """Row indices of each cluster code 0..J-1 (ascending within a cluster)."""
    order = np.argsort(codes, kind="stable")
    return np.split(order, np.cumsum(np.bincount(codes, minlength=J))[:-1])


def _v_blocks(V, rho, time, vi, codes, labels, k):
    """Within-cluster sampling covariance blocks per cluster code (all k rows), or None."""
    J = len(labels)
    rows_of = _rows_of(codes, J)
    if V is not None:
        if rho is not None:
            raise ModelError("Give either V or rho (to build V), not both.")
        blocks = []
        if isinstance(V, dict):
            for c, lab in enumerate(labels):
                if lab not in V:
                    raise ModelError(f"V has no block for cluster {lab!r}.")
                blocks.append(np.asarray(V[lab], dtype=float))
        elif isinstance(V, (list, tuple)):
            if len(V) != J:
                raise ModelError(
                    f"V has {len(V)} blocks but there are {J} clusters; give one block per "
                    "cluster, in order of first appearance of the cluster in the data."
                )
            blocks = [np.asarray(b, dtype=float) for b in V]
        else:
            Vm = np.asarray(V, dtype=float)
            if Vm.shape != (k, k):
                raise ModelError(
                    f"V must be a dict or list of per-cluster blocks or a {k} x {k} matrix; "
                    f"got shape {Vm.shape}."
                )
            same = codes[:, None] == codes[None, :]
            if np.any(Vm[~same] != 0):
                raise ModelError(
                    "V has non-zero covariances between rows of different clusters; the model "
                    "needs V block diagonal by cluster."
                )
            blocks = [Vm[np.ix_(r, r)] for r in rows_of]
        for c, (b, r) in enumerate(zip(blocks, rows_of)):
            b = np.atleast_2d(b)
            if b.shape != (r.size, r.size):
                raise ModelError(
                    f"V block of cluster {labels[c]!r} has shape {b.shape}; the cluster has "
                    f"{r.size} rows."
                )
            if not np.allclose(b, b.T, rtol=1e-12, atol=0):
                raise ModelError(f"V block of cluster {labels[c]!r} is not symmetric.")
            blocks[c] = 0.5 * (b + b.T)
        return blocks
    if rho is None:
        if time is not None:
            raise ModelError("time needs rho (the correlation between rows one time unit apart).")
        return None
    rho = float(rho)
    if time is None:
        if not -1 < rho < 1:
            raise ModelError(f"rho must lie in (-1, 1); got {rho}.")
    else:
        if not 0 <= rho < 1:
            raise ModelError(f"With time, rho must lie in [0, 1); got {rho}.")
        t = np.asarray(time, dtype=float).ravel()
        if t.size != k:
            raise ModelError(f"time has {t.size} values but there are {k} effect sizes.")
    blocks = []
    for r in rows_of:
        sv = np.sqrt(vi[r])
        if time is None:
            R = np.full((r.size, r.size), rho)
        else:
            with np.errstate(invalid="ignore"):
                R = rho ** np.abs(t[r][:, None] - t[r][None, :])
        np.fill_diagonal(R, 1.0)
        blocks.append(R * np.outer(sv, sv))
    return blocks


def _fmt_p(p):
    return "p-val < .0001" if p < 1e-4 else f"p-val = {p:.4f}"


def _name(obj, default):
    n = getattr(obj, "name", None)
    return str(n) if n is not None else default
