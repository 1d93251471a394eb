"""Effect sizes from results as papers report them.

Papers rarely give the means, SDs and counts that :func:`ketameta.escalc` needs. They give an
estimate with a confidence interval, a t or F statistic, a p-value, a correlation with a
p-value, a percentage of a group. Each converter here turns one such report into an effect
size ``yi`` with sampling variance ``vi`` (or into the derived quantity it names) and says,
in a human-readable ``derivation`` string, which formula was used and where it comes from,
so that the provenance of every derived number can be written next to it.

All converters are vectorised where that makes sense (numpy arrays in, arrays out; scalars in,
floats out) and raise :class:`~ketameta.errors.ModelError` for impossible inputs.

References
----------
Borenstein M, Hedges LV, Higgins JPT, Rothstein HR (2009). Introduction to Meta-Analysis.
    Wiley. Ch. 4 (d and g from t, F, p; eq. 4.18-4.24), ch. 6 (r and Fisher's z), ch. 7
    (converting among effect sizes, eq. 7.1-7.10).
Cooper H, Hedges LV, Valentine JC (eds) (2019). The Handbook of Research Synthesis and
    Meta-Analysis, 3rd ed. Russell Sage. Ch. 11 (effect sizes from test statistics).
Higgins JPT, Li T, Deeks JJ (eds) (2023). Chapter 6: Choosing effect measures and computing
    estimates of effect. In: Cochrane Handbook for Systematic Reviews of Interventions v6.4.
    Section 6.3 (SE from a CI or P value; ratio measures on the log scale) and 6.5.2 (SDs
    from SEs, CIs, t statistics and P values).
Chinn S (2000). A simple method for converting an odds ratio to effect size for use in
    meta-analysis. Stat Med 19:3127-3131.
Fisher RA (1921). On the "probable error" of a coefficient of correlation deduced from a
    small sample. Metron 1:3-32.
Morris SB, DeShon RP (2002). Combining effect size estimates in meta-analysis with repeated
    measures and independent-groups designs. Psychol Methods 7:105-125.
Hedges LV (1981). Distribution theory for Glass's estimator of effect size and related
    estimators. J Educ Stat 6:107-128.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import optimize, stats

from .errors import ModelError
from .escalc import hedges_correction

__all__ = [
    "Effect",
    "CIEffect",
    "ChangeSD",
    "ImpliedN",
    "EventCount",
    "from_ci",
    "from_se",
    "from_t_two_groups",
    "from_F_two_groups",
    "from_p_two_groups",
    "md_from_t",
    "r_to_z",
    "z_to_r",
    "n_from_r_p",
    "sd_from_t_paired",
    "smd_from_within_changes",
    "log_or_to_smd",
    "smd_to_log_or",
    "d_from_r",
    "r_from_d",
    "events_from_percent",
    "rd_from_ci",
    "slope_from_ci",
    "slope_from_se",
]

_CHINN = "Chinn (2000) Stat Med 19:3127; Borenstein et al. (2009) eq. 7.1-7.2"
_COCHRANE_CI = "Higgins et al., Cochrane Handbook v6.4, section 6.3.1"
_COCHRANE_RATIO = "Higgins et al., Cochrane Handbook v6.4, section 6.3.2"


# -- result records ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Effect:
    """An effect size with its sampling variance and how it was derived.

    Attributes
    ----------
    yi : float or numpy.ndarray
        Effect size (on the analysis scale: log scale for ratios, Fisher's z for ``ZCOR``).
    vi : float or numpy.ndarray
        Sampling variance of ``yi``.
    derivation : str
        Formula(s) used and their source, for the provenance record.
    measure : str
        metafor measure code of ``yi`` (``"SMD"``, ``"ZCOR"``, ``"OR"``, ...; ``"GEN"`` for a
        generic estimate).
    """

    yi: float | np.ndarray
    vi: float | np.ndarray
    derivation: str
    measure: str = "GEN"

    @property
    def sei(self):
        """Standard error, ``sqrt(vi)``."""
        return _out(np.sqrt(np.asarray(self.vi, dtype=float)))

    def to_dict(self) -> dict:
        """Plain dict of the fields (arrays become lists)."""
        return {k: (v.tolist() if isinstance(v, np.ndarray) else v)
                for k, v in asdict(self).items()}


@dataclass(frozen=True, slots=True)
class CIEffect(Effect):
    """An :class:`Effect` derived from a confidence interval.

    Attributes
    ----------
    asymmetry : float or numpy.ndarray
        ``((ci_ub - est) - (est - ci_lb)) / (ci_ub - ci_lb)`` on the analysis scale (log scale
        for ratios): 0 for a symmetric interval, between -1 and 1 otherwise. A value far from 0
        points to a CI that is not estimate +- z SE on this scale (profile/exact intervals, a
        wrong scale, a typo) or to heavy rounding; callers can flag ``|asymmetry|`` above a
        threshold.
    crit : float
        The critical value used (``z`` or ``t`` quantile).
    """

    asymmetry: float | np.ndarray = field(default=0.0)
    crit: float = field(default=float("nan"))


@dataclass(frozen=True, slots=True)
class ChangeSD(Effect):
    """Mean change within one arm, with the SD of the change scores recovered from t.

    Attributes
    ----------
    sd : float or numpy.ndarray
        SD of the change scores.
    df : float or numpy.ndarray
        Degrees of freedom of the paired t test (``n - 1``).
    """

    sd: float | np.ndarray = field(default=float("nan"))
    df: float | np.ndarray = field(default=float("nan"))


@dataclass(frozen=True, slots=True)
class ImpliedN:
    """Sample size implied by a reported correlation and its p-value (a derived bound).

    Attributes
    ----------
    n_exact : float
        The (non-integer) n at which the two-sided p of ``r`` equals the reported p exactly
        (for ``p_op="<"``/``">"`` it is the n at the threshold).
    n : int
        ``n_exact`` rounded to the nearest integer (``None`` if ``n_exact`` is not finite).
    n_min, n_max : int or None
        Smallest and largest integer n consistent with the rounding of r and p (and with
        ``n_cap``). ``n_max`` is ``None`` when there is no upper bound (e.g. ``p < x`` without
        a cap). Both are ``None`` when no n is consistent.
    derivation : str
        Formula, rounding intervals used and source.
    """

    n_exact: float
    n: int | None
    n_min: int | None
    n_max: int | None
    derivation: str
    r_interval: tuple[float, float] = (float("nan"), float("nan"))
    p_interval: tuple[float, float] = (float("nan"), float("nan"))
    n_cap: int | None = None

    @property
    def is_empty(self) -> bool:
        """True when no integer n is consistent with the reported r and p."""
        return self.n_min is None

    def contains(self, n: int) -> bool:
        """Whether integer ``n`` lies in the consistent interval."""
        if self.n_min is None:
            return False
        return n >= self.n_min and (self.n_max is None or n <= self.n_max)

    def to_dict(self) -> dict:
        """Plain dict of the fields."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class EventCount:
    """An integer event count recovered from a reported percentage.

    Attributes
    ----------
    events : int
        The event count.
    candidates : tuple of int
        Every count whose percentage rounds to the reported one at its printed precision.
    derivation : str
        How the count was obtained.
    """

    events: int
    candidates: tuple[int, ...]
    derivation: str

    def to_dict(self) -> dict:
        """Plain dict of the fields."""
        return asdict(self)


# -- helpers -----------------------------------------------------------------------------------


def _arr(name, x):
    try:
        a = np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        raise ModelError(f"argument '{name}' must be numeric, got {x!r}.") from None
    return a


def _out(a):
    a = np.asarray(a, dtype=float)
    return float(a) if a.ndim == 0 else a


def _where(mask) -> str:
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim == 0:
        return ""
    pos = np.flatnonzero(mask)
    return f" (at index {', '.join(map(str, pos[:5]))}{' ...' if len(pos) > 5 else ''})"


def _fail(cond, message):
    cond = np.asarray(cond, dtype=bool)
    if cond.any():
        raise ModelError(message + _where(cond))


def _level_alpha(level) -> float:
    """Metafor's reading of ``level``: 95 or 0.95 both mean a 95% interval."""
    lv = float(level)
    if not 0 < lv < 100:
        raise ModelError(f"level must be in (0, 100) (e.g. 95) or (0.5, 1), got {level!r}.")
    if lv >= 1:
        return 1 - lv / 100
    if lv <= 0.5:
        raise ModelError(f"level {level!r} is ambiguous: give e.g. 95 or 0.95.")
    return 1 - lv


def _crit(level, df):
    alpha = _level_alpha(level)
    if df is None:
        return float(stats.norm.isf(alpha / 2)), f"z = {stats.norm.isf(alpha / 2):.6f}"
    if np.ndim(df) != 0 or not df > 0:
        raise ModelError(f"df must be a positive number, got {df!r}.")
    q = float(stats.t.isf(alpha / 2, df))
    return q, f"t({df:g}) = {q:.6f}"


def _sign(sign, name="sign"):
    s = _arr(name, sign)
    _fail(~np.isin(s, (-1.0, 1.0)), f"'{name}' must be +1 or -1 (direction of the effect)")
    return s


def _group_sizes(n1, n2):
    n1, n2 = _arr("n1", n1), _arr("n2", n2)
    _fail(n1 < 2, "n1 must be >= 2")
    _fail(n2 < 2, "n2 must be >= 2")
    return n1, n2


# -- generic estimates -------------------------------------------------------------------------


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


def _smd_from_d(d, n1, n2, hedges, vtype, what):
    n = n1 + n2
    if vtype not in ("LS", "LS2"):
        raise ModelError(f"vtype must be 'LS' or 'LS2', got {vtype!r}.")
    if hedges:
        j = np.asarray(hedges_correction(n - 2), dtype=float)
        g = j * d
        if vtype == "LS":
            v = 1 / n1 + 1 / n2 + g**2 / (2 * n)
            vtxt = "vi = 1/n1 + 1/n2 + g^2/(2(n1+n2)) (metafor vtype 'LS'; Hedges 1982)"
        else:
            v = j**2 * (1 / n1 + 1 / n2 + d**2 / (2 * n))
            vtxt = "vi = J^2 (1/n1 + 1/n2 + d^2/(2(n1+n2))) (Borenstein et al. 2009 eq. 4.24)"
        der = (f"{what}; g = J d with exact J(m) = exp(lgamma(m/2) - log(sqrt(m/2)) - "
               f"lgamma((m-1)/2)), m = n1+n2-2 (Hedges 1981); {vtxt}")
        return Effect(yi=_out(g), vi=_out(v), derivation=der, measure="SMD")
    v = 1 / n1 + 1 / n2 + d**2 / (2 * n)
    der = (f"{what}; Cohen's d (no small-sample correction); vi = 1/n1 + 1/n2 + d^2/(2(n1+n2)) "
           "(Borenstein et al. 2009 eq. 4.20)")
    return Effect(yi=_out(d), vi=_out(v), derivation=der, measure="SMD")


def from_t_two_groups(t, n1, n2, hedges=True, vtype="LS"):
    """Standardised mean difference from an independent-samples t statistic.

    ``d = t sqrt(1/n1 + 1/n2)`` (Borenstein et al. 2009 eq. 4.18 rearranged; Cooper, Hedges &
    Valentine 2019 ch. 11); with ``hedges=True`` (default) ``g = J(n1+n2-2) d`` with the exact
    correction, exactly what :func:`ketameta.escalc` ``("SMD")`` gives from the means and SDs
    behind that t (pooled-variance t test).

    Parameters
    ----------
    t : float or array_like
        Pooled-variance two-sample t statistic, signed in the direction group 1 - group 2.
    n1, n2 : float or array_like
        Group sizes (>= 2 each).
    hedges : bool, default True
        Apply the exact small-sample correction (Hedges' g, metafor's ``SMD``). ``False``
        returns Cohen's d with variance ``1/n1 + 1/n2 + d^2/(2(n1+n2))``.
    vtype : {"LS", "LS2"}, default "LS"
        Variance of g as metafor's ``vtype`` (see :func:`ketameta.escalc`).

    Returns
    -------
    Effect
        ``measure="SMD"``.

    Notes
    -----
    A Welch (unequal-variance) t does not convert exactly; the result is then approximate.
    Checked against ``escalc("SMD")`` on the Borenstein et al. (2009) ch. 18 data
    (tests/unit/test_convert.py).

    References
    ----------
    Borenstein et al. (2009) ch. 4, eq. 4.18-4.24. Hedges (1981).
    """
    tt = _arr("t", t)
    n1, n2 = _group_sizes(n1, n2)
    d = tt * np.sqrt(1 / n1 + 1 / n2)
    return _smd_from_d(d, n1, n2, hedges, vtype, "d = t sqrt(1/n1 + 1/n2) (Borenstein et al. "
                                                  "2009 ch. 4; Cooper et al. 2019 ch. 11)")


def from_F_two_groups(F, n1, n2, sign, hedges=True, vtype="LS"):  # noqa: N803 (F statistic)
    """Standardised mean difference from a one-way ANOVA F with two groups.

    With one numerator degree of freedom ``F = t^2``, so ``t = sign sqrt(F)`` and then
    :func:`from_t_two_groups`. The F statistic has lost the direction of the difference, so
    ``sign`` (+1: group 1 higher, -1: group 2 higher) must come from the paper.

    Parameters
    ----------
    F : float or array_like
        F statistic with (1, n1 + n2 - 2) degrees of freedom (>= 0).
    n1, n2 : float or array_like
        Group sizes.
    sign : {+1, -1} or array_like
        Direction of the effect (group 1 minus group 2).
    hedges, vtype
        As in :func:`from_t_two_groups`.

    Returns
    -------
    Effect

    References
    ----------
    Cooper, Hedges & Valentine (2019) ch. 11; Borenstein et al. (2009) ch. 4.
    """
    f = _arr("F", F)
    _fail(f < 0, "F must be >= 0")
    s = _sign(sign)
    n1, n2 = _group_sizes(n1, n2)
    d = s * np.sqrt(f) * np.sqrt(1 / n1 + 1 / n2)
    return _smd_from_d(d, n1, n2, hedges, vtype,
                       "t = sign * sqrt(F) (F with 1 numerator df); d = t sqrt(1/n1 + 1/n2) "
                       "(Cooper et al. 2019 ch. 11)")


def from_p_two_groups(p, n1, n2, sign, two_sided=True, hedges=True, vtype="LS"):
    """Standardised mean difference from the p-value of an independent-samples t test.

    ``|t| = t^{-1}_{n1+n2-2}(1 - p/2)`` (two-sided) or ``t^{-1}_{n1+n2-2}(1 - p)``
    (one-sided), ``t = sign |t|``, then :func:`from_t_two_groups`.

    Parameters
    ----------
    p : float or array_like
        Reported p-value, in (0, 1].
    n1, n2 : float or array_like
        Group sizes.
    sign : {+1, -1} or array_like
        Direction of the effect (group 1 minus group 2).
    two_sided : bool, default True
        Whether p is two-sided.
    hedges, vtype
        As in :func:`from_t_two_groups`.

    Returns
    -------
    Effect

    Notes
    -----
    Only an exact p (``p = 0.037``) gives the effect size. A p reported as ``p < 0.05`` gives
    only a **bound**: using the threshold yields the smallest |d| compatible with the report
    (a conservative value), which must be recorded as a bound, not an estimate. A p rounded
    to few digits gives a d with the corresponding rounding error.

    References
    ----------
    Borenstein et al. (2009) ch. 4; Cooper, Hedges & Valentine (2019) ch. 11; Higgins et al.,
    Cochrane Handbook v6.4, section 6.5.2.3 (t from a P value).
    """
    pp = _arr("p", p)
    _fail(~((pp > 0) & (pp <= 1)), "p must be in (0, 1]")
    s = _sign(sign)
    n1, n2 = _group_sizes(n1, n2)
    tail = pp / 2 if two_sided else pp
    if not two_sided:
        _fail(pp > 0.5, "a one-sided p above 0.5 means the effect is in the other direction; "
                        "flip 'sign' and use 1 - p")
    t = s * stats.t.isf(tail, n1 + n2 - 2)
    d = t * np.sqrt(1 / n1 + 1 / n2)
    side = "two-sided: |t| = qt(1 - p/2, n1+n2-2)" if two_sided else \
        "one-sided: |t| = qt(1 - p, n1+n2-2)"
    return _smd_from_d(d, n1, n2, hedges, vtype,
                       f"t from p ({side}), signed by the reported direction; d = t sqrt(1/n1 + "
                       "1/n2) (Borenstein et al. 2009 ch. 4; Cochrane Handbook v6.4 6.5.2.3)")


# -- correlations ------------------------------------------------------------------------------


def r_to_z(r, n):
    """Fisher's z transform of a correlation with its variance.

    ``yi = atanh(r) = 0.5 ln((1 + r)/(1 - r))``, ``vi = 1/(n - 3)``.

    Parameters
    ----------
    r : float or array_like
        Pearson correlation, ``|r| < 1``.
    n : float or array_like
        Sample size (> 3).

    Returns
    -------
    Effect
        ``measure="ZCOR"`` (metafor's code).

    References
    ----------
    Fisher (1921); Borenstein et al. (2009) eq. 6.2-6.3. Checked against metafor 3.8.1
    ``escalc("ZCOR")`` on dat.molloy2014 (tests/unit/test_convert.py).
    """
    rr, nn = _arr("r", r), _arr("n", n)
    _fail(np.abs(rr) >= 1, "|r| must be < 1 for Fisher's z")
    _fail(nn <= 3, "n must be > 3 for vi = 1/(n - 3)")
    return Effect(yi=_out(np.arctanh(rr)), vi=_out(1 / (nn - 3)), measure="ZCOR",
                  derivation="z = atanh(r), vi = 1/(n - 3) (Fisher 1921; Borenstein et al. "
                             "2009 eq. 6.2-6.3)")


def z_to_r(z):
    """Back-transform Fisher's z to a correlation, ``r = tanh(z)`` (Fisher 1921).

    Parameters
    ----------
    z : float or array_like

    Returns
    -------
    float or numpy.ndarray
    """
    return _out(np.tanh(_arr("z", z)))


def _p_cor(r, n):
    """Two-sided p of the t test of a Pearson correlation, vectorised over r and n."""
    r = np.abs(np.asarray(r, dtype=float))
    n = np.asarray(n, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = r * np.sqrt(n - 2) / np.sqrt(1 - r**2)
    return np.where(r >= 1, 0.0, 2 * stats.t.sf(t, n - 2))


def _rounding_interval(x, decimals, name):
    """``[x - h, x + h)`` with ``h = 0.5 * 10^-decimals``, computed from the printed digits."""
    if decimals is None:
        return x, x
    d = int(decimals)
    if d < 0:
        raise ModelError(f"{name}_decimals must be >= 0, got {decimals!r}.")
    scaled = round(x * 10**d)
    if abs(x * 10**d - scaled) > 1e-6:
        raise ModelError(f"{name} = {x!r} has more than {d} decimal(s); check {name}_decimals.")
    return (scaled - 0.5) / 10**d, (scaled + 0.5) / 10**d


def _last_true(pred, lo, hi):
    """Largest integer n in [lo, hi] with pred(n) true, for pred true-then-false (or None)."""
    if not pred(lo):
        return None
    if pred(hi):
        return hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if pred(mid):
            lo = mid
        else:
            hi = mid
    return lo


def _first_true(pred, lo, hi):
    """Smallest integer n in [lo, hi] with pred(n) true, for pred false-then-true (or None)."""
    if not pred(hi):
        return None
    if pred(lo):
        return lo
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if pred(mid):
            hi = mid
        else:
            lo = mid
    return hi


def n_from_r_p(r, p, r_decimals=None, p_decimals=None, p_op="=", n_cap=None,
               n_search_max=10_000_000):
    """Sample size implied by a reported Pearson r and its two-sided p-value (a derived bound).

    The t test of a correlation has ``t = r sqrt(n - 2) / sqrt(1 - r^2)`` on ``n - 2`` df and
    ``p = 2 P(T > |t|)``. Given r and p this determines n. Because both are rounded in print,
    the report fixes n only to an interval: every integer n for which some
    ``|r'|`` in ``[|r| - h_r, |r| + h_r)`` and some ``p'`` in ``[p - h_p, p + h_p)``
    (``h = 0.5 * 10^-decimals``) satisfy ``p' = p(r', n)``. As p decreases in both |r| and n,
    that set is an integer interval ``[n_min, n_max]``.

    Parameters
    ----------
    r : float
        Reported correlation (sign is irrelevant).
    p : float
        Reported two-sided p-value (for ``p_op="<"``/``">"``: the threshold).
    r_decimals, p_decimals : int, optional
        Number of decimals printed for r and p (e.g. 2 for "-0.35", 3 for "0.007"). ``None``
        treats the value as exact.
    p_op : {"=", "<", ">"}, default "="
        How p was reported: exactly (rounded), as an upper bound ("p < 0.001") or a lower
        bound ("p > 0.05"). A threshold is not rounded.
    n_cap : int, optional
        Upper limit known from elsewhere (e.g. the total N enrolled); the interval is cut there.
    n_search_max : int, default 10_000_000
        Largest n searched when there is no other upper limit.

    Returns
    -------
    ImpliedN
        ``n_exact`` (float, p(r, n) = p exactly), ``n`` (rounded), ``n_min``/``n_max`` and the
        rounding intervals used.

    Notes
    -----
    This is a **derived bound**, not a reported number: it assumes p came from the usual
    t test of a Pearson correlation on complete pairs. A reported n outside the interval
    means that p was computed another way (Spearman, partial correlation, a different or
    smaller analysis set, one-sided test) or that r or p is misreported. For
    ``p_op="<"`` there is no upper bound on n without ``n_cap``.

    Checked by round trip (n -> p -> n) and on Luckenbaugh et al. (2014)
    (tests/unit/test_convert.py).

    References
    ----------
    Fisher (1921); Cooper, Hedges & Valentine (2019) ch. 11 (t test of r); Borenstein et al.
    (2009) ch. 6.

    Examples
    --------
    Luckenbaugh et al. (2014) report r = -0.35, p = 0.007 in a sample of 108:

    >>> from ketameta.convert import n_from_r_p
    >>> res = n_from_r_p(-0.35, 0.007, r_decimals=2, p_decimals=3)
    >>> res.n, res.n_min, res.n_max, res.contains(108)
    (58, 56, 60, False)
    """
    if p_op not in ("=", "<", ">"):
        raise ModelError(f"p_op must be '=', '<' or '>', got {p_op!r}.")
    r = abs(float(r))
    p = float(p)
    if not 0 <= r <= 1:
        raise ModelError(f"|r| must be <= 1, got {r!r}.")
    if not 0 < p <= 1:
        raise ModelError(f"p must be in (0, 1], got {p!r}.")
    if n_cap is not None and n_cap < 3:
        raise ModelError(f"n_cap must be >= 3, got {n_cap!r}.")
    r_lo, r_hi = _rounding_interval(r, r_decimals, "r")
    hr = r_hi - r_lo
    r_lo, r_hi = max(r_lo, 0.0), min(r_hi, 1.0)
    hp = 0.0
    if p_op == "=":
        p_lo, p_hi = _rounding_interval(p, p_decimals, "p")
        hp = p_hi - p_lo
        p_lo, p_hi = max(p_lo, 0.0), min(p_hi, 1.0)
    elif p_op == "<":
        p_lo, p_hi = 0.0, p
    else:
        p_lo, p_hi = p, 1.0

    # point value: p(r, n) = p for continuous n (p is decreasing in n when 0 < r < 1)
    n_exact = float("nan")
    if 0 < r < 1 and p < 1:
        def f(n):
            return math.log(float(_p_cor(r, n))) - math.log(p)
        lo, hi = 2.0 + 1e-9, 4.0
        if f(lo) > 0:
            while f(hi) > 0 and hi < n_search_max:
                hi *= 2
            if f(hi) <= 0:
                n_exact = float(optimize.brentq(f, lo, hi, xtol=1e-10, rtol=1e-14))

    # interval. The r' in [r_lo, r_hi) map onto p' in (p(r_hi, n), p(r_lo, n)]; that range
    # meets [p_lo, p_hi) iff p(r_hi, n) < p_hi and p(r_lo, n) >= p_lo. Both sides decrease
    # in n, so the first condition holds from some n on and the second up to some n.
    upper = int(n_cap) if n_cap is not None else int(n_search_max)

    def ok_low(n):
        return float(_p_cor(r_hi, n)) < p_hi

    def ok_high(n):
        pv = float(_p_cor(r_lo, n))
        return pv > p_lo if p_op == ">" else pv >= p_lo

    n_min = _first_true(ok_low, 3, upper)
    n_max = _last_true(ok_high, 3, upper)
    if n_min is None or n_max is None or n_min > n_max:
        n_min = n_max = None
    elif n_cap is None and n_max == upper:
        n_max = None  # no upper bound within the search range
    r_txt = f"|r| in [{r_lo:g}, {r_hi:g})" if hr else f"|r| = {r:g} (exact)"
    if p_op == "=":
        p_txt = f"p in [{p_lo:g}, {p_hi:g})" if hp else f"p = {p:g} (exact)"
    else:
        p_txt = f"p {p_op} {p:g}"
    rng = ("none" if n_min is None else
           f"[{n_min}, {n_max if n_max is not None else 'no upper bound'}]")
    der = (f"derived bound: two-sided p of t = r sqrt(n-2)/sqrt(1-r^2) on n-2 df (Fisher 1921; "
           f"Cooper et al. 2019 ch. 11); n solving p exactly = {n_exact:.2f}; integer n "
           f"consistent with {r_txt} and {p_txt}"
           f"{f' and n <= {n_cap}' if n_cap is not None else ''}: {rng}")
    n_round = int(round(n_exact)) if np.isfinite(n_exact) else None
    return ImpliedN(n_exact=n_exact, n=n_round, n_min=n_min, n_max=n_max, derivation=der,
                    r_interval=(r_lo, r_hi), p_interval=(p_lo, p_hi),
                    n_cap=None if n_cap is None else int(n_cap))


# -- pre-post / change scores ------------------------------------------------------------------


def sd_from_t_paired(mean_change, t, n):
    """SD of the change scores in one arm from the mean change and its paired t statistic.

    ``SE = |mean| / |t|``, ``SD_change = SE sqrt(n) = |mean| sqrt(n) / |t|``, ``df = n - 1``.

    Parameters
    ----------
    mean_change : float or array_like
        Mean within-arm change (post - pre, or as reported).
    t : float or array_like
        Paired (one-sample) t statistic of that change, non-zero.
    n : float or array_like
        Number of participants with both measurements (>= 2).

    Returns
    -------
    ChangeSD
        ``yi`` mean change, ``vi = SE^2`` (its sampling variance), ``sd``, ``df``.

    References
    ----------
    Higgins et al., Cochrane Handbook v6.4, section 6.5.2.3 (SD from a t statistic) and
    6.5.2.8 (imputing change-from-baseline SDs).
    """
    m, tt, nn = _arr("mean_change", mean_change), _arr("t", t), _arr("n", n)
    _fail(tt == 0, "t is 0: the SD of the change |mean| sqrt(n)/|t| is undefined")
    _fail(nn < 2, "n must be >= 2")
    se = np.abs(m) / np.abs(tt)
    sd = se * np.sqrt(nn)
    return ChangeSD(yi=_out(m), vi=_out(se**2), measure="MC", sd=_out(sd), df=_out(nn - 1),
                    derivation="SE = |mean change| / |t|, SD_change = SE sqrt(n), df = n - 1 "
                               "(paired t; Higgins et al., Cochrane Handbook v6.4, 6.5.2.3)")


def smd_from_within_changes(m1_change, sd1_change, n1, m2_change, sd2_change, n2, hedges=True,
                            vtype="LS"):
    """Standardised mean difference of change scores between two independent arms.

    ``d = (mean change_1 - mean change_2) / SD_pooled,change`` with
    ``SD_pooled,change = sqrt(((n1-1) SD1^2 + (n2-1) SD2^2) / (n1+n2-2))`` (the pooled SD of
    the change scores; Morris & DeShon 2002, change-score metric for independent-groups
    pre-post designs), ``g = J(n1+n2-2) d``, ``vi = 1/n1 + 1/n2 + g^2/(2(n1+n2))``. This is
    :func:`ketameta.escalc` ``("SMD")`` applied to the change scores.

    Parameters
    ----------
    m1_change, sd1_change, n1 : float or array_like
        Mean change, SD of change and n of arm 1 (e.g. ketamine).
    m2_change, sd2_change, n2 : float or array_like
        The same for arm 2 (e.g. control).
    hedges : bool, default True
        Exact small-sample correction (``False``: Cohen's d).
    vtype : {"LS", "LS2"}, default "LS"
        Variance type as in :func:`ketameta.escalc`.

    Returns
    -------
    Effect
        ``measure="SMD"`` **on the change-score metric**.

    Notes
    -----
    The standardiser is the SD of *change*, not the SD of raw scores. Change-score SMDs are
    larger than raw-score SMDs when pre-post correlations are high (by ``1/sqrt(2(1-rho))``
    with equal SDs) and must not be pooled with raw-score SMDs without conversion (Morris &
    DeShon 2002, eq. 12). Checked against ``escalc("SMD")`` on change data
    (tests/unit/test_convert.py).

    References
    ----------
    Morris SB, DeShon RP (2002). Psychol Methods 7:105-125. Borenstein et al. (2009) ch. 4.
    """
    if vtype not in ("LS", "LS2"):
        raise ModelError(f"vtype must be 'LS' or 'LS2', got {vtype!r}.")
    n1a, n2a = _group_sizes(n1, n2)
    s1, s2 = _arr("sd1_change", sd1_change), _arr("sd2_change", sd2_change)
    _fail(s1 < 0, "sd1_change must be >= 0")
    _fail(s2 < 0, "sd2_change must be >= 0")
    m1, m2 = _arr("m1_change", m1_change), _arr("m2_change", m2_change)
    n = n1a + n2a
    sdp = np.sqrt(((n1a - 1) * s1**2 + (n2a - 1) * s2**2) / (n - 2))
    _fail(sdp == 0, "the pooled SD of change is 0")
    d = (m1 - m2) / sdp
    return _smd_from_d(d, n1a, n2a, hedges, vtype,
                       "d = (mean change 1 - mean change 2) / pooled SD of change, "
                       "SD_p = sqrt(((n1-1)SD1^2 + (n2-1)SD2^2)/(n1+n2-2)) (change-score "
                       "metric; Morris & DeShon 2002; Borenstein et al. 2009 ch. 4)")


# -- converting among effect sizes -------------------------------------------------------------


def log_or_to_smd(yi, vi):
    """Log odds ratio to standardised mean difference (logistic-distribution method).

    ``d = ln(OR) sqrt(3) / pi``, ``V_d = V_lnOR 3 / pi^2`` (``pi / sqrt(3) = 1.8138``; Chinn
    2000 divides ln(OR) by 1.81).

    Parameters
    ----------
    yi, vi : float or array_like
        Log odds ratio and its variance.

    Returns
    -------
    Effect
        ``measure="SMD"``.

    References
    ----------
    Chinn S (2000). Stat Med 19:3127-3131. Borenstein et al. (2009) eq. 7.1-7.2.
    Hasselblad V, Hedges LV (1995). Psychol Bull 117:167-178.
    """
    y, v = _arr("yi", yi), _arr("vi", vi)
    _fail(v < 0, "vi must be >= 0")
    return Effect(yi=_out(y * math.sqrt(3) / math.pi), vi=_out(v * 3 / math.pi**2),
                  measure="SMD",
                  derivation=f"d = ln(OR) sqrt(3)/pi, V_d = V_lnOR 3/pi^2 ({_CHINN})")


def smd_to_log_or(yi, vi):
    """Standardised mean difference to log odds ratio (inverse of :func:`log_or_to_smd`).

    ``ln(OR) = d pi / sqrt(3)``, ``V_lnOR = V_d pi^2 / 3``.

    Parameters
    ----------
    yi, vi : float or array_like
        d (or g) and its variance.

    Returns
    -------
    Effect
        ``measure="OR"`` (log scale).

    References
    ----------
    Chinn (2000); Borenstein et al. (2009) eq. 7.3-7.4.
    """
    y, v = _arr("yi", yi), _arr("vi", vi)
    _fail(v < 0, "vi must be >= 0")
    return Effect(yi=_out(y * math.pi / math.sqrt(3)), vi=_out(v * math.pi**2 / 3),
                  measure="OR",
                  derivation="ln(OR) = d pi/sqrt(3), V = V_d pi^2/3 (Chinn 2000; Borenstein "
                             "et al. 2009 eq. 7.3-7.4)")


def d_from_r(r, vi):
    """Correlation (point-biserial) to standardised mean difference.

    ``d = 2 r / sqrt(1 - r^2)``, ``V_d = 4 V_r / (1 - r^2)^3``.

    Parameters
    ----------
    r, vi : float or array_like
        Correlation (``|r| < 1``) and its variance (raw-r scale).

    Returns
    -------
    Effect
        ``measure="SMD"``.

    References
    ----------
    Borenstein et al. (2009) eq. 7.5-7.6.
    """
    rr, v = _arr("r", r), _arr("vi", vi)
    _fail(np.abs(rr) >= 1, "|r| must be < 1")
    _fail(v < 0, "vi must be >= 0")
    return Effect(yi=_out(2 * rr / np.sqrt(1 - rr**2)), vi=_out(4 * v / (1 - rr**2) ** 3),
                  measure="SMD",
                  derivation="d = 2r/sqrt(1-r^2), V_d = 4 V_r/(1-r^2)^3 (Borenstein et al. "
                             "2009 eq. 7.5-7.6)")


def r_from_d(d, vi, n1=None, n2=None):
    """Standardised mean difference to (point-biserial) correlation.

    ``r = d / sqrt(d^2 + a)``, ``V_r = a^2 V_d / (d^2 + a)^3`` with
    ``a = (n1 + n2)^2 / (n1 n2)`` (``a = 4`` for equal groups, used when n1/n2 are omitted).

    Parameters
    ----------
    d, vi : float or array_like
        d and its variance.
    n1, n2 : float or array_like, optional
        Group sizes; both or neither.

    Returns
    -------
    Effect
        ``measure="COR"``.

    References
    ----------
    Borenstein et al. (2009) eq. 7.7-7.8.
    """
    dd, v = _arr("d", d), _arr("vi", vi)
    _fail(v < 0, "vi must be >= 0")
    if (n1 is None) != (n2 is None):
        raise ModelError("give both n1 and n2, or neither (equal groups, a = 4).")
    if n1 is None:
        a = np.asarray(4.0)
        atxt = "a = 4 (equal group sizes assumed)"
    else:
        n1a, n2a = _arr("n1", n1), _arr("n2", n2)
        _fail((n1a <= 0) | (n2a <= 0), "n1 and n2 must be positive")
        a = (n1a + n2a) ** 2 / (n1a * n2a)
        atxt = "a = (n1+n2)^2/(n1 n2)"
    return Effect(yi=_out(dd / np.sqrt(dd**2 + a)), vi=_out(a**2 * v / (dd**2 + a) ** 3),
                  measure="COR",
                  derivation=f"r = d/sqrt(d^2 + a), V_r = a^2 V_d/(d^2 + a)^3, {atxt} "
                             "(Borenstein et al. 2009 eq. 7.7-7.8)")


# -- counts and risk differences ---------------------------------------------------------------


def events_from_percent(pct, n, pct_decimals, on_ambiguous="raise"):
    """Integer event count from a percentage of a group, checked against its printed precision.

    The candidates are the integers ``e`` in ``[0, n]`` with
    ``100 e / n`` in ``[pct - h, pct + h]``, ``h = 0.5 * 10^-pct_decimals`` (both ends included,
    so both round-half-up and round-half-even reports are accepted).

    Parameters
    ----------
    pct : float
        Reported percentage (e.g. 54.8 for "54.8%").
    n : int
        Group size the percentage refers to.
    pct_decimals : int
        Decimals printed for the percentage (1 for "54.8%").
    on_ambiguous : {"raise", "nearest"}, default "raise"
        What to do when several counts reproduce the percentage (possible when
        ``n > 100 * 10^pct_decimals``): raise, or take the one nearest to ``pct n / 100``.

    Returns
    -------
    EventCount

    Raises
    ------
    ModelError
        When no count reproduces the reported percentage (listing the nearest counts and the
        percentages they give) or, with ``on_ambiguous="raise"``, when several do (listing
        them); also for a percentage with more decimals than ``pct_decimals``.

    References
    ----------
    Brown NJL, Heathers JAJ (2017). The GRIM test: a simple technique detects numerous
    anomalies in the reporting of results in psychology. Soc Psychol Personal Sci 8:363-369.
    (the same consistency idea for means of integer data)
    """
    if on_ambiguous not in ("raise", "nearest"):
        raise ModelError(f"on_ambiguous must be 'raise' or 'nearest', got {on_ambiguous!r}.")
    if int(n) != n or n <= 0:
        raise ModelError(f"n must be a positive integer, got {n!r}.")
    n = int(n)
    dec = int(pct_decimals)
    if dec < 0:
        raise ModelError(f"pct_decimals must be >= 0, got {pct_decimals!r}.")
    if not 0 <= pct <= 100:
        raise ModelError(f"pct must be within [0, 100], got {pct!r}.")
    scaled = round(pct * 10**dec)
    if abs(pct * 10**dec - scaled) > 1e-6:
        raise ModelError(f"pct {pct!r} has more than {dec} decimal(s); check pct_decimals.")
    # exact integer arithmetic: 100 e / n in [(P - 1/2)/10^d, (P + 1/2)/10^d]
    #   <=> 200 * 10^d * e in [n (2P - 1), n (2P + 1)]
    k = 200 * 10**dec
    lo = -(-(n * (2 * scaled - 1)) // k)  # ceil
    hi = (n * (2 * scaled + 1)) // k
    cands = tuple(e for e in range(max(lo, 0), min(hi, n) + 1))
    fmt = f"{{:.{dec}f}}"
    if not cands:
        near = sorted({min(max(int(math.floor(pct * n / 100)) + j, 0), n) for j in (0, 1)})
        shown = ", ".join(f"{e}/{n} = {fmt.format(100 * e / n)}%" for e in near)
        raise ModelError(
            f"no integer count out of n = {n} gives {fmt.format(pct)}% at {dec} decimal(s); "
            f"nearest: {shown}. Check the percentage and the n it refers to."
        )
    if len(cands) > 1 and on_ambiguous == "raise":
        raise ModelError(
            f"{fmt.format(pct)}% of n = {n} is reproduced by several counts: {list(cands)}; "
            "the percentage does not determine the count (use on_ambiguous='nearest' to take "
            "the closest, and record it as derived)."
        )
    events = min(cands, key=lambda e: (abs(100 * e / n - pct), e))
    der = (f"events = {events} of n = {n}: the count(s) whose percentage rounds to "
           f"{fmt.format(pct)}% at {dec} decimal(s) are {list(cands)}"
           f"{'; nearest to pct*n/100 taken' if len(cands) > 1 else ''}")
    return EventCount(events=events, candidates=cands, derivation=der)


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
