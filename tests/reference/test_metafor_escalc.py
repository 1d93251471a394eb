"""ketameta.escalc against metafor 3.8.1 ``escalc`` fixtures.

Every ``tests/reference/data/metafor/escalc__*.json`` fixture (written by
tests/reference/generate/make_metafor_fixtures.R: RR, OR, RD on dat.bcg; MD, SMD on
dat.normand1999; COR, ZCOR on dat.molloy2014) is recomputed from its inputs and compared at
relative ``TOL["closed"]`` (1e-8): these are closed forms, so agreement is to rounding.

The second half checks metafor's conventions that the fixtures do not exercise (zero cells and
``add``/``to``/``drop00``, the other ``vtype``s, missing rows, impossible inputs, warnings),
each against metafor 3.8's formulas written out by hand.
"""

from __future__ import annotations

import importlib
import logging

import numpy as np
import pandas as pd
import pytest

es = importlib.import_module("ketameta.escalc")
from ketameta.errors import ModelError

from ..conftest import TOL, assert_rel, fixture_names, load_fixture, na_to_nan

CASES = fixture_names("escalc__")


def test_fixture_grid_is_complete():
    # the generator writes these seven cases; a missing one means a stale fixture directory
    expected = {"escalc__bcg_RR", "escalc__bcg_OR", "escalc__bcg_RD", "escalc__normand1999_MD",
                "escalc__normand1999_SMD", "escalc__molloy2014_COR", "escalc__molloy2014_ZCOR"}
    assert expected <= set(CASES)


@pytest.mark.parametrize("name", CASES)
def test_escalc_matches_metafor(name):
    case = load_fixture(name)
    args = {k: na_to_nan(v) for k, v in case["input"].items()}
    call = dict(case["call"])
    measure = call.pop("measure")
    out = es.escalc(measure, **args, **call)
    assert out.attrs["measure"] == measure
    assert list(out.columns) == ["yi", "vi"]
    assert_rel(out["yi"], na_to_nan(case["expected"]["yi"]), TOL["closed"], f"{name} yi")
    assert_rel(out["vi"], na_to_nan(case["expected"]["vi"]), TOL["closed"], f"{name} vi")


@pytest.mark.parametrize("name", [n for n in CASES if n.startswith("escalc__bcg_")])
def test_two_by_two_with_group_sizes(name):
    # metafor accepts ai/n1i/ci/n2i in place of ai/bi/ci/di; the result must be identical
    case = load_fixture(name)
    inp = {k: np.asarray(v, dtype=float) for k, v in case["input"].items()}
    out = es.escalc(case["call"]["measure"], ai=inp["ai"], n1i=inp["ai"] + inp["bi"],
                    ci=inp["ci"], n2i=inp["ci"] + inp["di"])
    assert_rel(out["yi"], case["expected"]["yi"], TOL["closed"], f"{name} yi")
    assert_rel(out["vi"], case["expected"]["vi"], TOL["closed"], f"{name} vi")


# -- metafor's conventions beyond the fixtures ------------------------------------------------
# (zero cells, missing rows, impossible inputs, warnings: each as metafor 3.8 escalc documents
# and implements them, written out from its formulas)

def test_zero_cells_add_half_only0():
    # study 2 has a zero cell: 1/2 is added to all four of its cells, study 1 is untouched
    out = es.escalc("OR", ai=[4, 0], bi=[10, 10], ci=[5, 5], di=[5, 5])
    assert out["yi"][0] == pytest.approx(np.log(4 / 10) - np.log(5 / 5), rel=1e-15)
    assert out["yi"][1] == pytest.approx(np.log(0.5 / 10.5) - np.log(5.5 / 5.5), rel=1e-15)
    assert out["vi"][1] == pytest.approx(1 / 0.5 + 1 / 10.5 + 2 / 5.5, rel=1e-15)
    rr = es.escalc("RR", ai=[0], n1i=[10], ci=[5], n2i=[10])
    assert rr["yi"][0] == pytest.approx(np.log(0.5 / 11) - np.log(5.5 / 11), rel=1e-15)
    assert rr["vi"][0] == pytest.approx(1 / 0.5 - 1 / 11 + 1 / 5.5 - 1 / 11, rel=1e-15)
    rd = es.escalc("RD", ai=[0], n1i=[10], ci=[5], n2i=[10])
    assert rd["yi"][0] == pytest.approx(0.5 / 11 - 5.5 / 11, rel=1e-15)


