"""Forest plot (metafor's forest conventions; Viechtbauer 2010, J Stat Softw 36(3))."""


from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Polygon
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator
from matplotlib.transforms import blended_transform_factory

from ..format import fmt_ci
from .style import (
    STYLE,
    as_float,
    figure_width,
    fmt_tick,
    frame,
    new_figure,
    nice_ratio_ticks,
    resolve_clip,
    styled,
    text_width,
    truncate,
    wrap,
)

__all__ = ["forest"]


def _rob_columns(fig, ax, rob, cols, y_rows, y_head, W, pad, cell, fs, palette):
    """robvis-coloured circles with their symbols, one column per domain, at the right edge."""
    from .rob import ROB_LEVELS, ROB_PALETTES, ROB_SYMBOLS

    pal = ROB_PALETTES[palette]
    bad = {v for c in cols for v in rob[c].dropna().unique() if v not in ROB_LEVELS}
    if bad:
        raise ValueError(f"forest: unknown risk-of-bias judgement(s) {sorted(bad)}; expected {ROB_LEVELS}")
    tr = blended_transform_factory(fig.transFigure, ax.transData)
    for j, c in enumerate(cols):
        x = (W - pad - cell * (len(cols) - j - 0.5)) / W
        head = "O" if c == "overall" else c.split("_")[0]
        ax.text(x, y_head, head, transform=tr, ha="center", va="center", fontsize=fs, weight="bold")
        for y, v in zip(y_rows, rob[c].tolist()):
            if not isinstance(v, str) or not v:
                continue
            ax.scatter([x], [y], s=(fs * 1.2) ** 2, color=pal[v], edgecolors="#333333", linewidths=0.3,
                       transform=tr, zorder=6, clip_on=False)
            ax.text(x, y, ROB_SYMBOLS[v], transform=tr, ha="center", va="center", fontsize=fs - 1.5,
                    weight="bold", zorder=7)
    fig.text((W - pad) / W, 0.02, "Risk of bias (RoB 2): + low, - some concerns, x high, ? no information; "
             "blank: not assessed", ha="right", va="bottom", fontsize=fs - 1, color="0.25")

# --------------------------------------------------------------------------------------------
# forest
# --------------------------------------------------------------------------------------------


