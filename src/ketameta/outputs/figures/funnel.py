"""Contour-enhanced funnel plot (Peters et al. 2008, J Clin Epidemiol 61:991-996)."""


from __future__ import annotations

from collections.abc import Sequence
from statistics import NormalDist

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Polygon
from matplotlib.ticker import FuncFormatter

from .style import (
    as_float,
    figure_width,
    fmt_tick,
    new_figure,
    ratio_axis,
    styled,
)

__all__ = ["funnel"]

# --------------------------------------------------------------------------------------------
# funnel
# --------------------------------------------------------------------------------------------


@styled
def funnel(
    yi: Sequence[float],
    sei: Sequence[float],
    estimate: float,
    contours: Sequence[float] = (0.90, 0.95, 0.99),
    *,
    center: float = 0.0,
    xlabel: str = "Effect size",
    ylabel: str = "Standard error",
    shades: Sequence[str] | None = None,
    background: str = "0.93",
    ratio: bool = False,
    width: str | float = "single",
    height: float | None = None,
    fontsize: float | None = None,
) -> Figure:
    """Contour-enhanced funnel plot (Peters et al. 2008).

    Parameters
    ----------
    yi, sei : array-like
        Effect sizes and their standard errors.
    estimate : float
        Pooled estimate (solid vertical line).
    contours : sequence of float, default (0.90, 0.95, 0.99)
        Confidence levels of the significance contours, ascending. Each contour is
        ``center ± z_{(1+level)/2} · SE``: studies outside the 95% contour are significant at
        p < 0.05 (two-sided) against ``center``.
    center : float, default 0
        Value the significance contours are centred on (the null effect).
    xlabel, ylabel : str
        Axis labels.
    shades : sequence of str, optional
        Fill colours from the innermost region outwards (one per contour); default white, then
        greys as in metafor's ``funnel(level = c(90, 95, 99), shade = c("white", "gray55",
        "gray75"))``. Beyond the last contour the ``background`` colour shows.
    background : str, default "0.93"
        Colour of the region beyond the outermost contour.
    ratio : bool, default False
        ``yi``, ``estimate`` and ``center`` are log ratios (log OR, log RR): the effect axis is
        drawn on the ratio scale on a log axis (ticks 0.5, 1, 2, ...; the contours stay straight
        lines) with the null at ``exp(center)`` = 1.
    width : {"single", "onehalf", "double"} or float
        Figure width; height defaults to 0.85 × width (single) or 0.5 × width.
    height : float, optional
        Height in inches.
    fontsize : float, optional
        Base text size in points (default 7).

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    The caller decides whether k is large enough for a funnel plot to be informative (a common
    rule is k >= 10). The standard-error axis is inverted (precise studies at the top) [1]_,
    [2]_.
    """
    yi, sei = as_float(yi), as_float(sei)
    if len(yi) != len(sei):
        raise ValueError("yi and sei must have the same length")
    if np.any(sei[np.isfinite(sei)] <= 0):
        raise ValueError("standard errors must be positive")
    levels = [float(c) for c in contours]
    if any(not 0 < c < 1 for c in levels) or levels != sorted(levels):
        raise ValueError("contours must be ascending confidence levels in (0, 1)")
    shades = (
        list(shades)
        if shades is not None
        else ["white", "0.55", "0.75", "0.85", "0.9"][: len(levels)]
    )
    if len(shades) < len(levels):
        raise ValueError("give one shade per contour")
    W = figure_width(width)
    H = height or (0.85 * W if W < 4 else 0.5 * W)
    fig = new_figure(W, H, layout="constrained")
    ax = fig.add_subplot()
    ax.set_facecolor(background)
    se_max = float(np.nanmax(sei)) * 1.08 if len(sei) else 1.0
    zs = [NormalDist().inv_cdf(0.5 + c / 2) for c in levels]
    span = (
        max(
            zs[-1] * se_max,
            float(np.nanmax(np.abs(yi - center))) if len(yi) else 0.0,
            abs(estimate - center),
        )
        * 1.08
    )
    # regions from the outermost contour inwards, each a triangle with its apex at (center, 0)
    tf = np.exp if ratio else (lambda v: v)
    for z, shade in reversed(list(zip(zs, shades))):
        ax.add_patch(
            Polygon(
                [(tf(center - z * se_max), se_max), (tf(center), 0.0), (tf(center + z * se_max), se_max)],
                closed=True,
                facecolor=shade,
                edgecolor="none",
                zorder=0,
            )
        )
    for z in zs:
        ax.plot(
            [tf(center - z * se_max), tf(center), tf(center + z * se_max)],
            [se_max, 0, se_max],
            color="0.4",
            lw=0.4,
            zorder=1,
        )
    ax.axvline(tf(estimate), color="black", lw=0.8, zorder=2)
    ax.scatter(tf(yi), sei, s=12, color="black", zorder=3, linewidths=0)
    ax.set_xlim(tf(center - span), tf(center + span))
    ax.set_ylim(se_max, 0)
    fs = float(fontsize) if fontsize else 7.0
    ax.set_xlabel(xlabel, fontsize=fs)
    ax.set_ylabel(ylabel, fontsize=fs)
    ax.tick_params(labelsize=fs - 0.5)
    if ratio:
        ratio_axis(ax, "x", tf(center - span), tf(center + span))
    else:
        ax.xaxis.set_major_formatter(FuncFormatter(fmt_tick))
    ax.yaxis.set_major_formatter(FuncFormatter(fmt_tick))
    for s in ("top", "right"):
        ax.spines[s].set_visible(True)
    ps = [1 - c for c in levels]  # e.g. 0.10, 0.05, 0.01
    labels = [f"p > {ps[0]:.2f}"]
    labels += [f"{ps[i + 1]:.2f} < p \u2264 {ps[i]:.2f}" for i in range(len(ps) - 1)]
    labels += [f"p \u2264 {ps[-1]:.2f}"]
    handles = [
        Patch(facecolor=c, edgecolor="0.4", lw=0.4)
        for c in list(shades[: len(levels)]) + [background]
    ]
    handles += [Line2D([], [], ls="none", marker="o", ms=3, color="black"),
                Line2D([], [], color="black", lw=0.8)]
    labels += ["Study", "Pooled estimate"]
    fig.legend(
        handles,
        labels,
        loc="outside lower center",
        ncol=2,
        fontsize=fs - 1,
        handlelength=1.2,
        columnspacing=1.2,
    )
    return fig


