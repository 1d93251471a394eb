"""Estimators of the (residual) heterogeneity tau^2 for univariate models.

Each estimator returns ``(tau2, se_tau2, info)``. Formulas follow metafor's ``rma.uni``
(Viechtbauer 2010) and the papers cited in :func:`ketameta.rma`; the standard errors are the ones
metafor reports. All computations are O(k p^2) (see :mod:`ketameta._linalg`); the iterative
estimators evaluate score and derivative together from one pass of moment sums per Newton step.
"""

from __future__ import annotations

import math

import numpy as np

from ._linalg import Moments, WFit
from .errors import ModelError

#: metafor's method codes accepted by :func:`ketameta.rma` ("FE" is an alias of "EE").
METHODS = ("EE", "DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM")
ALIASES = {"FE": "EE", "CE": "EE", "VC": "HE", "CO": "HE", "MP": "PM"}
#: Estimators solved iteratively (from the moment sums of :class:`ketameta._linalg.Moments`).
ITERATIVE = ("ML", "REML", "PM", "EB")

_REL_TOL = 1e-15

_MAXITER = 500


def _se(var):
    """Sqrt of a variance; NaN (not an error) when rounding made it non-positive.

    With sampling variances spanning more than ~1e8 the traces behind these variances lose
    precision (metafor warns about such data too); the estimate itself is still returned.
    """
    try:
        var = float(var)
    except (TypeError, ValueError):
        return float("nan")
    return math.sqrt(var) if math.isfinite(var) and var > 0 else float("nan")


#: how many points the likelihood estimators scan for an interior maximum when the score is
#: <= 0 at tau^2 = 0 (:func:`scan_points`)
SCAN_POINTS = 20


def scan_points(vmin, scale):
    """Where the ML/REML score is scanned for interior maxima: :data:`SCAN_POINTS` points,
    geometric from a tenth of the smallest sampling variance (below it the score hardly moves
    from its value at 0) to twice the data's scale (var(y) + mean(v)). Arrays broadcast: shape
    ``np.shape(vmin) + (SCAN_POINTS,)``.
    """
    lo = 0.1 * np.maximum(np.asarray(vmin, dtype=float), 1e-300)
    hi = np.maximum(2.0 * np.asarray(scale, dtype=float), 2.0 * lo)
    u = np.linspace(0.0, 1.0, SCAN_POINTS)
    return lo[..., None] * (hi / lo)[..., None] ** u
#: Gauss-Legendre nodes and weights on [0, 1] (8 points) and the geometric partition of [0, r]
#: over which the score is integrated to compare a candidate r with the boundary
_GL_X, _GL_W = (np.polynomial.legendre.leggauss(8)[0] + 1.0) / 2.0, np.polynomial.legendre.leggauss(8)[1] / 2.0
_PARTITION = np.concatenate([[0.0], np.geomspace(1e-6, 1.0, 13)])


def score_gain_nodes(r):
    """Nodes and weights of the quadrature of ``int_0^r f(t) dt`` (composite 8-point
    Gauss-Legendre on a geometric partition of [0, r]: the score varies on the scale of the
    sampling variances, which may be far below r). ``r`` may be an array: arrays of shape
    ``r.shape + (n,)``.
    """
    r = np.asarray(r, dtype=float)
    b = r[..., None] * _PARTITION
    lo, width = b[..., :-1], np.diff(b, axis=-1)
    nodes = lo[..., :, None] + width[..., :, None] * _GL_X
    weights = width[..., :, None] * _GL_W
    return nodes.reshape(*r.shape, -1), weights.reshape(*r.shape, -1)


def score_many(y, v, X, reml):
    """The ML or REML score ``y'PPy - tr P`` (REML) or ``y'PPy - tr W`` (ML) at many tau^2 at
    once: a function ``t (n,) -> f (n,)`` (one vectorised pass; used to scan for interior
    maxima and to integrate the score, where the sums of :class:`Moments` one point at a time
    would cost a pass each).
    """
    y = np.asarray(y, dtype=float)
    v = np.asarray(v, dtype=float)
    X = np.asarray(X, dtype=float)

    def f(t):
        t = np.asarray(t, dtype=float)
        W = 1.0 / (v[:, None] + t[None, :])                       # (k, n)
        A = np.einsum("ki,kn,kj->nij", X, W, X)                   # X'WX per t
        b = np.einsum("ki,kn,k->ni", X, W, y)
        beta = np.linalg.solve(A, b[..., None])[..., 0]
        r = y[:, None] - X @ beta.T
        ypp = ((W * r) ** 2).sum(axis=0)
        if not reml:
            return ypp - W.sum(axis=0)
        B = np.einsum("ki,kn,kj->nij", X, W * W, X)
        return ypp - (W.sum(axis=0) - np.trace(np.linalg.solve(A, B), axis1=1, axis2=2))

    f.vmin = float(v.min())
    return f


