"""Bubble plot of a meta-regression (metafor's regplot conventions)."""


from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from .style import (
    as_float,
    figure_width,
    fmt_tick,
    new_figure,
    ratio_axis,
    resolve_clip,
    study_styles,
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
    refline: float | None = None,
    study_ids: Sequence[str] | None = None,
    ratio: bool = False,
    clip: str | tuple[float, float] | None = "auto",
    width: str | float = "single",
    height: float | None = None,
    fontsize: float | None = None,
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
    refline : float, optional
        Horizontal reference line (dotted); default 1 for ratios, else 0.
    study_ids : sequence of str, optional
        Stable id of each point's study: the bubble's colour and marker come from it
        (:func:`.style.study_style`), the same as in the study's other figures. Default: the
        labels; without labels, grey circles.
    ratio : bool, default False
        ``yi``, the line and bands are ratios: log effect axis with ratio ticks, null line at 1.
    clip : "auto", "none"/None or (float, float), default "auto"
        Effect-axis range (bands beyond it are cut by the axes; see :func:`.style.clip_range`).
    width : {"single", "onehalf", "double"} or float
        Figure width. Height defaults to 0.75 × width (single) or 0.5 × width (wider).
    height : float, optional
        Height in inches.
    fontsize : float, optional
        Base text size in points (default 7).

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
    if ratio and np.any(np.concatenate([yi, pr, lo, hi])[
            np.isfinite(np.concatenate([yi, pr, lo, hi]))] <= 0):
        raise ValueError("ratio=True needs positive values (ratios, not log ratios)")
    ref = (1.0 if ratio else 0.0) if refline is None else refline
    W = figure_width(width)
    H = height or (0.75 * W if W < 4 else 0.5 * W)
    fs = float(fontsize) if fontsize else 7.0
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
    if ref is not None:
        ax.axhline(ref, color="0.4", lw=0.5, ls=(0, (1, 2)), zorder=1)
    fin = np.isfinite(w)
    if fin.any():
        wmin, wmax = np.nanmin(w[fin]), np.nanmax(w[fin])
        rel = (w - wmin) / (wmax - wmin) if wmax > wmin else np.full_like(w, 0.5)
    else:
        rel = np.full_like(w, 0.5)
    diam = 3 + 12 * np.where(np.isfinite(rel), rel, 0.5)
    if labels is not None and len(labels) != len(x):
        raise ValueError("labels must have one entry per study")
    ids = [str(v) for v in (study_ids if study_ids is not None else (labels or []))]
    if ids and len(ids) != len(x):
        raise ValueError("study_ids must have one entry per study")
    styles = study_styles(ids) if ids else {}
    for i in np.argsort(-diam, kind="stable"):  # large first, small on top
        colour, marker = styles[ids[i]] if ids else ("0.62", "o")
        ax.scatter([x[i]], [yi[i]], s=diam[i] ** 2, marker=marker, facecolor=colour, alpha=0.85,
                   edgecolor="black", linewidths=0.5, zorder=4)
    if labels is not None:
        for xi, yv, d, lab in zip(x, yi, diam, labels):
            ax.annotate(
                str(lab),
                (xi, yv),
                xytext=(d / 2 + 1.5, 0),
                textcoords="offset points",
                ha="left",
                va="center",
                fontsize=fs - 1.5,
                color="0.2",
                zorder=5,
            )
    # the effect axis: estimates and the null line decide; a band beyond is cut by the axes
    bounds = np.concatenate([yi, lo, hi, [ref]] + ([as_float(pi_lb), as_float(pi_ub)]
                                                   if pi_lb is not None and pi_ub is not None else []))
    bounds = bounds[np.isfinite(bounds) & ((bounds > 0) if ratio else True)]
    lim = resolve_clip(clip, np.concatenate([yi, pr]), ref, ratio, bounds)
    if lim is not None and isinstance(clip, str):  # auto: the data, narrowed to the range
        b0, b1 = max(bounds.min(), lim[0]), min(bounds.max(), lim[1])
        if ratio:
            a, b = np.log(b0), np.log(b1)
            pad = 0.06 * (b - a or 1.0)
            lim = (float(np.exp(a - pad)), float(np.exp(b + pad)))
        else:
            pad = 0.06 * (b1 - b0 or 1.0)
            lim = (b0 - pad, b1 + pad)
    if lim is not None:
        ax.set_ylim(*lim)
    if ratio:
        y0, y1 = ax.get_ylim()
        ratio_axis(ax, "y", y0, y1)
    else:
        ax.yaxis.set_major_formatter(FuncFormatter(fmt_tick))
    ax.xaxis.set_major_formatter(FuncFormatter(fmt_tick))
    ax.set_xlabel(xlabel, fontsize=fs)
    ax.set_ylabel(ylabel, fontsize=fs)
    ax.tick_params(labelsize=fs - 0.5)
    handles = [
        Line2D([], [], ls="none", marker="o", ms=5, markerfacecolor="0.62", markeredgecolor="black",
               markeredgewidth=0.5),
        Line2D([], [], color="black", lw=1.0),
        Patch(facecolor="0.88", edgecolor="black", lw=0.6, ls=(0, (4, 2))),
    ]
    labs = ["Study (area \u221d weight)", "Meta-regression line", "95% CI of the line"]
    if pi_lb is not None and pi_ub is not None:
        handles.append(Line2D([], [], color="black", lw=0.6, ls=(0, (1, 1.5))))
        labs.append("95% prediction interval")
    if ref is not None:
        handles.append(Line2D([], [], color="0.4", lw=0.5, ls=(0, (1, 2))))
        labs.append(f"No effect ({fmt_tick(ref)})")
    fig.legend(handles, labs, loc="outside lower center", ncol=3 if W > 4 else 2,
               fontsize=fs - 0.5, handlelength=1.8, columnspacing=1.0)
    return fig


