"""Forest and funnel plots of a fitted model, for library users (``km.forest(res)``,
``km.funnel(res)``, as metafor's ``forest(res)`` and ``funnel(res)``).

These take a result object of the engine (:func:`~ketameta.rma`, :func:`~ketameta.rma_mv`,
:func:`~ketameta.robust`, :func:`~ketameta.bayesmeta`), read its data and pooled estimate, and
call the figure functions of :mod:`ketameta.outputs.figures`, which take plain data. They hold no
statistics: study intervals are ``yi -/+ z_(1+level)/2 sqrt(vi)`` at the fit's level, the pooled
row is the fit's own estimate, interval and prediction interval (``predict``).

References
----------
Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package. J Stat Softw 36(3)
    (``forest.rma``, ``funnel.rma``).
Peters JL et al. (2008). Contour-enhanced meta-analysis funnel plots help distinguish
    publication bias from other causes of asymmetry. J Clin Epidemiol 61:991-996.
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pandas as pd

__all__ = ["forest_of", "funnel_of"]


def _model(res):
    """The fitted model behind a result (a robust result keeps its model in ``fit``)."""
    return res.fit if hasattr(res, "adjust") and getattr(res, "fit", None) is not None else res


def _level(res) -> float:
    """The fit's confidence level as a proportion (results store percent, bayesmeta a proportion)."""
    lv = float(getattr(res, "level", 95))
    return lv / 100 if lv > 1 else lv


def _labels(model, k):
    slab = getattr(model, "slab", None)
    if slab is not None and len(slab) == k:
        return [str(s) for s in slab]
    return [f"Study {i + 1}" for i in range(k)]


def study_rows(res) -> pd.DataFrame:
    """One row per study of the fit: ``label, yi, ci_lb, ci_ub, weight`` (weight in percent)."""
    model = _model(res)
    yi = np.asarray(model.yi, dtype=float)
    vi = np.asarray(model.vi, dtype=float)
    z = NormalDist().inv_cdf(0.5 + _level(res) / 2)
    sei = np.sqrt(vi)
    rows = pd.DataFrame({"label": _labels(model, yi.size), "yi": yi, "ci_lb": yi - z * sei,
                         "ci_ub": yi + z * sei})
    w = getattr(model, "weights", None)
    if w is not None and not callable(w):
        rows["weight"] = np.asarray(w, dtype=float)
    return rows


def pooled_row(res, label=None) -> dict | None:
    """The pooled estimate of an intercept-only fit (None for a meta-regression)."""
    if hasattr(res, "post_interval"):  # bayesmeta: posterior median, credible and predictive intervals
        lv = _level(res)
        lo, hi = res.post_interval("mu", lv, res.interval)
        plo, phi = res.post_interval("theta", lv, res.interval)
        med = float(res.summary().loc["median", "mu"])
        return {"label": label or "Bayesian RE model", "estimate": med, "ci_lb": lo, "ci_ub": hi,
                "pi_lb": plo, "pi_ub": phi}
    model = _model(res)
    if not (getattr(model, "intercept", False) and len(res.beta) == 1):
        return None
    from ..predict import predict

    pr = predict(res).iloc[0]
    row = {"label": label or ("EE model" if getattr(model, "method", "") == "EE" else "RE model"),
           "estimate": float(pr["pred"]), "ci_lb": float(pr["ci_lb"]), "ci_ub": float(pr["ci_ub"])}
    if "pi_lb" in pr.index and np.isfinite(pr["pi_lb"]) and getattr(model, "method", "") != "EE":
        row["pi_lb"], row["pi_ub"] = float(pr["pi_lb"]), float(pr["pi_ub"])
    return row


def forest_of(res, *, transf=None, xlabel="", label=None, **kwargs):
    """Forest plot of a fitted model: its studies and, for an intercept-only model, the pooled
    diamond with the prediction interval (metafor's ``forest(res)``).

    Parameters
    ----------
    res : RMAResult, RMAMVResult, RobustResult or BayesmetaResult
        The fit. Study labels come from its ``slab`` (``Study 1`` ... otherwise).
    transf : callable, optional
        Back-transformation of every value (``np.exp`` for log ratios: a log axis with the null
        line at 1).
    xlabel : str
        Axis label.
    label : str, optional
        Label of the pooled row (default "RE model", "EE model" or "Bayesian RE model").
    **kwargs
        Passed to :func:`ketameta.outputs.figures.forest` (``width``, ``xlim``, ``favours``,
        ``digits``, ...).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from .figures import forest

    pooled = pooled_row(res, label)
    pct = f"{100 * _level(res):g}%"
    kwargs.setdefault("header", ("Study", f"Estimate [{pct} CI]"))
    return forest(study_rows(res), [pooled] if pooled else None, xlabel=xlabel, transf=transf,
                  **kwargs)


def funnel_of(res, *, xlabel=None, **kwargs):
    """Contour-enhanced funnel plot of a fitted model (metafor's ``funnel(res)``).

    For an intercept-only model the effect sizes are drawn against their standard errors with
    the pooled estimate as the vertical line; for a meta-regression, as metafor does, the
    residuals ``yi - x_i' b`` are drawn around 0. Contours are centred on 0 (the null).

    Parameters
    ----------
    res : RMAResult, RMAMVResult, RobustResult or BayesmetaResult
        The fit.
    xlabel : str, optional
        Axis label (default "Observed outcome", or "Residual value" for a meta-regression).
    **kwargs
        Passed to :func:`ketameta.outputs.figures.funnel` (``contours``, ``width``, ...).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from .figures import funnel

    model = _model(res)
    yi = np.asarray(model.yi, dtype=float)
    sei = np.sqrt(np.asarray(model.vi, dtype=float))
    pooled = pooled_row(res)
    if pooled is not None:
        x, est, lab = yi, pooled["estimate"], "Observed outcome"
    else:
        x, est, lab = yi - model.X @ np.asarray(model.beta), 0.0, "Residual value"
    return funnel(x, sei, est, xlabel=lab if xlabel is None else xlabel, **kwargs)
