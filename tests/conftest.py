"""Shared test helpers: metafor fixtures and the tolerance table.

Tolerances are by source (see ../shared/design.md section 5):
* ``closed``: closed-form quantities against metafor at full precision (relative 1e-8);
* ``iterative``: iterative estimators and Q-profile bounds (relative 1e-6; the fixtures were
  made with threshold 1e-12, so the real gap is ~1e-9, see tests/reference/README.md);
* ``published``: numbers printed in papers/books, compared at the printed precision
  (absolute half a unit in the last printed digit, passed explicitly per test).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "reference" / "data" / "metafor"

TOL = {"closed": 1e-8, "iterative": 1e-6}


def load_fixture(name: str) -> dict:
    """Load one metafor fixture by name (file stem)."""
    with open(FIXTURES / f"{name}.json", encoding="utf-8") as fh:
        return json.load(fh)


def fixture_names(prefix: str = "") -> list[str]:
    """Names of all fixtures whose name starts with ``prefix``."""
    return sorted(p.stem for p in FIXTURES.glob(f"{prefix}*.json"))


def na_to_nan(values):
    """metafor writes missing values as the string "NA"."""
    return [np.nan if v == "NA" or v is None else v for v in values]


def assert_rel(actual, expected, rtol, what=""):
    """Relative comparison that treats expected zeros with an absolute floor of rtol."""
    a = np.atleast_1d(np.asarray(actual, dtype=float))
    e = np.atleast_1d(np.asarray(expected, dtype=float))
    assert a.shape == e.shape, f"{what}: shape {a.shape} != {e.shape}"
    np.testing.assert_allclose(a, e, rtol=rtol, atol=rtol * 1e-6, err_msg=what)


@pytest.fixture
def fixture():
    return load_fixture
