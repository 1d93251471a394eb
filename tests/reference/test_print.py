"""``print(res)`` against metafor's printed text, line by line.

The expected texts are what metafor 3.8.1 prints (``print.rma.uni``, ``print.rma.mv`` and the
print of ``robust(..., clubSandwich = TRUE)``, R 4.2.2, UTF-8 locale, width 80), written by
``tests/reference/generate/make_print_fixtures.R`` to ``tests/reference/data/print/`` with the
inputs of each case beside it.

Compared: every line, exactly, after removing trailing blanks (metafor ends each table line with
the blank of ``cat(x, "\\n")``; ketameta writes the same, but editors strip them). Documented
differences, none of them in the numbers:

* coefficient names of categorical moderators: R's ``model.matrix`` writes ``allocrandom``,
  ketameta's formula form ``alloc[T.random]`` (formulaic's, as statsmodels). The case with a
  categorical moderator is compared with R's names put in place of ketameta's, and separately
  checked to carry ketameta's names.
* ketameta adds one line naming omitted rows when rows with missing values were dropped
  (metafor gives a warning instead); none of these cases omits a row.
* after a cluster-robust table ketameta adds ``Note:`` lines (Satterthwaite df below 4, where
  clubSandwich advises caution; the same text as :class:`~ketameta.SmallDfWarning`); they are
  checked to be there and left out of the comparison.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import ketameta as km

HERE = Path(__file__).parent / "data" / "print"


def _case(name):
    inp = json.loads((HERE / f"{name}.json").read_text(encoding="utf-8"))["input"]
    text = (HERE / f"{name}.txt").read_text(encoding="utf-8")
    return inp, text


def _lines(text):
    return [line.rstrip() for line in text.rstrip("\n").split("\n")]


def _compare(ours, theirs):
    a, b = [x for x in _lines(ours) if not x.startswith("Note: ")], _lines(theirs)
    for i, (x, y) in enumerate(zip(a, b), 1):
        assert x == y, f"line {i} differs:\n ketameta: {x!r}\n metafor:  {y!r}"
    assert len(a) == len(b), f"ketameta prints {len(a)} lines, metafor {len(b)}"


def _bcg(inp):
    return pd.DataFrame({"yi": inp["yi"], "vi": inp["vi"], "ablat": inp["ablat"], "alloc": inp["alloc"]})


@pytest.mark.parametrize("name, method, test, mods", [
    ("bcg_REML_z", "REML", "z", None),
    ("bcg_REML_knha", "REML", "knha", None),
    ("bcg_DL_z", "DL", "z", None),
    ("bcg_EE_z", "EE", "z", None),
    ("bcg_REML_z_ablat", "REML", "z", "ablat"),
    ("bcg_REML_knha_ablat", "REML", "knha", "ablat"),
    ("bcg_EE_z_ablat", "EE", "z", "ablat"),
])
def test_print_rma_matches_metafor(name, method, test, mods):
    inp, expected = _case(name)
    d = _bcg(inp)
    res = km.rma(yi="yi", vi="vi", mods=mods, data=d, method=method, test=test)
    _compare(res.summary(), expected)
    _compare(str(res), expected)
    _compare(repr(res), expected)


def test_print_with_a_categorical_moderator_wraps_like_r():
    inp, expected = _case("bcg_REML_knha_ablat_alloc")
    res = km.rma("yi ~ ablat + alloc", vi="vi", data=_bcg(inp), test="knha")
    assert res.coef_names == ["intrcpt", "ablat", "alloc[T.random]", "alloc[T.systematic]"]
    assert "alloc[T.systematic]" in str(res)
    r_names = dataclasses.replace(res, coef_names=["intrcpt", "ablat", "allocrandom", "allocsystematic"])
    text = str(r_names)
    assert max(len(line.rstrip()) for line in text.splitlines()) < 80  # the table is wrapped
    _compare(text, expected)


def test_print_survives_a_changed_number():
    """The comparison can fail: a fit with another tau^2 estimator does not print metafor's text."""
    inp, expected = _case("bcg_REML_z")
    res = km.rma(inp["yi"], inp["vi"], method="ML")
    with pytest.raises(AssertionError, match="line 2 differs"):
        _compare(str(res), expected)


def _konstantopoulos(inp, year=False):
    district = pd.Series(inp["district"], name="district")
    school = pd.Series(inp["school"], name="school")
    mods = pd.DataFrame({"yc": np.asarray(inp["year"]) - 1990}) if year else None
    return km.rma_mv(inp["yi"], inp["vi"], cluster=district, id=school, mods=mods), district


@pytest.mark.parametrize("name, year", [("konstantopoulos2011_mv", False),
                                        ("konstantopoulos2011_mv_year", True)])
def test_print_rma_mv_matches_metafor(name, year):
    inp, expected = _case(name)
    fit, _ = _konstantopoulos(inp, year)
    _compare(str(fit), expected)


@pytest.mark.parametrize("name, year", [("konstantopoulos2011_mv_CR2", False),
                                        ("konstantopoulos2011_mv_year_CR2", True)])
def test_print_robust_rma_mv_matches_metafor(name, year):
    inp, expected = _case(name)
    fit, district = _konstantopoulos(inp, year)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", km.SmallDfWarning)
        rob = km.robust(fit, cluster=district, adjust="CR2")
    _compare(str(rob), expected)


@pytest.mark.parametrize("name, adjust", [("bangertdrowns2004_length_CR2", "CR2"),
                                          ("bangertdrowns2004_length_CR1", "CR1")])
def test_print_robust_rma_uni_matches_metafor(name, adjust):
    inp, expected = _case(name)
    res = km.rma(inp["yi"], inp["vi"], mods=pd.DataFrame({"length": inp["length"]}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", km.SmallDfWarning)
        rob = km.robust(res, cluster=np.asarray(inp["grade"]), adjust=adjust)
    _compare(str(rob), expected)
    notes = [x for x in str(rob).splitlines() if x.startswith("Note: ")]
    assert len(notes) == (1 if adjust == "CR2" else 0)  # Satterthwaite df 2.49 and 2.51


def test_print_trimfill_matches_metafor():
    inp, expected = _case("bcg_REML_trimfill")
    out = km.trimfill(km.rma(inp["yi"], inp["vi"]), control="metafor")
    _compare(repr(out), expected)
