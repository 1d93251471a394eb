"""ketameta.rma / predict / confint / permutest against metafor 3.8.1 fixtures.

The fixtures (tests/reference/data/metafor/*.json) were written by
tests/reference/generate/make_metafor_fixtures.R with tight convergence (threshold 1e-12,
tol 1e-14; confint tol 1e-12). Tolerances come from tests/conftest.py: closed-form
quantities at relative 1e-8, iterative estimators (ML, REML, EB, PM) and Q-profile bounds at
1e-6. The measured worst gap over all 96 model fixtures is ~2e-9 (p-values), see README.md.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import ketameta as km
from ketameta.confint import confint
from ketameta.permutest import permutest
from ketameta.predict import predict

from ..conftest import TOL, assert_rel, fixture_names, load_fixture, na_to_nan

MODEL_CASES = [
    n for n in fixture_names()
    if not n.startswith(("escalc__", "permutest__", "rma_mv__", "robust__"))
]
ITERATIVE = {"ML", "REML", "EB", "PM"}
KEYS = ["beta", "se", "zval", "pval", "ci_lb", "ci_ub", "tau2", "se_tau2", "QE", "QEp", "QM",
        "QMp", "I2", "H2", "logLik", "AIC", "BIC"]


def _fit(case):
    inp, call = case["input"], case["call"]
    mods = None
    if "mods" in inp:
        mods = pd.DataFrame({k: na_to_nan(v) for k, v in inp["mods"].items()})
    return km.rma(inp["yi"], inp["vi"], mods=mods, method=call["method"], test=call["test"],
                  intercept=call.get("intercept", True))


def test_grid_is_complete():
    """The pinned grid must not quietly shrink to the cases that pass."""
    methods = {"REML", "ML", "DL", "PM", "HE", "SJ", "HS", "EB"}
    for data, with_mods in [("bcg", (False, True)), ("molloy2014", (False, True)),
                            ("normand1999", (False,)), ("bangertdrowns2004", (True,))]:
        for m in methods:
            for t in ("z", "knha"):
                for mods in with_mods:
                    name = f"{data}__{m}_{t}{'_mods' if mods else ''}"
                    assert name in MODEL_CASES, name
    assert len(MODEL_CASES) == 96


@pytest.mark.parametrize("name", MODEL_CASES)
def test_rma_matches_metafor(name):
    case = load_fixture(name)
    exp = case["expected"]
    res = _fit(case)
    d = res.to_dict()
    rtol = TOL["iterative"] if case["call"]["method"] in ITERATIVE else TOL["closed"]
    assert d["k"] == exp["k"] and d["p"] == exp["p"]
    for key in KEYS:
        assert_rel(d[key], exp[key], rtol, f"{name}: {key}")
    if exp["R2"] is None:
        assert d["R2"] is None
    else:
        assert_rel(d["R2"], exp["R2"], rtol, f"{name}: R2")
    if exp["dfs"] == "NA":
        assert d["dfs"] is None
    else:
        assert d["dfs"] == exp["dfs"]


@pytest.mark.parametrize("name", [n for n in MODEL_CASES if not n.endswith("_mods")])
def test_predict_matches_metafor(name):
    case = load_fixture(name)
    exp = case["expected"]
    res = _fit(case)
    pr = predict(res)
    rtol = TOL["iterative"] if case["call"]["method"] in ITERATIVE else TOL["closed"]
    assert_rel(pr["pred"], exp["pred"], rtol, "pred")
    assert_rel(pr["pi_lb"], exp["pi_lb"], rtol, "pi_lb")
    assert_rel(pr["pi_ub"], exp["pi_ub"], rtol, "pi_ub")


@pytest.mark.parametrize("name", [n for n in MODEL_CASES
                                  if "tau2_ci" in load_fixture(n)["expected"]])
def test_confint_matches_metafor(name):
    case = load_fixture(name)
    ci = confint(_fit(case)).to_dict()
    assert_rel(ci["tau2_ci"], case["expected"]["tau2_ci"], TOL["iterative"], "tau2_ci")


def test_confint_cases_present():
    with_ci = [n for n in MODEL_CASES if "tau2_ci" in load_fixture(n)["expected"]]
    assert len(with_ci) >= 12


def test_permutest_exact_matches_metafor():
    case = load_fixture("permutest__bcg8_exact_knha")
    inp = case["input"]
    res = km.rma(inp["yi"], inp["vi"], mods=pd.DataFrame(inp["mods"]), method="REML",
                 test="knha")
    pt = permutest(res, exact=True)
    # ablat has two tied pairs (44, 44 and 13, 13): 8!/(2! 2!) = 10080 distinct orderings
    assert pt.exact and pt.iter == math.factorial(8) // 4
    # exact mode: the p-values are ratios of counts and must match exactly
    assert pt.pval.tolist() == pytest.approx(case["expected"]["pval"], rel=0, abs=1e-13)
    assert pt.QMp == pytest.approx(case["expected"]["QMp"], rel=0, abs=1e-13)
    assert round(pt.pval[0] * 10080) == 9506 and round(pt.QMp * 10080) == 592


def test_permutest_batched_refits_equal_single_fits():
    """Each batched permutation refit equals a fresh rma() fit of the permuted data."""
    case = load_fixture("bcg__REML_knha_mods")
    inp = case["input"]
    X = pd.DataFrame(inp["mods"])
    res = km.rma(inp["yi"], inp["vi"], mods=X, test="knha")
    pt = permutest(res, iter=40, seed=11, return_perm=True)
    rng = np.random.default_rng(11)
    k = res.k
    idx = rng.permuted(np.tile(np.arange(k), (40, 1)), axis=1)
    for b in range(1, 6):  # row 0 is the observed data
        Xp = X.iloc[idx[b]].reset_index(drop=True)
        refit = km.rma(inp["yi"], inp["vi"], mods=Xp, test="knha")
        np.testing.assert_allclose(pt.zval_perm[b], refit.zval, rtol=1e-9)


def test_permutest_pvalue_bounds_and_seed():
    case = load_fixture("molloy2014__REML_z_mods")
    inp = case["input"]
    res = km.rma(inp["yi"], inp["vi"], mods=pd.DataFrame(inp["mods"]))
    a = permutest(res, iter=200, seed=3)
    b = permutest(res, iter=200, seed=3)
    assert a.pval.tolist() == b.pval.tolist() and a.QMp == b.QMp
    assert np.all(a.pval >= 1 / 200) and np.all(a.pval <= 1) and a.QMp >= 1 / 200
