"""The time course of an effect after one dose: log-linear and exponential-decay curves.

Every time point of every trial enters one model. The effect of trial ``i`` at time ``t`` is

* log-linear: ``theta_i(t) = b0 + b1 log(t) + u_i`` (``b0`` is the effect at day 1), or
* exponential decay toward zero: ``theta_i(t) = A exp(-lambda t) + u_i`` (half-life
  ``log(2) / lambda``),

with a between-trial random effect ``u_i ~ N(0, tau^2)`` shared by a trial's time points, and
sampling errors that are correlated within a trial (the same patients are measured repeatedly):
``cov(e_it, e_is) = rho sqrt(v_it v_is)`` with ``rho`` assumed (Cochrane Handbook 6.2.3 /
Elbourne et al. 2002 practice; varied in the sensitivity analysis). The covariance of a trial's
block is ``V_i + tau^2 J`` and its inverse and determinant follow from the Sherman-Morrison
identity, so the likelihood at a whole grid of ``tau`` (and ``lambda``) values costs one pass
over the blocks: no k x k matrix.

Two kinds of inference:

* **Bayesian**, by numerical integration (as R's bayesmeta does for one pool; Roever 2020): flat
  prior on the linear coefficients (``b0, b1`` or ``A``), a prior on ``tau`` (half-normal by
  default; Friede et al. 2017, Roever et al. 2021 for few studies) and, for the exponential
  curve, a log-uniform prior on the half-life. The coefficients are integrated out
  analytically; the posterior of ``tau`` (and ``lambda``) is evaluated on a grid; posterior
  draws (grid cell, then coefficients from their conditional normal) give the curve's band,
  the day the effect falls below a threshold, and the probability that it exceeds the threshold
  on a given day.
* **Maximum likelihood**, for model comparison by AIC (log-linear vs exponential).

References
----------
Roever C (2020). Bayesian random-effects meta-analysis using the bayesmeta R package. J Stat
    Softw 93(6). doi:10.18637/jss.v093.i06
Friede T, Roever C, Wandel S, Neuenschwander B (2017). Meta-analysis of few small studies in
    orphan diseases. Res Synth Methods 8:79-91.
Roever C, Bender R, Dias S, et al. (2021). On weakly informative prior distributions for the
    heterogeneity parameter in Bayesian random-effects meta-analysis. Res Synth Methods
    12:448-474.
Elbourne DR et al. (2002). Meta-analyses involving cross-over trials: methodological issues.
    Int J Epidemiol 31:140-149.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ._result import Result, num
from .errors import ModelError

__all__ = ["timecourse", "TimecourseResult", "SHAPES"]

SHAPES = ("loglinear", "exponential")
_LOG2 = math.log(2.0)


# -- blocks ---------------------------------------------------------------------------------------

class _Blocks:
    """Per-trial pieces: V_i^-1 quantities that make the likelihood at any tau one pass."""

    def __init__(self, y, v, t, cluster, rho):
        codes, self.labels = pd.factorize(pd.Series(cluster).astype(str))
        self.y, self.v, self.t = y, v, t
        self.rows = [np.flatnonzero(codes == c) for c in range(len(self.labels))]
        self.Vinv, self.logdetV = [], []
        for r in self.rows:
            sd = np.sqrt(v[r])
            V = rho * np.outer(sd, sd)
            np.fill_diagonal(V, v[r])
            try:
                c = np.linalg.cholesky(V)
            except np.linalg.LinAlgError:
                raise ModelError("the within-trial covariance is not positive definite; lower rho") from None
            inv = np.linalg.inv(V)
            self.Vinv.append(0.5 * (inv + inv.T))
            self.logdetV.append(2.0 * float(np.sum(np.log(np.diag(c)))))

    def sums(self, X, taus):
        """For each tau: X'S^-1X (n_tau, p, p), X'S^-1y (n_tau, p), y'S^-1y, log|S| (n_tau,)."""
        taus2 = np.asarray(taus, dtype=float) ** 2
        p = X.shape[1]
        XSX = np.zeros((taus2.size, p, p))
        XSy = np.zeros((taus2.size, p))
        ySy = np.zeros(taus2.size)
        logdet = np.zeros(taus2.size)
        for r, Vi, ld in zip(self.rows, self.Vinv, self.logdetV):
            Xr, yr = X[r], self.y[r]
            a = Vi.sum(axis=1)                      # V^-1 1
            s = float(a.sum())                      # 1'V^-1 1
            XVX = Xr.T @ Vi @ Xr
            XVy = Xr.T @ Vi @ yr
            yVy = float(yr @ Vi @ yr)
            Xa, ya = Xr.T @ a, float(yr @ a)
            c = taus2 / (1.0 + taus2 * s)           # Sherman-Morrison factor
            XSX += XVX[None] - c[:, None, None] * np.outer(Xa, Xa)[None]
            XSy += XVy[None] - c[:, None] * (Xa * ya)[None]
            ySy += yVy - c * ya * ya
            logdet += ld + np.log1p(taus2 * s)
        return XSX, XSy, ySy, logdet


