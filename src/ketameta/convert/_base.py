"""Result types and helpers shared by the converters."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from .._dist import norm_isf, t_isf
from ..errors import ModelError
from ..escalc import hedges_correction

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
        return float(norm_isf(alpha / 2)), f"z = {norm_isf(alpha / 2):.6f}"
    if np.ndim(df) != 0 or not df > 0:
        raise ModelError(f"df must be a positive number, got {df!r}.")
    q = float(t_isf(alpha / 2, df))
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
