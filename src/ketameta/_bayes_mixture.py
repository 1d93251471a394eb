"""DIRECT discretisation of tau and the normal mixtures over it (for :func:`ketameta.bayesmeta`).

* :func:`direct_grid` -- the DIRECT discretisation of tau (Roever & Friede 2017, J Comput
  Graph Stat 26(1):217-222) exactly as bayesmeta sets it up: successive support points whose
  conditional normals (of mu, theta_new and every theta_i) differ by a symmetrised KL
  divergence of ``delta``, up to the ``1 - epsilon`` quantile; weights are posterior bin
  probabilities.
* :class:`NormalMixture` -- G mixtures of normals with shared weights (the marginal
  posteriors of mu, theta_new and theta_i): moments, CDF, quantiles, mode and shortest
  intervals, all vectorised with safeguarded Newton iterations.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize, special

from ._bayes_core import NNHM, TauPosterior, _newton_shortest, _shortest_by_search
from .errors import ModelError

__all__ = ["NormalMixture", "direct_grid"]

_SQRT_2PI = math.sqrt(2 * math.pi)


def direct_grid(model: NNHM, post: TauPosterior, delta=0.01, epsilon=1e-4):
    """DIRECT support points and weights for tau, as bayesmeta's ``discretize()``.

    Returns ``(tau, weight)``; tau[0] = 0 and each support point lies at divergence ``delta``
    from the previous bin bound, the next bound at ``delta`` beyond it, up to the ``1 - epsilon``
    posterior quantile of tau (at least two support points).
    """
    max_tau = float(post.ppf([1 - min(epsilon, 1 - epsilon)])[0])
    sd = math.sqrt(delta)
    y, v, p0, pm = model.y, model.v, model.p0, model.p0 * model.m0

    def moments(t):  # conditional (mean, var) of [mu, theta_new, theta_i] at a scalar tau
        t2 = t * t
        r = v / (v + t2)
        w = r / v
        sw = w.sum() + p0
        m = (w @ y + pm) / sw
        s2 = 1.0 / sw
        mean = np.empty(y.size + 2)
        var = np.empty(y.size + 2)
        mean[:2] = m
        var[0], var[1] = s2, s2 + t2
        mean[2:] = y + r * (m - y)
        var[2:] = r * (t2 + s2 * r)
        return mean, var

    def next_root(t0, guess):
        mref, vref = moments(t0)
        ivr = 1.0 / vref

        def h(t):
            m, vv = moments(t)
            d = m - mref
            kl = d * d * (ivr + 1.0 / vv) + (vref - vv) ** 2 / (vref * vv)
            return math.sqrt(0.5 * max(float(kl.max()), 0.0)) - sd

        # secant iterations from the predicted root, anchored at (t0, -sqrt(delta)): the
        # square root of the divergence grows about linearly in t near t0
        lo, hi = t0, math.inf
        a, ha = t0, -sd
        b = max(guess, t0 + 1e-12 * (1 + t0))
        hb = h(b)
        for _ in range(16):
            if hb <= 0:
                lo = max(lo, b)
            else:
                hi = min(hi, b)
            if hb == ha:
                break
            c = b - hb * (b - a) / (hb - ha)
            if not (lo < c < hi) or not math.isfinite(c):
                c = 0.5 * (lo + hi) if math.isfinite(hi) else t0 + 2 * (b - t0)
            a, ha = b, hb
            b, hb = c, h(c)
            if abs(hb) <= 1e-15 or abs(b - a) <= 1e-12 * b:
                return b
        while not math.isfinite(hi):  # rare: fall back to bracketing and Brent's method
            x = t0 + 2 * (max(lo, b) - t0) + 1e-12
            if h(x) > 0:
                hi = x
            else:
                lo = x
            if x > 1e12 * (1 + t0):
                raise ModelError("DIRECT grid set-up failed (divergence does not grow).")
        return optimize.brentq(h, lo, hi, xtol=1e-15, rtol=4 * np.finfo(float).eps)

    first = next_root(0.0, post.scale)
    taus, bounds = [0.0], [first]
    t, s1, s2 = first, first, None
    while t <= max_tau or len(taus) < 2:
        ref = next_root(t, t + (s1 if s2 is None else s1 * s1 / s2) * 0.5)
        nb = next_root(ref, ref + (ref - t))
        if ref <= taus[-1]:
            break
        s2, s1 = s1, nb - t
        taus.append(ref)
        bounds.append(nb)
        t = nb
    cdf = post.cdf(np.array(bounds))
    w = np.maximum(np.diff(np.concatenate([[0.0], cdf])), 0.0)
    total = w.sum()
    w = w / total if total > 0 else np.full(w.size, 1.0 / w.size)
    return np.array(taus), w


class NormalMixture:
    """G mixtures of normals sharing weights: ``sum_j w_j N(m[g, j], s[g, j]^2)``."""

    def __init__(self, w, m, s):
        self.w = np.asarray(w, dtype=float)
        self.m = np.atleast_2d(np.asarray(m, dtype=float))
        self.s = np.atleast_2d(np.asarray(s, dtype=float))
        self.mean = self.m @ self.w
        self.sd = np.sqrt(((self.m - self.mean[:, None]) ** 2 + self.s**2) @ self.w)
        self.lo = np.min(self.m - 40 * self.s, axis=1)
        self.hi = np.max(self.m + 40 * self.s, axis=1)

    def _z(self, x):
        x = np.asarray(x, dtype=float)
        if x.ndim == 1:
            x = x[:, None]
        return (x[..., None] - self.m[:, None, :]) / self.s[:, None, :]  # (G, T, J)

    def cdf(self, x):
        """CDF at x of shape (G,) or (G, T)."""
        return special.ndtr(self._z(x)) @ self.w

    def pdf_parts(self, x):
        """Density and its first two derivatives at x of shape (G, T)."""
        z = self._z(x)
        phi = np.exp(-0.5 * z * z) / (_SQRT_2PI * self.s[:, None, :])
        s = self.s[:, None, :]
        return phi @ self.w, (phi * (-z / s)) @ self.w, (phi * ((z * z - 1) / (s * s))) @ self.w

    def ppf(self, p):
        """Quantiles: p of shape (T,) for every mixture, or (G, T)."""
        p = np.asarray(p, dtype=float)
        if p.ndim <= 1:
            p = np.broadcast_to(np.atleast_1d(p), (self.m.shape[0], p.size))
        x = self.mean[:, None] + self.sd[:, None] * special.ndtri(np.clip(p, 1e-300, 1 - 1e-16))
        lo = np.broadcast_to(self.lo[:, None], p.shape).copy()
        hi = np.broadcast_to(self.hi[:, None], p.shape).copy()
        x = np.clip(x, lo, hi)
        for _ in range(100):
            F = self.cdf(x)
            err = F - p
            if np.all(np.abs(err) <= 1e-15):
                break
            f = self.pdf_parts(x)[0]
            lo = np.where(err < 0, x, lo)
            hi = np.where(err > 0, x, hi)
            with np.errstate(divide="ignore", invalid="ignore"):
                new = x - err / f
            bad = ~np.isfinite(new) | (new < lo) | (new > hi)
            new = np.where(bad, 0.5 * (lo + hi), new)
            dx = np.abs(new - x)
            x = new
            if np.all(dx <= 1e-14 * (np.abs(x) + self.sd[:, None])):
                break
        return x

    def mode(self, lo, hi):
        """Mode of each mixture by Newton on f' = 0 inside the bracket ``[lo, hi]`` (G,)."""
        lo, hi = lo.copy(), hi.copy()
        x = 0.5 * (lo + hi)
        for _ in range(100):
            _, d1, d2 = self.pdf_parts(x[:, None])
            d1, d2 = d1[:, 0], d2[:, 0]
            lo = np.where(d1 > 0, x, lo)
            hi = np.where(d1 < 0, x, hi)
            with np.errstate(divide="ignore", invalid="ignore"):
                new = x - d1 / d2
            bad = ~np.isfinite(new) | (new < lo) | (new > hi) | (d2 >= 0)
            new = np.where(bad, 0.5 * (lo + hi), new)
            dx = np.abs(new - x)
            x = new
            if np.all(dx <= 1e-15 * (np.abs(x) + self.sd)):
                break
        return x

    def summaries(self, level, method):
        """Median, mode and the credible interval of every mixture in one pass."""
        q = self.ppf([0.5, (1 - level) / 2, (1 + level) / 2, 0.005, 0.995])
        iv = q[:, 1:3] if method == "central" else self.interval(level, method, q[:, 1:3])
        return q[:, 0], self.mode(q[:, 3], q[:, 4]), iv

    def interval(self, level, method, central=None):
        """Central or shortest intervals, shape (G, 2)."""
        q = self.ppf([(1 - level) / 2, (1 + level) / 2]) if central is None else central
        if method == "central":
            return q

        def f_and_dlog(x):
            g = self.m.shape[0]
            f, d1, _ = self.pdf_parts(x.reshape(2, g).T)  # (G, 2)
            f, d1 = f.T.ravel(), d1.T.ravel()
            return f, np.log(f), d1 / f

        def cdf(x):
            return self.cdf(x.reshape(2, -1).T).T.ravel()

        ab = _newton_shortest(cdf, f_and_dlog, q[:, 0].copy(), q[:, 1].copy(), level)
        if ab is not None:
            return np.column_stack(ab[:2])
        out = np.empty_like(q)
        for g in range(q.shape[0]):  # robust, slower path (e.g. a bimodal mixture)
            one = NormalMixture(self.w, self.m[g], self.s[g])
            out[g] = _shortest_by_search(lambda pp, o=one: o.ppf(np.asarray(pp))[0],
                                         level, bounded=False)
        return out
