"""Diagnostics and publication-bias methods against metafor 3.8.1 fixtures.

The ``*__REML_z`` fixtures of dat.bcg, dat.normand1999 and dat.molloy2014 carry metafor's
``regtest``, ``leave1out``, ``trimfill``, ``influence`` and ``cumul`` results
(tests/reference/generate/make_metafor_fixtures.R). metafor refitted every leave-one-out,
influence and cumulative model with the model's tight control (threshold 1e-12), so those
are compared at TOL["iterative"] (relative 1e-6; the measured worst gap is ~1e-9).

Trim and fill is the exception: metafor 3.8.1 fits the truncated data and the filled-in data
with its *default* control (threshold 1e-5 on tau^2), not the model's, so its beta/se/tau2
stop short of the REML optimum (measured gap of ketameta's converged refit: 2.6e-4 relative
on tau^2 for dat.molloy2014, 1.2e-6 for dat.bcg). ``trimfill(res, control="metafor")``
reproduces that stopping rule -- metafor's Fisher scoring from the Hedges start value, stopping
when the step is <= 1e-5 -- and then matches the fixture at 1e-6 (measured: ~1e-14); an
independent re-implementation of that rule in this file checks ``rma(..., control=)`` itself.
The converged values are pinned by ``test_trimfill_converged_differs_from_metafor_default_control``
(strict xfail: the documented gap).
"""

from __future__ import annotations

import numpy as np
import pytest

import ketameta as km
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


@pytest.mark.parametrize("name", CASES)
def test_trimfill_k0_and_side_match_metafor(name):
    res, exp = _model(name)
    out = trimfill(res)
    assert out.k0 == exp["trimfill"]["k0"]
    assert out.side == exp["trimfill"]["side"]


@pytest.mark.parametrize("name", CASES)
def test_trimfill_refit_matches_metafor(name):
    res, exp = _model(name)
    out = trimfill(res, control="metafor")
    assert out.k0 == exp["trimfill"]["k0"] and out.side == exp["trimfill"]["side"]
    for key in ("beta", "se", "tau2"):
        assert_rel(getattr(out, key), exp["trimfill"][key], RTOL, f"{name}: trimfill {key}")


@pytest.mark.parametrize("name", CASES)
def test_rma_control_stops_where_metafor_default_control_stops(name):
    res, _ = _model(name)
    y, v = np.asarray(res.yi), np.asarray(res.vi)
    for yy, vv in ((y, v), (y[:-3], v[:-3])):
        expected = _metafor_default_reml_tau2(yy, vv)
        assert km.rma(yy, vv, control="metafor").tau2 == pytest.approx(expected, rel=1e-12, abs=1e-15)
        assert km.rma(yy, vv, control={"threshold": 1e-9}).tau2 == pytest.approx(
            _metafor_default_reml_tau2(yy, vv, threshold=1e-9), rel=1e-12, abs=1e-15)


def test_control_is_validated():
    res, _ = _model(CASES[0])
    for bad in ("fast", {"tol": 1}, {"threshold": 0}, {"maxiter": 0}):
        with pytest.raises(km.ModelError, match="control"):
            km.rma(res.yi, res.vi, control=bad)
    with pytest.raises(km.ModelError, match="did not converge in 1 iterations"):
        km.rma(res.yi, res.vi, control={"threshold": 1e-12, "maxiter": 1})


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


# metafor 3.8.1 with its default control (R 4.2.2), printed with sprintf("%.15g"):
#   d <- escalc("RR", ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg)
#   rma(yi, vi, data=d, method=m)$tau2; rma(yi, vi, mods=~ablat, data=d, method=m)$tau2
METAFOR_DEFAULT_TAU2 = {"REML": (0.313243325980895, 0.0763546947056598),
                        "ML": (0.280028171049595, 0.0343589574664107),
                        "EB": (0.318068515771305, 0.142134338431829)}


@pytest.mark.parametrize("method", sorted(METAFOR_DEFAULT_TAU2))
def test_control_metafor_reproduces_metafor_default_fits(method):
    inp = load_fixture("bcg__REML_z_mods")["input"]
    y, v, ablat = np.asarray(inp["yi"]), np.asarray(inp["vi"]), np.asarray(inp["mods"]["ablat"])
    plain, mods = METAFOR_DEFAULT_TAU2[method]
    assert km.rma(y, v, method=method, control="metafor").tau2 == pytest.approx(plain, rel=1e-12)
    assert km.rma(y, v, mods=ablat, method=method, control="metafor").tau2 == pytest.approx(mods, rel=1e-12)
    # the default (converged) fit differs from metafor's default-control fit beyond 1e-8
    assert km.rma(y, v, method=method).tau2 != pytest.approx(plain, rel=1e-8)
