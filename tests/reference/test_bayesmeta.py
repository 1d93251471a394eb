"""Reference tests of :func:`ketameta.bayesmeta`: R bayesmeta 3.4, published output, brute force.

1. **bayesmeta fixtures** (``data/bayesmeta/*.json``, written by
   ``generate/make_bayesmeta_fixtures.R`` with bayesmeta 3.4 on R 4.2.2): 28 analyses -- the
   Crins et al. (2014) example under half-normal, half-Cauchy (scales 0.25, 0.5, 1), Lomax,
   uniform, Jeffreys and Turner et al. (2015) priors, flat and normal mu priors; k = 1, 2, 3
   subsets; the eight schools; 30 simulated studies; 48 standardised mean differences -- plus
   ``priors.json`` (prior densities and quantiles). Tolerances, by how bayesmeta computes the
   number (``TOL``):

   * ``integral``: everything bayesmeta obtains by numerical integration or root finding
     (posterior means, sds, medians, quantiles, central intervals, CDFs and densities,
     P(mu > 0), shrinkage means/sds/medians, Bayes factor, marginal likelihood, the DIRECT
     support and weights): relative 1e-8 (absolute where the value is below 1). Largest gap
     measured: 9e-11 (the DIRECT support points).
   * ``optimize``: modes and shortest-interval bounds, which bayesmeta finds with R's
     ``optimize()`` at its default tolerance (``.Machine$double.eps^0.25`` = 1.2e-4): absolute
     1e-4. Largest gap measured: 2.8e-5 (ketameta returns the exact optima).

   Where bayesmeta reports NA (a posterior mean or sd that diverges, the marginal likelihood or
   Bayes factor of an improper prior) ketameta must report inf / None.

2. **Published output**: Roever (2020), J Stat Softw 93(6), sec. 3.3-3.6 (pages cited per test),
   and the rendered examples of the bayesmeta 3.4 vignette (eight schools), compared at the
   printed precision (half a unit in the last printed digit); modes and shortest intervals, which
   bayesmeta computes with ``optimize()``, at the measured gap noted in each test.

3. **Brute force**: the posterior means and sds of mu and tau as ratios of two-dimensional
   integrals of the joint posterior density over (mu, tau), by ``scipy.integrate.cubature``,
   with the priors written out here independently of ketameta.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import integrate, stats

import ketameta as km
from ketameta._bayes_priors import TAU_PRIOR_PRESETS, parse_tau_prior

DATA = Path(__file__).parent / "data" / "bayesmeta"
CASES = sorted(p.stem for p in DATA.glob("*.json") if p.stem != "priors")
TOL = {"integral": 1e-8, "optimize": 1e-4}


def load(name):
    with open(DATA / f"{name}.json", encoding="utf-8") as fh:
        return json.load(fh)


def tau_prior_of(call):
    """The ketameta tau_prior equivalent to a fixture's bayesmeta call."""
    if "ketameta" in call:
        spec = call["ketameta"]
        return spec if isinstance(spec, str) else tuple(spec)
    return call["tau_prior"]["type"], call["tau_prior"]["scale"]


def fit(case, **kw):
    mu = case["call"]["mu_prior"]
    return km.bayesmeta(case["input"]["yi"], case["input"]["vi"], tau_prior_of(case["call"]),
                        ("normal", mu["mean"], mu["sd"]) if mu else None, **kw)


def close(actual, expected, kind, what):
    """Compare at TOL[kind]: relative for |expected| >= 1, absolute below; None = NA in R."""
    a = np.atleast_1d(np.asarray(actual, dtype=float))
    if expected is None:
        assert not np.all(np.isfinite(a)), f"{what}: bayesmeta gives NA, ketameta {a}"
        return
    e = np.atleast_1d(np.asarray([np.nan if x is None else x for x in np.atleast_1d(expected)],
                                 dtype=float))
    assert a.shape == e.shape, what
    na = np.isnan(e)
    assert not np.any(np.isfinite(a[na])), f"{what}: bayesmeta gives NA, ketameta {a[na]}"
    tol = TOL[kind] * np.maximum(1.0, np.abs(e[~na]))
    assert np.all(np.abs(a[~na] - e[~na]) <= tol), (
        f"{what}: ketameta {a[~na]} vs bayesmeta {e[~na]} (tolerance {TOL[kind]}, {kind})")


