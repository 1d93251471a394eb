"""Estimators of the (residual) heterogeneity tau^2 for univariate models.

Each estimator returns ``(tau2, se_tau2, info)``. Formulas follow metafor's ``rma.uni``
(Viechtbauer 2010) and the papers cited in :func:`ketameta.rma`; the standard errors are the ones
metafor reports. All computations are O(k p^2) (see :mod:`ketameta._linalg`).
"""

from __future__ import annotations

import math

import numpy as np

from ._linalg import WFit
from .errors import ModelError

#: metafor's method codes accepted by :func:`ketameta.rma` ("FE" is an alias of "EE").
METHODS = ("EE", "DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM")
ALIASES = {"FE": "EE", "CE": "EE", "VC": "HE", "CO": "HE", "MP": "PM"}

_REL_TOL = 1e-15
_MAXITER = 500


def solve_decreasing(f, df, start, what, scale=1.0, fdf=None):
    """Root ``x >= 0`` of a function that is positive at 0 and negative for large x.

    Safeguarded Newton (bisection inside a bracket whenever Newton leaves it), iterated to
    machine precision. ``f(0) <= 0`` gives 0 (a boundary solution, not an error).

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
        same sums). Each x is evaluated once: the bracket's upper end is reused when Newton
        starts there.
    """
    if fdf is None:
        def fdf(x):
            return f(x), None

        def deriv(x, d):
            return df(x)
    else:
        def deriv(x, d):
            return d

    f0, _ = fdf(0.0)
    if not np.isfinite(f0):
        raise ModelError(f"{what}: the estimating equation is not finite at tau^2 = 0.")
    if f0 <= 0:
        return 0.0, 0
    lo, flo = 0.0, f0
    hi = max(float(start), 1e-8 * max(scale, 1e-300), 1e-12)
    fhi, dhi = fdf(hi)
    n_expand = 0
    while fhi > 0:
        lo, flo = hi, fhi
        hi *= 4.0
        fhi, dhi = fdf(hi)
        n_expand += 1
        if n_expand > 200 or not np.isfinite(fhi):
            raise ModelError(
                f"{what}: could not bracket the solution for tau^2 (still positive at "
                f"tau^2 = {hi:.3g}). The data may be degenerate (e.g. identical outcomes with "
                "tiny variances); try method='DL' or check the variances."
            )
    last = (hi, fhi, dhi)
    x = lo if (start is None or not (lo < start < hi)) else float(start)
    if x == 0.0:
        x = 0.5 * (lo + hi)
    for it in range(1, _MAXITER + 1):
        if x == last[0]:
            fx, d = last[1], last[2]
        else:
            fx, d = fdf(x)
        if fx == 0:
            return x, it
        if fx > 0:
            lo = x
        else:
            hi = x
        d = deriv(x, d)
        step_ok = d < 0 and np.isfinite(d)
        xn = x - fx / d if step_ok else 0.5 * (lo + hi)
        if not (lo < xn < hi):
            xn = 0.5 * (lo + hi)
        if abs(xn - x) <= _REL_TOL * max(abs(xn), 1e-300) or hi - lo <= _REL_TOL * max(hi, 1e-300):
            return xn, it
        x = xn
    raise ModelError(
        f"{what}: the iterative solution for tau^2 did not converge in {_MAXITER} steps "
        "(safeguarded Newton within a bracket). Try another method (e.g. 'DL' or 'PM')."
    )


def _se_from_quadratic(fit: WFit, tau2, d_v):
    """Var of y'Py for y ~ N(Xb, V + tau2 I): 2[tr(PVPV) + 2 tau2 tr(PVP) + tau2^2 tr(PP)]."""
    t = max(tau2, 0.0)
    return 2.0 * fit.trPDPD(d_v) + 4.0 * t * fit.trPPD(d_v) + 2.0 * t * t * fit.trPDPD()


def estimate(method, y, v, X):
    """Estimate tau^2 with ``method``; return ``(tau2, se_tau2, info)``."""
    k, p = X.shape
    info: dict = {}
    if method == "EE":
        return 0.0, float("nan"), info
    if k <= p:
        raise ModelError(
            f"method='{method}' needs more studies than coefficients to estimate tau^2: "
            f"k = {k}, p = {p}. Use method='EE' or a model with fewer moderators."
        )
    wfe = 1.0 / v
    fe = WFit(y, wfe, X)
    df = k - p

    if method == "DL":
        Q, trP = fe.rss(), fe.trP()
        tau2 = max(0.0, (Q - df) / trP)
        se = math.sqrt((2 * df + 4 * tau2 * trP + 2 * tau2**2 * fe.trPDPD()) / trP**2)
        return tau2, se, info

    if method == "HS":
        Q, sw = fe.rss(), float(np.sum(wfe))
        tau2 = max(0.0, (Q - k) / sw)
        se = math.sqrt((2 * df + 4 * tau2 * fe.trP() + 2 * tau2**2 * fe.trPDPD()) / sw**2)
        return tau2, se, info

    if method in ("HE", "ML", "REML"):
        ols = WFit(y, np.ones(k), X)
        rss, trPV = float(np.dot(ols.e, ols.e)), ols.trPD(v)
        tau2_he = max(0.0, (rss - trPV) / df)
        if method == "HE":
            se = math.sqrt(
                (2 * ols.trPDPD(v) + 4 * tau2_he * trPV + 2 * tau2_he**2 * df) / df**2
            )
            return tau2_he, se, info

    if method == "SJ":
        t0 = float(np.var(y))  # population variance, as metafor: var(y) (k-1)/k
        if t0 <= 0:
            t0 = 1e-12  # all outcomes identical: the estimate is 0 anyway
        f0 = WFit(y, 1.0 / (v + t0), X)
        tau2 = max(0.0, t0 * f0.rss() / df)
        var_q = _se_from_quadratic(f0, tau2, v)
        se = math.sqrt(t0**2 / df**2 * var_q)
        info["tau2_0"] = t0
        return tau2, se, info

    scale = float(np.var(y)) + float(np.mean(v))

    if method in ("ML", "REML"):
        reml = method == "REML"

        def score(t):
            f = WFit(y, 1.0 / (v + t), X)
            return f.ypp() - (f.trP() if reml else float(np.sum(f.w)))

        def dscore(t):
            f = WFit(y, 1.0 / (v + t), X)
            return -2.0 * f.yppp() + (f.trPDPD() if reml else float(np.sum(f.w**2)))

        tau2, it = solve_decreasing(score, dscore, tau2_he, f"{method} estimator", scale)
        info["iterations"] = it
        f = WFit(y, 1.0 / (v + tau2), X)
        se = math.sqrt(2.0 / (f.trPDPD() if reml else float(np.sum(f.w**2))))
        return tau2, se, info

    if method in ("PM", "EB"):
        target = float(df)

        def qgen(t):
            return WFit(y, 1.0 / (v + t), X).rss() - target

        def dqgen(t):
            return -WFit(y, 1.0 / (v + t), X).ypp()

        Q, trP = fe.rss(), fe.trP()
        start = max(0.0, (Q - df) / trP)
        tau2, it = solve_decreasing(qgen, dqgen, start, f"{method} estimator", scale)
        info["iterations"] = it
        sw = float(np.sum(1.0 / (v + tau2)))
        se = math.sqrt(2.0 * k * k / df / sw**2)
        return tau2, se, info

    raise ModelError(f"Unknown method {method!r}; use one of {', '.join(METHODS)}.")
