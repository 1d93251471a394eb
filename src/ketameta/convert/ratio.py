"""Odds ratio <-> SMD (Chinn 2000)."""

from __future__ import annotations

import math

from ._base import (
    _CHINN,
    Effect,
    _arr,
    _fail,
    _out,
)


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