def _gls(XSX, XSy, ySy):
    """beta-hat, its covariance, the residual quadratic form and log|X'S^-1X| per grid point."""
    cov = np.linalg.inv(XSX)
    beta = np.einsum("nij,nj->ni", cov, XSy)
    Q = ySy - np.einsum("ni,ni->n", beta, XSy)
    _, ld = np.linalg.slogdet(XSX)
    return beta, cov, Q, ld


# -- priors ---------------------------------------------------------------------------------------

def _tau_logprior(prior, taus):
    from scipy import stats  # imported where needed (slow to import)

    kind = prior[0] if isinstance(prior, (tuple, list)) else prior
    if kind == "halfnormal":
        s = float(prior[1])
        return stats.halfnorm.logpdf(taus, scale=s)
    if kind == "halfcauchy":
        s = float(prior[1])
        return stats.halfcauchy.logpdf(taus, scale=s)
    if kind == "uniform":
        lo, hi = float(prior[1]), float(prior[2])
        return np.where((taus >= lo) & (taus <= hi), -math.log(hi - lo), -np.inf)
    raise ModelError(f"tau prior must be ('halfnormal', s), ('halfcauchy', s) or ('uniform', a, b); got {prior!r}")


def _tau_grid(prior, y, n):
    """Tau values dense near 0 (tau = top u^2) with their trapezoid weights (Jacobian included)."""
    from scipy import stats  # imported where needed (slow to import)

    kind = prior[0] if isinstance(prior, (tuple, list)) else prior
    if kind == "uniform":
        top = float(prior[2])
    else:
        scale = float(prior[1])
        q = stats.halfnorm.isf(1e-6, scale=scale) if kind == "halfnormal" else stats.halfcauchy.isf(1e-3, scale=scale)
        top = max(q, 3.0 * float(np.std(y)) + 1e-9)
    u = np.linspace(0.0, 1.0, n)
    taus = top * u * u
    w = np.full(n, 1.0 / (n - 1))
    w[[0, -1]] *= 0.5
    return taus, w * 2.0 * top * u  # d tau = 2 top u du


# -- result ---------------------------------------------------------------------------------------

@dataclass(repr=False, eq=False)
class TimecourseResult(Result):
    """A fitted time course: posterior summaries, the band, horizons, probabilities and ML fit."""

    shape: str
    k: int
    n_trials: int
    rho: float
    tau_prior: tuple
    params: pd.DataFrame           # rows: parameters; columns median, mean, sd, lower, upper
    curve: pd.DataFrame            # time_days, median, lower, upper
    horizons: dict                 # threshold -> {median, lower, upper, p_beyond_end, ...}
    probabilities: dict            # "P(effect > c at day t)" -> value
    ml: dict                       # logLik, AIC, estimates
    level: float
    draws: int
    seed: int | None
    notes: list = field(default_factory=list)

    def _record(self) -> dict:
        return {"shape": self.shape, "k": self.k, "n_trials": self.n_trials, "rho": self.rho,
                "tau_prior": list(self.tau_prior),
                "params": {r: {c: num(v) for c, v in row.items()} for r, row in self.params.iterrows()},
                "curve": {c: [num(x) for x in self.curve[c]] for c in self.curve.columns},
                "horizons": {str(k): {kk: (num(vv) if not isinstance(vv, str) else vv) for kk, vv in v.items()}
                             for k, v in self.horizons.items()},
                "probabilities": {k: num(v) for k, v in self.probabilities.items()},
                "ml": {k: (num(v) if not isinstance(v, (list, str)) else v) for k, v in self.ml.items()},
                "level": self.level, "draws": self.draws, "seed": self.seed, "notes": list(self.notes)}

    def __repr__(self) -> str:
        lines = [f"Time course ({self.shape}; {self.k} effects in {self.n_trials} trials; rho = {self.rho:g})",
                 self.params.to_string(float_format="{:.4f}".format)]
        for c, h in self.horizons.items():
            lines.append(f"effect falls below {c}: day {h['median']:.2f} [{h['lower']:.2f}, {h['upper']:.2f}]")
        lines += [f"{k}: {v:.3f}" for k, v in self.probabilities.items()]
        lines.append(f"ML: logLik = {self.ml['logLik']:.3f}, AIC = {self.ml['AIC']:.3f}")
        return "\n".join(lines)