# -- 1. bayesmeta 3.4 fixtures -----------------------------------------------------------------

@pytest.mark.parametrize("name", CASES)
def test_against_bayesmeta(name):
    case = load(name)
    res = fit(case)
    s = res.summary()
    E, X = case["expected"], case.get("extra")
    for key, col in (("tau", "tau"), ("mu", "mu"), ("theta_new", "theta")):
        for row in ("median", "mean", "sd"):
            close(s.loc[row, col], E[key][row], "integral", f"{key} {row}")
        if "mode" in E[key]:
            close(s.loc["mode", col], E[key]["mode"], "optimize", f"{key} mode")
        close(s.loc[["lower", "upper"], col], E[key]["shortest95"], "optimize",
              f"{key} shortest 95%")
        if "central95" in E[key]:
            close(res.post_interval(col, 0.95, "central"), E[key]["central95"], "integral",
                  f"{key} central 95%")
    close(res.p_mu_gt_0, E["mu"]["p_gt_0"], "integral", "P(mu > 0)")
    close(res.shrinkage["mean"], E["shrinkage_mean"], "integral", "shrinkage means")
    close(res.bayes_factor if res.bayes_factor is not None else np.nan,
          E["bayes_factor_tau0"], "integral", "Bayes factor tau = 0")
    close(res.log_marginal_likelihood if res.log_marginal_likelihood is not None else np.nan,
          E["marginal_loglik"], "integral", "log marginal likelihood")
    if X is None:
        return
    p = X["p"]
    close(res.qposterior("tau", p), X["tau_quantiles"], "integral", "tau quantiles")
    close(res.qposterior("mu", p), X["mu_quantiles"], "integral", "mu quantiles")
    close(res.qposterior("theta", p), X["theta_new_quantiles"], "integral", "theta_new quantiles")
    close(res.pposterior("tau", X["tau_at"]), X["tau_cdf"], "integral", "tau CDF")
    close(res.dposterior("tau", X["tau_at"]), X["tau_density"], "integral", "tau density")
    close(res.pposterior("mu", X["mu_at"]), X["mu_cdf"], "integral", "mu CDF")
    close(res.dposterior("mu", X["mu_at"]), X["mu_density"], "integral", "mu density")
    close(res.shrinkage["sd"], X["shrinkage_sd"], "integral", "shrinkage sds")
    close(res.shrinkage["median"], X["shrinkage_median"], "integral", "shrinkage medians")
    close(res.shrinkage["lower"], X["shrinkage_shortest95_lower"], "optimize", "shrinkage lower")
    close(res.shrinkage["upper"], X["shrinkage_shortest95_upper"], "optimize", "shrinkage upper")
    assert res.tau_prior_proper == X["tau_prior_proper"]
    # the DIRECT grid is bayesmeta's, point for point
    assert len(res.support) == X["n_support"]
    close(res.support["tau"], X["support_tau"], "integral", "DIRECT support")
    close(res.support["weight"], X["support_weight"], "integral", "DIRECT weights")


@pytest.mark.parametrize("name", [c for c in CASES if "extra" in load(c)])
def test_shrinkage_modes(name):
    """Study-level modes agree, except where bayesmeta's search misses the mode.

    bayesmeta looks for every theta_i's mode between the 10% and 90% quantiles of *mu*; for an
    outlying study whose mode lies outside that bracket it returns (nearly) the bracket's end,
    while ketameta returns the mode (one study of dat.bangertdrowns2004, by 0.32).
    """
    case = load(name)
    res = fit(case)
    X = case["extra"]
    lo, hi = X["mu_quantiles"][1], X["mu_quantiles"][3]  # p = 0.1 and 0.9
    ours = res.shrinkage["mode"].to_numpy()
    theirs = np.atleast_1d(np.asarray(X["shrinkage_mode"], dtype=float))
    inside = (ours > lo + 1e-3) & (ours < hi - 1e-3)
    np.testing.assert_allclose(ours[inside], theirs[inside], atol=TOL["optimize"])
    for o, t in zip(ours[~inside], theirs[~inside]):
        edge = lo if o < lo else hi
        assert abs(t - edge) < 1e-3 and abs(o - edge) > abs(t - edge)