def interior_maxima(score, solve, xs):
    """The highest interior maximum of a likelihood whose score is <= 0 at tau^2 = 0, for many
    fits at once (``solve_decreasing``'s ``scan``; the batched and the subset engines).

    ``score(i, X)`` gives the score of fits ``i`` at the points ``X`` (``(len(i), m)``);
    ``solve(i, x0)`` the roots where the scores of fits ``i``, positive at ``x0``, turn negative,
    and whether each converged; ``xs`` are the scan points (:func:`scan_points`, one row per
    fit). From the first point of each run of positive scores the root is solved; a candidate
    replaces the boundary (0) or an earlier candidate when its likelihood is higher
    (``l(r) - l(0) = 1/2 int_0^r f``, :func:`score_gain_nodes`). Returns the estimates (0 where
    no interior maximum is higher).
    """
    n, m = xs.shape
    tau = np.zeros(n)
    pos = score(np.arange(n), xs) > 0
    # the first point of each run of positive values (a run after a root is a new candidate)
    first = pos & ~np.concatenate([np.zeros((n, 1), bool), pos[:, :-1]], axis=1)
    best_gain = np.zeros(n)
    done = np.zeros(n)
    for j in range(m):
        cand = np.flatnonzero(first[:, j] & (xs[:, j] > done))
        if cand.size == 0:
            continue
        r, ok = solve(cand, xs[cand, j])
        done[cand] = np.where(ok, r, done[cand])
        nodes, weights = score_gain_nodes(r)
        gain = 0.5 * np.einsum("ni,ni->n", weights, score(cand, nodes))
        better = ok & (gain > best_gain[cand])
        best_gain[cand] = np.where(better, gain, best_gain[cand])
        tau[cand[better]] = r[better]
    return tau


def solve_decreasing(f, df, start, what, scale=1.0, fdf=None, shape=None, scan=None):
    """Root ``x >= 0`` of a function that is positive at 0 and negative for large x.

    Safeguarded Newton (bisection inside the bracket of the points seen so far whenever Newton
    leaves it; quadrupling while no upper end is known), iterated to machine precision.
    ``f(0) <= 0`` gives 0 (a boundary solution, not an error).

    Parameters
    ----------
    f, df : callable
        The function and its derivative (ignored when ``fdf`` is given).
    start : float
        Starting value (e.g. a closed-form estimate).
    what : str
        Name used in the error message if no root can be bracketed.
    scale : float
        Typical magnitude of x (used to seed the bracket).
    fdf : callable, optional
        ``x -> (f(x), f'(x))`` in one evaluation (the estimators' fits give both from the
        same sums). Each x is evaluated once.
    shape : (a, c), optional
        Take the Newton steps on ``h(x) = f(x) (x + c)^a`` (same roots and signs for
        ``x + c > 0``): ``x - f / (f' + a f / (x + c))``. The estimating equations of
        ML/REML (a = 2) and PM (a = 1) scale like ``1/(v + tau^2)^a``, so ``h`` is nearly
        linear and Newton needs fewer steps, whichever side of the root it starts on.
    scan : callable, optional
        For a likelihood score (ML, REML: ``f`` is twice the derivative of the log-likelihood),
        the score at many points at once (:func:`score_many`): when ``f(0) <= 0`` (a maximum at
        the boundary), look for interior maxima too. The score is evaluated at
        :func:`scan_points`; from the first point of each run where it is positive the root
        where it turns negative is found, and the candidate with the highest likelihood is
        returned (``l(r) - l(0) = 1/2 int_0^r f``, by quadrature). The restricted likelihood of
        the random-effects model can have a local maximum at 0 and a higher one inside; metafor's
        Fisher scoring, which starts inside, finds the latter.
    """
    if fdf is None:
        def fdf(x):
            return f(x), None

        def deriv(x, d):
            return df(x)
    else:
        def deriv(x, d):
            return d

    seen: dict = {}

    def ev(x):
        r = seen.get(x)
        if r is None:
            r = seen[x] = fdf(x)
        return r

    f0, _ = ev(0.0)
    if not math.isfinite(f0):
        raise ModelError(f"{what}: the estimating equation is not finite at tau^2 = 0.")
    if f0 > 0:
        # Newton starts at the starting value (metafor's Fisher scoring starts there too)
        return _root(ev, deriv, max(float(start), 1e-8 * max(scale, 1e-300), 1e-12), shape, what)
    if scan is None:
        return 0.0, 0
    # a maximum at the boundary; an interior one where the score turns from + to -
    its = 0

    def solve(_, x0):
        nonlocal its
        r, it = _root(ev, deriv, float(x0[0]), shape, what)
        its += it
        return np.array([r]), np.array([True])

    tau = interior_maxima(lambda _, X: scan(X.ravel()).reshape(X.shape), solve,
                          scan_points(scan.vmin, scale)[None, :])
    return float(tau[0]), its