# -- fitting --------------------------------------------------------------------------------------

def _design(shape, t, lam=None):
    if shape == "loglinear":
        return np.column_stack([np.ones_like(t), np.log(t)])
    return np.exp(-lam * t)[:, None]


def _log_marginal(blocks, X, taus, log_prior_tau):
    """Log p(y | tau) with the coefficients integrated out (flat prior), + log prior, per tau."""
    XSX, XSy, ySy, logdet = blocks.sums(X, taus)
    beta, cov, Q, ldX = _gls(XSX, XSy, ySy)
    lp = log_prior_tau - 0.5 * (logdet + ldX + Q)
    return lp, beta, cov


def _profile(blocks, shape, t, lam, taus):
    X = _design(shape, t, lam)
    XSX, XSy, ySy, logdet = blocks.sums(X, taus)
    beta, cov, Q, _ = _gls(XSX, XSy, ySy)
    return -0.5 * (logdet + Q + t.size * math.log(2 * math.pi)), beta, cov, X


def _ml(blocks, shape, t, lam_grid):
    """Maximum-likelihood fit: profile over tau (grid, then bounded Brent on log tau, and tau = 0)
    and, for the exponential curve, over lambda (grid, then Brent on log lambda).
    """
    from scipy import optimize

    taus = np.concatenate([[0.0], np.exp(np.linspace(math.log(1e-5), math.log(10.0), 300))])

    def best_tau(lam):
        ll, beta, cov, _ = _profile(blocks, shape, t, lam, taus)
        j = int(np.argmax(ll))
        if j == 0:
            return float(ll[0]), 0.0
        lo, hi = math.log(taus[max(j - 1, 1)]), math.log(taus[min(j + 1, taus.size - 1)])
        r = optimize.minimize_scalar(lambda u: -_profile(blocks, shape, t, lam, np.array([math.exp(u)]))[0][0],
                                     bounds=(lo, hi), method="bounded", options={"xatol": 1e-12})
        return (-float(r.fun), math.exp(r.x)) if -r.fun >= ll[j] else (float(ll[j]), float(taus[j]))

    if shape == "loglinear":
        lam = None
        ll, tau = best_tau(None)
    else:
        lls = [best_tau(lam)[0] for lam in lam_grid]
        j = int(np.argmax(lls))
        lo, hi = math.log(lam_grid[min(j + 1, len(lam_grid) - 1)]), math.log(lam_grid[max(j - 1, 0)])
        r = optimize.minimize_scalar(lambda u: -best_tau(math.exp(u))[0], bounds=(min(lo, hi), max(lo, hi)),
                                     method="bounded", options={"xatol": 1e-10})
        lam = math.exp(r.x) if -r.fun >= lls[j] else float(lam_grid[j])
        ll, tau = best_tau(lam)
    _, beta, cov, X = _profile(blocks, shape, t, lam, np.array([tau]))
    beta, cov = beta[0], cov[0]
    n_par = X.shape[1] + 1 + (0 if shape == "loglinear" else 1)
    out = {"logLik": ll, "AIC": -2 * ll + 2 * n_par, "n_par": n_par, "tau": tau, "tau2": tau * tau,
           "beta": [float(b) for b in beta], "se": [float(x) for x in np.sqrt(np.diag(cov))]}
    if lam is not None:
        out["lambda"] = float(lam)
        out["half_life"] = _LOG2 / float(lam)
    return out


