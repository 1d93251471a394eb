"""CR2 cluster-robust inference against clubSandwich 0.5.8 itself.

The fixtures in ``tests/reference/data/clubsandwich/`` were computed by clubSandwich's own
functions on metafor 3.8.1 fits (``coef_test(..., vcov = "CR2", test = "Satterthwaite")``,
``conf_int``, ``vcovCR(type = "CR2")``, ``Wald_test(..., test = "HTZ")``), R 4.2.2, by
``tests/reference/generate/make_clubsandwich_fixtures.R``. They add to the metafor
``robust(..., clubSandwich = TRUE)`` anchors of ``test_metafor_multilevel.py`` (one data set,
dat.konstantopoulos2011, and dat.bangertdrowns2004 with one moderator): a three-level model with
a categorical moderator (HTZ test of two coefficients), a continuous and a categorical moderator
(HTZ test of three), correlated sampling errors within a study (clubSandwich's
``impute_covariance_matrix``, r = 0.6), and an ``rma.uni`` fit with two moderators.

Tolerance: ``TOL["iterative"]`` (relative 1e-6), as every iterative fit.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import ketameta as km

from ..conftest import TOL, assert_rel

HERE = Path(__file__).parent / "data" / "clubsandwich"
RTOL = TOL["iterative"]


def _load(name):
    return json.loads((HERE / f"{name}.json").read_text(encoding="utf-8"))


def _fit(name):
    d = _load(name)
    inp = d["input"]
    y, v = np.asarray(inp["yi"]), np.asarray(inp["vi"])
    if name.startswith("assink2016"):
        mods = {"assink2016_deltype": ["deltype"], "assink2016_year_deltype": ["year", "deltype"],
                "assink2016_year_r06": ["year"]}[name]
        frame = pd.DataFrame({m: inp[m] for m in mods})
        rho = 0.6 if name.endswith("r06") else None
        cluster = np.asarray(inp["study"])
        fit = km.rma_mv(y, v, cluster=cluster, id=np.asarray(inp["esid"]), mods=frame, rho=rho)
    else:
        cluster = np.asarray(inp["grade"])
        fit = km.rma(y, v, mods=pd.DataFrame({"length": inp["length"], "feedback": inp["feedback"]}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", km.SmallDfWarning)
        rob = km.robust(fit, cluster=cluster, adjust="CR2")
    return d["expected"], fit, rob


NAMES = sorted(p.stem for p in HERE.glob("*.json"))


def test_fixtures_are_there():
    assert NAMES == ["assink2016_deltype", "assink2016_year_deltype", "assink2016_year_r06",
                     "bangertdrowns2004_length_feedback"]


@pytest.mark.parametrize("name", NAMES)
def test_cr2_coefficients_match_clubsandwich(name):
    exp, fit, rob = _fit(name)
    assert_rel(rob.beta, exp["beta"], RTOL, "beta")
    assert_rel(rob.se, exp["se"], RTOL, "se")
    assert_rel(rob.zval, exp["tval"], RTOL, "t")
    assert_rel(rob.dfs, exp["df"], RTOL, "Satterthwaite df")
    assert_rel(rob.pval, exp["pval"], RTOL, "p")
    assert_rel(rob.ci_lb, exp["ci_lb"], RTOL, "ci_lb")
    assert_rel(rob.ci_ub, exp["ci_ub"], RTOL, "ci_ub")
    assert_rel(rob.vb, np.asarray(exp["vcov"]), RTOL, "CR2 vcov")
    # R's model.matrix names (deltypegeneral) and ketameta's (deltype[general]) name the same
    # treatment-coded columns, in the same order
    assert [n.replace("[", "").replace("]", "") for n in rob.coef_names] == exp["coef_names"]


@pytest.mark.parametrize("name", [n for n in NAMES if "htz" in _load(n)["expected"]])
def test_htz_wald_test_matches_clubsandwich(name):
    exp, _, rob = _fit(name)
    h = exp["htz"]
    assert [b + 1 for b in rob.btt] == h["btt"] and rob.QMtest == "HTZ"
    assert_rel(rob.QM, h["Fstat"], RTOL, "F")
    assert_rel(rob.QMdf, [h["df_num"], h["df_denom"]], RTOL, "df")
    assert_rel(rob.QMp, h["p_val"], RTOL, "p")
