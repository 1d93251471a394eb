"""REML and ML when the likelihood has a local maximum at tau^2 = 0 and a higher one inside.

The score at tau^2 = 0 is <= 0, so a solver that only looks at the sign there stops at the
boundary; metafor's Fisher scoring starts inside and reaches the interior maximum. The data
sets (``data/interior_maxima/interior_maxima.csv``) are the 17 such among the 100,000 random-effects data
sets of ``benchmarks/rma_batch.py`` (11 for REML, 6 for ML); the expected values are metafor
3.8.1's fits with ``control = list(threshold = 1e-12)``
(``generate/make_interior_maxima_fixtures.R``). ``km.rma`` and ``km.rma_batch`` must reach the
same (global) maximum as metafor, and a higher likelihood than at 0 where metafor does.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import ketameta as km

HERE = Path(__file__).parent / "data" / "interior_maxima"
DATA = pd.read_csv(HERE / "interior_maxima.csv")
CASES = json.loads((HERE / "interior_maxima.json").read_text(encoding="utf-8"))["cases"]


def _data(s):
    x = DATA[DATA["set"] == s]
    return x["yi"].to_numpy(float), x["vi"].to_numpy(float)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['set']}-{c['method']}")
def test_the_global_maximum_as_metafor(case):
    y, v = _data(case["set"])
    res = km.rma(y, v, method=case["method"])
    assert res.tau2 == pytest.approx(case["tau2"], rel=1e-6, abs=1e-10)
    assert float(res.beta[0]) == pytest.approx(case["beta"], rel=1e-7)
    assert float(res.se[0]) == pytest.approx(case["se"], rel=1e-6)
    ll = res.fit_stats[case["method"]]["ll"]
    assert ll == pytest.approx(case["ll"], abs=1e-8)
    assert ll >= case["ll_at_zero"] - 1e-10
    if case["found_by"] == case["method"]:
        # the case this data set was chosen for: an interior maximum above the boundary's
        assert res.tau2 > 1e-3 and ll > case["ll_at_zero"] + 1e-5


@pytest.mark.parametrize("method", ["REML", "ML"])
def test_the_batched_fits_reach_the_same_maximum(method):
    sets = list(dict.fromkeys(DATA["set"]))
    Y = np.stack([_data(s)[0] for s in sets])
    V = np.stack([_data(s)[1] for s in sets])
    batch = km.rma_batch(Y, V, method=method)
    one = np.array([km.rma(y, v, method=method).tau2 for y, v in zip(Y, V)])
    np.testing.assert_allclose(batch.tau2, one, rtol=1e-10, atol=1e-14)
    want = np.array([next(c["tau2"] for c in CASES if c["set"] == s and c["method"] == method) for s in sets])
    np.testing.assert_allclose(batch.tau2, want, rtol=1e-6, atol=1e-10)
    # masked (ragged) layouts take the same path
    Ym, Vm = np.pad(Y, ((0, 0), (0, 3))), np.pad(V, ((0, 0), (0, 3)), constant_values=1.0)
    mask = np.pad(np.ones_like(Y, bool), ((0, 0), (0, 3)))
    np.testing.assert_allclose(km.rma_batch(Ym, Vm, method=method, mask=mask).tau2, one, rtol=1e-10, atol=1e-14)


def test_a_boundary_maximum_stays_at_zero():
    """No heterogeneity at all (identical outcomes): the score is negative everywhere."""
    v = np.linspace(0.02, 0.2, 12)
    assert km.rma(np.full(12, 0.3), v, method="REML").tau2 == 0.0
    assert km.rma_batch(np.full((2, 12), 0.3), np.tile(v, (2, 1)), method="REML").tau2.tolist() == [0.0, 0.0]


@pytest.mark.parametrize("method", ["REML", "ML"])
def test_leave_one_out_and_cumulative_fits_reach_the_refits_maximum(method):
    """The deletion engine (leave1out, cumulative) solves every subset in one pass: each subset
    fit equals km.rma on the subset, interior maxima included."""
    hits = 0
    for s in list(dict.fromkeys(DATA["set"]))[:6]:
        y, v = _data(s)
        res = km.rma(y, v, method=method)
        l1o = km.leave1out(res)
        for i in range(len(y)):
            keep = np.arange(len(y)) != i
            ref = km.rma(y[keep], v[keep], method=method)
            assert l1o.tau2[i] == pytest.approx(ref.tau2, rel=1e-8, abs=1e-12)
            hits += ref.tau2 > 0
        cum = km.cumul(res) if hasattr(km, "cumul") else None
        if cum is not None:
            for j in range(1, len(y)):
                ref = km.rma(y[:j + 1], v[:j + 1], method=method)
                assert cum.tau2[j] == pytest.approx(ref.tau2, rel=1e-8, abs=1e-12)
    assert hits > 0