def test_zero_cells_to_options():
    none = es.escalc("OR", ai=[4, 0], bi=[10, 10], ci=[5, 5], di=[5, 5], to="none")
    assert np.isnan(none["yi"][1]) and np.isfinite(none["yi"][0])
    every = es.escalc("OR", ai=[4, 0], bi=[10, 10], ci=[5, 5], di=[5, 5], to="if0all")
    assert every["yi"][0] == pytest.approx(np.log(4.5 / 10.5), rel=1e-15)
    allc = es.escalc("OR", ai=[4], bi=[10], ci=[5], di=[5], to="all", add=1)
    assert allc["yi"][0] == pytest.approx(np.log(5 / 11), rel=1e-15)


def test_double_zero_studies_kept_unless_drop00():
    kept = es.escalc("RR", ai=[0], bi=[20], ci=[0], di=[20])
    assert kept["yi"][0] == pytest.approx(0.0) and np.isfinite(kept["vi"][0])
    dropped = es.escalc("RR", ai=[0], bi=[20], ci=[0], di=[20], drop00=True)
    assert dropped["yi"].isna().all() and dropped["vi"].isna().all()


def test_single_group_proportions():
    pr = es.escalc("PR", xi=[3, 0], ni=[10, 8])
    assert pr["yi"][0] == pytest.approx(0.3) and pr["vi"][0] == pytest.approx(0.021)
    assert pr["yi"][1] == pytest.approx(0.5 / 9)  # zero count: 1/2 added to xi and mi
    plo = es.escalc("PLO", xi=[3], mi=[7])
    assert plo["yi"][0] == pytest.approx(np.log(3 / 7))
    assert plo["vi"][0] == pytest.approx(1 / 3 + 1 / 7)


def test_rom_and_md_variants():
    rom = es.escalc("ROM", m1i=[10.0], sd1i=[2.0], n1i=[20], m2i=[8.0], sd2i=[3.0], n2i=[25])
    assert rom["yi"][0] == pytest.approx(np.log(10 / 8))
    assert rom["vi"][0] == pytest.approx(4 / (20 * 100) + 9 / (25 * 64))
    ho = es.escalc("MD", m1i=[10.0], sd1i=[2.0], n1i=[20], m2i=[8.0], sd2i=[3.0], n2i=[25],
                   vtype="HO")
    sp2 = (19 * 4 + 24 * 9) / 43
    assert ho["vi"][0] == pytest.approx(sp2 * (1 / 20 + 1 / 25))


def test_missing_inputs_give_nan_rows():
    out = es.escalc("SMD", m1i=[94, None, 98], sd1i=[22, 21, np.nan], n1i=[60, 65, 40],
                    m2i=[92, 92, 88], sd2i=[20, 22, 26], n2i=[60, 65, 40])
    assert out["yi"].isna().tolist() == [False, True, True]
    assert out["vi"].isna().tolist() == [False, True, True]
    s = pd.Series([0.2, pd.NA, 0.5], dtype="Float64", index=["a", "b", "c"])
    z = es.escalc("ZCOR", ri=s, ni=50)
    assert list(z.index) == ["a", "b", "c"] and np.isnan(z.loc["b", "yi"])


def test_scalars_broadcast_and_attrs():
    out = es.escalc("SMD", m1i=94, sd1i=22, n1i=60, m2i=92, sd2i=20, n2i=60)
    assert out.shape == (1, 2)
    assert out.attrs["measure"] == "SMD" and out.attrs["vtype"] == "LS"
    assert out.attrs["ni"] == [120.0]
    many = es.escalc("ZCOR", ri=np.array([0.1, 0.2]), ni=30)
    assert len(many) == 2 and (many["vi"] == 1 / 27).all()


@pytest.mark.parametrize(
    "measure, kw, match",
    [
        ("SMD", dict(m1i=[1, 2], sd1i=[1, -1], n1i=[5, 5], m2i=[0, 0], sd2i=[1, 1], n2i=[5, 5]),
         r"'sd1i' is negative in row 1 \(value -1\)"),
        ("MD", dict(m1i=1, sd1i=1, n1i=-5, m2i=0, sd2i=1, n2i=5), "'n1i' is not positive"),
        ("RR", dict(ai=[12], n1i=[10], ci=[1], n2i=[10]), "'ai' is larger than n1i"),
        ("OR", dict(ai=[1], bi=[-2], ci=[1], di=[2]), "'bi' is negative"),
        ("COR", dict(ri=[0.2, 1.2], ni=[20, 20]), r"'ri' is outside \[-1, 1\] in row 1"),
        ("SMCR", dict(m1i=1, m2i=0, sd1i=1, ni=10, ri=-1.5), "'ri' is outside"),
        ("PR", dict(xi=[11], ni=[10]), "'xi' is larger than ni"),
        ("ROM", dict(m1i=-1, sd1i=1, n1i=5, m2i=2, sd2i=1, n2i=5), "positive means"),
        ("SMD", dict(m1i=1, sd1i=1, n1i=5, m2i=0, sd2i=1), "missing: n2i"),
        ("SMD", dict(m1i=1, sd1i=1, n1i=5, m2i=0, sd2i=1, n2i=5, ri=0.3), "does not use ri"),
        ("XYZ", dict(ri=0.3, ni=10), "unknown measure"),
        ("SMD", dict(m1i=[1, 2], sd1i=[1, 1, 1], n1i=5, m2i=0, sd2i=1, n2i=5), "same length"),
    ],
)
def test_impossible_inputs_raise(measure, kw, match):
    with pytest.raises(ModelError, match=match):
        es.escalc(measure, **kw)


