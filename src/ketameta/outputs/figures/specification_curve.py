"""Specification curve: every specification's estimate, sorted, above the choices that made it.

The layout of Simonsohn, Simmons & Nelson (2020, Nat Hum Behav 4:1208-1214) as used for
meta-analyses by Voracek, Kossmeier & Tran (2019, Z Psychol 227:64-82): the upper panel shows the
estimate and confidence interval of every specification, ordered by the estimate; the lower
panel (the choice matrix) marks, for each specification, the option taken on every dimension.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import PathPatch
from matplotlib.path import Path

from .style import PALETTE, as_float, figure_width, new_figure, styled, text_width

__all__ = ["specification_curve"]

_CURVE_IN = 1.45      # height of one curve panel (inches)
_ROW_IN = 0.105       # height of one row of the choice matrix
_GAP_IN = 0.12        # between a curve and its matrix
_PANEL_GAP_IN = 0.42  # between two windows
_TOP_IN, _BOTTOM_IN = 0.22, 0.32
_GREY = "#9A9A9A"
#: up to this many specifications per panel: bars and dots; above: one path of bars, a line
#: for the estimates and the choice matrix as an image
_DOTS_UP_TO = 200
#: above this many the bars and the line are rasterised (file size)
_RASTER_ABOVE = 5000
#: columns of the choice-matrix image above that (about one per printed pixel)
_MATRIX_BINS = 1500


def _limits(lo, hi, reference):
    """The y range of the intervals and the reference line, with a margin."""
    vals = np.concatenate([lo[np.isfinite(lo)], hi[np.isfinite(hi)], [reference]])
    a, b = float(vals.min()), float(vals.max())
    pad = 0.05 * (b - a or 1.0)
    return a - pad, b + pad


@styled
def specification_curve(
    panels: Sequence[Mapping[str, Any]],
    dimensions: Sequence[tuple[str, Sequence[str]]],
    *,
    ylabel: str = "Estimate",
    reference: float = 0.0,
    width: str | float = "double",
) -> Figure:
    """Draw one specification curve with its choice matrix per panel (e.g. per time window).

    Parameters
    ----------
    panels : sequence of mappings
        One per curve: ``title`` (str) and ``rows``, a DataFrame with one row per
        specification: ``estimate``, ``ci_lb``, ``ci_ub``, ``k`` (studies; 1 = a single study,
        drawn as an open marker) and one column per dimension holding the option label taken.
    dimensions : sequence of (name, option labels)
        The choice dimensions in the order of the matrix rows, each with its options.
    ylabel : str
        Label of the estimate axis.
    reference : float
        The null value (a horizontal line; intervals that exclude it are coloured: blue above,
        orange below, grey when they include it).
    width : {"single", "onehalf", "double"} or float
        Figure width.

    Returns
    -------
    matplotlib.figure.Figure

    References
    ----------
    Simonsohn U, Simmons JP, Nelson LD (2020). Specification curve analysis. Nat Hum Behav
    4:1208-1214. Voracek M, Kossmeier M, Tran US (2019). Which data to meta-analyze, and how?
    A specification-curve and multiverse-analysis approach to meta-analysis. Z Psychol 227:64-82.
    """
    if not panels:
        raise ValueError("specification_curve needs at least one panel")
    rows_total = sum(len(opts) for _, opts in dimensions)
    labels = [f"{name} = {opt}" for name, opts in dimensions for opt in opts]
    w = figure_width(width)
    panel_h = _CURVE_IN + _GAP_IN + rows_total * _ROW_IN
    h = _TOP_IN + _BOTTOM_IN + len(panels) * panel_h + (len(panels) - 1) * _PANEL_GAP_IN
    fig = new_figure(w, h)
    left_in = min(max((text_width(fig, s, 6.5) for s in labels), default=0.5) + 0.15, 0.45 * w)
    left_in = max(left_in, 0.6)
    right_in = 0.12
    ax_w = (w - left_in - right_in) / w
    y_top = h - _TOP_IN
    for p in panels:
        frame = pd.DataFrame(p["rows"]).reset_index(drop=True)
        est = as_float(frame["estimate"])
        order = np.argsort(est, kind="stable")
        frame = frame.iloc[order].reset_index(drop=True)
        est, lo, hi = (as_float(frame[c]) for c in ("estimate", "ci_lb", "ci_ub"))
        k = as_float(frame["k"]) if "k" in frame else np.full(len(frame), 2.0)
        n = len(frame)
        x = np.arange(1, n + 1)
        dots = n <= _DOTS_UP_TO
        raster = n > _RASTER_ABOVE
        # ---- curve -------------------------------------------------------------------------
        ax = fig.add_axes((left_in / w, (y_top - _CURVE_IN) / h, ax_w, _CURVE_IN / h))
        colour = np.where(lo > reference, PALETTE[0], np.where(hi < reference, PALETTE[1], _GREY))
        if dots:
            ax.vlines(x, lo, hi, colors=colour, linewidth=0.5)
            single = k < 2
            ax.scatter(x[~single], est[~single], s=6, c=colour[~single], linewidths=0, zorder=3)
            ax.scatter(x[single], est[single], s=6, facecolors="white", edgecolors=colour[single],
                       linewidths=0.5, zorder=3)
        else:
            # many specifications: the intervals of one colour as one path of segments (fast to
            # build and draw, small files; added as an artist: the limits are set below), the
            # sorted estimates as a line
            for c in (PALETTE[0], PALETTE[1], _GREY):
                sel = np.flatnonzero((colour == c) & np.isfinite(lo) & np.isfinite(hi))
                if not sel.size:
                    continue
                verts = np.empty((2 * sel.size, 2))
                verts[0::2, 0] = verts[1::2, 0] = x[sel]
                verts[0::2, 1], verts[1::2, 1] = lo[sel], hi[sel]
                codes = np.tile([Path.MOVETO, Path.LINETO], sel.size).astype(Path.code_type)
                ax.add_artist(PathPatch(Path(verts, codes), edgecolor=c, facecolor="none",
                                        linewidth=0.3, alpha=0.6, rasterized=raster))
            ax.plot(x, est, color="black", linewidth=0.6, rasterized=raster)
            ax.set_ylim(*_limits(lo, hi, reference))
        ax.axhline(reference, color="black", linewidth=0.6)
        if n:
            ax.axhline(float(np.median(est)), color="black", linewidth=0.6, linestyle=(0, (3, 2)))
        ax.set_xlim(0.5, n + 0.5)
        ax.set_xticks([])
        ax.spines["bottom"].set_visible(False)
        ax.set_ylabel(ylabel)
        share = float(np.mean(lo > reference)) if n else float("nan")
        ax.set_title(f"{p.get('title', '')}: {n} specifications; CI above {reference:g} in "
                     f"{share:.0%}; dashed: median", loc="left")
        # ---- choice matrix -----------------------------------------------------------------
        mh = rows_total * _ROW_IN
        mx = fig.add_axes((left_in / w, (y_top - _CURVE_IN - _GAP_IN - mh) / h, ax_w, mh / h))
        taken = np.zeros((rows_total, n), dtype=bool)
        r = 0
        for name, opts in dimensions:
            col = frame[name].astype(str).to_numpy() if name in frame else np.array([""] * n)
            for opt in opts:
                taken[r] = col == str(opt)
                r += 1
        if dots:
            yy, xx = np.nonzero(taken)
            mx.scatter(x[xx], yy, s=3, c="black", linewidths=0)
        else:
            # many specifications: the matrix as an image, one cell per specification (beyond
            # _MATRIX_BINS columns, a cell is the share of its specifications taking the option)
            img = taken.astype(float)
            if n > _MATRIX_BINS:
                edges = np.unique(np.linspace(0, n, _MATRIX_BINS + 1).astype(int))
                img = np.add.reduceat(img, edges[:-1], axis=1) / np.diff(edges)[None, :]
            # each option a thin strip in the middle of its row (blank rows above and below)
            strips = np.zeros((3 * img.shape[0], img.shape[1]))
            strips[1::3] = img
            mx.imshow(strips, cmap="Greys", vmin=0, vmax=1, aspect="auto", interpolation="nearest",
                      extent=(0.5, n + 0.5, rows_total - 0.5, -0.5))
        bounds = np.cumsum([len(o) for _, o in dimensions])[:-1] - 0.5
        for b in bounds:
            mx.axhline(b, color=_GREY, linewidth=0.4)
        mx.set_ylim(rows_total - 0.5, -0.5)
        mx.set_xlim(0.5, n + 0.5)
        mx.set_yticks(range(rows_total), labels)
        mx.tick_params(axis="y", length=0)
        mx.set_xticks([])
        for s in ("top", "right", "bottom", "left"):
            mx.spines[s].set_visible(False)
        y_top -= panel_h + _PANEL_GAP_IN
    many = any(len(p["rows"]) > _DOTS_UP_TO for p in panels)
    fig.text(left_in / w, _BOTTOM_IN / h * 0.4, "Specifications, ordered by the estimate; "
             + ("line: estimates; bars: confidence intervals; matrix: options taken" if many else
                "filled: pooled (k >= 2), open: a single study; bars: confidence intervals"),
             fontsize=6.5, ha="left", va="center")
    return fig
