"""Heterogeneity (tau) and effect (mu) priors for :func:`ketameta.bayesmeta`.

A tau prior is parsed into a :class:`TauPrior`: a vectorised log density on tau >= 0, whether it
is proper, its support, a typical scale (where the quadrature starts looking), and the power of
its density's right tail (``p(tau) ~ tau^-tail``), which decides whether an improper prior gives
a proper posterior.

Empirical presets (log-scale parameters refer to tau^2, as published; on the tau scale both
location and scale are halved):

* Turner RM, Jackson D, Wei Y, Thompson SG, Higgins JPT (2015). Predictive distributions for
  between-study heterogeneity and simple methods for their application in Bayesian
  meta-analysis. Stat Med 34(6):984-998, Table IV: log-normal priors for tau^2 of log odds
  ratios, 16 outcome types x 5 comparison types, and the general ("any setting") prior
  LN(-2.56, 1.74^2) of p. 993.
* Rhodes KM, Turner RM, Higgins JPT (2015). Predictive distributions were developed for the
  extent of heterogeneity in meta-analyses of continuous outcome data. J Clin Epidemiol
  68(1):52-60, Table 3 (medical areas other than cancer and respiratory): log-t(5) priors for
  tau^2 of standardised mean differences, 8 outcome types x 3 comparison types, and the general
  prior t5(-3.44, 2.59^2) of sec. 3.3.

The numbers are those of bayesmeta 3.4 (``TurnerEtAlParameters``, ``RhodesEtAlParameters``);
they agree with the independent transcription in rnmamod's ``table_tau2_prior()``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np
from scipy import special

from .errors import ModelError

__all__ = ["TAU_PRIOR_PRESETS", "TauPrior", "parse_mu_prior", "parse_tau_prior"]

_LOG2 = math.log(2.0)
_LOG_SQRT_2_PI = 0.5 * math.log(2 * math.pi)

# -- Turner et al. (2015), Table IV: log tau^2 ~ N(mean, sd^2), log odds ratios ---------------
_TURNER_COMPARISONS = ("pharma_vs_placebo", "pharma_vs_pharma", "nonpharma_vs_placebo",
                       "nonpharma_vs_pharma", "nonpharma_vs_nonpharma")
_TURNER_OUTCOMES = ("all_cause_mortality", "obstetric", "cause_specific_mortality",
                    "resource_use", "surgical_device", "withdrawals", "internal_structure",
                    "general_physical_health", "adverse_events", "infection", "signs_symptoms",
                    "pain", "quality_of_life", "mental_health", "biological_markers",
                    "subjective")
_TURNER_MEAN = (  # one row per comparison type, outcomes in the order above
    (-3.95, -3.52, -3.71, -2.34, -2.14, -2.99, -2.71, -2.29, -1.87, -2.49, -2.06, -1.83, -2.54,
     -2.12, -1.77, -2.70),
    (-4.18, -3.75, -3.95, -2.58, -2.37, -3.23, -2.94, -2.53, -2.10, -2.73, -2.29, -2.06, -2.78,
     -2.35, -2.00, -2.93),
    (-4.17, -3.74, -3.93, -2.56, -2.36, -3.21, -2.93, -2.51, -2.10, -2.71, -2.28, -2.05, -2.77,
     -2.34, -1.99, -2.92),
    (-2.92, -2.49, -2.68, -1.31, -1.11, -1.96, -1.67, -1.26, -0.84, -1.46, -1.03, -0.80, -1.51,
     -1.09, -0.74, -1.67),
    (-3.50, -3.08, -3.27, -1.90, -1.69, -2.55, -2.26, -1.85, -1.43, -2.05, -1.61, -1.38, -2.10,
     -1.67, -1.33, -2.26),
)
_TURNER_SD = (
    (1.34, 1.74, 1.74, 1.74, 1.74, 1.74, 1.74, 1.53, 1.52, 1.52, 1.51, 1.52, 1.54, 1.53, 1.52,
     1.52),
    (1.41, 1.79, 1.79, 1.79, 1.79, 1.79, 1.79, 1.58, 1.58, 1.58, 1.58, 1.58, 1.60, 1.60, 1.58,
     1.58),
    (1.55, 1.91, 1.91, 1.91, 1.91, 1.91, 1.92, 1.72, 1.71, 1.71, 1.71, 1.71, 1.73, 1.72, 1.71,
     1.71),
    (1.02, 1.50, 1.51, 1.50, 1.50, 1.51, 1.51, 1.25, 1.24, 1.24, 1.24, 1.25, 1.27, 1.27, 1.24,
     1.25),
    (1.26, 1.68, 1.68, 1.68, 1.68, 1.68, 1.68, 1.46, 1.45, 1.45, 1.45, 1.45, 1.47, 1.47, 1.45,
     1.45),
)
# -- Rhodes et al. (2015), Table 3 ("other" medical areas): log tau^2 ~ t_5(location, scale) ---
_RHODES_COMPARISONS = ("pharma_vs_placebo", "pharma_vs_pharma", "nonpharma")
_RHODES_OUTCOMES = ("obstetric", "resource_use", "internal_structure",
                    "general_physical_health", "signs_symptoms", "mental_health",
                    "biological_marker", "subjective")
_RHODES_LOCATION = ((-4.13, -2.55, -2.43, -3.16, -3.00, -2.99, -3.41, -2.76),
                    (-4.40, -2.83, -2.70, -3.44, -3.27, -3.27, -3.68, -3.03),
                    (-3.99, -2.41, -2.29, -3.02, -2.86, -3.85, -3.27, -2.62))
_RHODES_SCALE = ((2.34, 2.73, 2.50, 2.50, 2.50, 2.16, 2.83, 2.58),
                 (2.31, 2.70, 2.46, 2.44, 2.47, 2.14, 2.78, 2.59),
                 (2.11, 2.57, 2.32, 2.27, 2.33, 1.93, 2.66, 2.41))


def _presets() -> dict:
    out = {"turner2015_general": ("lognormal_tau2", -2.56, 1.74),
           "rhodes2015_general": ("logt_tau2", -3.44, 2.59, 5)}
    for i, cmp_ in enumerate(_TURNER_COMPARISONS):
        for j, outc in enumerate(_TURNER_OUTCOMES):
            out[f"turner2015_{cmp_}_{outc}"] = ("lognormal_tau2", _TURNER_MEAN[i][j],
                                                _TURNER_SD[i][j])
    for i, cmp_ in enumerate(_RHODES_COMPARISONS):
        for j, outc in enumerate(_RHODES_OUTCOMES):
            out[f"rhodes2015_{cmp_}_{outc}"] = ("logt_tau2", _RHODES_LOCATION[i][j],
                                                _RHODES_SCALE[i][j], 5)
    return out


#: Named empirical priors: name -> (family, parameters on the log tau^2 scale).
TAU_PRIOR_PRESETS: dict = _presets()


@dataclass(frozen=True)
class TauPrior:
    """A parsed heterogeneity prior (density of tau, not tau^2)."""

    family: str
    params: tuple
    label: str
    proper: bool
    logpdf_fn: object = field(repr=False)
    support: tuple = (0.0, math.inf)
    scale: float | None = None
    tail: float = math.inf  # density ~ tau^-tail as tau -> inf
    preset: str | None = None

    def logpdf(self, tau) -> np.ndarray:
        """Log density at ``tau`` (an array); ``-inf`` outside the support."""
        t = np.asarray(tau, dtype=float)
        lo, hi = self.support
        inside = (t >= lo) & (t <= hi)
        if inside.all():
            return np.asarray(self.logpdf_fn(t), dtype=float)
        out = np.full(t.shape, -np.inf)
        if inside.any():
            out[inside] = self.logpdf_fn(t[inside])
        return out

    def to_dict(self) -> dict:
        """JSON-serialisable description."""
        return {"family": self.family, "params": [float(p) for p in self.params],
                "label": self.label, "proper": bool(self.proper), "preset": self.preset}


def _positive(name, value, what):
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ModelError(f"{what}: {name} must be a number > 0; got {value!r}.") from None
    if not (math.isfinite(x) and x > 0):
        raise ModelError(f"{what}: {name} must be a finite number > 0; got {value!r}.")
    return x


def _finite(name, value, what):
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ModelError(f"{what}: {name} must be a finite number; got {value!r}.") from None
    if not math.isfinite(x):
        raise ModelError(f"{what}: {name} must be a finite number; got {value!r}.")
    return x


def _callable_prior(fn) -> TauPrior:
    def logpdf(t):
        with np.errstate(divide="ignore", invalid="ignore"):
            try:
                d = np.asarray(fn(t), dtype=float)
                if d.shape != np.shape(t):
                    raise ValueError
            except Exception:  # noqa: BLE001 (a scalar-only user function)
                d = np.array([float(fn(float(x))) for x in np.ravel(t)]).reshape(np.shape(t))
            return np.where(d > 0, np.log(np.where(d > 0, d, 1.0)), -np.inf)

    name = getattr(fn, "__name__", "function")
    # propriety (and normalisation) is settled numerically by the caller (_bayes_core)
    return TauPrior("callable", (), f"user-supplied density ({name})", False, logpdf,
                    tail=math.nan)


def _jeffreys(v) -> TauPrior:
    v = np.asarray(v, dtype=float)

    def logpdf(t):
        t = np.asarray(t, dtype=float)
        x = t[..., None] / (v + t[..., None] ** 2)
        with np.errstate(divide="ignore"):
            return 0.5 * np.log(np.sum(x * x, axis=-1))

    return TauPrior("jeffreys", (), "Jeffreys prior", False, logpdf,
                    scale=float(math.sqrt(np.median(v))), tail=1.0)


def parse_tau_prior(spec, vi) -> TauPrior:
    """Turn a ``tau_prior`` argument into a :class:`TauPrior` (see :func:`bayesmeta`)."""
    what = "tau_prior"
    if callable(spec) and not isinstance(spec, (str, tuple, list)):
        return _callable_prior(spec)
    if isinstance(spec, str):
        key = spec.strip().lower()
        if key == "uniform":
            return TauPrior("uniform", (), "uniform(min=0, max=Inf)", False,
                            lambda t: np.zeros(np.shape(t)), tail=0.0)
        if key == "jeffreys":
            return _jeffreys(vi)
        if key in TAU_PRIOR_PRESETS:
            out = parse_tau_prior(TAU_PRIOR_PRESETS[key], vi)
            return TauPrior(out.family, out.params, out.label, out.proper, out.logpdf_fn,
                            out.support, out.scale, out.tail, preset=key)
        close = [n for n in TAU_PRIOR_PRESETS if re.sub(r"\W", "", key) in n.replace("_", "")]
        hint = f" Did you mean {close[:3]}?" if close else ""
        raise ModelError(
            f"Unknown tau_prior {spec!r}; use 'uniform', 'jeffreys', a preset such as "
            f"'turner2015_general' or 'rhodes2015_general' (all in TAU_PRIOR_PRESETS), a tuple "
            f"like ('halfnormal', 0.5), or a density function.{hint}")
    if not isinstance(spec, (tuple, list)) or not spec:
        raise ModelError(f"tau_prior must be a string, a tuple or a function; got {spec!r}.")
    fam = str(spec[0]).strip().lower().replace("-", "").replace("_", "")
    args = tuple(spec[1:])
    nargs = {"halfnormal": (1,), "halfcauchy": (1,), "lomax": (1,), "uniform": (0, 2),
             "lognormaltau2": (2,), "logttau2": (2, 3)}
    if fam not in nargs:
        raise ModelError(
            f"Unknown tau_prior family {spec[0]!r}; use 'halfnormal', 'halfcauchy', 'lomax', "
            "'uniform', 'lognormal_tau2' or 'logt_tau2'.")
    if len(args) not in nargs[fam]:
        raise ModelError(f"tau_prior {tuple(spec)!r}: {spec[0]!r} takes "
                         f"{' or '.join(map(str, nargs[fam]))} parameter(s), got {len(args)}.")
    if fam == "halfnormal":
        s = _positive("scale", args[0], what)
        c = _LOG2 - _LOG_SQRT_2_PI - math.log(s)
        return TauPrior("halfnormal", (s,), f"half-normal(scale={s:g})", True,
                        lambda t: c - 0.5 * (t / s) ** 2, scale=s)
    if fam == "halfcauchy":
        s = _positive("scale", args[0], what)
        c = math.log(2 / (math.pi * s))
        return TauPrior("halfcauchy", (s,), f"half-Cauchy(scale={s:g})", True,
                        lambda t: c - np.log1p((t / s) ** 2), scale=s, tail=2.0)
    if fam == "lomax":
        s = _positive("scale", args[0], what)
        return TauPrior("lomax", (s,), f"Lomax(shape=1, scale={s:g})", True,
                        lambda t: -math.log(s) - 2.0 * np.log1p(t / s), scale=s, tail=2.0)
    if fam == "uniform":
        if not args:
            return parse_tau_prior("uniform", vi)
        a = _finite("lower bound", args[0], what)
        b = _finite("upper bound", args[1], what)
        if a < 0 or b <= a:
            raise ModelError(f"tau_prior {tuple(spec)!r}: need 0 <= lower < upper; got "
                             f"lower={a:g}, upper={b:g}.")
        c = -math.log(b - a)
        return TauPrior("uniform", (a, b), f"uniform(min={a:g}, max={b:g})", True,
                        lambda t: np.full(np.shape(t), c), support=(a, b),
                        scale=0.5 * (a + b))
    if fam == "lognormaltau2":
        m = _finite("meanlog", args[0], what)
        s = _positive("sdlog", args[1], what)
        mt, st = m / 2, s / 2

        def logpdf(t):  # density 0 at tau = 0 (its limit)
            pos = t > 0
            lt = np.log(np.where(pos, t, 1.0))
            out = -_LOG_SQRT_2_PI - math.log(st) - lt - 0.5 * ((lt - mt) / st) ** 2
            return np.where(pos, out, -np.inf)

        return TauPrior("lognormal_tau2", (m, s),
                        f"log-normal(mu={mt:.3f}, sigma={st:.3f})", True, logpdf,
                        scale=math.exp(mt))
    # log-t on tau^2
    loc = _finite("location", args[0], what)
    sc = _positive("scale", args[1], what)
    df = _positive("df", args[2], what) if len(args) == 3 else 5.0
    lt_, st_ = loc / 2, sc / 2
    cst = (special.gammaln((df + 1) / 2) - special.gammaln(df / 2)
           - 0.5 * math.log(df * math.pi) - math.log(st_))

    def logpdf_t(t):  # at tau = 0 taken as 0, as bayesmeta's dlt5() (the limit is +inf)
        pos = t > 0
        lt = np.log(np.where(pos, t, 1.0))
        z = (lt - lt_) / st_
        return np.where(pos, cst - (df + 1) / 2 * np.log1p(z * z / df) - lt, -np.inf)

    return TauPrior("logt_tau2", (loc, sc, df),
                    f"log-Student-t(location={lt_:.3f}, scale={st_:.3f}, d.f.={df:g})", True,
                    logpdf_t, scale=math.exp(lt_), tail=1.0)


def parse_mu_prior(spec):
    """Return ``None`` (flat) or ``(mean, sd)`` for a ``mu_prior`` argument."""
    if spec is None:
        return None
    if isinstance(spec, str) and spec.strip().lower() in ("uniform", "flat"):
        return None
    if (not isinstance(spec, (tuple, list)) or len(spec) != 3
            or str(spec[0]).strip().lower() != "normal"):
        raise ModelError(f"mu_prior must be None (flat) or ('normal', mean, sd); got {spec!r}.")
    mean = _finite("mean", spec[1], "mu_prior")
    sd = _positive("sd", spec[2], "mu_prior")
    return mean, sd
