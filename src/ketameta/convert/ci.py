"""Effect sizes from an estimate with a CI or SE, a mean difference from t, slopes and risk differences."""

from __future__ import annotations

import numpy as np

from ..errors import ModelError
from ._base import (
    _COCHRANE_CI,
    _COCHRANE_RATIO,
    CIEffect,
    Effect,
    _arr,
    _crit,
    _fail,
    _level_alpha,
    _out,
)


def from_ci(estimate, ci_lb, ci_ub, level=95, log_scale=False, df=None, measure="GEN"):
    """Effect size and variance from an estimate with its confidence interval.

    ``SE = (ci_ub - ci_lb) / (2 q)`` with ``q`` the ``1 - alpha/2`` quantile of the normal
    distribution (``q = 1.959964`` for 95%; the Handbook's "divide the width by 3.92") or of
    ``t(df)`` when ``df`` is given. Ratio measures (OR, RR, HR) are reported on the natural
    scale but analysed on the log scale: with ``log_scale=True`` the estimate and both limits
    are log-transformed first and ``yi`` is the log ratio.

    Parameters
    ----------
    estimate, ci_lb, ci_ub : float or array_like
        Point estimate and confidence limits as reported (ratios on the natural scale when
        ``log_scale=True``).
    level : float, default 95
        Confidence level in percent (0.95 is read as 95%).
    log_scale : bool, default False
        Work on the log scale (for ratio measures); all three values must then be positive.
    df : float, optional
        Degrees of freedom when the interval was t-based (small-sample means, regression
        coefficients); ``None`` means a normal-theory interval.
    measure : str, default "GEN"
        Measure code recorded in the result (e.g. ``"OR"``, ``"MD"``).

    Returns
    -------
    CIEffect
        ``yi`` (estimate, logged if ``log_scale``), ``vi = SE^2``, ``asymmetry`` of the CI
        around the estimate on the analysis scale, ``crit`` and ``derivation``.

    Raises
    ------
    ModelError
        If ``ci_lb > ci_ub``, the estimate lies outside its CI, the CI has zero width, or a
        value is not positive with ``log_scale=True``.

    Notes
    -----
    Rounding of reported limits makes small asymmetries normal; a large ``asymmetry``
    (say above 0.1) is worth checking against the paper. Checked against the Handbook rule
    ``SE = width / 3.92`` (tests/unit/test_convert.py).

    References
    ----------
    Higgins JPT, Li T, Deeks JJ (eds). Cochrane Handbook v6.4, ch. 6, sections 6.3.1
    (difference measures) and 6.3.2 (ratio measures), and 6.5.2.2-6.5.2.3 (t-based CIs).

    Examples
    --------
    >>> from ketameta.convert import from_ci
    >>> res = from_ci(2.0, 1.0, 4.0, log_scale=True, measure="OR")
    >>> round(res.yi, 4), round(res.sei, 4), round(res.asymmetry, 4)
    (0.6931, 0.3537, 0.0)
    """
    est, lb, ub = _arr("estimate", estimate), _arr("ci_lb", ci_lb), _arr("ci_ub", ci_ub)
    q, qtxt = _crit(level, df)
    if log_scale:
        _fail((est <= 0) | (lb <= 0) | (ub <= 0),
              "with log_scale=True the estimate and both CI limits must be positive (ratios "
              "on their natural scale)")
        est, lb, ub = np.log(est), np.log(lb), np.log(ub)
    _fail(lb > ub, "ci_lb is larger than ci_ub")
    _fail(ub == lb, "the confidence interval has zero width; no standard error can be derived")
    _fail((est < lb) | (est > ub), "the estimate lies outside its confidence interval")
    se = (ub - lb) / (2 * q)
    asym = ((ub - est) - (est - lb)) / (ub - lb)
    lvl = 100 * (1 - _level_alpha(level))
    scale = "log scale (yi = ln(estimate)); " if log_scale else ""
    src = f"{_COCHRANE_RATIO} and 6.3.1" if log_scale else _COCHRANE_CI
    if df is not None:
        src += "; t-based interval: section 6.5.2.3"
    der = (f"{scale}SE = (ci_ub - ci_lb) / (2 * {qtxt}) from a {lvl:g}% CI; vi = SE^2 ({src})")
    return CIEffect(yi=_out(est), vi=_out(se**2), derivation=der, measure=measure,
                    asymmetry=_out(asym), crit=q)


def from_se(estimate, se, measure="GEN"):
    """Effect size and variance from an estimate and its standard error: ``vi = SE^2``.

    Parameters
    ----------
    estimate, se : float or array_like
        Estimate (on the analysis scale) and its standard error (> 0).
    measure : str, default "GEN"
        Measure code recorded in the result.

    Returns
    -------
    Effect

    References
    ----------
    Borenstein et al. (2009) ch. 4 (inverse-variance weights need ``V = SE^2``).
    """
    est, s = _arr("estimate", estimate), _arr("se", se)
    _fail(~(s > 0), "se must be positive")
    return Effect(yi=_out(est), vi=_out(s**2), measure=measure,
                  derivation="vi = SE^2 (reported standard error; Borenstein et al. 2009 ch. 4)")


