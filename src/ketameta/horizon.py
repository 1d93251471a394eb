"""How long an effect lasts: where a fitted time course crosses a threshold.

For a meta-regression of effects on a function of time, ``y = b0 + b1 f(t)`` (``f = log`` for
the log-linear time course), two horizons answer "how many days?":

* the **crossing time** ``t*`` at which the fitted effect equals a threshold ``c`` (0, or a
  minimal important difference such as SMD 0.2): ``f(t*) = (c - b0) / b1``, with a delta-method
  interval on the ``f`` scale (Oehlert 1992) back-transformed to days;
* the **last time the effect is distinguishable from the threshold**: the latest ``t`` at which
  the lower confidence bound of the fitted effect exceeds ``c`` (inverting the pointwise test).

Both use the model's own inference: z or t for :func:`ketameta.rma` and :func:`ketameta.rma_mv`
fits, and for a cluster-robust fit (:func:`ketameta.robust`, CR2) the Satterthwaite df of each
contrast (the delta-method gradient, each prediction row), as clubSandwich does.

References
----------
Oehlert GW (1992). A note on the delta method. Am Stat 46:27-29.
Tipton E, Pustejovsky JE (2015). Small-sample adjustments for tests of moderators and model fit
    using robust variance estimation in meta-regression. J Educ Behav Stat 40:604-634.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize

from ._dist import norm_isf, t_isf
from ._result import Result, num
from .errors import ModelError
from .predict import predict

__all__ = ["horizon", "HorizonResult", "TRANSFORMS"]

#: time transformations of the moderator: name -> (f, f^-1)
TRANSFORMS = {"log": (np.log, np.exp), "identity": (lambda t: t, lambda x: x)}


@dataclass(repr=False, eq=False)
class HorizonResult(Result):
    """Crossing time with its interval, and the last time the effect exceeds the threshold."""

    threshold: float
    crossing: float | None
    crossing_ci: tuple
    crossing_status: str
    last_time: float | None
    last_status: str
    df: float | None
    level: float
    transform: str
    grid: tuple
    method: str = ""
    notes: list = field(default_factory=list)

    def _record(self) -> dict:
        return {"threshold": self.threshold, "crossing": num(self.crossing),
                "crossing_ci": [num(x) for x in self.crossing_ci], "crossing_status": self.crossing_status,
                "last_time": num(self.last_time), "last_status": self.last_status, "df": num(self.df),
                "level": self.level, "transform": self.transform, "grid": list(self.grid),
                "method": self.method, "notes": list(self.notes)}

    def __repr__(self) -> str:
        ci = ", ".join("NA" if x is None else f"{x:.3g}" for x in self.crossing_ci)
        return (f"Horizon at {self.threshold:g}: crossing {self.crossing_status}"
                + (f" at {self.crossing:.3g} [{ci}]" if self.crossing is not None else "")
                + f"; last time above: {self.last_status}"
                + (f" ({self.last_time:.3g})" if self.last_time is not None else ""))


def _crit(fit, a, contrast):
    """Critical value and df for one contrast of the fit's coefficients."""
    if hasattr(fit, "contrast_df"):
        df = fit.contrast_df(contrast)
        return float(t_isf(a / 2, df)), float(df)
    dfs = getattr(fit, "dfs", None)
    if dfs is None:
        return float(norm_isf(a / 2)), None
    return float(t_isf(a / 2, dfs)), float(dfs)


def horizon(fit, threshold: float = 0.0, *, transform: str = "log", grid=(40 / 1440, 28.0),
            level=None, n_grid: int = 400) -> HorizonResult:
    """Where the fitted time course ``b0 + b1 f(t)`` crosses ``threshold``, and until when it stays above.

    Parameters
    ----------
    fit : RMAResult, RMAMVResult or RobustResult
        A model with two coefficients: the intercept and the slope on ``f(t)``.
    threshold : float
        The effect the horizon refers to (0: no effect; e.g. 0.2: a small SMD).
    transform : {"log", "identity"}
        The function of time the model was fitted on.
    grid : (float, float)
        Range of times searched for the last time above the threshold (inclusive).
    level : float, optional
        Confidence level in percent (default: the fit's).

    Returns
    -------
    HorizonResult
        ``crossing`` (None when the line does not cross downwards: ``b1 >= 0``, or it starts
        below the threshold) with its delta-method ``crossing_ci``; ``last_time`` (None when the
        lower bound is at or below the threshold already at the start of the grid; the end of
        the grid when it never gets there) and the statuses in words.
    """
    if transform not in TRANSFORMS:
        raise ModelError(f"transform must be one of {sorted(TRANSFORMS)}, got {transform!r}")
    f, finv = TRANSFORMS[transform]
    b = np.asarray(fit.beta, dtype=float).ravel()
    V = np.asarray(fit.vb, dtype=float)
    if b.size != 2:
        raise ModelError(f"horizon needs an intercept and one slope (2 coefficients), got {b.size}")
    lvl = float(fit.level if level is None else level)
    a = 1 - lvl / 100
    c = float(threshold)
    lo_t, hi_t = (float(x) for x in grid)
    if not 0 < lo_t < hi_t:
        raise ModelError("grid must be two increasing positive times")
    # crossing time (delta method on the f scale)
    b0, b1 = b
    crossing, ci, status, df = None, (None, None), "", None
    if b1 >= 0:
        status = "the fitted effect does not decrease over time"
    elif b0 + b1 * f(lo_t) <= c:
        status = f"the fitted effect is at or below {c:g} from the start of the range"
    else:
        g = (c - b0) / b1
        grad = np.array([-1.0 / b1, -(c - b0) / b1**2])
        se_g = math.sqrt(float(grad @ V @ grad))
        crit, df = _crit(fit, a, grad)
        crossing = float(finv(g))
        ci = (float(finv(g - crit * se_g)), float(finv(g + crit * se_g)))
        status = "fitted effect crosses the threshold"
    # last time the lower bound exceeds the threshold (pointwise test inversion)
    times = np.exp(np.linspace(math.log(lo_t), math.log(hi_t), n_grid))

    def lower(t_):
        pr = predict(fit, newmods=np.atleast_1d(f(np.atleast_1d(t_))), level=lvl)
        return pr["ci_lb"].to_numpy() - c

    low = lower(times)
    if low[0] <= 0:
        last, lstatus = None, f"not distinguishable from {c:g} at the first time of the range"
    elif low[-1] > 0:
        last, lstatus = hi_t, f"still above {c:g} at the end of the range (day {hi_t:g})"
    else:
        j = int(np.argmax(low <= 0))
        root = optimize.brentq(lambda u: float(lower(math.exp(u))[0]), math.log(times[j - 1]),
                               math.log(times[j]), xtol=1e-12)
        last, lstatus = float(math.exp(root)), f"lower confidence bound reaches {c:g}"
    method = ("delta method on " + ("log(days)" if transform == "log" else "days") + ", "
              + ("cluster-robust covariance, Satterthwaite df per contrast" if hasattr(fit, "contrast_df")
                 else ("z" if df is None else f"t with {df:.2f} df")))
    return HorizonResult(threshold=c, crossing=crossing, crossing_ci=ci, crossing_status=status,
                         last_time=last, last_status=lstatus, df=df, level=lvl, transform=transform,
                         grid=(lo_t, hi_t), method=method)
