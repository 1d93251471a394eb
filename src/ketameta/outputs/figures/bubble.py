"""Bubble plot of a meta-regression (metafor's regplot conventions)."""


from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from .style import (
    as_float,
    figure_width,
    fmt_tick,
    new_figure,
    styled,
)

__all__ = ["bubble"]

# --------------------------------------------------------------------------------------------
# bubble (meta-regression)
# --------------------------------------------------------------------------------------------


@styled
def bubble(
    x: Sequence[float],
    yi: Sequence[float],
    weights: Sequence[float],
    pred_x: Sequence[float],
    pred: Sequence[float],
    ci_lb: Sequence[float],
    ci_ub: Sequence[float],
    pi_lb: Sequence[float] | None = None,
    pi_ub: Sequence[float] | None = None,
    labels: Sequence[str] | None = None,
    *,
    xlabel: str = "",
    ylabel: str = "",
    refline: float | None = 0.0,
    width: str | float = "single",
    height: float | None = None,
) -> Figure:
    """Bubble plot of a meta-regression (metafor's ``regplot``).

    Parameters
    ----------
    x, yi : array-like
        Moderator value and observed effect of each study.
    weights : array-like
        Model weights of the studies (e.g. ``1 / (vi + tau2)``; pass ``1 / vi`` for
        inverse-variance weights). Point size (diameter) grows linearly with the weight from
        3 pt (smallest) to 15 pt (largest), as regplot's ``psize``/``plim``.
    pred_x, pred, ci_lb, ci_ub : array-like
        Fitted line on a grid of moderator values, with its confidence band (shaded).
    pi_lb, pi_ub : array-like, optional
        Prediction interval bounds on the same grid (dotted lines).
    labels : sequence of str, optional
        Text next to each point (e.g. author--year labels).
    xlabel, ylabel : str
        Axis labels.
    refline : float or None, default 0
        Horizontal reference line (dotted).
    width : {"single", "onehalf", "double"} or float
        Figure width. Height defaults to 0.75 × width (single) or 0.5 × width (wider).
    height : float, optional
        Height in inches.

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    The look follows ``regplot()`` [1]_: grey bubbles with black edges, a solid regression
    line, a shaded confidence band bounded by dashed lines, a dotted prediction interval.
    """
    x, yi, w = as_float(x), as_float(yi), as_float(weights)
    px, pr, lo, hi = as_float(pred_x), as_float(pred), as_float(ci_lb), as_float(ci_ub)
    if not (len(x) == len(yi) == len(w)):
        raise ValueError("x, yi and weights must have the same length")
    if not (len(px) == len(pr) == len(lo) == len(hi)):
        raise ValueError("pred_x, pred, ci_lb and ci_ub must have the same length")
    if np.any(w[np.isfinite(w)] < 0):
        raise ValueError("weights must be non-negative")
    W = figure_width(width)
    H = height or (0.75 * W if W < 4 else 0.5 * W)
    fig = new_figure(W, H, layout="constrained")
    ax = fig.add_subplot()
    order = np.argsort(px)
    px, pr, lo, hi = px[order], pr[order], lo[order], hi[order]
    ax.fill_between(px, lo, hi, color="0.88", lw=0, zorder=1)
    ax.plot(px, lo, color="black", lw=0.6, ls=(0, (4, 2)), zorder=2)
    ax.plot(px, hi, color="black", lw=0.6, ls=(0, (4, 2)), zorder=2)
    if pi_lb is not None and pi_ub is not None:
        pl, pu = as_float(pi_lb)[order], as_float(pi_ub)[order]
        ax.plot(px, pl, color="black", lw=0.6, ls=(0, (1, 1.5)), zorder=2)
        ax.plot(px, pu, color="black", lw=0.6, ls=(0, (1, 1.5)), zorder=2)
    ax.plot(px, pr, color="black", lw=1.0, zorder=3)
    if refline is not None:
        ax.axhline(refline, color="0.4", lw=0.5, ls=(0, (1, 2)), zorder=1)
    fin = np.isfinite(w)
    if fin.any():
        wmin, wmax = np.nanmin(w[fin]), np.nanmax(w[fin])
        rel = (w - wmin) / (wmax - wmin) if wmax > wmin else np.full_like(w, 0.5)
    else:
        rel = np.full_like(w, 0.5)
    diam = 3 + 12 * np.where(np.isfinite(rel), rel, 0.5)
    order_pts = np.argsort(-diam)  # large first, small on top
    ax.scatter(
        x[order_pts],
        yi[order_pts],
        s=diam[order_pts] ** 2,
        facecolor="0.62",
        edgecolor="black",
        linewidths=0.5,
        zorder=4,
    )
    if labels is not None:
        if len(labels) != len(x):
            raise ValueError("labels must have one entry per study")
        for xi, yv, d, lab in zip(x, yi, diam, labels):
            ax.annotate(
                str(lab),
                (xi, yv),
                xytext=(d / 2 + 1.5, 0),
                textcoords="offset points",
                ha="left",
                va="center",
                fontsize=5.5,
                color="0.2",
                zorder=5,
            )
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.xaxis.set_major_formatter(FuncFormatter(fmt_tick))
    ax.yaxis.set_major_formatter(FuncFormatter(fmt_tick))
    return fig