def test_fixture_grid_is_complete():
    """The fixtures cover every prior family, proper mu priors, k = 1, 2, 3 and large k."""
    fam, ks, proper_mu = set(), set(), 0
    for name in CASES:
        case = load(name)
        fam.add(str(tau_prior_of(case["call"])[0] if isinstance(tau_prior_of(case["call"]),
                                                                 tuple)
                    else tau_prior_of(case["call"])).split("_")[0])
        ks.add(int(np.size(case["input"]["yi"])))
        proper_mu += case["expected"]["bayes_factor_tau0"] is not None
    assert {"halfnormal", "halfcauchy", "lomax", "uniform", "jeffreys", "turner2015"} <= fam
    assert {1, 2, 3} <= ks and max(ks) >= 30
    assert proper_mu >= 5


@pytest.mark.parametrize("name", [k for k in load("priors") if k != "source"])
def test_prior_densities_and_presets(name):
    """Prior densities (and the presets' quantiles) equal bayesmeta's TurnerEtAlPrior(),
    RhodesEtAlPrior(), dhalfnormal(), dhalfcauchy() and dlomax() to 1e-12."""
    ref = load("priors")[name]
    spec = ref["ketameta"] if isinstance(ref["ketameta"], str) else tuple(ref["ketameta"])
    prior = parse_tau_prior(spec, np.ones(3))
    np.testing.assert_allclose(np.exp(prior.logpdf(np.asarray(ref["tau"]))), ref["density"],
                               rtol=1e-12)
    if "quantile" in ref:
        family, loc, scale = TAU_PRIOR_PRESETS[spec][:3]
        z = (stats.norm.ppf(ref["p"]) if family == "lognormal_tau2"
             else stats.t.ppf(ref["p"], TAU_PRIOR_PRESETS[spec][3]))
        np.testing.assert_allclose(np.exp(loc / 2 + scale / 2 * z), ref["quantile"], rtol=1e-12)
        assert prior.label == ref["label"]


# -- 2. published output -------------------------------------------------------------------------

def half_unit(printed: str) -> float:
    """Half a unit in the last printed digit of a number as printed."""
    mant = printed.lower().split("e")
    dec = len(mant[0].split(".")[1]) if "." in mant[0] else 0
    exp = int(mant[1]) if len(mant) > 1 else 0
    return 0.5 * 10.0 ** (exp - dec)


def printed_close(actual, printed, slack=0.0):
    """``actual`` agrees with a number as printed (a string) to its last digit (+ slack)."""
    assert abs(float(actual) - float(printed)) <= half_unit(printed) + slack + 1e-15, (
        f"{actual} vs printed {printed}")


def crins():
    case = load("crins2014_halfnormal05")  # escalc("OR") of CrinsEtAl2014, as in the paper
    return np.asarray(case["input"]["yi"]), np.asarray(case["input"]["vi"])


LABELS = ["Heffron (2003)", "Gibelli (2004)", "Schuller (2005)", "Ganschow (2005)",
          "Spada (2006)", "Gras (2008)"]


