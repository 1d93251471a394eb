"""Standardized mean differences from t, F and p of two-group comparisons (Borenstein et al. 2009, ch. 4)."""

from __future__ import annotations

import numpy as np

from .._dist import t_isf
from ._base import (
    _arr,
    _fail,
    _group_sizes,
    _sign,
    _smd_from_d,
)


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
    t = s * t_isf(tail, n1 + n2 - 2)
    d = t * np.sqrt(1 / n1 + 1 / n2)
    side = "two-sided: |t| = qt(1 - p/2, n1+n2-2)" if two_sided else \
        "one-sided: |t| = qt(1 - p, n1+n2-2)"
    return _smd_from_d(d, n1, n2, hedges, vtype,
                       f"t from p ({side}), signed by the reported direction; d = t sqrt(1/n1 + "
                       "1/n2) (Borenstein et al. 2009 ch. 4; Cochrane Handbook v6.4 6.5.2.3)")


# -- correlations ------------------------------------------------------------------------------


