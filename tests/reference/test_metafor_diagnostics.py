"""Diagnostics and publication-bias methods against metafor 3.8.1 fixtures.

The ``*__REML_z`` fixtures of dat.bcg, dat.normand1999 and dat.molloy2014 carry metafor's
``regtest``, ``leave1out``, ``trimfill``, ``influence`` and ``cumul`` results
(tests/reference/generate/make_metafor_fixtures.R). metafor refitted every leave-one-out,
influence and cumulative model with the model's tight control (threshold 1e-12), so those
are compared at TOL["iterative"] (relative 1e-6; the measured worst gap is ~1e-9).

Trim and fill is the exception: metafor 3.8.1 fits the truncated data and the filled-in data
with its *default* control (threshold 1e-5 on tau^2), not the model's, so its beta/se/tau2
stop short of the REML optimum (measured gap of ketameta's converged refit: 2.6e-4 relative
on tau^2 for dat.molloy2014, 1.2e-6 for dat.bcg). The test reproduces that stopping rule --
metafor's Fisher scoring from the Hedges start value, stopping when the step is <= 1e-5 --
inside trimfill and then matches the fixture at 1e-6 (measured: ~1e-14). The converged values
are pinned by ``test_trimfill_converged_differs_from_metafor_default_control`` (strict xfail).
"""

from __future__ import annotations

import numpy as np
import pytest

import ketameta as km
from ketameta import pubbias
from ketameta._linalg import WFit
from ketameta.diagnostics import cumul, influence, leave1out
from ketameta.pubbias import regtest, trimfill

from ..conftest import TOL, assert_rel, fixture_names, load_fixture

CASES = [n for n in fixture_names() if n.endswith("__REML_z")]
RTOL = TOL["iterative"]


def _model(name):
    case = load_fixture(name)
    inp = case["input"]
    return km.rma(inp["yi"], inp["vi"], method="REML", test="z"), case["expected"]


def test_cases_are_present():
    """The three datasets with diagnostics must all be exercised."""
    assert CASES == ["bcg__REML_z", "molloy2014__REML_z", "normand1999__REML_z"]
    for name in CASES:
        exp = load_fixture(name)["expected"]
        for key in ("egger", "leave1out", "influence", "cumul", "trimfill"):
            assert key in exp, (name, key)


@pytest.mark.parametrize("name", CASES)
def test_leave1out_matches_metafor(name):
    res, exp = _model(name)
    out = leave1out(res)
    for key in ("estimate", "se", "tau2", "I2"):
        assert_rel(getattr(out, key), exp["leave1out"][key], RTOL, f"{name}: leave1out {key}")


@pytest.mark.parametrize("name", CASES)
def test_influence_matches_metafor(name):
    res, exp = _model(name)
    out = influence(res)
    for key in ("rstudent", "cook_d", "hat"):
        assert_rel(getattr(out, key), exp["influence"][key], RTOL, f"{name}: influence {key}")


@pytest.mark.parametrize("name", CASES)
def test_cumul_matches_metafor(name):
    res, exp = _model(name)
    out = cumul(res)  # metafor's default order: data order
    for key in ("estimate", "se", "tau2"):
        # metafor's tau^2 is ~1e-13 where the exact boundary value is 0 (Fisher scoring stops
        # at threshold 1e-12); assert_rel's absolute floor (1e-12) covers that.
        assert_rel(getattr(out, key), exp["cumul"][key], RTOL, f"{name}: cumul {key}")


@pytest.mark.parametrize("name", CASES)
def test_regtest_matches_metafor(name):
    res, exp = _model(name)
    out = regtest(res)  # model="rma", predictor="sei"
    assert out.dfs is None
    assert_rel(out.zval, exp["egger"]["zval"], RTOL, f"{name}: regtest zval")
    assert_rel(out.pval, exp["egger"]["pval"], RTOL, f"{name}: regtest pval")
    assert_rel(out.est, exp["egger"]["limit"], RTOL, f"{name}: regtest limit")


# -- trim and fill ------------------------------------------------------------------------------


def _metafor_default_reml_tau2(y, v, threshold=1e-5):
    """metafor's REML Fisher scoring with its default control: Hedges (HE) start value,
    step (y'PPy - tr P) / tr(PP), step halving below 0, stop when |step| <= threshold."""
    k = y.size
    X = np.ones((k, 1))
    if k == 1:
        return 0.0
    ols = WFit(y, np.ones(k), X)
    tau2 = max(0.0, (float(np.dot(ols.e, ols.e)) - ols.trPD(v)) / (k - 1))
    change = threshold + 1
    while change > threshold:
        old = tau2
        f = WFit(y, 1.0 / (v + tau2), X)
        adj = (f.ypp() - f.trP()) / f.trPDPD()
        while tau2 + adj < 0:
            adj /= 2
        tau2 += adj
        change = abs(old - tau2)
    return tau2


@pytest.fixture
def metafor_default_control(monkeypatch):
    """Make trimfill's fits stop where metafor's default control stops (REML, no moderators)."""
    real_rma = pubbias.rma

    def rma_like_metafor(yi, vi, mods=None, method="REML", **kw):
        if mods is not None or method != "REML" or kw.get("tau2") is not None:
            return real_rma(yi, vi, mods=mods, method=method, **kw)
        y, v = np.asarray(yi, float), np.asarray(vi, float)
        return real_rma(y, v, method=method, tau2=_metafor_default_reml_tau2(y, v), **kw)

    monkeypatch.setattr(pubbias, "rma", rma_like_metafor)


@pytest.mark.parametrize("name", CASES)
def test_trimfill_k0_and_side_match_metafor(name):
    res, exp = _model(name)
    out = trimfill(res)
    assert out.k0 == exp["trimfill"]["k0"]
    assert out.side == exp["trimfill"]["side"]


@pytest.mark.parametrize("name", CASES)
def test_trimfill_refit_matches_metafor(name, metafor_default_control):
    res, exp = _model(name)
    out = trimfill(res)
    assert out.k0 == exp["trimfill"]["k0"] and out.side == exp["trimfill"]["side"]
    for key in ("beta", "se", "tau2"):
        assert_rel(getattr(out, key), exp["trimfill"][key], RTOL, f"{name}: trimfill {key}")


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.xfail(
            strict=True,
            reason="metafor's trimfill fits with its default threshold 1e-5; ketameta's refit "
                   "is converged (gap: bcg 1.2e-6, molloy2014 2.6e-4 relative on tau^2)"))
        if n != "normand1999__REML_z" else n  # k0 = 0 there: the original model is returned
        for n in CASES
    ],
)
def test_trimfill_converged_differs_from_metafor_default_control(name):
    res, exp = _model(name)
    out = trimfill(res)
    for key in ("beta", "se", "tau2"):
        assert_rel(getattr(out, key), exp["trimfill"][key], RTOL, f"{name}: trimfill {key}")