@styled
def forest(
    rows: pd.DataFrame | Iterable[Mapping[str, Any]],
    pooled: Sequence[Mapping[str, Any]] | None = None,
    *,
    xlabel: str = "",
    transf: Callable[[np.ndarray], np.ndarray] | None = None,
    refline: float | None = 0.0,
    show_weights: bool = True,
    xlim: tuple[float, float] | None = None,
    clip: str | tuple[float, float] | None = "auto",
    xscale: str | None = None,
    digits: int = 2,
    favours: tuple[str, str] | None = None,
    header: tuple[str, str] = ("Study", "Estimate [95% CI]"),
    width: str | float = "single",
    fontsize: float | None = None,
    height: float | None = None,
    rob: pd.DataFrame | None = None,
    rob_palette: str = "cochrane",
    key: bool = True,
) -> Figure:
    """Forest plot: one row per study, pooled estimates as diamonds (metafor's ``forest``).

    Parameters
    ----------
    rows : DataFrame or iterable of mappings
        Columns ``label``, ``yi``, ``ci_lb``, ``ci_ub`` and optionally ``weight`` (percent), in
        the order to draw (top to bottom), on the model scale (e.g. log RR, Fisher z).
    pooled : list of mappings, optional
        Summary rows: ``label``, ``estimate``, ``ci_lb``, ``ci_ub`` and optionally ``pi_lb``,
        ``pi_ub`` (prediction interval, drawn as a line with end bars through the diamond).
    xlabel : str
        Axis label.
    transf : callable, optional
        Back-transformation applied to every estimate, bound and the reference line before
        drawing (``np.exp`` for log ratios, ``np.tanh`` for Fisher z). With ``np.exp`` the
        axis is logarithmic, so ratios are drawn on their natural scale with symmetric CIs.
    refline : float or None, default 0
        Reference line on the model scale (drawn at ``transf(refline)``, i.e. 1 for ratios).
    show_weights : bool, default True
        Print the ``weight`` column (as percent) when present.
    xlim : (float, float), optional
        Axis limits on the drawn scale; intervals beyond them end in an arrow.
    clip : "auto", "none"/None or (float, float), default "auto"
        Range beyond which intervals (CIs, prediction intervals, diamonds) are cut and end in an
        arrow, so that one huge interval does not squash the others (RevMan's convention):
        ``"auto"`` is the estimates' and null line's spread on either side of them
        (:func:`.style.clip_range`), a pair fixes the axis range on the drawn scale, None draws
        every interval whole. ``xlim`` wins when given.
    xscale : {"linear", "log"}, optional
        Default: ``"log"`` if ``transf is np.exp`` else ``"linear"``. On a log axis the ticks
        are ratios (0.5, 1, 2, ...) and the reference line is at ``transf(refline)`` = 1.
    digits : int, default 2
        Decimals of the annotations.
    favours : (str, str), optional
        Texts under the axis, left and right of the reference line (e.g. ``("Favours
        control", "Favours ketamine")``).
    header : (str, str)
        Headers of the label column and the annotation column.
    width : {"single", "onehalf", "double"} or float, default "single"
        Figure width. Labels longer than the room left beside the plot (which keeps at least 22%
        of the width) are shortened with an ellipsis; use ``"double"`` for long labels.
    fontsize : float, optional
        Text size in points (default 6 for a single column, 7 for wider figures).
    height : float, optional
        Height in inches (default: 0.17 in per row plus margins; a given height spreads the rows).
    rob : DataFrame, optional
        Risk-of-bias judgements drawn at the right edge, one row per study row (same order),
        one column per domain (e.g. ``D1_randomisation`` ... ``overall``), values ``low``,
        ``some_concerns``, ``high``, ``no_information`` or empty (not assessed / not applicable).
        As R meta's ``forest(..., rob = )`` with robvis colours and symbols.
    rob_palette : {"cochrane", "colourblind"}
        robvis palette of the risk-of-bias columns.
    key : bool, default True
        A key under the plot naming what is drawn (study squares and what their size means,
        pooled diamonds, prediction intervals, arrows of intervals cut at the axis limit).

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    Layout follows metafor's ``forest()`` [1]_: square markers with area proportional to the
    weight (to the inverse squared CI width when no weight is given), horizontal CI lines, a
    dotted vertical reference line, summary diamonds spanning the CI, and an annotation column
    "estimate [CI]" on the drawn scale. The height is 0.17 in per row plus margins.
    """
    df = frame(rows, ["label", "yi", "ci_lb", "ci_ub"], "forest rows")
    pooled = [dict(p) for p in (pooled or [])]
    for p in pooled:
        missing = [c for c in ("label", "estimate", "ci_lb", "ci_ub") if c not in p]
        if missing:
            raise KeyError(f"pooled row {p.get('label', '?')!r} needs {missing}")
    tf = transf or (lambda a: a)
    if xscale is None:
        xscale = "log" if transf is np.exp else "linear"
    k, npool = len(df), len(pooled)
    if k == 0 and npool == 0:
        raise ValueError("forest needs at least one row")
    yi = tf(as_float(df["yi"]))
    lb = tf(as_float(df["ci_lb"]))
    ub = tf(as_float(df["ci_ub"]))
    has_w = "weight" in df.columns and show_weights and df["weight"].notna().any()
    if "weight" in df.columns and df["weight"].notna().all():
        w = as_float(df["weight"])
    else:
        se = (as_float(df["ci_ub"]) - as_float(df["ci_lb"])) / (2 * 1.959964)
        with np.errstate(divide="ignore", invalid="ignore"):
            w = np.where(np.isfinite(se) & (se > 0), 1 / se**2, np.nan)
    wmax = np.nanmax(w) if k and np.isfinite(w).any() else 1.0
    sizes = np.where(np.isfinite(w), 6 + 44 * np.sqrt(np.clip(w, 0, None) / wmax) ** 2, 12)

    p_est = tf(as_float([p["estimate"] for p in pooled])) if npool else np.array([])
    p_lb = tf(as_float([p["ci_lb"] for p in pooled])) if npool else np.array([])
    p_ub = tf(as_float([p["ci_ub"] for p in pooled])) if npool else np.array([])
    p_pilb = tf(as_float([p.get("pi_lb", np.nan) for p in pooled])) if npool else np.array([])
    p_piub = tf(as_float([p.get("pi_ub", np.nan) for p in pooled])) if npool else np.array([])
    ref = None if refline is None else float(tf(np.asarray(float(refline))))

    if xlim is None:
        vals = np.concatenate(
            [lb, ub, yi, p_lb, p_ub, p_pilb, p_piub, [ref] if ref is not None else []]
        )
        vals = vals[np.isfinite(vals)]
        if xscale == "log":
            vals = vals[vals > 0]
        lim = resolve_clip(clip, np.concatenate([yi, p_est]), ref, xscale == "log", vals)
        fixed = lim is not None and not (isinstance(clip, str) and clip == "auto")
        if fixed:
            xlim = lim
        else:
            lo, hi = vals.min(), vals.max()
            if lim is not None:
                lo, hi = max(lo, lim[0]), min(hi, lim[1])
            if xscale == "log":
                lo, hi = np.log(lo), np.log(hi)
                pad = 0.06 * (hi - lo or 1.0)
                xlim = (float(np.exp(lo - pad)), float(np.exp(hi + pad)))
            else:
                pad = 0.06 * (hi - lo or 1.0)
                xlim = (float(lo - pad), float(hi + pad))
    x0, x1 = xlim

    # geometry (inches)
    W = figure_width(width)
    fs = float(fontsize) if fontsize else (6.0 if W < 4.5 else STYLE["font.size"])
    key_lines = _key_lines(W, fs, k, npool, "weight" in df.columns and df["weight"].notna().any(),
                           bool(np.isfinite(p_pilb).any() and np.isfinite(p_piub).any()),
                           bool(np.any(lb < x0) or np.any(ub > x1) or np.any(p_lb < x0) or np.any(p_ub > x1)
                                or np.any(p_pilb < x0) or np.any(p_piub > x1))) if key else []
    key_h = 0.11 * len(key_lines) * fs / 6.0
    rh = 0.17
    gap = 0.6 if npool and k else 0.0
    n_lines = 1 + k + gap + npool
    top = 0.12
    bottom = (0.42 + (0.14 if favours else 0.0) + (0.0 if xlabel else -0.12)
              + (0.12 if rob is not None else 0.0) + key_h)
    H = float(height) if height else top + (n_lines + 0.6) * rh + bottom
    fig = new_figure(W, H)

    ann = [fmt_ci(e, lo_, hi_, digits) for e, lo_, hi_ in zip(yi, lb, ub)]
    ann += [fmt_ci(e, lo_, hi_, digits) for e, lo_, hi_ in zip(p_est, p_lb, p_ub)]
    ann = [a.replace("-", "\u2212") for a in ann]
    wtxt = []
    if has_w:
        wtxt = [("" if not np.isfinite(v) else f"{v:.1f}%") for v in as_float(df["weight"])]
    pad, sep = 0.04, 0.08
    ann_w = max(
        [text_width(fig, t, fs, "bold" if i >= k else "normal") for i, t in enumerate(ann)]
        + [text_width(fig, header[1], fs, "bold")]
    )
    w_w = (
        max([text_width(fig, t, fs) for t in wtxt] + [text_width(fig, "Weight", fs, "bold")])
        if has_w
        else 0.0
    )
    rob_cols = list(rob.columns) if rob is not None else []
    if rob is not None and len(rob) != k:
        raise ValueError(f"forest: rob has {len(rob)} rows for {k} study rows")
    cell = 0.2  # inches per risk-of-bias column
    rob_w = (cell * len(rob_cols) + sep) if rob_cols else 0.0
    right = W - pad - rob_w - ann_w - (w_w + sep if has_w else 0.0) - sep
    # labels get what is left once the plot has at least 22% of the width; longer ones are cut
    max_label_w = right - 0.22 * W - sep - pad
    if max_label_w < 0.4:
        raise ValueError(
            "forest: the annotation columns leave too little room for labels and plot; "
            "use a wider figure (width='double')"
        )
    label_texts = [str(x) for x in df["label"]] + [str(p["label"]) for p in pooled]
    label_texts = [
        truncate(fig, t, max_label_w, fs, "bold" if i >= k else "normal")
        for i, t in enumerate(label_texts)
    ]
    label_w = max(
        [text_width(fig, t, fs, "bold" if i >= k else "normal") for i, t in enumerate(label_texts)]
        + [text_width(fig, header[0], fs, "bold")]
    )
    left = pad + label_w + sep
    ax = fig.add_axes((left / W, bottom / H, (right - left) / W, (H - top - bottom) / H))
    ax.set_xscale(xscale)
    ax.set_xlim(x0, x1)
    y_rows = -np.arange(k, dtype=float)
    y_pool = -(k + gap + np.arange(npool, dtype=float)) if npool else np.array([])
    y_head = 1.0
    ax.set_ylim(-(k + gap + npool - 1) - 0.7 if (k + npool) else -1, y_head + 0.6)
    for s in ("left", "right", "top"):
        ax.spines[s].set_visible(False)
    ax.yaxis.set_major_locator(NullLocator())
    ax.spines["bottom"].set_bounds(x0, x1)
    if xscale == "log":
        ax.xaxis.set_major_locator(FixedLocator(nice_ratio_ticks(x0, x1)))
        ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(fmt_tick))
    ax.tick_params(axis="x", labelsize=fs - 0.5)
    if xlabel:
        ax.set_xlabel(xlabel, labelpad=14 if favours else 3, fontsize=fs)
    if ref is not None and x0 <= ref <= x1:
        ax.axvline(ref, color="0.35", lw=0.6, ls=(0, (1, 1.5)), zorder=1)

    # study rows
    for i in range(k):
        y = y_rows[i]
        if not (np.isfinite(yi[i])):
            continue
        lo_i, hi_i = lb[i], ub[i]
        if np.isfinite(lo_i) and np.isfinite(hi_i):
            ax.plot(
                [max(lo_i, x0), min(hi_i, x1)],
                [y, y],
                color="black",
                lw=0.8,
                zorder=2,
                solid_capstyle="butt",
            )
            if lo_i < x0:
                ax.plot([x0], [y], marker="<", color="black", ms=3, zorder=3)
            if hi_i > x1:
                ax.plot([x1], [y], marker=">", color="black", ms=3, zorder=3)
        if x0 <= yi[i] <= x1:
            ax.scatter([yi[i]], [y], s=sizes[i], marker="s", color="black", zorder=4, linewidths=0)

    # pooled rows
    if npool and k:
        ax.axhline(-(k - 1) - (1 + gap) / 2, color="black", lw=0.4)
    for j in range(npool):
        y = y_pool[j]
        if np.isfinite(p_pilb[j]) and np.isfinite(p_piub[j]):
            ax.plot(
                [max(p_pilb[j], x0), min(p_piub[j], x1)], [y, y], color="0.25", lw=0.8, zorder=2
            )
            for xe in (p_pilb[j], p_piub[j]):
                if x0 <= xe <= x1:
                    ax.plot([xe, xe], [y - 0.18, y + 0.18], color="0.25", lw=0.8, zorder=2)
            if p_pilb[j] < x0:
                ax.plot([x0], [y], marker="<", color="0.25", ms=3, zorder=3)
            if p_piub[j] > x1:
                ax.plot([x1], [y], marker=">", color="0.25", ms=3, zorder=3)
        h = 0.36
        poly = Polygon(
            [(p_lb[j], y), (p_est[j], y + h), (p_ub[j], y), (p_est[j], y - h)],
            closed=True,
            facecolor="0.15",
            edgecolor="black",
            lw=0.5,
            zorder=5,
            clip_on=True,
        )
        ax.add_patch(poly)
        if p_lb[j] < x0:  # a diamond cut at the axis limit ends in an arrow
            ax.plot([x0], [y], marker="<", color="black", ms=3.5, zorder=6, clip_on=False)
        if p_ub[j] > x1:
            ax.plot([x1], [y], marker=">", color="black", ms=3.5, zorder=6, clip_on=False)

    # text columns (figure x, data y)
    tr = blended_transform_factory(fig.transFigure, ax.transData)
    xl, xa = pad / W, (W - pad - rob_w) / W
    xw = (W - pad - rob_w - ann_w - sep) / W
    kw = {"transform": tr, "va": "center", "fontsize": fs}
    ax.text(xl, y_head, header[0], ha="left", weight="bold", **kw)
    ax.text(xa, y_head, header[1], ha="right", weight="bold", **kw)
    if has_w:
        ax.text(xw, y_head, "Weight", ha="right", weight="bold", **kw)
    ys = list(y_rows) + list(y_pool)
    for i, (t, y, a) in enumerate(zip(label_texts, ys, ann)):
        weight = "bold" if i >= k else "normal"
        ax.text(xl, y, t, ha="left", weight=weight, **kw)
        ax.text(xa, y, a, ha="right", weight=weight, **kw)
    for t, y in zip(wtxt, y_rows):
        ax.text(xw, y, t, ha="right", **kw)
    if rob_cols:
        _rob_columns(fig, ax, rob, rob_cols, y_rows, y_head, W, pad, cell, fs, rob_palette)
    if favours:
        # either side of the reference line ("Favours control | Favours treatment"), as in
        # RevMan/metafor; without a reference line, at the ends of the axis
        if ref is not None and x0 < ref < x1:
            spots = ((ref, -4, favours[0], "right"), (ref, 4, favours[1], "left"))
            coords = blended_transform_factory(ax.transData, ax.transAxes)
        else:
            spots = ((0, 0, favours[0], "left"), (1, 0, favours[1], "right"))
            coords = ax.transAxes
        for x, dx, t, ha in spots:
            ax.annotate(
                t,
                xy=(x, 0),
                xycoords=coords,
                xytext=(dx, -11),
                textcoords="offset points",
                ha=ha,
                va="top",
                fontsize=fs - 0.5,
                color="0.25",
            )
    if key_lines:
        y_key = 0.02 + (0.12 if rob_cols else 0.0)
        fig.text(pad / W, (y_key + key_h) / H, "\n".join(key_lines), ha="left", va="top",
                 fontsize=fs - 1, color="0.25", linespacing=1.25)
    return fig


def _key_lines(W, fs, k, npool, weights, pi, arrows):
    """The key under a forest plot, wrapped to the figure width (measured)."""
    parts = []
    if k:
        parts.append("\u25a0 study estimate" + (" (area \u221d weight)" if weights else "")
                     + " with 95% CI")
    if npool:
        parts.append("\u25c6 pooled estimate (width: 95% CI)")
    if pi:
        parts.append("line through \u25c6: 95% prediction interval")
    if arrows:
        parts.append("\u25c0 \u25b6 interval continues beyond the axis")
    if not parts:
        return []
    probe = new_figure(W, 1.0)
    return wrap(probe, "; ".join(parts), W - 0.1, fs - 1)