def test_roever2020_crins_summary():
    """Roever (2020), sec. 3.3, p. 23: ``ma01$summary`` (half-normal(0.5), N(0, 4)).

    The shorter listing printed on p. 22 comes from another bayesmeta version (its mu median
    differs in the 7th digit); the p. 23 listing is the one bayesmeta 3.4 reproduces.
    Modes and shortest-interval bounds are bayesmeta ``optimize()`` results: measured gaps up
    to 8e-6 (theta mode), compared with slack 1e-5.
    """
    y, v = crins()
    s = km.bayesmeta(y, v, ("halfnormal", 0.5), ("normal", 0, 4), slab=LABELS).summary()
    printed = {  # rows mode, median, mean, sd, 95% lower, 95% upper
        "tau": ["0.2453139", "0.3445023", "0.3810562", "0.2593672", "0.0000000", "0.8607193"],
        "mu": ["-1.5691214", "-1.5734819", "-1.5764365", "0.3295301", "-2.2311251", "-0.9263075"],
        "theta": ["-1.5632732", "-1.5701653", "-1.5764365", "0.5671855", "-2.7661319",
                  "-0.4072970"],
    }
    for col, vals in printed.items():
        for row, val in zip(s.index, vals):
            slack = 1e-5 if row in ("mode", "lower", "upper") and val != "0.0000000" else 0.0
            printed_close(s.loc[row, col], val, slack)


def test_roever2020_crins_probabilities_and_intervals():
    """Roever (2020), sec. 3.3, pp. 24-27: posterior probabilities, a quantile and intervals."""
    y, v = crins()
    ma01 = km.bayesmeta(y, v, ("halfnormal", 0.5), ("normal", 0, 4))
    printed_close(1 - ma01.pposterior("mu", 0)[0], "6.187343e-05")       # p. 25
    printed_close(1 - ma01.pposterior("tau", 1)[0], "0.02097488")        # p. 25
    printed_close(ma01.qposterior("tau", 0.99)[0], "1.109186")           # p. 25
    lo, hi = ma01.post_interval("tau", 0.99, "shortest")                 # p. 26
    assert lo == 0.0
    printed_close(hi, "1.109186")
    lo, hi = ma01.post_interval("tau", 0.99, "central")                  # p. 27
    printed_close(lo, "0.003547657")
    printed_close(hi, "1.205400562")
    printed_close(ma01.qposterior("tau", 0.005)[0], "0.003547657")       # p. 27


def test_roever2020_crins_shrinkage():
    """Roever (2020), sec. 3.3, pp. 27-28: ``ma01$theta[, 1:2]`` (first two studies).

    Modes and shortest bounds: bayesmeta ``optimize()`` values, measured gaps up to 6e-6.
    """
    y, v = crins()
    sh = km.bayesmeta(y, v, ("halfnormal", 0.5), ("normal", 0, 4), slab=LABELS).shrinkage
    printed = {  # y, sigma, mode, median, mean, sd, 95% lower, 95% upper
        "Heffron (2003)": ["-2.3097026", "0.5994763", "-1.6711220", "-1.7411356", "-1.7778965",
                           "0.4229425", "-2.6561049", "-0.9920023"],
        "Gibelli (2004)": ["-0.4595323", "0.5563956", "-1.3895876", "-1.2821722", "-1.2339736",
                           "0.4488759", "-2.0455088", "-0.3089461"],
    }
    for study, vals in printed.items():
        row = sh.loc[study]
        for col, val in zip(["yi", "sei", "mode", "median", "mean", "sd", "lower", "upper"], vals):
            printed_close(row[col], val, 1e-5 if col in ("mode", "lower", "upper") else 0.0)


def test_roever2020_forest_plot_estimates():
    """Roever (2020), Fig. 2 (p. 22) and Fig. 6 (p. 33): the estimates printed in the forest
    plots' tables (posterior median [95% shortest interval]) for all six studies and for the
    two randomised ones (Heffron 2003, Spada 2006), and P(mu <= 0) of the latter (p. 33)."""
    y, v = crins()
    s = km.bayesmeta(y, v, ("halfnormal", 0.5), ("normal", 0, 4)).summary()
    for col, vals in (("mu", ["-1.57", "-2.23", "-0.93"]), ("theta", ["-1.57", "-2.77", "-0.41"])):
        for row, val in zip(["median", "lower", "upper"], vals):
            printed_close(s.loc[row, col], val)
    ma05 = km.bayesmeta(y[[0, 4]], v[[0, 4]], ("halfnormal", 0.5), ("normal", 0, 4))
    s5 = ma05.summary()
    for col, vals in (("mu", ["-1.78", "-2.86", "-0.69"]), ("theta", ["-1.78", "-3.25", "-0.28"])):
        for row, val in zip(["median", "lower", "upper"], vals):
            printed_close(s5.loc[row, col], val)
    printed_close(ma05.pposterior("mu", 0)[0], "0.9974968")              # p. 33