def timecourse(yi, vi, time_days, cluster, *, shape="loglinear", rho=0.5, tau_prior=("halfnormal", 0.5),
               half_life_range=(0.25, 60.0), thresholds=(0.2, 0.5), days=(3.0, 7.0), horizon=(40 / 1440, 28.0),
               window=None, level=95, draws=20000, seed=None, n_tau=241, n_lambda=121) -> TimecourseResult:
    """Fit the time course of an effect after one dose (see the module docstring).

    Parameters
    ----------
    yi, vi : array_like
        Effect sizes (positive = benefit) and their sampling variances.
    time_days : array_like
        Time of each effect since the dose, in days (> 0).
    cluster : array_like
        Trial of each effect (a trial's time points share its random effect and correlate).
    shape : {"loglinear", "exponential"}
        The curve.
    rho : float
        Assumed correlation of a trial's sampling errors at different times, in [0, 1).
    tau_prior : tuple
        ``("halfnormal", s)``, ``("halfcauchy", s)`` or ``("uniform", a, b)``.
    half_life_range : (float, float)
        Support (days) of the log-uniform prior on the half-life (exponential curve).
    thresholds : sequence of float
        Effects whose crossing day is estimated (e.g. SMD 0.2 and 0.5).
    days : sequence of float
        Days at which P(effect > threshold) is reported (for the first threshold).
    horizon : (float, float)
        Time range of the curve's band (days).
    window : (float, float), optional
        A claimed duration (days): the posterior probabilities that each threshold is crossed
        before, within and after it are reported (``p_before_window``, ``p_in_window``,
        ``p_after_window``).
    level : float
        Credible level in percent.
    draws : int
        Posterior draws for the band, horizons and probabilities.
    seed : int, optional
        Random seed (results are reproducible given the seed).

    Returns
    -------
    TimecourseResult
    """
    y = np.asarray(yi, dtype=float)
    v = np.asarray(vi, dtype=float)
    t = np.asarray(time_days, dtype=float)
    cl = np.asarray(cluster)
    if shape not in SHAPES:
        raise ModelError(f"shape must be one of {SHAPES}, got {shape!r}")
    if not (y.size == v.size == t.size == cl.size) or y.size == 0:
        raise ModelError("yi, vi, time_days and cluster must have the same (non-zero) length")
    if not (np.all(np.isfinite(y)) and np.all(v > 0) and np.all(t > 0)):
        raise ModelError("yi must be finite, vi > 0 and time_days > 0")
    if not 0 <= rho < 1:
        raise ModelError("rho must lie in [0, 1)")
    n_trials = len(pd.unique(pd.Series(cl).astype(str)))
    p = 2 if shape == "loglinear" else 1
    if y.size < p + 1 or (shape == "loglinear" and np.unique(t).size < 2):
        raise ModelError(f"a {shape} time course needs at least {p + 1} effects at two or more times")
    blocks = _Blocks(y, v, t, cl, rho)
    taus, wt = _tau_grid(tau_prior, y, n_tau)
    lpt = _tau_logprior(tau_prior, taus)
    lo_h, hi_h = (float(h) for h in half_life_range)
    if shape == "loglinear":
        lams = np.array([np.nan])
        wl = np.array([1.0])
    else:
        hl = np.exp(np.linspace(math.log(lo_h), math.log(hi_h), n_lambda))
        lams = _LOG2 / hl
        wl = np.full(n_lambda, 1.0 / (n_lambda - 1))    # log-uniform prior: uniform in log half-life
        wl[[0, -1]] *= 0.5
    logpost, betas, covs = [], [], []
    for lam in lams:
        X = _design(shape, t, lam)
        lp, b, c = _log_marginal(blocks, X, taus, lpt)
        logpost.append(lp)
        betas.append(b)
        covs.append(c)
    logpost = np.array(logpost)                          # (n_lam, n_tau)
    betas, covs = np.array(betas), np.array(covs)        # (n_lam, n_tau, p), (n_lam, n_tau, p, p)
    with np.errstate(divide="ignore"):
        logw = logpost + np.log(wt)[None, :] + np.log(wl)[:, None]
    logw[~np.isfinite(logw)] = -np.inf
    w = np.exp(logw - np.max(logw))
    w /= w.sum()
    rng = np.random.default_rng(seed)
    cell = rng.choice(w.size, size=draws, p=w.ravel())
    il, it = np.unravel_index(cell, w.shape)
    mean = betas[il, it]
    chol = np.linalg.cholesky(covs[il, it])
    bdraw = mean + np.einsum("nij,nj->ni", chol, rng.standard_normal((draws, p)))
    tau_d = taus[it]
    a = (100 - float(level)) / 200
    grid = np.exp(np.linspace(math.log(horizon[0]), math.log(horizon[1]), 120))

    def mu(times):
        times = np.atleast_1d(times)
        if shape == "loglinear":
            return bdraw[:, :1] + bdraw[:, 1:2] * np.log(times)[None, :]
        return bdraw[:, :1] * np.exp(-lams[il][:, None] * times[None, :])

    band = mu(grid)
    curve = pd.DataFrame({"time_days": grid, "median": np.median(band, axis=0),
                          "lower": np.quantile(band, a, axis=0), "upper": np.quantile(band, 1 - a, axis=0)})

    def summ(x):
        x = np.asarray(x, dtype=float)
        fin = x[np.isfinite(x)]
        return {"median": float(np.median(x)), "mean": float(np.mean(fin)) if fin.size == x.size else math.nan,
                "sd": float(np.std(fin)) if fin.size == x.size else math.nan,
                "lower": float(np.quantile(x, a)), "upper": float(np.quantile(x, 1 - a))}

    # exact posterior means and SDs of the coefficients and tau (mixture over the grid)
    m_b = np.einsum("lt,ltj->j", w, betas)
    m2_b = np.einsum("lt,ltj->j", w, betas**2 + np.diagonal(covs, axis1=2, axis2=3))
    m_tau = float(np.sum(w * taus[None, :]))
    sd_tau = math.sqrt(max(float(np.sum(w * taus[None, :] ** 2)) - m_tau**2, 0.0))

    def exact(summary, mean, sd):
        summary.update(mean=float(mean), sd=float(sd))
        return summary

    sd_b = np.sqrt(np.maximum(m2_b - m_b**2, 0.0))
    if shape == "loglinear":
        params = {"b0 (effect at day 1)": exact(summ(bdraw[:, 0]), m_b[0], sd_b[0]),
                  "b1 (per log-day)": exact(summ(bdraw[:, 1]), m_b[1], sd_b[1]),
                  "tau": exact(summ(tau_d), m_tau, sd_tau)}
    else:
        hl_all = _LOG2 / lams
        m_hl = float(np.sum(w * hl_all[:, None]))
        sd_hl = math.sqrt(max(float(np.sum(w * hl_all[:, None] ** 2)) - m_hl**2, 0.0))
        params = {"A (effect at day 0)": exact(summ(bdraw[:, 0]), m_b[0], sd_b[0]),
                  "half-life (days)": exact(summ(_LOG2 / lams[il]), m_hl, sd_hl),
                  "tau": exact(summ(tau_d), m_tau, sd_tau)}
    horizons = {}
    for c in thresholds:
        c = float(c)
        if shape == "loglinear":
            b0, b1 = bdraw[:, 0], bdraw[:, 1]
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                ts = np.where(b1 < 0, np.exp((c - b0) / b1), np.where(b0 + b1 * math.log(horizon[0]) > c, np.inf, 0.0))
        else:
            A = bdraw[:, 0]
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                ts = np.where(A > c, np.log(A / c) / lams[il], 0.0)
        ts = np.clip(ts, 0.0, np.inf)
        h = summ(np.minimum(ts, 1e6))
        h.update({"p_below_at_start": float(np.mean(ts <= horizon[0])),
                  "p_beyond_end": float(np.mean(ts >= horizon[1]))})
        for d in days:
            h[f"p_above_at_day_{d:g}"] = float(np.mean(ts > d))
        if window is not None:
            w0, w1 = (float(x) for x in window)
            h.update({"p_before_window": float(np.mean(ts < w0)),
                      "p_in_window": float(np.mean((ts >= w0) & (ts <= w1))),
                      "p_after_window": float(np.mean(ts > w1))})
        horizons[c] = h
    probabilities = {}
    c0 = float(thresholds[0])
    for d in days:
        probabilities[f"P(effect > {c0:g} at day {d:g})"] = float(np.mean(mu(d)[:, 0] > c0))
    probabilities["P(effect > 0 at day 1)"] = float(np.mean(mu(1.0)[:, 0] > 0))
    ml = _ml(blocks, shape, t, lams if shape == "exponential" else None)
    notes = [f"tau prior {tau_prior}; flat prior on the curve's coefficients"
             + ("" if shape == "loglinear" else f"; half-life log-uniform on [{lo_h:g}, {hi_h:g}] days"),
             f"posterior by numerical integration over a grid of {n_tau} tau values"
             + ("" if shape == "loglinear" else f" x {n_lambda} half-lives") + f"; {draws} draws (seed {seed})"]
    return TimecourseResult(shape=shape, k=int(y.size), n_trials=n_trials, rho=float(rho), tau_prior=tuple(tau_prior),
                            params=pd.DataFrame(params).T[["median", "mean", "sd", "lower", "upper"]],
                            curve=curve, horizons=horizons, probabilities=probabilities, ml=ml,
                            level=float(level), draws=int(draws), seed=seed, notes=notes)
