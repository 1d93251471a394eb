"""Numerical core of :func:`ketameta.bayesmeta` (the normal-normal hierarchical model).

* :class:`NNHM` -- the model: conditional moments of mu (and of a new study's theta and of
  each study's theta_i) given tau, and the marginal likelihood of tau (mu integrated out),
  all closed form (Roever 2020, sec. 2.4-2.8), vectorised over tau, O(k) per value of tau.
* :class:`TauPosterior` -- the marginal posterior of tau by adaptive composite Gauss-Legendre
  quadrature in u = log(tau): 16-point rules on panels, each panel halved until the halves
  agree with the whole to a relative 1e-13 of the total mass. Density, CDF, quantiles,
  moments, mode and credible intervals follow from the panels.

The DIRECT grid and the normal mixtures over it are in :mod:`ketameta._bayes_mixture`.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import ModelError

__all__ = ["NNHM", "TauPosterior"]

_LOG_2PI = math.log(2 * math.pi)
_GX, _GW = np.polynomial.legendre.leggauss(16)
_U_MAX = 345.0  # |log tau| bound: tau^2 = e^690 stays finite


class NNHM:
    """y_i ~ N(theta_i, v_i), theta_i ~ N(mu, tau^2); mu flat or N(mu0, s0^2)."""

    def __init__(self, y, v, mu_prior):
        self.v = np.asarray(v, dtype=float)
        w0 = 1.0 / self.v
        self.center = float(np.sum(w0 * y) / np.sum(w0))  # all means are kept centred
        self.y = np.asarray(y, dtype=float) - self.center
        self.k = self.y.size
        if mu_prior is None:
            self.p0, self.m0, self.n_terms, self.logs0 = 0.0, 0.0, self.k, 0.0
        else:
            self.p0 = 1.0 / mu_prior[1] ** 2
            self.m0 = mu_prior[0] - self.center
            self.n_terms, self.logs0 = self.k + 1, 2 * math.log(mu_prior[1])

    def cond(self, tau):
        """Conditional posterior mean (centred) and variance of mu given tau (arrays)."""
        t2 = np.asarray(tau, dtype=float)[..., None] ** 2
        w = 1.0 / (self.v + t2)
        sw = w.sum(-1) + self.p0
        return (w @ self.y + self.p0 * self.m0) / sw, 1.0 / sw

    def loglik(self, tau):
        """Log p(y | tau): mu integrated against its prior (flat: Lebesgue measure)."""
        t2 = np.asarray(tau, dtype=float)[..., None] ** 2
        vt = self.v + t2
        w = 1.0 / vt
        sw = w.sum(-1) + self.p0
        m = (w @ self.y + self.p0 * self.m0) / sw
        r = self.y - m[..., None]
        q = (w * r * r).sum(-1) + self.p0 * (self.m0 - m) ** 2
        return -0.5 * ((self.n_terms - 1) * _LOG_2PI + np.log(vt).sum(-1) + self.logs0 + q
                       + np.log(sw))

    def components(self, tau):
        """Conditional means and variances (centred) of [mu, theta_new, theta_1..theta_k].

        Returns two arrays of shape ``tau.shape + (k + 2,)``.
        """
        tau = np.asarray(tau, dtype=float)
        m, s2 = self.cond(tau)
        t2 = tau[..., None] ** 2
        r = self.v / (self.v + t2)  # shrinkage factor v_i / (v_i + tau^2)
        mi = self.y + r * (m[..., None] - self.y)
        vi = t2 * r + s2[..., None] * r * r
        means = np.concatenate([m[..., None], m[..., None], mi], axis=-1)
        var = np.concatenate([s2[..., None], (s2 + tau**2)[..., None], vi], axis=-1)
        return means, var


class TauPosterior:
    """Marginal posterior of tau: adaptive Gauss-Legendre quadrature on u = log(tau)."""

    def __init__(self, model: NNHM, prior, rtol=1e-13):
        self.model, self.prior = model, prior
        self.log_prior_norm = 0.0
        self.scale = math.sqrt(model.k / float(np.sum(1.0 / model.v)))
        if prior.family == "callable":
            self._normalise_callable()
        self._check_propriety()
        self._build(rtol)

    # -- log integrand in u: log p(tau) + log p(y | tau) + u ------------------------------------
    def lg(self, u):
        u = np.asarray(u, dtype=float)
        tau = np.exp(u)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            out = self.prior.logpdf(tau) - self.log_prior_norm + self.model.loglik(tau) + u
        return np.where(np.isnan(out), -np.inf, out)

    def _scan(self, fn, scales, what):
        """Locate the mass of exp(fn(u)) on a coarse grid; widen while tails are not negligible.

        Light tails are cut where the integrand is e^-50 below its maximum. Log-Student-t
        priors decay only polynomially in u = log(tau); their tails are cut at |u| = 345
        (tau^2 stays within double precision), leaving < 1e-10 of the mass outside.
        """
        lo = max(math.log(min(scales)) - 50.0, -_U_MAX)
        hi = min(math.log(max(scales)) + 50.0, _U_MAX)
        while True:
            u = np.arange(lo, hi + 0.25, 0.5)
            g = fn(u)
            top = float(np.max(g))
            if not math.isfinite(top):
                raise ModelError(f"The {what} density is zero or not finite at every tau "
                                 "examined; check the prior and the data.")
            keep = np.flatnonzero(g > top - 50.0)
            g2 = g + 2.0 * u  # the integrand of E[tau^2] sets the upper cut where it is finite
            far = max(int(np.flatnonzero(g2 > np.max(g2) - 45.0)[-1]), int(keep[-1]))
            left = keep[0] == 0 and lo > -_U_MAX
            right = far == u.size - 1 and hi < _U_MAX
            if not (left or right):
                break
            lo, hi = max(lo - 150.0 * left, -_U_MAX), min(hi + 150.0 * right, _U_MAX)
        if (keep[0] == 0 and g[0] > top - 25.0) or (keep[-1] == u.size - 1
                                                     and g[-1] > top - 25.0):
            raise ModelError(f"The {what} of tau is improper (its density does not decay "
                             "as tau -> 0 or tau -> inf); use a proper tau_prior.")
        bulk = np.flatnonzero(g > top - 15.0)
        self._bulk = (u[max(bulk[0] - 1, 0)], u[min(bulk[-1] + 1, u.size - 1)])
        return u[max(keep[0] - 1, 0)], u[min(far + 1, u.size - 1)], top

    def _normalise_callable(self):
        pr = self.prior

        def lgp(u):
            return pr.logpdf(np.exp(u)) + u

        try:
            ua, ub, top = self._scan(lgp, [self.scale], "prior")
        except ModelError:
            return  # improper callable prior: keep unnormalised
        z = _gl_integral(lgp, ua, ub, top)
        self.prior_proper = True
        self.log_prior_norm = math.log(z) + top

    def _check_propriety(self):
        pr = self.prior
        self.prior_proper = pr.proper or getattr(self, "prior_proper", False)
        if self.prior_proper or math.isnan(pr.tail):
            return
        decay = pr.tail + (self.model.k - 1 if self.model.p0 == 0 else self.model.k)
        if decay <= 1:
            need = math.floor((2.0 if self.model.p0 == 0 else 1.0) - pr.tail) + 1
            raise ModelError(
                f"The posterior is improper with tau_prior={pr.label!r}, "
                f"{'a flat' if self.model.p0 == 0 else 'this'} mu prior and k = "
                f"{self.model.k}: it needs k >= {need}. Use a proper tau prior "
                "(e.g. ('halfnormal', 0.5)) or more studies.")

    def _build(self, rtol):
        scales = [self.scale] + ([self.prior.scale] if self.prior.scale else [])
        ua, ub, top = self._scan(self.lg, scales, "posterior")
        a_sup, b_sup = self.prior.support
        if a_sup > 0:
            ua = max(ua, math.log(a_sup))
        if math.isfinite(b_sup):
            ub = min(ub, math.log(b_sup))
        self.M = top
        b0, b1 = max(self._bulk[0], ua), min(self._bulk[1], ub)
        edges = np.linspace(b0, b1, max(8, math.ceil(b1 - b0)) + 1)
        steps = 2.0 ** np.arange(1, 12) - 1  # tails: panels of width 1, 2, 4, ...
        left = b0 - steps[b0 - steps > ua]
        right = b1 + steps[b1 + steps < ub]
        edges = np.concatenate([[ua] if ua < b0 else [], left[::-1], edges, right,
                                [ub] if ub > b1 else []])
        a, b = edges[:-1], edges[1:]
        whole = self._panels(a, b)[0]
        done = []
        for _ in range(40):
            mid = 0.5 * (a + b)
            il, ul, wl, gl = self._panels(a, mid)
            ir, ur, wr, gr = self._panels(mid, b)
            total = float(np.sum(il + ir)) + sum(float(np.sum(d[1])) for d in done)
            ok = (np.abs(il + ir - whole) <= rtol * total) | (b - a < 1e-9)
            if ok.any():
                done.append((np.concatenate([a[ok], mid[ok]]),
                             np.concatenate([il[ok], ir[ok]]),
                             np.concatenate([ul[ok], ur[ok]]),
                             np.concatenate([wl[ok], wr[ok]]),
                             np.concatenate([gl[ok], gr[ok]])))
            if ok.all():
                break
            bad = ~ok
            a, b = np.concatenate([a[bad], mid[bad]]), np.concatenate([mid[bad], b[bad]])
            whole = np.concatenate([il[bad], ir[bad]])
        else:
            raise ModelError("Quadrature of the tau posterior did not converge.")
        starts = np.concatenate([d[0] for d in done])
        order = np.argsort(starts)
        self.pa = starts[order]
        mass = np.concatenate([d[1] for d in done])[order]
        self.nu = np.concatenate([d[2] for d in done])[order]
        self.nw = np.concatenate([d[3] for d in done])[order]
        ng = np.concatenate([d[4] for d in done])[order]
        self.ua, self.ub = ua, ub
        self.Z = float(mass.sum())
        self.logZ = self.M + math.log(self.Z)
        self.cum = np.concatenate([[0.0], np.cumsum(mass)]) / self.Z
        self.node_mass = (self.nw * ng / self.Z).ravel()
        self.node_tau = np.exp(self.nu).ravel()
        with np.errstate(divide="ignore"):
            self.nlg = np.log(ng).ravel() + self.M

    def _panels(self, a, b):
        half = 0.5 * (b - a)
        u = (0.5 * (a + b))[:, None] + half[:, None] * _GX
        w = half[:, None] * _GW
        g = np.exp(self.lg(u.ravel()).reshape(u.shape) - self.M)
        return (w * g).sum(1), u, w, g

    # -- distribution functions (tau scale) ------------------------------------------------
    def logpdf(self, tau):
        """Log posterior density of tau (tau >= 0); at 0 the limit p(0) L(0) / Z."""
        tau = np.asarray(tau, dtype=float)
        out = np.full(tau.shape, -np.inf)
        pos = tau > 0
        if pos.any():
            u = np.log(tau[pos])
            out[pos] = self.lg(u) - u - self.logZ
        zero = tau == 0
        if zero.any():
            with np.errstate(divide="ignore"):
                out[zero] = (float(self.prior.logpdf(np.zeros(1))[0]) - self.log_prior_norm
                             + float(self.model.loglik(np.zeros(1))[0]) - self.logZ)
        return out

    def _cdf_u(self, u):
        u = np.asarray(u, dtype=float)
        i = np.clip(np.searchsorted(self.pa, u, side="right") - 1, 0, self.pa.size - 1)
        lo = self.pa[i]
        half = 0.5 * (np.minimum(u, self.ub) - lo)
        nodes = lo[..., None] + half[..., None] * (_GX + 1.0)
        part = half * (np.exp(self.lg(nodes) - self.M) @ _GW)
        out = self.cum[i] + part / self.Z
        return np.clip(np.where(u <= self.ua, 0.0, np.where(u >= self.ub, 1.0, out)), 0, 1)

    def cdf(self, tau):
        """P(tau' <= tau | y)."""
        tau = np.asarray(tau, dtype=float)
        with np.errstate(divide="ignore"):
            return np.where(tau <= 0, 0.0, self._cdf_u(np.log(np.maximum(tau, 1e-300))))

    def ppf(self, p):
        """Quantiles of tau (p = 0 and 1 give the ends of the support, e.g. 0 and inf)."""
        p = np.atleast_1d(np.asarray(p, dtype=float))
        t_lo, t_hi = self.prior.support
        out = np.where(p >= 1, t_hi, t_lo)
        inner = (p > 0) & (p < 1)
        if inner.any():
            q = p[inner]
            cmid = np.cumsum(self.node_mass) - 0.5 * self.node_mass
            u = np.interp(q, cmid, self.nu.ravel())
            lo, hi = np.full(q.shape, self.ua), np.full(q.shape, self.ub)
            for _ in range(100):  # Newton on u = log(tau), bracketed, bisection as fallback
                err = self._cdf_u(u) - q
                if np.all(np.abs(err) <= 1e-15):
                    break
                lo = np.where(err < 0, u, lo)
                hi = np.where(err > 0, u, hi)
                with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                    new = u - err / np.exp(self.lg(u) - self.logZ)
                bad = ~np.isfinite(new) | (new < lo) | (new > hi)
                new = np.where(bad, 0.5 * (lo + hi), new)
                if np.all(np.abs(new - u) <= 1e-14 * (1 + np.abs(u))):
                    u = new
                    break
                u = new
            out[inner] = np.exp(u)
        return out

    def moment(self, fn):
        """Posterior expectation of fn(tau), by the quadrature nodes."""
        return float(np.sum(self.node_mass * fn(self.node_tau)))

    def mean_sd(self):
        """Posterior mean and sd of tau (inf where the tail makes them diverge)."""
        t, pm = self.node_tau, self.node_mass
        mean = float(np.sum(pm * t))
        var = float(np.sum(pm * (t - mean) ** 2))
        if math.isfinite(self.prior.support[1]):
            return mean, math.sqrt(var)
        # a moment diverges when its integrand tau^j g(u) has not decayed at the upper end
        lg_end = float(self.lg(np.array([self.ub]))[0])
        for j in (1, 2):
            li = j * self.nu.ravel() + self.nlg
            if lg_end + j * self.ub - np.max(li) > math.log(1e-6):
                return (math.inf, math.inf) if j == 1 else (mean, math.inf)
        return mean, math.sqrt(var)

    def _peaks(self):
        """Log f(tau) at the nodes and the indices of its genuine interior local maxima.

        A maximum counts only if it rises above the lowest value to its left by more than
        rounding noise (where tau -> 0 the density is flat to machine precision).
        """
        lf = self.nlg - self.nu.ravel()
        cand = np.flatnonzero((lf[1:-1] >= lf[:-2]) & (lf[1:-1] >= lf[2:])) + 1
        rise = lf[cand] - np.minimum.accumulate(lf)[cand - 1]
        return lf, cand[rise > 1e-9 * (1 + np.abs(lf[cand]))]

    def mode(self):
        """Posterior mode of tau: the highest interior local maximum of its density, or the
        end of the support (normally 0) where the density is at least as high.

        As in bayesmeta, 0 when the density at tau = 0 is infinite; for log-normal / log-t
        priors the density at 0 is taken as 0 (bayesmeta's convention), although a log-t
        prior's density grows without bound as tau -> 0.
        """
        t_lo, t_hi = self.prior.support
        lf_lo = float(self.logpdf(np.array([t_lo]))[0])
        if lf_lo == math.inf:
            return t_lo
        u = self.nu.ravel()
        lf, peaks = self._peaks()
        best_t, best = t_lo, lf_lo
        if math.isfinite(t_hi):
            lf_hi = float(self.logpdf(np.array([t_hi]))[0])
            if lf_hi > best + 1e-12 * abs(best):
                best_t, best = t_hi, lf_hi
        if peaks.size == 0:
            return best_t
        i = int(peaks[np.argmax(lf[peaks])])
        lo, hi = u[i - 1], u[i + 1]
        for _ in range(4):  # zoom in on the maximum of log f(tau) over u
            grid = np.linspace(lo, hi, 33)
            val = self.lg(grid) - grid
            j = int(np.clip(np.argmax(val), 1, 31))
            lo, hi = grid[j - 1], grid[j + 1]
        y0, y1, y2 = val[j - 1], val[j], val[j + 1]
        h = grid[1] - grid[0]
        den = y0 - 2 * y1 + y2
        top = grid[j] + (0.5 * h * (y0 - y2) / den if den < 0 else 0.0)
        peak = float(self.lg(np.array([top]))[0] - top - self.logZ)
        if best >= peak - 1e-12 * abs(peak):
            return best_t
        return float(math.exp(top))

    def interval(self, level, method):
        """Central or shortest credible interval for tau.

        The shortest interval is the shorter of ``[0, Q(level)]`` and the best interior
        interval (equal density at both ends), as bayesmeta decides. The interior interval is
        found by Newton's method from the central interval, or, if that fails (a multimodal
        density), by a search over the left-tail probability.
        """
        if method == "central":
            lo, hi = self.ppf([(1 - level) / 2, (1 + level) / 2])
            return float(lo), float(hi)
        t_lo, t_hi = self.prior.support
        one_sided = (t_lo, float(self.ppf([level])[0]))
        lf, peaks = self._peaks()
        if peaks.size == 0:  # monotone density
            if lf[-1] > lf[0] and math.isfinite(t_hi):
                return float(self.ppf([1 - level])[0]), t_hi
            return one_sided
        h = 1e-6
        u_lo = math.log(t_lo) if t_lo > 0 else -math.inf
        u_hi = math.log(t_hi)

        def f_and_dlog(t):  # density of tau, its log and d log f / d tau
            u = np.log(np.maximum(t, 1e-300))
            lft = self.lg(u) - u
            up, dn = np.minimum(u + h, u_hi), np.maximum(u - h, u_lo)
            d = ((self.lg(up) - self.lg(dn)) / (up - dn) - 1.0) / t
            return np.exp(lft - self.logZ), lft, d

        # an interior interval lies right of the dip before the highest peak (if any dip:
        # the density at 0 may be high, or unbounded as for a log-t prior)
        top = int(peaks[np.argmax(lf[peaks])])
        i_dip = int(np.argmin(lf[:top]))
        lower = t_lo
        if i_dip > 0 and lf[0] > lf[i_dip] + 1e-9 * (1 + abs(lf[i_dip])):
            lower = float(self.node_tau[i_dip])
            f_dip = float(self.cdf(np.array([lower]))[0])
            if f_dip + level >= 1:
                return one_sided
            p0 = f_dip + 0.5 * (1 - level - f_dip)
            start = self.ppf([p0, p0 + level])
        else:
            lf_lo = float(self.logpdf(np.array([t_lo]))[0])
            if peaks.size == 1 and lf_lo >= float(self.logpdf(np.array([one_sided[1]]))[0]):
                return one_sided  # unimodal, and as high at the lower end as at Q(level)
            start = self.ppf([(1 - level) / 2, (1 + level) / 2])
        ab = _newton_shortest(self.cdf, f_and_dlog, start[:1], start[1:], level, lower=lower,
                              maxit=30)
        if ab is not None and ab[2] == "pinned" and peaks.size == 1 and lower == t_lo:
            return one_sided
        if (ab is None or ab[2] == "pinned" or ab[1][0] > t_hi
                or f_and_dlog(ab[0])[2][0] < 0 or f_and_dlog(ab[1])[2][0] > 0):
            # one coarse look first: if the width is least at p = 0 and grows there (the
            # density near 0 is at least that at Q(level)), the interval is one-sided
            p = np.linspace(0.0, 1.0 - level, 21)
            q = self.ppf(np.concatenate([p, p + level]))
            if (int(np.argmin(q[21:] - q[:21])) == 0
                    and lf[0] >= float(f_and_dlog(np.array([one_sided[1]]))[1][0])):
                return one_sided
            lo, hi = _shortest_by_search(self.ppf, level, bounded=True)  # e.g. bimodal
        else:
            lo, hi = ab[0][0], ab[1][0]
        return one_sided if one_sided[1] <= hi - lo else (float(lo), float(hi))


def _gl_integral(fn, ua, ub, top, panels=400):
    edges = np.linspace(ua, ub, panels + 1)
    half = 0.5 * np.diff(edges)
    u = (0.5 * (edges[1:] + edges[:-1]))[:, None] + half[:, None] * _GX
    return float(np.sum(half[:, None] * _GW * np.exp(fn(u.ravel()).reshape(u.shape) - top)))


def _newton_shortest(cdf, f_and_dlog, a, b, level, tol=1e-13, lower=-math.inf, maxit=60):
    """Solve F(b) - F(a) = level and log f(a) = log f(b) by Newton's method (vectorised).

    ``f_and_dlog(x)`` returns (f(x), log f(x), d log f / dx); ``a`` stays above ``lower``.
    Returns ``(a, b, "ok")``, ``(a, b, "pinned")`` when ``a`` is driven to ``lower`` (no interior
    solution), or None if the iteration fails (then a slower search is used).
    """
    for _ in range(maxit):
        pts = np.concatenate([a, b])
        dF, lf, dl = f_and_dlog(pts)
        n = a.size
        Fa, Fb = np.split(cdf(pts), 2)
        e1 = Fb - Fa - level
        e2 = lf[:n] - lf[n:]
        fa, fb, da, db = dF[:n], dF[n:], dl[:n], dl[n:]
        det = fa * db - fb * da
        if not np.all(np.isfinite(det)) or np.any(det == 0):
            return None
        step_a = (e1 * db + fb * e2) / det  # J @ step = -(e1, e2)
        step_b = (fa * e2 + da * e1) / det
        width = b - a
        lim = 0.5 * width
        step_a = np.clip(step_a, -lim, lim)
        step_b = np.clip(step_b, -lim, lim)
        a, b = a + step_a, b + step_b
        if math.isfinite(lower):
            a = np.maximum(a, lower + 0.1 * (a - step_a - lower))
            if np.all(a - lower <= 1e-10 * (b - lower)):
                return a, b, "pinned"  # driven to the lower bound: no interior solution
        if not np.all(b > a):
            return None
        if np.all(np.abs(e1) < tol) and np.all(np.abs(step_a) + np.abs(step_b)
                                               < 1e-12 * (1 + np.abs(a) + np.abs(b))):
            return a, b, "ok"
    return None


def _shortest_by_search(ppf, level, bounded, n=21):
    """Shortest interval by zooming grids over the left-tail probability p (vectorised).

    With ``bounded`` (tau >= 0) p = 0 is a candidate, i.e. the one-sided [0, Q(level)].
    """
    lo_p, hi_p = (0.0, 1.0 - level) if bounded else (1e-9 * (1 - level), 1.0 - level)
    for _ in range(4):
        p = np.linspace(lo_p, hi_p, n)
        q = np.asarray(ppf(np.concatenate([p, p + level])), dtype=float)
        width = q[n:] - q[:n]
        j = int(np.argmin(width))
        lo_p, hi_p = p[max(j - 1, 0)], p[min(j + 1, n - 1)]
    return float(q[j]), float(q[n + j])
