"""Correlations: Fisher's z, the n implied by r and p, and d <-> r (Borenstein et al. 2009, ch. 6-7)."""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize

from .._dist import t_sf
from ..errors import ModelError
from ._base import (
    Effect,
    ImpliedN,
    _arr,
    _fail,
    _out,
)


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
    return np.where(r >= 1, 0.0, 2 * t_sf(t, n - 2))


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