def test_roever2020_turner_prior_quantiles():
    """Roever (2020), sec. 3.4, p. 31: ``TurnerEtAlPrior("surgical", "pharmacological",
    "placebo / control")$qprior(c(0.025, 0.5, 0.975))``, i.e. Turner et al. (2015), Table IV:
    log(tau^2) ~ N(-2.14, 1.74^2) -- the preset ``turner2015_pharma_vs_placebo_surgical_device``."""
    family, m, s = TAU_PRIOR_PRESETS["turner2015_pharma_vs_placebo_surgical_device"]
    assert (family, m, s) == ("lognormal_tau2", -2.14, 1.74)
    q = np.exp(m / 2 + s / 2 * stats.norm.ppf([0.025, 0.5, 0.975]))
    for val, txt in zip(q, ["0.06233896", "0.34300852", "1.88734045"]):
        printed_close(val, txt)
    # the general (any-setting) prior of Turner et al. (2015), p. 993, and Rhodes et al. (2015)
    assert TAU_PRIOR_PRESETS["turner2015_general"] == ("lognormal_tau2", -2.56, 1.74)
    assert TAU_PRIOR_PRESETS["rhodes2015_general"] == ("logt_tau2", -3.44, 2.59, 5)


def test_roever2020_conditional_moment_at_reml():
    """Roever (2020), sec. 3.5, p. 32: REML tau, effect and se from metafor's ``rma``, and the
    same numbers as bayesmeta's conditional moments of mu given tau = tau_REML.

    The paper's tau_REML = 0.4670268 comes from metafor's Fisher scoring stopped at its default
    threshold 1e-5 (ketameta's exact root is 0.46702673, 7e-8 away); it is reproduced here with
    the emulation used for metafor's documented outputs (test_published_rma).
    """
    from .test_published_rma import metafor_default_reml_tau2

    y, v = crins()
    tau = math.sqrt(metafor_default_reml_tau2(y, v, np.ones((y.size, 1))))
    printed_close(tau, "0.4670268")
    reml = km.rma(y, v, method="REML", tau2=tau**2)
    printed_close(reml.beta[0], "-1.591513")
    printed_close(reml.se[0], "0.3340882")
    assert abs(km.rma(y, v, method="REML").tau - tau) < 1e-7
    cm = km.bayesmeta(y, v, "jeffreys").cond_moment(tau)
    printed_close(cm["mean"][0], "-1.591513")
    printed_close(cm["sd"][0], "0.3340882")


SCHOOLS_Y = [28.39, 7.94, -2.75, 6.82, -0.64, 0.63, 18.01, 12.16]
SCHOOLS_SE = [14.9, 10.2, 16.3, 11.0, 9.4, 11.4, 10.4, 17.6]