def md_from_t(md, t):
    """Mean difference with its variance from the reported difference and its t statistic.

    ``SE = |md / t|``, ``vi = SE^2``.

    Parameters
    ----------
    md : float or array_like
        Reported (raw) mean difference.
    t : float or array_like
        t statistic for that difference (non-zero; its sign is not used).

    Returns
    -------
    Effect
        ``measure="MD"``.

    References
    ----------
    Higgins et al., Cochrane Handbook v6.4, section 6.5.2.3 (``SE = MD / t``).
    """
    d, tt = _arr("md", md), _arr("t", t)
    _fail(tt == 0, "t is 0: the standard error |md/t| is undefined")
    _fail(np.isinf(tt), "t must be finite")
    se = np.abs(d / tt)
    return Effect(yi=_out(d), vi=_out(se**2), measure="MD",
                  derivation="SE = |MD / t|, vi = SE^2 (Higgins et al., Cochrane Handbook "
                             "v6.4, section 6.5.2.3)")


# -- two independent groups: d / g from t, F, p -----------------------------------------------


def rd_from_ci(rd, ci_lb, ci_ub, level=95, scale="proportion"):
    """Risk difference with its variance from a reported CI, on the scale given.

    ``SE = (ci_ub - ci_lb) / (2 z_{1 - alpha/2})`` on the same scale as the estimate: a risk
    difference in percentage points gives ``vi`` in percentage points squared. Use
    ``scale="percent"`` to record that; nothing is rescaled.

    Parameters
    ----------
    rd, ci_lb, ci_ub : float or array_like
        Risk difference and its confidence limits.
    level : float, default 95
        Confidence level (percent).
    scale : {"proportion", "percent"}, default "proportion"
        Scale of the numbers: proportions (``|rd| <= 1``) or percentage points
        (``|rd| <= 100``). metafor's ``RD`` is on the proportion scale.

    Returns
    -------
    CIEffect
        ``measure="RD"``; the derivation names the scale.

    References
    ----------
    Higgins et al., Cochrane Handbook v6.4, section 6.3.1.
    """
    if scale not in ("proportion", "percent"):
        raise ModelError(f"scale must be 'proportion' or 'percent', got {scale!r}.")
    bound = 1.0 if scale == "proportion" else 100.0
    for name, x in (("rd", rd), ("ci_lb", ci_lb), ("ci_ub", ci_ub)):
        _fail(np.abs(_arr(name, x)) > bound,
              f"{name} is outside [-{bound:g}, {bound:g}] for scale={scale!r}")
    res = from_ci(rd, ci_lb, ci_ub, level=level, measure="RD")
    unit = "proportion scale" if scale == "proportion" else \
        "percentage-point scale (vi in percentage points squared)"
    return CIEffect(yi=res.yi, vi=res.vi, measure="RD", asymmetry=res.asymmetry, crit=res.crit,
                    derivation=f"risk difference on the {unit}; {res.derivation}")


# -- regression slopes -------------------------------------------------------------------------


def slope_from_ci(b, ci_lb, ci_ub, level=95, df=None):
    """Regression slope with its variance from a reported CI.

    ``SE = (ci_ub - ci_lb) / (2 q)`` with ``q`` the normal quantile, or the ``t(df)`` quantile
    when the residual df of the regression are given (OLS intervals are t-based). The slope is
    kept in its reported units (outcome units per unit of the predictor).

    Parameters
    ----------
    b, ci_lb, ci_ub : float or array_like
        Slope and its confidence limits.
    level : float, default 95
        Confidence level (percent).
    df : float, optional
        Residual degrees of freedom for a t-based interval.

    Returns
    -------
    CIEffect
        ``measure="GEN"``.

    References
    ----------
    Higgins et al., Cochrane Handbook v6.4, sections 6.3.1 and 6.5.2.3.
    """
    res = from_ci(b, ci_lb, ci_ub, level=level, df=df)
    return CIEffect(yi=res.yi, vi=res.vi, measure="GEN", asymmetry=res.asymmetry, crit=res.crit,
                    derivation=f"regression slope (reported units); {res.derivation}")


def slope_from_se(b, se):
    """Regression slope with its variance from a reported standard error: ``vi = SE^2``.

    Parameters
    ----------
    b, se : float or array_like
        Slope and its standard error (> 0).

    Returns
    -------
    Effect
        ``measure="GEN"``.

    References
    ----------
    Borenstein et al. (2009) ch. 4 (variance = SE^2).
    """
    res = from_se(b, se)
    return Effect(yi=res.yi, vi=res.vi, measure="GEN",
                  derivation=f"regression slope (reported units); {res.derivation}")