def _root(ev, deriv, x, shape, what):
    """The root where a score positive at ``x`` turns negative: safeguarded Newton in a bracket
    [lo, hi] that starts as [0, inf) (while no negative value has been seen, a failed Newton
    step quadruples x instead of bisecting). Returns ``(root, evaluations)``.
    """
    lo, hi = 0.0, math.inf
    prev = None  # previous Newton step
    n_expand = 0
    for it in range(1, _MAXITER + 1):
        fx, d = ev(x)
        if hi == math.inf and not math.isfinite(fx):
            n_expand = 201
        if fx == 0:
            return x, it
        if fx > 0:
            lo = x
        else:
            hi = x
        d = deriv(x, d)
        if shape is not None:
            d = d + shape[0] * fx / (x + shape[1])
        step_ok = d < 0 and math.isfinite(d)
        xn = x - fx / d if step_ok else x
        newton = step_ok and lo < xn < hi
        if not newton:
            if hi == math.inf:
                xn = 4.0 * x
                n_expand += 1
            else:
                xn = 0.5 * (lo + hi)
        if n_expand > 200:
            raise ModelError(
                f"{what}: could not bracket the solution for tau^2 (still positive at "
                f"tau^2 = {x:.3g}). The data may be degenerate (e.g. identical outcomes with "
                "tiny variances); try method='DL' or check the variances."
            )
        step = abs(xn - x)
        tol = _REL_TOL * max(abs(xn), 1e-300)
        if step <= tol or (hi < math.inf and hi - lo <= _REL_TOL * max(hi, 1e-300)):
            return xn, it
        # Newton's next step predicted from the observed contraction (step_n / step_{n-1}^2
        # for quadratic convergence; the same formula tracks linear convergence): when it is
        # below the tolerance, xn is the root to machine precision.
        if newton and prev is not None and step < prev and step * step / prev <= 0.5 * tol:
            return xn, it
        prev = step if newton else None
        x = xn
    raise ModelError(
        f"{what}: the iterative solution for tau^2 did not converge in {_MAXITER} steps "
        "(safeguarded Newton within a bracket). Try another method (e.g. 'DL' or 'PM')."
    )


def _se_from_quadratic(fit: WFit, tau2, d_v):
    """Var of y'Py for y ~ N(Xb, V + tau2 I): 2[tr(PVPV) + 2 tau2 tr(PVP) + tau2^2 tr(PP)]."""
    t = max(tau2, 0.0)
    return 2.0 * fit.trPDPD(d_v) + 4.0 * t * fit.trPPD(d_v) + 2.0 * t * t * fit.trPDPD()


def _metafor_scoring(method, y, v, X, threshold=1e-5, maxiter=100):
    """Fisher scoring as metafor iterates for REML, ML and EB (``rma.uni`` with ``control``).

    Fisher scoring from the Hedges (HE) estimate, step ``(y'PPy - tr P) / tr(PP)`` (REML),
    ``(y'PPy - sum w) / sum w^2`` (ML) or ``(y'Py k/(k-p) - k) / sum w`` (EB), halved while it
    would cross 0, stopped when a step changes tau^2 by at most ``threshold`` (metafor's default
    1e-5, at most ``maxiter`` = 100 steps). Returns ``(tau2, iterations)``.
    """
    k, p = X.shape
    ols = WFit(y, np.ones(k), X)
    tau2 = max(0.0, (float(ols.e @ ols.e) - ols.trPD(v)) / (k - p))
    change, it = math.inf, 0
    while change > threshold:
        it += 1
        if it > maxiter:
            raise ModelError(f"Fisher scoring ({method}) did not converge in {maxiter} iterations "
                             f"(threshold {threshold:g}); raise maxiter or the threshold.")
        old = tau2
        w = 1.0 / (v + tau2)
        f = WFit(y, w, X)
        if method == "REML":
            adj = (f.ypp() - f.trP()) / f.trPDPD()
        elif method == "ML":
            adj = (f.ypp() - float(w.sum())) / float((w * w).sum())
        else:  # EB
            adj = (f.rss() * k / (k - p) - k) / float(w.sum())
        while tau2 + adj < 0:
            adj /= 2
        tau2 += adj
        change = abs(old - tau2)
    return max(0.0, tau2), it


#: Estimators for which ``control`` selects metafor's Fisher scoring.
SCORING = ("REML", "ML", "EB")


