"""ketameta.rma / predict / confint / permutest against metafor 3.8.1 fixtures.

The fixtures (tests/reference/data/metafor/*.json) were written by
tests/reference/generate/make_metafor_fixtures.R with tight convergence (threshold 1e-12,
tol 1e-14; confint tol 1e-12). Tolerances come from tests/conftest.py: closed-form
quantities at relative 1e-8, iterative estimators (ML, REML, EB, PM) and Q-profile bounds at
1e-6. The measured worst gap over all 96 model fixtures is ~2e-9 (p-values), see README.md.

``test="adhoc"`` (Knapp-Hartung with the scale factor truncated at 1) has 50 more fixtures
from the same script (``Rscript make_metafor_fixtures.R OUTDIR adhoc``, metafor 3.8.1): every
estimator on dat.bcg and dat.molloy2014 with and without moderators and on
dat.bangertdrowns2004 with moderators (the truncation bites for HE and SJ), and dat.hine1989
risk differences (tau^2 = 0 and QE < k - 1, so it bites for every estimator, EE included),
with ``knha`` beside ``adhoc`` there.
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
    if not n.startswith(("escalc__", "permutest__", "rma_mv__", "robust__", "predict_mv__"))
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
    for data, with_mods in [("bcg", (False, True)), ("molloy2014", (False, True)),
                            ("bangertdrowns2004", (True,))]:
        for m in methods:
            for mods in with_mods:
                name = f"{data}__{m}_adhoc{'_mods' if mods else ''}"
                assert name in MODEL_CASES, name
    for m in ("EE", "REML", "DL", "HE", "SJ"):
        for t in ("knha", "adhoc"):
            assert f"hine1989__{m}_{t}" in MODEL_CASES
    assert len(MODEL_CASES) == 96 + 40 + 10


@pytest.mark.parametrize("name", MODEL_CASES)
def test_rma_matches_metafor(name):
    case = load_fixture(name)
    exp = case["expected"]
    res = _fit(case)
    d = res.to_dict()
    rtol = TOL["iterative"] if case["call"]["method"] in ITERATIVE else TOL["closed"]
    assert d["k"] == exp["k"] and d["p"] == exp["p"]
    for key in KEYS:
        e = exp[key]
        if e == "NA":           # e.g. se_tau2 of an EE model (ours: None)
            assert d[key] is None, f"{name}: {key}"
            continue
        assert_rel(d[key], e, rtol, f"{name}: {key}")
    if exp["R2"] is None:
        assert d["R2"] is None
    else:
        assert_rel(d["R2"], exp["R2"], rtol, f"{name}: R2")
    if exp["dfs"] == "NA":
        assert d["dfs"] is None
    else:
        assert d["dfs"] == exp["dfs"]
    if "s2w" in exp:
        assert_rel(d["s2w"], exp["s2w"], rtol, f"{name}: s2w")


ADHOC_CASES = [n for n in MODEL_CASES if "_adhoc" in n]


@pytest.mark.parametrize("name", ADHOC_CASES)
def test_adhoc_is_knha_truncated(name):
    """adhoc = knha with s2w replaced by max(1, s2w): same estimates, se scaled accordingly."""
    case = load_fixture(name)
    inp, call = case["input"], case["call"]
    mods = pd.DataFrame(inp["mods"]) if "mods" in inp else None
    kh = km.rma(inp["yi"], inp["vi"], mods=mods, method=call["method"], test="knha")
    ad = km.rma(inp["yi"], inp["vi"], mods=mods, method=call["method"], test="adhoc")
    zt = km.rma(inp["yi"], inp["vi"], mods=mods, method=call["method"], test="t")
    assert ad.s2w == max(1.0, kh.s2w)
    np.testing.assert_allclose(ad.beta, kh.beta, rtol=1e-14)
    np.testing.assert_allclose(ad.se, zt.se * math.sqrt(max(1.0, kh.s2w)), rtol=1e-13)
    assert np.all(ad.se >= zt.se * (1 - 1e-14))
    assert ad.dfs == kh.dfs == zt.dfs


def test_adhoc_truncation_bites_in_fixtures():
    """The adhoc fixtures include fits where metafor's knha factor is below 1."""
    bites = []
    for name in ADHOC_CASES:
        exp = load_fixture(name)["expected"]
        if exp["s2w"] == 1.0:
            kh = name.replace("_adhoc", "_knha")
            kh_below = (kh in MODEL_CASES
                        and load_fixture(kh)["expected"].get("s2w", 1.0) < 1.0)
            he_sj = any(name.startswith(f"{d}__{m}_")
                        for d in ("bcg", "molloy2014", "bangertdrowns2004") for m in ("HE", "SJ"))
            if kh_below or he_sj:
                bites.append(name)
    assert len(bites) >= 12, bites
    for m in ("EE", "REML", "DL", "HE", "SJ"):
        assert load_fixture(f"hine1989__{m}_knha")["expected"]["s2w"] < 1.0
        assert load_fixture(f"hine1989__{m}_adhoc")["expected"]["s2w"] == 1.0


@pytest.mark.parametrize("name", [n for n in ADHOC_CASES
                                  if "leave1out" in load_fixture(n)["expected"]])
def test_leave1out_adhoc_matches_metafor(name):
    case = load_fixture(name)
    exp = case["expected"]["leave1out"]
    l1 = km.leave1out(_fit(case))
    rtol = TOL["iterative"] if case["call"]["method"] in ITERATIVE else TOL["closed"]
    for key, ours in [("estimate", l1.estimate), ("se", l1.se), ("zval", l1.zval),
                      ("pval", l1.pval), ("ci_lb", l1.ci_lb), ("ci_ub", l1.ci_ub),
                      ("tau2", l1.tau2)]:
        assert_rel(ours, exp[key], rtol, f"{name}: leave1out {key}")


def test_leave1out_adhoc_cases_present():
    assert len([n for n in ADHOC_CASES if "leave1out" in load_fixture(n)["expected"]]) >= 6


@pytest.mark.parametrize("name", [n for n in MODEL_CASES if not n.endswith("_mods")])
def test_predict_matches_metafor(name):
    case = load_fixture(name)
    exp = case["expected"]
    res = _fit(case)
    pr = predict(res)
    rtol = TOL["iterative"] if case["call"]["method"] in ITERATIVE else TOL["closed"]
    assert_rel(pr["pred"], exp["pred"], rtol, "pred")
    if "pi_lb" not in exp:      # equal-effects model: no prediction interval
        assert case["call"]["method"] == "EE" and "pi_lb" not in pr
        return
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