def test_vtype_checked_per_measure():
    with pytest.raises(ModelError, match="vtype"):
        es.escalc("OR", ai=1, bi=2, ci=3, di=4, vtype="UB")
    with pytest.raises(ModelError, match="to"):
        es.escalc("OR", ai=1, bi=2, ci=3, di=4, to="some")


def test_large_smd_warning(caplog):
    case = load_fixture("escalc__normand1999_SMD")
    with caplog.at_level(logging.WARNING, logger="ketameta.escalc"):
        es.escalc("SMD", **case["input"])
    assert "Maybe SEs were used in place of SDs" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="ketameta.escalc"):
        es.escalc("SMD", m1i=94, sd1i=22, n1i=60, m2i=92, sd2i=20, n2i=60)
    assert caplog.text == ""


def test_infinite_values_become_nan(caplog):
    # a proportion of 0 with add=0 has an infinite logit: metafor recodes it to NA
    with caplog.at_level(logging.WARNING, logger="ketameta.escalc"):
        out = es.escalc("PLO", xi=[0, 3], ni=[10, 10], add=0)
    assert np.isnan(out["yi"][0]) and np.isnan(out["vi"][0]) and np.isfinite(out["yi"][1])
    assert "Inf" in caplog.text


def test_hedges_correction_exact():
    # J(m) = Gamma(m/2) / (sqrt(m/2) Gamma((m-1)/2)); J(2) = 1/sqrt(pi)
    from math import gamma, pi, sqrt
    assert es.hedges_correction(2) == pytest.approx(gamma(1) / (1 * gamma(0.5)), rel=1e-14)
    assert es.hedges_correction(2) == pytest.approx(1 / sqrt(pi), rel=1e-14)
    assert es.hedges_correction(10) == pytest.approx(gamma(5) / (sqrt(5) * gamma(4.5)),
                                                     rel=1e-14)
    assert np.isnan(es.hedges_correction(1))
    # the approximation 1 - 3/(4m - 1) is close but not equal
    assert abs(es.hedges_correction(10) - (1 - 3 / 39)) < 1e-3


def test_other_vtypes():
    kw = dict(m1i=[94, 98], sd1i=[22, 21], n1i=[60, 65], m2i=[92, 92], sd2i=[20, 22],
              n2i=[60, 65])
    ls = es.escalc("SMD", **kw)
    av = es.escalc("SMD", vtype="AV", **kw)
    n = np.array([120.0, 130.0])
    ybar = np.sum(n * ls["yi"].to_numpy()) / n.sum()
    np.testing.assert_allclose(av["vi"], 1 / n * 4 + ybar**2 / (2 * n), rtol=1e-14)
    ub = es.escalc("RD", ai=[3], n1i=[10], ci=[1], n2i=[12], vtype="UB")
    assert ub["vi"][0] == pytest.approx(0.3 * 0.7 / 9 + (1 / 12) * (11 / 12) / 11, rel=1e-14)
    pr = es.escalc("PR", xi=[3, 6], ni=[10, 20], vtype="AV")
    np.testing.assert_allclose(pr["vi"], [0.3 * 0.7 / 10, 0.3 * 0.7 / 20], rtol=1e-14)
    cor = es.escalc("COR", ri=[0.2, 0.4], ni=[10, 30], vtype="AV")
    rbar = (2 + 12) / 40
    np.testing.assert_allclose(cor["vi"], [(1 - rbar**2) ** 2 / 9, (1 - rbar**2) ** 2 / 29])


def test_small_n_correlation_variance_is_nan(caplog):
    # metafor 3.8.1: "Cannot estimate the sampling variance when ni <= 4"
    with caplog.at_level(logging.WARNING, logger="ketameta.escalc"):
        out = es.escalc("ZCOR", ri=[0.3, 0.3], ni=[4, 5])
    assert np.isnan(out["vi"][0]) and out["vi"][1] == pytest.approx(0.5)
    assert "ni <= 4" in caplog.text
