"""Numbers in sentences: the formatting of estimates in claims and findings."""

from __future__ import annotations

import math

__all__ = ["fmt", "fmt_ci"]


def fmt(x, d=2):
    """A number with d decimals, NA when missing."""
    return "NA" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{d}f}"


def fmt_ci(est, lo, hi, d=2):
    """``est [lo, hi]`` with d decimals."""
    return f"{fmt(est, d)} [{fmt(lo, d)}, {fmt(hi, d)}]"
