"""km.timecourse: log-linear and exponential time courses, Bayesian (grid) and ML, cross-checked
against ketameta.rma_mv (itself checked against metafor) and a dense brute-force integration."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

import ketameta as km
from ketameta.errors import ModelError


def _data(seed=1, tau=0.25, trials=7, times=(1 / 36, 1, 2, 3, 7, 14), half_life=2.3):
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(trials):
        u = rng.normal(0, tau)
        for t in times:
            v = rng.uniform(0.03, 0.1)
            rows.append((f"s{s}", t, 0.8 * math.exp(-math.log(2) / half_life * t) + u + rng.normal(0, math.sqrt(v)), v))
    return pd.DataFrame(rows, columns=["trial", "t", "y", "v"])


@pytest.mark.parametrize("rho", [0.0, 0.5, 0.8])
def test_loglinear_ml_equals_rma_mv(rho):
    d = _data(seed=4, tau=0.3)
    r = km.timecourse(d.y, d.v, d.t, d.trial, shape="loglinear", rho=rho, draws=2000, seed=1)
    m = km.rma_mv(d.y.to_numpy(), d.v.to_numpy(), cluster=d.trial.to_numpy(),
                  mods=pd.DataFrame({"log_t": np.log(d.t)}), rho=rho, sigma2=[None, 0], method="ML")
    assert m.sigma2[0] > 0.01  # an interior optimum is checked, not the boundary
    assert r.ml["logLik"] == pytest.approx(m.to_dict()["logLik"], rel=1e-8)
    assert r.ml["tau2"] == pytest.approx(m.sigma2[0], rel=1e-5)
    np.testing.assert_allclose(r.ml["beta"], m.beta, rtol=1e-6)
    np.testing.assert_allclose(r.ml["se"], m.se, rtol=1e-5)


def test_exponential_ml_at_its_lambda_equals_rma_mv():
    d = _data(seed=5, tau=0.3)
    r = km.timecourse(d.y, d.v, d.t, d.trial, shape="exponential", rho=0.5, draws=2000, seed=1)
    lam = r.ml["lambda"]
    m = km.rma_mv(d.y.to_numpy(), d.v.to_numpy(), cluster=d.trial.to_numpy(),
                  mods=pd.DataFrame({"x": np.exp(-lam * d.t)}), intercept=False, rho=0.5,
                  sigma2=[None, 0], method="ML")
    assert r.ml["logLik"] == pytest.approx(m.to_dict()["logLik"], rel=1e-8)
    np.testing.assert_allclose(r.ml["beta"], m.beta, rtol=1e-6)
    # the profile is maximal at lambda: nearby lambdas fit worse
    for f in (0.9, 1.1):
        mm = km.rma_mv(d.y.to_numpy(), d.v.to_numpy(), cluster=d.trial.to_numpy(),
                       mods=pd.DataFrame({"x": np.exp(-lam * f * d.t)}), intercept=False, rho=0.5,
                       sigma2=[None, 0], method="ML")
        assert mm.to_dict()["logLik"] < r.ml["logLik"]


def _dense_posterior_mean(d, rho, scale):
    """E[b | y] and E[tau | y] by adaptive quadrature over tau, with dense k x k algebra."""
    y, v, t = d.y.to_numpy(), d.v.to_numpy(), d.t.to_numpy()
    X = np.column_stack([np.ones_like(t), np.log(t)])
    same = d.trial.to_numpy()[:, None] == d.trial.to_numpy()[None, :]
    sd = np.sqrt(v)
    V = np.where(same, rho * np.outer(sd, sd), 0.0)
    np.fill_diagonal(V, v)

    def pieces(tau):
        S = V + tau * tau * same
        Si = np.linalg.inv(S)
        A = X.T @ Si @ X
        b = np.linalg.solve(A, X.T @ Si @ y)
        r = y - X @ b
        logm = -0.5 * (np.linalg.slogdet(S)[1] + np.linalg.slogdet(A)[1] + r @ Si @ r)
        return logm + stats.halfnorm.logpdf(tau, scale=scale), b

    top = stats.halfnorm.isf(1e-9, scale=scale)
    ref = pieces(scale)[0]
    f = lambda tau, j: math.exp(pieces(tau)[0] - ref) * (pieces(tau)[1][j] if j >= 0 else (tau if j == -2 else 1.0))  # noqa: E731
    z = integrate.quad(f, 0, top, args=(-1,), epsabs=0, epsrel=1e-10, limit=200)[0]
    means = [integrate.quad(f, 0, top, args=(j,), epsabs=0, epsrel=1e-10, limit=200)[0] / z for j in (0, 1)]
    tau_mean = integrate.quad(f, 0, top, args=(-2,), epsabs=0, epsrel=1e-10, limit=200)[0] / z
    return means, tau_mean


@pytest.mark.parametrize("rho,scale", [(0.5, 0.5), (0.0, 0.25)])
def test_bayesian_posterior_means_match_brute_force_quadrature(rho, scale):
    d = _data(seed=2, tau=0.2, trials=5, times=(1, 3, 7))
    r = km.timecourse(d.y, d.v, d.t, d.trial, shape="loglinear", rho=rho, tau_prior=("halfnormal", scale),
                      draws=2000, seed=3, n_tau=801)
    (b0, b1), tau_mean = _dense_posterior_mean(d, rho, scale)
    assert r.params.loc["b0 (effect at day 1)", "mean"] == pytest.approx(b0, abs=2e-4)
    assert r.params.loc["b1 (per log-day)", "mean"] == pytest.approx(b1, abs=2e-4)
    assert r.params.loc["tau", "mean"] == pytest.approx(tau_mean, abs=2e-4)


def test_tau_prior_at_zero_gives_the_equal_effects_fit():
    d = _data(seed=6, tau=0.0)
    r = km.timecourse(d.y, d.v, d.t, d.trial, shape="loglinear", rho=0.0, tau_prior=("halfnormal", 1e-6),
                      draws=2000, seed=1)
    ee = km.rma(d.y.to_numpy(), d.v.to_numpy(), mods=pd.DataFrame({"lt": np.log(d.t)}), method="EE")
    assert r.params.loc["b0 (effect at day 1)", "mean"] == pytest.approx(ee.beta[0], abs=1e-6)
    assert r.params.loc["b1 (per log-day)", "sd"] == pytest.approx(ee.se[1], rel=1e-4)


def test_horizons_and_probabilities_agree_and_are_reproducible():
    d = _data(seed=7)
    for shape in ("loglinear", "exponential"):
        r = km.timecourse(d.y, d.v, d.t, d.trial, shape=shape, seed=11, draws=4000)
        h = r.horizons[0.2]
        # the effect exceeds 0.2 on day 3 exactly when it crosses 0.2 after day 3 (monotone curves)
        assert h["p_above_at_day_3"] == pytest.approx(r.probabilities["P(effect > 0.2 at day 3)"], abs=1e-12)
        assert h["lower"] <= h["median"] <= h["upper"]
        again = km.timecourse(d.y, d.v, d.t, d.trial, shape=shape, seed=11, draws=4000)
        assert again.to_dict() == r.to_dict()
    # data from an exponential decay: AIC prefers the exponential curve, the half-life is recovered
    d = _data(seed=8, tau=0.05, trials=12, half_life=2.0)
    exp_ = km.timecourse(d.y, d.v, d.t, d.trial, shape="exponential", seed=1, draws=4000)
    lin = km.timecourse(d.y, d.v, d.t, d.trial, shape="loglinear", seed=1, draws=4000)
    assert exp_.ml["AIC"] < lin.ml["AIC"]
    hl = exp_.params.loc["half-life (days)"]
    assert hl["lower"] < 2.0 < hl["upper"]


def test_bad_input():
    d = _data()
    with pytest.raises(ModelError, match="shape"):
        km.timecourse(d.y, d.v, d.t, d.trial, shape="linear")
    with pytest.raises(ModelError, match="rho"):
        km.timecourse(d.y, d.v, d.t, d.trial, rho=1.0)
    with pytest.raises(ModelError, match="vi > 0"):
        km.timecourse(d.y, -d.v, d.t, d.trial)
    with pytest.raises(ModelError, match="same"):
        km.timecourse(d.y[:-1], d.v, d.t, d.trial)
    with pytest.raises(ModelError, match="tau prior"):
        km.timecourse(d.y, d.v, d.t, d.trial, tau_prior=("lognormal", 1))