def test_bayesmeta_vignette_eight_schools():
    """bayesmeta 3.4 vignette ("bayesmeta", rendered output in inst/doc/bayesmeta.html): the
    eight schools (Rubin 1981) with a half-Cauchy(25) tau prior and N(0, 50) mu prior
    (``schools.example.1``) and with the default uniform priors (``schools.example.2``).

    Modes and shortest bounds are bayesmeta ``optimize()`` values: measured gaps up to 1.7e-5
    (on effects of size ~10), compared with slack 5e-5.
    """
    v = np.square(SCHOOLS_SE)
    ex1 = km.bayesmeta(SCHOOLS_Y, v, ("halfcauchy", 25), ("normal", 0, 50), slab=list("ABCDEFGH"))
    ex2 = km.bayesmeta(SCHOOLS_Y, v, "uniform", slab=list("ABCDEFGH"))
    printed = {
        ex1: {"tau": ["0.000000", "4.758539", "5.884511", "4.869904", "0.000000", "15.165894"],
              "mu": ["7.929503", "7.962961", "7.985729", "4.995762", "-1.823353", "17.824562"],
              "theta": ["7.865547", "7.926819", "7.985729", "9.126767", "-10.623526",
                        "26.827377"]},
        ex2: {"tau": ["0.000000", "5.227732", "6.585992", "5.685974", "0.000000", "17.265797"],
              "mu": ["8.007138", "8.055861", "8.092138", "5.246683", "-2.176157", "18.406330"],
              "theta": ["7.927789", "8.008111", "8.092138", "10.148132", "-12.511817",
                        "29.014749"]},
    }
    for res, table in printed.items():
        s = res.summary()
        for col, vals in table.items():
            for row, val in zip(s.index, vals):
                printed_close(s.loc[row, col], val,
                              5e-5 if row in ("mode", "lower", "upper") else 0.0)
    printed_close(1 - ex1.pposterior("mu", 0)[0], "0.9487521")
    printed_close(ex1.qposterior("mu", 0.95)[0], "16.11009")
    printed_close(ex1.qposterior("tau", 0.95)[0], "15.16589")
    lo, hi = ex1.post_interval("tau", 0.95, "central")
    printed_close(lo, "0.2199559")
    printed_close(hi, "18.0531718")
    sh = ex1.shrinkage
    printed = {"A": ["8.845856", "10.093581", "11.095255", "7.901084", "-3.209562", "28.169723"],
               "G": ["8.933348", "9.786985", "10.336032", "6.631039", "-2.138807", "24.230908"],
               "H": ["8.023126", "8.266594", "8.474644", "7.456906", "-6.528854", "24.110315"]}
    for school, vals in printed.items():
        for col, val in zip(["mode", "median", "mean", "sd", "lower", "upper"], vals):
            printed_close(sh.loc[school, col], val,
                          5e-5 if col in ("mode", "lower", "upper") else 0.0)


# -- 3. brute force: two-dimensional integration of the joint posterior ----------------------------

def brute_force_moments(y, v, logprior_tau, mu_prior=None, tau_range=(0.0, math.inf)):
    """Posterior mean and sd of mu and tau from the joint density p(tau) p(mu) prod N(y | mu,
    v + tau^2), integrated over (mu, tau) with ``scipy.integrate.cubature``.

    mu = m0 + s a / (1 - a^2) on a in (-1, 1); tau = lo + s b / (1 - b) on b in [0, 1) for an
    unbounded prior, linear on a bounded support.
    """
    y, v = np.asarray(y, float), np.asarray(v, float)
    m0 = float(np.sum(y / v) / np.sum(1 / v))
    s = math.sqrt(float(np.median(v)))
    lo, hi = tau_range

    def logjoint(mu, tau):
        s2 = v + tau[:, None] ** 2
        out = (-0.5 * np.sum(np.log(2 * np.pi * s2) + (y - m0 - mu[:, None]) ** 2 / s2, axis=1)
               + logprior_tau(tau))
        return out if mu_prior is None else out + stats.norm.logpdf(mu + m0, *mu_prior)

    c = float(logjoint(np.zeros(1), np.array([lo + 0.1 * s]))[0])

    def f(x):
        a, b = x[:, 0], x[:, 1]
        mu = s * a / (1 - a * a)
        jac = s * (1 + a * a) / (1 - a * a) ** 2
        if math.isfinite(hi):
            tau = b
        else:
            tau, jac = lo + s * b / (1 - b), jac * s / (1 - b) ** 2
        with np.errstate(over="ignore", invalid="ignore"):
            d = np.exp(logjoint(mu, tau) - c) * jac
        d = np.where(np.isfinite(d), d, 0.0)
        return np.stack([d, d * mu, d * mu * mu, d * tau, d * tau * tau], axis=1)

    res = integrate.cubature(f, [-1.0, lo if math.isfinite(hi) else 0.0],
                             [1.0, hi if math.isfinite(hi) else 1.0], rtol=1e-9,
                             max_subdivisions=20000)
    assert res.status == "converged"
    z, m1, m2, t1, t2 = res.estimate
    mm, tm = m1 / z, t1 / z
    return {"mu_mean": mm + m0, "mu_sd": math.sqrt(m2 / z - mm * mm),
            "tau_mean": tm, "tau_sd": math.sqrt(t2 / z - tm * tm)}


