"""Bayesian random-effects meta-analysis by direct numerical integration (R's ``bayesmeta``).

The normal-normal hierarchical model ``y_i ~ N(theta_i, v_i)``, ``theta_i ~ N(mu, tau^2)``
with a prior on the heterogeneity tau and a flat or normal prior on the effect mu. As in
Roever (2020), mu is integrated out analytically, the marginal posterior of tau is obtained by
one-dimensional quadrature, and the marginal posteriors of mu, of a new study's effect
theta_new and of each study's theta_i are mixtures of conditional normals over tau, discretised
with the DIRECT algorithm (Roever & Friede 2017). No Markov chain Monte Carlo is involved.

References
----------
Roever C (2020). Bayesian random-effects meta-analysis using the bayesmeta R package.
    J Stat Softw 93(6):1-51. doi:10.18637/jss.v093.i06
Roever C, Friede T (2017). Discrete approximation of a mixture distribution via restricted
    divergence. J Comput Graph Stat 26(1):217-222. doi:10.1080/10618600.2016.1276840
Roever C, Bender R, Dias S, et al. (2021). On weakly informative prior distributions for the
    heterogeneity parameter in Bayesian random-effects meta-analysis. Res Synth Methods
    12(4):448-474. doi:10.1002/jrsm.1475
Turner RM, Jackson D, Wei Y, Thompson SG, Higgins JPT (2015). Predictive distributions for
    between-study heterogeneity and simple methods for their application in Bayesian
    meta-analysis. Stat Med 34(6):984-998. doi:10.1002/sim.6381
Rhodes KM, Turner RM, Higgins JPT (2015). Predictive distributions were developed for the
    extent of heterogeneity in meta-analyses of continuous outcome data. J Clin Epidemiol
    68(1):52-60. doi:10.1016/j.jclinepi.2014.08.012
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ._bayes_core import NNHM, TauPosterior
from ._bayes_mixture import NormalMixture, direct_grid
from ._bayes_priors import TAU_PRIOR_PRESETS, parse_mu_prior, parse_tau_prior
from ._result import Result
from ._result import num as _num
from .errors import ModelError

__all__ = ["TAU_PRIOR_PRESETS", "BayesmetaResult", "bayesmeta"]

_PARS = ("tau", "mu", "theta")
_ROWS = ("mode", "median", "mean", "sd", "lower", "upper")


def _level(level) -> float:
    try:
        x = float(level)
    except (TypeError, ValueError):
        raise ModelError(f"level must be a number, e.g. 0.95; got {level!r}.") from None
    if 1 < x < 100:  # a percentage, as metafor takes it
        x = x / 100
    if not 0 < x < 1:
        raise ModelError(f"level must be a proportion in (0, 1), e.g. 0.95 (or a percentage "
                         f"in (1, 100), e.g. 95); got {level!r}.")
    return x


def _choice(value, options, name):
    v = str(value).lower()
    if v not in options:
        raise ModelError(f"{name} must be one of {', '.join(map(repr, options))}; got {value!r}.")
    return v


@dataclass(repr=False, eq=False)
class BayesmetaResult(Result):
    """A fitted :func:`bayesmeta` model.

    Attributes
    ----------
    yi, vi : ndarray
        The data; ``k`` the number of studies, ``slab`` their labels.
    tau_prior : TauPrior
        The parsed heterogeneity prior (``tau_prior.label`` names it as bayesmeta does).
    mu_prior : tuple or None
        ``(mean, sd)`` of the normal effect prior, or None for the flat prior.
    level, interval, method : float, str, str
        Credibility level and interval type of :meth:`summary`; discretisation method.
    support : DataFrame
        The tau support points of the mixtures: ``tau, weight, mean, sd, sd_pred``
        (bayesmeta's ``$support``).
    shrinkage : DataFrame
        Posterior of each study's theta_i: ``yi, sei, mode, median, mean, sd, lower, upper``
        (bayesmeta's ``$theta``, transposed).
    marginal_likelihood, log_marginal_likelihood, bayes_factor : float or None
        Defined only when both priors are proper (else None, as in bayesmeta).
        ``bayes_factor`` is bayesmeta's ``bayesfactor["actual", "tau=0"]``: the marginal
        likelihood of the equal-effects model (tau = 0) over that of the full model.
    """

    yi: np.ndarray
    vi: np.ndarray
    slab: list
    tau_prior: object
    mu_prior: tuple | None
    level: float
    interval: str
    method: str
    delta: float
    epsilon: float
    _model: NNHM = field(repr=False)
    _post: TauPosterior = field(repr=False)
    _mix: NormalMixture = field(repr=False)
    support: pd.DataFrame = field(repr=False)
    _table: dict = field(repr=False)
    shrinkage: pd.DataFrame = field(repr=False)
    log_marginal_likelihood: float | None = None
    bayes_factor: float | None = None

    # -- basic properties ------------------------------------------------------------------------
    @property
    def k(self) -> int:
        """Number of studies."""
        return int(self.yi.size)

    @property
    def marginal_likelihood(self) -> float | None:
        """p(y) under both (proper) priors; None if either prior is improper."""
        lm = self.log_marginal_likelihood
        return None if lm is None else math.exp(lm)

    @property
    def tau_prior_proper(self) -> bool:
        """Whether the tau prior integrates to one (named proper priors, or a callable whose
        integral was found finite; it is then normalised).
        """
        return bool(self._post.prior_proper)

    def I2(self, tau) -> np.ndarray:
        """Relative heterogeneity ``tau^2 / (tau^2 + s2)`` with Higgins & Thompson's typical
        within-study variance ``s2 = (k-1) sum(w) / (sum(w)^2 - sum(w^2))``, ``w = 1/v``.
        """
        w = 1.0 / self.vi
        den = w.sum() ** 2 - (w * w).sum()
        s2 = (self.k - 1) * w.sum() / den if den > 0 else math.nan
        t2 = np.asarray(tau, dtype=float) ** 2
        return t2 / (t2 + s2)

    def cond_moment(self, tau, predict=False) -> pd.DataFrame:
        """Mean and sd of mu (or, with ``predict=True``, of theta_new) given tau."""
        tau = np.atleast_1d(np.asarray(tau, dtype=float))
        m, s2 = self._model.cond(tau)
        sd = np.sqrt(s2 + tau**2) if predict else np.sqrt(s2)
        return pd.DataFrame({"tau": tau, "mean": m + self._model.center, "sd": sd})

    # -- distribution functions ----------------------------------------------------------------
    def _which(self, par, individual):
        par = _choice(par, _PARS, "par")
        if individual is None:
            return par, {"mu": 0, "theta": 1}.get(par)
        if par != "theta":
            raise ModelError("individual= applies to par='theta' (a study's own effect).")
        if isinstance(individual, str):
            if individual not in self.slab:
                raise ModelError(f"individual={individual!r} is not a study label.")
            individual = self.slab.index(individual)
        i = int(individual)
        if not 0 <= i < self.k:
            raise ModelError(f"individual must index a study 0..{self.k - 1}; got {i}.")
        return par, 2 + i

    def _one(self, g) -> NormalMixture:
        return NormalMixture(self._mix.w, self._mix.m[g], self._mix.s[g])

    def dposterior(self, par, x, individual=None) -> np.ndarray:
        """Marginal posterior density of ``par`` ("tau", "mu" or "theta" = theta_new; with
        ``individual=i`` the shrinkage posterior of study i) at ``x``.
        """
        par, g = self._which(par, individual)
        x = np.atleast_1d(np.asarray(x, dtype=float))
        if par == "tau":
            return np.exp(self._post.logpdf(x))
        return self._one(g).pdf_parts(x[None, :] - self._model.center)[0][0]

    def pposterior(self, par, x, individual=None) -> np.ndarray:
        """Marginal posterior CDF of ``par`` at ``x`` (see :meth:`dposterior`)."""
        par, g = self._which(par, individual)
        x = np.atleast_1d(np.asarray(x, dtype=float))
        if par == "tau":
            return self._post.cdf(x)
        return self._one(g).cdf(x[None, :] - self._model.center)[0]

    def qposterior(self, par, p, individual=None) -> np.ndarray:
        """Marginal posterior quantiles of ``par`` at probabilities ``p``."""
        par, g = self._which(par, individual)
        p = np.atleast_1d(np.asarray(p, dtype=float))
        if np.any((p < 0) | (p > 1)) or not np.all(np.isfinite(p)):
            raise ModelError(f"Probabilities must lie in [0, 1]; got {p.tolist()}.")
        if par == "tau":
            return self._post.ppf(p)
        out = np.where(p <= 0, -np.inf, np.where(p >= 1, np.inf, 0.0))
        inner = (p > 0) & (p < 1)
        if inner.any():
            out[inner] = self._one(g).ppf(p[inner])[0] + self._model.center
        return out

    def post_interval(self, par, level=0.95, method="central", individual=None) -> tuple:
        """Credible interval ``(lower, upper)`` for ``par`` ("tau", "mu" or "theta").

        ``method="central"`` takes the (1-level)/2 and (1+level)/2 quantiles; ``"shortest"``
        the shortest interval of posterior probability ``level`` (for tau it may start at 0).
        ``level`` > 1 is read as a percentage.
        """
        par, g = self._which(par, individual)
        level = _level(level)
        method = _choice(method, ("central", "shortest"), "method")
        if par == "tau":
            return self._post.interval(level, method)
        lo, hi = self._one(g).interval(level, method)[0] + self._model.center
        return float(lo), float(hi)

    # -- tables -------------------------------------------------------------------------------
    def summary(self, level=None, interval=None) -> pd.DataFrame:
        """Posterior summary shaped like bayesmeta's ``$summary``.

        Rows ``mode, median, mean, sd, lower, upper``; columns ``tau, mu, theta``
        (theta = the predictive distribution of a new study's effect). The interval has the
        fit's ``level`` and ``interval`` type unless given here.
        """
        tab = {p: dict(self._table[p]) for p in _PARS}
        lev = self.level if level is None else _level(level)
        itype = self.interval if interval is None else _choice(
            interval, ("central", "shortest"), "interval")
        if (lev, itype) != (self.level, self.interval):
            for p in _PARS:
                tab[p]["lower"], tab[p]["upper"] = self.post_interval(p, lev, itype)
        df = pd.DataFrame(tab, index=list(_ROWS), columns=list(_PARS))
        df.attrs.update(level=lev, interval=itype)
        return df

    def tidy(self) -> pd.DataFrame:
        """One row per parameter (mu, tau, theta_new), with the columns of every result's
        ``tidy()``: ``term, estimate`` (posterior median), ``se`` (posterior sd), ``statistic``
        and ``p`` (NaN: a posterior has no test statistic; see :meth:`pposterior`), ``ci_lb,
        ci_ub`` (the fit's credible interval), ``df`` (NaN), and ``mean`` (posterior mean).
        """
        rows = []
        for term, p in (("mu", "mu"), ("tau", "tau"), ("theta_new", "theta")):
            t = self._table[p]
            rows.append({"term": term, "estimate": t["median"], "se": t["sd"],
                         "statistic": math.nan, "p": math.nan, "ci_lb": t["lower"],
                         "ci_ub": t["upper"], "df": math.nan, "mean": t["mean"]})
        return pd.DataFrame(rows)

    def glance(self) -> pd.DataFrame:
        """One-row model summary: k, priors, posterior medians, I^2 at the tau median, etc."""
        med_tau = self._table["tau"]["median"]
        return pd.DataFrame([{
            "k": self.k, "tau_prior": self.tau_prior.label, "mu_prior": self._mu_label(),
            "tau_median": med_tau, "mu_median": self._table["mu"]["median"],
            "mu_mean": self._table["mu"]["mean"], "mu_sd": self._table["mu"]["sd"],
            "I2_median": float(self.I2(med_tau)), "p_mu_gt_0": self.p_mu_gt_0,
            "level": self.level, "interval": self.interval, "method": self.method,
            "n_support": len(self.support),
            "log_marginal_likelihood": self.log_marginal_likelihood,
            "bayes_factor": self.bayes_factor}])

    @property
    def p_mu_gt_0(self) -> float:
        """Posterior probability that mu > 0."""
        return float(1.0 - self.pposterior("mu", 0.0)[0])

    def _mu_label(self) -> str:
        if self.mu_prior is None:
            return "uniform(min=-Inf, max=Inf)"
        return f"normal(mean={self.mu_prior[0]:g}, sd={self.mu_prior[1]:g})"

    def _record(self) -> dict:
        """Plain-Python summary (JSON-serialisable; non-finite numbers become None)."""
        central = {p: [_num(x) for x in self.post_interval(p, self.level, "central")]
                   for p in _PARS}
        return {
            "model": "bayesmeta", "k": self.k, "method": self.method,
            "level": self.level, "interval": self.interval,
            "delta": self.delta, "epsilon": self.epsilon,
            "tau_prior": self.tau_prior.to_dict() | {"proper": self.tau_prior_proper},
            "mu_prior": None if self.mu_prior is None else {
                "family": "normal", "mean": self.mu_prior[0], "sd": self.mu_prior[1]},
            "summary": {p: {r: _num(self._table[p][r]) for r in _ROWS} for p in _PARS},
            "central": central,
            "p_mu_gt_0": _num(self.p_mu_gt_0),
            "I2_median": _num(self.I2(self._table["tau"]["median"])),
            "shrinkage": [{c: (v if c == "slab" else _num(v)) for c, v in row.items()}
                          for row in self.shrinkage.reset_index().to_dict("records")],
            "n_support": len(self.support),
            "log_marginal_likelihood": _num(self.log_marginal_likelihood),
            "marginal_likelihood": _num(self.marginal_likelihood),
            "bayes_factor": _num(self.bayes_factor),
        }

    def __str__(self) -> str:
        labels = self.slab if self.k <= 10 else self.slab[:10] + ["..."]
        lines = [" 'bayesmeta' object.", "", f"{self.k} estimates:", ", ".join(labels), "",
                 f"tau prior ({'proper' if self.tau_prior_proper else 'improper'}):",
                 self.tau_prior.label, "",
                 f"mu prior ({'improper' if self.mu_prior is None else 'proper'}):",
                 self._mu_label(), "", "marginal posterior summary:"]
        tab = self.summary()[["tau", "mu"]]
        pct = f"{100 * self.level:g}%"
        tab.index = [r if r not in ("lower", "upper") else f"{pct} {r}" for r in tab.index]
        lines.append(tab.to_string(float_format=lambda x: f"{x:.7g}"))
        kind = ("shortest credible intervals" if self.interval == "shortest"
                else "central, equal-tailed credible intervals")
        lines += ["", f"(quoted intervals are {kind}.)"]
        if self.bayes_factor is not None:
            lines += ["", (f"Bayes factor (tau = 0 vs. model): {self.bayes_factor:.6g};  "
                      f"log marginal likelihood: {self.log_marginal_likelihood:.6g}")]
        i2 = float(self.I2(self._table["tau"]["median"]))
        if math.isfinite(i2):
            lines += ["", f"relative heterogeneity I^2 (posterior median): {i2:.6g}"]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.__str__()


def bayesmeta(yi, vi, tau_prior=("halfnormal", 0.5), mu_prior=None, level=0.95,
              interval="shortest", method="direct", slab=None, delta=0.01, epsilon=1e-4):
    """Bayesian random-effects meta-analysis (R package bayesmeta's ``bayesmeta()``).

    Parameters
    ----------
    yi : array_like of shape (k,)
        Effect estimates (k >= 1; k = 1 needs a proper tau prior or a proper mu prior).
    vi : array_like of shape (k,)
        Their sampling variances (> 0). (bayesmeta takes standard errors ``sigma = sqrt(vi)``.)
    tau_prior : tuple, str or callable
        Prior of the heterogeneity tau (the between-study standard deviation):

        * ``("halfnormal", s)``, ``("halfcauchy", s)``, ``("lomax", s)`` (shape 1, scale s);
        * ``"uniform"`` -- improper flat prior on tau >= 0 (needs k >= 3 with a flat mu
          prior), or ``("uniform", a, b)``, proper on [a, b];
        * ``"jeffreys"`` -- bayesmeta's Jeffreys prior ``p(tau) ~ sqrt(sum((tau /
          (v_i + tau^2))^2))`` (Roever 2020, eq. 8; improper, needs k >= 2 with a flat mu);
        * ``("lognormal_tau2", m, s)``: log(tau^2) ~ N(m, s^2); ``("logt_tau2", m, s[, df])``:
          log(tau^2) ~ t_df(m, s) (df = 5 by default);
        * a preset name: ``"turner2015_general"`` (log odds ratios, any setting: log tau^2 ~
          N(-2.56, 1.74^2), Turner et al. 2015, p. 993), ``"turner2015_<comparison>_<outcome>"``
          for the 80 settings of their Table IV (e.g.
          ``"turner2015_pharma_vs_placebo_mental_health"``: N(-2.12, 1.53^2),
          ``"turner2015_pharma_vs_placebo_subjective"``: N(-2.70, 1.52^2));
          ``"rhodes2015_general"`` (standardised mean differences: log tau^2 ~ t_5(-3.44,
          2.59), Rhodes et al. 2015, sec. 3.3) and ``"rhodes2015_<comparison>_<outcome>"``
          for their Table 3 (e.g. ``"rhodes2015_pharma_vs_placebo_mental_health"``: t_5(-2.99,
          2.16)). All names: ``from ketameta.bayesmeta import TAU_PRIOR_PRESETS``;
        * a callable density of tau (vectorised over a numpy array); it is normalised
          numerically when its integral is finite, else treated as improper.
    mu_prior : None or ("normal", mean, sd)
        None: the improper flat prior on mu.
    level : float
        Credibility level of the summary intervals, as a proportion (0.95); a value in
        (1, 100) is read as a percentage, as metafor does.
    interval : {"shortest", "central"}
        Interval type of :meth:`BayesmetaResult.summary` (bayesmeta's ``interval.type``).
    method : {"direct", "quadrature"}
        How the mixtures over tau (posteriors of mu, theta_new, theta_i) are discretised:
        ``"direct"`` -- bayesmeta's DIRECT grid with ``delta`` and ``epsilon``, which
        reproduces bayesmeta; ``"quadrature"`` -- all quadrature nodes of the tau posterior
        (accurate to ~1e-10, see Notes; a few hundred mixture components instead of ~20).
    slab : sequence of str, optional
        Study labels (default "01", "02", ... as bayesmeta).
    delta, epsilon : float
        DIRECT divergence bound and tail probability (bayesmeta's defaults 0.01, 1e-4).

    Returns
    -------
    BayesmetaResult
        ``summary()``, ``post_interval()``, ``dposterior()``, ``pposterior()``,
        ``qposterior()``, ``shrinkage``, ``bayes_factor``, ``marginal_likelihood``,
        ``tidy()``, ``glance()``, ``to_dict()``.

    Notes
    -----
    mu | tau, y is normal with mean ``sum(w y) / sum(w)`` and variance ``1 / sum(w)``,
    ``w_i = 1 / (v_i + tau^2)`` (plus the prior's precision term for a normal mu prior), and
    the marginal likelihood of tau is closed form (Roever 2020, sec. 2.4). The posterior of tau
    is integrated by adaptive 16-point Gauss-Legendre quadrature in log(tau) with panel halving
    to a relative 1e-13; tau's mean, sd, quantiles, mode and intervals come from it. Each
    fit costs O(k) per quadrature node and support point; no k x k matrix is formed.

    *Agreement with bayesmeta 3.4.* With ``method="direct"`` every quantity computed by
    integration or root finding in bayesmeta (means, sds, medians, central intervals, CDFs,
    shrinkage means) agrees to ~1e-12. Modes and shortest intervals differ by up to ~1e-5,
    because bayesmeta locates them with R's ``optimize()`` at its default tolerance (1.2e-4);
    the values here are the exact optima. bayesmeta searches each theta_i's mode only between
    the 10% and 90% quantiles of mu; for an outlying study ketameta's mode lies outside.

    *Accuracy of DIRECT.* The DIRECT discretisation (delta = 0.01) is itself an approximation:
    against ``method="quadrature"`` (and a brute-force two-dimensional integral, which that
    matches to 1e-10) the DIRECT mean of mu differs by ~1e-5 and its sd and interval bounds by
    up to ~1e-3 (relative). With heavy-tailed tau posteriors (k = 3 or 4 with a Lomax, half-
    Cauchy or improper prior) its cut at the ``1 - epsilon`` quantile of tau makes sd(mu) and
    sd(theta_new) too small by a few percent (3.6% for k = 3 and a Lomax(1) prior) -- in
    bayesmeta as well. Use ``method="quadrature"`` (or a smaller ``epsilon``) there.
    Verified against bayesmeta 3.4, published output and a brute-force two-dimensional
    integral; see ``tests/reference/test_bayesmeta.py``.

    Not computed: bayesmeta's joint/marginal ML and MAP estimates, and its Bayes factor for
    mu = 0.

    Examples
    --------
    >>> import ketameta as km
    >>> res = km.bayesmeta([-2.31, -0.46, -2.30, -1.76, -1.26, -2.42],
    ...                    [0.36, 0.31, 0.78, 0.21, 0.41, 2.34], tau_prior=("halfnormal", 0.5))
    >>> print(round(float(res.summary().loc["median", "mu"]), 2))
    -1.58
    """
    y = np.asarray(yi, dtype=float).ravel()
    v = np.asarray(vi, dtype=float).ravel()
    if y.size != v.size:
        raise ModelError(f"yi has {y.size} values but vi has {v.size}.")
    if y.size == 0:
        raise ModelError("No effect sizes were given (k = 0).")
    bad = np.flatnonzero(~np.isfinite(y))
    if bad.size:
        raise ModelError(f"yi must be finite; missing or non-finite value(s) in row(s) "
                         f"{bad.tolist()}.")
    bad = np.flatnonzero(~(np.isfinite(v) & (v > 0)))
    if bad.size:
        raise ModelError(f"Sampling variances must be positive and finite; vi <= 0 or missing "
                         f"in row(s) {bad.tolist()} (values {v[bad].tolist()}).")
    k = y.size
    if slab is None:
        slab = [f"{i + 1:02d}" for i in range(k)]
    else:
        slab = [str(s) for s in slab]
        if len(slab) != k:
            raise ModelError(f"slab has {len(slab)} labels but there are {k} studies.")
    level = _level(level)
    interval = _choice(interval, ("shortest", "central"), "interval")
    method = _choice(method, ("direct", "quadrature"), "method")
    delta = float(delta)
    epsilon = float(epsilon)
    if not (math.isfinite(delta) and delta > 0):
        raise ModelError(f"delta must be > 0; got {delta!r}.")
    if not 0 < epsilon < 1:
        raise ModelError(f"epsilon must lie in (0, 1); got {epsilon!r}.")
    prior = parse_tau_prior(tau_prior, v)
    mu = parse_mu_prior(mu_prior)

    model = NNHM(y, v, mu)
    post = TauPosterior(model, prior)
    if method == "direct":
        taus, w = direct_grid(model, post, delta, epsilon)
    else:
        # nodes below 1e-8 of the data scale act as tau = 0 (moments move by ~tau^2): merged
        # nodes carrying neither mass nor variance (mass * tau^2) are dropped
        tiny = post.node_tau < 1e-8 * post.scale
        load = post.node_mass * (1.0 + (post.node_tau / post.scale) ** 2)
        keep = ~tiny & (load > 1e-17 * load.max())
        taus = np.concatenate([[0.0], post.node_tau[keep]])
        w = np.concatenate([[post.node_mass[tiny].sum()], post.node_mass[keep]])
        taus, w = (taus, w / w.sum()) if w[0] > 0 else (taus[1:], w[1:] / w[1:].sum())
    means, var = model.components(taus)  # (J, k + 2): mu, theta_new, theta_1..k
    mix = NormalMixture(w, means.T, np.sqrt(var.T))
    c = model.center

    table = {}
    t_mean, t_sd = post.mean_sd()
    t_lo, t_hi = post.interval(level, interval)
    table["tau"] = {"mode": post.mode(), "median": float(post.ppf([0.5])[0]),
                    "mean": t_mean, "sd": t_sd, "lower": t_lo, "upper": t_hi}
    med, modes, iv = mix.summaries(level, interval)
    med, modes, iv = med + c, modes + c, iv + c
    for p, g in (("mu", 0), ("theta", 1)):
        table[p] = {"mode": float(modes[g]), "median": float(med[g]),
                    "mean": float(mix.mean[g] + c), "sd": float(mix.sd[g]),
                    "lower": float(iv[g, 0]), "upper": float(iv[g, 1])}
    shrink = pd.DataFrame({"yi": y, "sei": np.sqrt(v), "mode": modes[2:], "median": med[2:],
                           "mean": mix.mean[2:] + c, "sd": mix.sd[2:], "lower": iv[2:, 0],
                           "upper": iv[2:, 1]}, index=pd.Index(slab, name="slab"))
    support = pd.DataFrame({"tau": taus, "weight": w, "mean": means[:, 0] + c,
                            "sd": np.sqrt(var[:, 0]), "sd_pred": np.sqrt(var[:, 1])})

    logml = bf = None
    if mu is not None and post.prior_proper:
        logml = post.logZ
        bf = math.exp(float(model.loglik(np.zeros(1))[0]) - logml)

    return BayesmetaResult(
        yi=y, vi=v, slab=slab, tau_prior=prior, mu_prior=mu, level=level, interval=interval,
        method=method, delta=delta, epsilon=epsilon, _model=model, _post=post, _mix=mix,
        support=support, _table=table, shrinkage=shrink, log_marginal_likelihood=logml,
        bayes_factor=bf)
