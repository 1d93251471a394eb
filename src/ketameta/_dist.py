"""Tail probabilities and quantiles of the normal, t, chi-square and F distributions.

The same special functions :mod:`scipy.stats` evaluates (``ndtr``, ``ndtri``, ``stdtr``,
``stdtrit``, ``gammaincinv``, ``gammainccinv``, ``chdtr``, ``chdtrc``, ``fdtrc``), called
directly: importing :mod:`scipy.stats` costs about half a second, which every workflow job would
pay. ``tests/unit/test_dist.py`` checks each function against :mod:`scipy.stats`.
"""

from __future__ import annotations

import numpy as np
from scipy import special

__all__ = ["norm_sf", "norm_isf", "t_sf", "t_isf", "chi2_sf", "chi2_cdf", "chi2_isf", "chi2_ppf", "f_sf"]


def norm_sf(x):
    """P(Z > x) for a standard normal Z."""
    return special.ndtr(-np.asarray(x, dtype=float))


def norm_isf(q):
    """The x with P(Z > x) = q."""
    return -special.ndtri(np.asarray(q, dtype=float))


def t_sf(x, df):
    """P(T > x) for Student's t with ``df`` degrees of freedom."""
    return special.stdtr(df, -np.asarray(x, dtype=float))


def t_isf(q, df):
    """The x with P(T > x) = q."""
    return -special.stdtrit(df, np.asarray(q, dtype=float))


def chi2_sf(x, df):
    """P(X > x) for a chi-square variable with ``df`` degrees of freedom."""
    return special.chdtrc(df, np.asarray(x, dtype=float))


def chi2_cdf(x, df):
    """P(X <= x) for a chi-square variable."""
    return special.chdtr(df, np.asarray(x, dtype=float))


def chi2_ppf(p, df):
    """The x with P(X <= x) = p."""
    return 2.0 * special.gammaincinv(np.asarray(df, dtype=float) / 2.0, p)


def chi2_isf(q, df):
    """The x with P(X > x) = q."""
    return 2.0 * special.gammainccinv(np.asarray(df, dtype=float) / 2.0, q)


def f_sf(x, dfn, dfd):
    """P(F > x) for an F variable with ``dfn`` and ``dfd`` degrees of freedom."""
    return special.fdtrc(dfn, dfd, np.asarray(x, dtype=float))