def _jeffreys_logpdf(v):
    v = np.asarray(v, float)
    return lambda t: 0.5 * np.log(np.sum((t[:, None] / (v + t[:, None] ** 2)) ** 2, axis=1))


def _brute_cases():
    y, v = crins()
    sy, sv = np.asarray(SCHOOLS_Y), np.square(SCHOOLS_SE)
    return {  # name: (y, v, ketameta tau_prior, log prior density, mu prior, tau range, heavy)
        "crins_halfnormal05": (y, v, ("halfnormal", 0.5),
                               lambda t: stats.halfnorm.logpdf(t, scale=0.5), None, (0, math.inf),
                               False),
        "crins_halfcauchy05_mu_normal": (y, v, ("halfcauchy", 0.5),
                                         lambda t: stats.halfcauchy.logpdf(t, scale=0.5), (0, 4),
                                         (0, math.inf), False),
        "crins_turner_general_mu_normal": (
            y, v, "turner2015_general",
            lambda t: stats.lognorm.logpdf(t, 1.74 / 2, scale=math.exp(-2.56 / 2)), (0, 4),
            (0, math.inf), False),
        "crins4_uniform_005_06": (y[:4], v[:4], ("uniform", 0.05, 0.6),
                                  lambda t: np.full(t.shape, -math.log(0.55)), None, (0.05, 0.6),
                                  False),
        "schools_uniform": (sy, sv, "uniform", lambda t: np.zeros(t.shape), None, (0, math.inf),
                            False),
        "crins3_lomax1": (y[:3], v[:3], ("lomax", 1.0),
                          lambda t: stats.lomax.logpdf(t, 1, scale=1.0), None, (0, math.inf),
                          True),
        "crins4_jeffreys": (y[:4], v[:4], "jeffreys", _jeffreys_logpdf(v[:4]), None,
                            (0, math.inf), True),
    }


@pytest.mark.parametrize("name", list(_brute_cases()))
def test_brute_force_two_dimensional(name):
    """Posterior means and sds against a brute-force 2-D integral.

    ``method="quadrature"``: all four at relative 1e-8 (measured gaps <= 1.1e-10).
    ``method="direct"`` (bayesmeta's discretisation, the default): tau's moments come from the
    same quadrature (1e-8); the mixture for mu is DIRECT's, measured gaps up to 5.7e-4 (sd)
    with light-tailed tau posteriors (compared at 2e-3). With heavy tails (k = 3 or 4 with a
    Lomax or Jeffreys prior: p(tau | y) ~ tau^-4) DIRECT's cut at the 1 - 1e-4 quantile of tau
    drops mass that sd(mu) depends on: it is too small by 2.7-3.6%, in bayesmeta too (the
    fixtures agree with ketameta's DIRECT to 1e-11). That bias is asserted here, so that a
    change in it is noticed.
    """
    y, v, spec, logprior, mu, rng, heavy = _brute_cases()[name]
    ref = brute_force_moments(y, v, logprior, mu, rng)
    mu_prior = None if mu is None else ("normal", *mu)
    s_quad = km.bayesmeta(y, v, spec, mu_prior, method="quadrature").summary()
    s_dir = km.bayesmeta(y, v, spec, mu_prior).summary()
    for key, (col, row) in {"mu_mean": ("mu", "mean"), "mu_sd": ("mu", "sd"),
                            "tau_mean": ("tau", "mean"), "tau_sd": ("tau", "sd")}.items():
        assert s_quad.loc[row, col] == pytest.approx(ref[key], rel=1e-8), key
        if col == "tau":
            assert s_dir.loc[row, col] == pytest.approx(ref[key], rel=1e-8), key
    assert s_dir.loc["mean", "mu"] == pytest.approx(ref["mu_mean"], rel=1e-4)
    if heavy:
        assert 0.95 < s_dir.loc["sd", "mu"] / ref["mu_sd"] < 0.99
    else:
        assert s_dir.loc["sd", "mu"] == pytest.approx(ref["mu_sd"], rel=2e-3)