def estimate(method, y, v, X, mom=None, want_se=True, control=None):
    """Estimate tau^2 with ``method``; return ``(tau2, se_tau2, info)``.

    With ``control`` (a dict with ``threshold`` and optionally ``maxiter``) the REML, ML and EB
    estimates stop where metafor's Fisher scoring stops (:func:`_metafor_scoring`) instead of
    being solved to rounding level.

    The iterative estimators (ML, REML, PM, EB) evaluate their estimating equations from the
    moment sums of ``mom`` (a :class:`ketameta._linalg.Moments` of ``(y, v, X)``, built here
    when not given; callers pass it on to reuse its sums for the final fit). With
    ``want_se=False`` the standard error of an iterative estimate is not computed (NaN).
    """
    k, p = X.shape
    info: dict = {}
    if method == "EE":
        return 0.0, float("nan"), info
    if k <= p:
        raise ModelError(
            f"method='{method}' needs more studies than coefficients to estimate tau^2: "
            f"k = {k}, p = {p}. Use method='EE' or a model with fewer moderators."
        )
    df = k - p

    if method in ITERATIVE:
        yc = y - y.sum() / k
        scale = float(yc @ yc + v.sum()) / k  # var(y) + mean(v): seeds the bracket
        if mom is None:
            mom = Moments(y, v, X)
        ml = method in ("ML", "REML")
        # one pass for the sums every fit needs: unweighted (X'X, Hedges start) and at tau^2 = 0
        # (f(0), the equal-effects statistics)
        mom.row_sums([(None, 0), (None, 1), (0.0, 1), (0.0, 2), (0.0, 3)] if ml
                     else [(None, 0), (0.0, 1), (0.0, 2)])
        if ml:
            reml = method == "REML"
            rss, trpv = mom.unweighted()
            start = max(0.0, (rss - trpv) / df)  # Hedges (HE) estimate

            def fdf(t):
                e = mom.at(t, 3)
                if reml:
                    return e.ypp - e.trP, -2.0 * e.yppp + e.trPP
                return e.ypp - e.sw, -2.0 * e.yppp + e.sw2

        else:
            fe = mom.at(0.0, 2)
            start = max(0.0, (fe.rss - df) / fe.trP)  # DerSimonian-Laird estimate

            def fdf(t):
                e = mom.at(t, 2)
                return e.rss - df, -e.ypp

        # Newton steps on f(t) (t + c)^a with c the harmonic mean of v (= k / sum(1/v), from
        # the equal-effects fit's sums)
        shape = (2.0 if ml else 1.0, k / mom.at(0.0, 3 if ml else 2).sw)
        if control is not None and method in SCORING:
            tau2, it = _metafor_scoring(method, y, v, X, **control)
        else:
            tau2, it = solve_decreasing(None, None, start, f"{method} estimator", scale, fdf=fdf,
                                        shape=shape, scan=score_many(y, v, X, reml) if ml else None)
        info["iterations"] = it
        if not want_se:
            return tau2, float("nan"), info
        if ml:
            e = mom.at(tau2, 3)
            se = _se(2.0 / (e.trPP if reml else e.sw2))
        else:
            sw = mom.at(tau2, 2).sw
            se = _se(2.0 * k * k / df / sw**2)
        return tau2, se, info

    from ._stable import DenseFit, DenseMoments

    Fit = DenseFit if isinstance(mom, DenseMoments) else WFit
    wfe = 1.0 / v
    if method in ("DL", "HS"):
        fe = Fit(y, wfe, X)

    if method == "DL":
        Q, trP = fe.rss(), fe.trP()
        tau2 = max(0.0, (Q - df) / trP)
        se = _se((2 * df + 4 * tau2 * trP + 2 * tau2**2 * fe.trPDPD()) / trP**2)
        return tau2, se, info

    if method == "HS":
        Q, sw = fe.rss(), float(np.sum(wfe))
        tau2 = max(0.0, (Q - k) / sw)
        se = _se((2 * df + 4 * tau2 * fe.trP() + 2 * tau2**2 * fe.trPDPD()) / sw**2)
        return tau2, se, info

    if method == "HE":
        ols = Fit(y, np.ones(k), X)
        rss, trPV = float(np.dot(ols.e, ols.e)), ols.trPD(v)
        tau2_he = max(0.0, (rss - trPV) / df)
        se = _se(
            (2 * ols.trPDPD(v) + 4 * tau2_he * trPV + 2 * tau2_he**2 * df) / df**2
        )
        return tau2_he, se, info

    if method == "SJ":
        t0 = float(np.var(y))  # population variance, as metafor: var(y) (k-1)/k
        if t0 <= 0:
            t0 = 1e-12  # all outcomes identical: the estimate is 0 anyway
        f0 = Fit(y, 1.0 / (v + t0), X)
        tau2 = max(0.0, t0 * f0.rss() / df)
        var_q = _se_from_quadratic(f0, tau2, v)
        se = _se(t0**2 / df**2 * var_q)
        info["tau2_0"] = t0
        return tau2, se, info

    raise ModelError(f"Unknown method {method!r}; use one of {', '.join(METHODS)}.")
