"""Within-arm changes: SDs from paired t, and SMDs from two arms' changes (Morris & DeShon 2002)."""

from __future__ import annotations

import numpy as np

from ..errors import ModelError
from ._base import (
    ChangeSD,
    _arr,
    _fail,
    _group_sizes,
    _out,
    _smd_from_d,
)


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


