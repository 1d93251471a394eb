"""The light distribution functions agree with scipy.stats (which the library no longer imports)."""

import numpy as np
import pytest
from scipy import stats

from ketameta import _dist as D

X = np.array([-40.0, -5.0, -1.96, -0.3, 0.0, 0.4, 1.0, 2.5, 8.0, 38.0])
Q = np.array([1e-300, 1e-12, 1e-4, 0.01, 0.025, 0.05, 0.3, 0.5, 0.8, 0.975, 0.999999])
DF = [0.5, 1.0, 1.2, 2.0, 3.7, 10.0, 50.0, 1e4]


def _same(a, b):
    np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-300, equal_nan=True)


def test_normal():
    _same(D.norm_sf(X), stats.norm.sf(X))
    _same(D.norm_isf(Q), stats.norm.isf(Q))


@pytest.mark.parametrize("df", DF)
def test_t(df):
    _same(D.t_sf(X, df), stats.t.sf(X, df))
    _same(D.t_isf(Q, df), stats.t.isf(Q, df))


@pytest.mark.parametrize("df", DF)
def test_chi2(df):
    x = np.abs(X)
    _same(D.chi2_sf(x, df), stats.chi2.sf(x, df))
    _same(D.chi2_cdf(x, df), stats.chi2.cdf(x, df))
    _same(D.chi2_isf(Q, df), stats.chi2.isf(Q, df))
    _same(D.chi2_ppf(Q, df), stats.chi2.ppf(Q, df))


@pytest.mark.parametrize("dfn,dfd", [(1, 1), (1, 2.5), (3, 10), (2, 1e3)])
def test_f(dfn, dfd):
    x = np.abs(X)
    _same(D.f_sf(x, dfn, dfd), stats.f.sf(x, dfn, dfd))


def test_vectorised_df_and_nan():
    df = np.array([1.0, 2.0, np.nan, 0.0])
    _same(D.t_isf(0.025, df), stats.t.isf(0.025, df))
    _same(D.t_sf(2.0, df), stats.t.sf(2.0, df))
