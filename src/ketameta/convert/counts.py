"""Event counts from percentages, with the rounding of the percentage checked."""

from __future__ import annotations

import math

from ..errors import ModelError
from ._base import (
    EventCount,
)


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


