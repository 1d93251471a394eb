"""Publication figures: forest, bubble, durability, funnel, effect direction, PRISMA 2020.

Every function takes plain data (DataFrames, arrays, dicts -- never model objects) and returns a
:class:`matplotlib.figure.Figure` of a journal width; :func:`savefig_all` writes it as PDF, SVG
and PNG with byte-identical output for identical input.

Conventions
-----------
* **Size.** ``width="single"`` is one journal column (89 mm), ``"double"`` the full page width
  (183 mm), ``"onehalf"`` 120 mm; a number is taken as inches. Heights follow the content
  (e.g. a fixed height per forest-plot row). Figures are never saved with ``bbox_inches="tight"``,
  so the saved size is exactly the requested size.
* **Fonts.** DejaVu Sans (bundled with matplotlib, so the same on every machine), 7 pt text.
  PDF embeds TrueType fonts (``pdf.fonttype = 42``: editable text, no Type 3 bitmaps). SVG
  stores glyphs as paths (``svg.fonttype = "path"``): the SVG then looks identical in every
  browser and editor, whether or not DejaVu Sans is installed, and needs no font files; the
  cost is that SVG text is not selectable (the PDF's is).
* **Determinism.** No timestamps (PDF ``CreationDate``, SVG ``Date``, PNG ``Software`` are
  dropped), a fixed ``svg.hashsalt`` for SVG element ids, and only constrained layout or
  explicit geometry (no randomness). Figures are built with :class:`matplotlib.figure.Figure`
  directly, not pyplot, so there is no global figure state and nothing to close.
* **Text is literal.** Study labels and other strings from data are drawn exactly as given:
  mathtext is off (``text.parse_math = False``), so a ``$`` in a label never turns into maths.
  Use Unicode for symbols in axis labels (τ², I², ≥).
* **Colours.** Greys and the Okabe--Ito colour-blind-safe palette.

References
----------
.. [1] Viechtbauer W. Conducting meta-analyses in R with the metafor package. J Stat Softw.
   2010;36(3):1-48. doi:10.18637/jss.v036.i03 (forest and regplot conventions).
.. [2] Peters JL, Sutton AJ, Jones DR, Abrams KR, Rushton L. Contour-enhanced meta-analysis
   funnel plots help distinguish publication bias from other causes of asymmetry. J Clin
   Epidemiol. 2008;61(10):991-996. doi:10.1016/j.jclinepi.2007.11.010
.. [3] Boon MH, Thomson H. The effect direction plot revisited: application of the 2019
   Cochrane Handbook guidance on alternative synthesis methods. Res Synth Methods.
   2021;12(1):29-33. doi:10.1002/jrsm.1458
.. [4] Page MJ, McKenzie JE, Bossuyt PM, et al. The PRISMA 2020 statement: an updated guideline
   for reporting systematic reviews. BMJ. 2021;372:n71. doi:10.1136/bmj.n71
"""

from __future__ import annotations

import functools
import math
import numbers
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from statistics import NormalDist
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Patch, Polygon, Rectangle
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator
from matplotlib.transforms import blended_transform_factory

from .io import atomic_write
from .tables import fmt_ci

__all__ = [
    "WIDTHS",
    "STYLE",
    "PALETTE",
    "figure_width",
    "savefig_all",
    "forest",
    "bubble",
    "durability",
    "funnel",
    "effect_direction",
    "prisma",
    "PRISMA_KEYS",
]

MM = 1 / 25.4
#: Journal widths in inches (single column 89 mm, 1.5 column 120 mm, double column 183 mm).
WIDTHS = {"single": 89 * MM, "onehalf": 120 * MM, "double": 183 * MM}

#: Okabe & Ito (2008) colour-blind-safe palette (yellow last: weak on white).
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#56B4E9", "#E69F00", "#000000", "#F0E442"]
_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "<", ">", "h"]

#: rcParams applied while building and saving every figure.
STYLE: dict[str, Any] = {
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "mathtext.fontset": "dejavusans",
    "text.parse_math": False,
    "text.usetex": False,
    "font.size": 7.0,
    "axes.titlesize": 7.0,
    "axes.labelsize": 7.0,
    "xtick.labelsize": 6.5,
    "ytick.labelsize": 6.5,
    "legend.fontsize": 6.5,
    "legend.frameon": False,
    "axes.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.unicode_minus": True,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "xtick.major.size": 2.5,
    "ytick.major.size": 2.5,
    "lines.linewidth": 0.8,
    "patch.linewidth": 0.6,
    "figure.dpi": 100,
    "savefig.dpi": 300,
    "savefig.bbox": None,
    "savefig.facecolor": "white",
    "savefig.transparent": False,
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "pdf.compression": 6,
    "svg.fonttype": "path",
    "svg.hashsalt": "ketameta",
    "svg.image_inline": True,
    "path.simplify": True,
    "figure.constrained_layout.use": False,
}

_METADATA = {
    "pdf": {"Creator": "ketameta", "Producer": None, "CreationDate": None, "ModDate": None},
    "svg": {"Creator": "ketameta", "Date": None},
    "png": {"Software": None},
}


def figure_width(width: str | float) -> float:
    """Width in inches for ``"single"`` (89 mm), ``"onehalf"`` (120 mm), ``"double"`` (183 mm).

    Parameters
    ----------
    width : {"single", "onehalf", "double"} or float
        A journal width name or a width in inches.

    Returns
    -------
    float
    """
    if isinstance(width, str):
        try:
            return WIDTHS[width]
        except KeyError:
            raise ValueError(
                f"width must be one of {sorted(WIDTHS)} or inches, got {width!r}"
            ) from None
    w = float(width)
    if not 0.5 <= w <= 20:
        raise ValueError(f"width {w} in is not a plausible figure width")
    return w


def _styled(fn: Callable[..., Figure]) -> Callable[..., Figure]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Figure:
        with matplotlib.rc_context(STYLE):
            return fn(*args, **kwargs)

    return wrapper


def _new_figure(width: float, height: float, layout: str | None = None) -> Figure:
    fig = Figure(figsize=(width, height), layout=layout)
    FigureCanvasAgg(fig)
    return fig


def savefig_all(
    fig: Figure,
    stem: str | os.PathLike[str],
    formats: Sequence[str] = ("pdf", "svg", "png"),
    *,
    dpi: int = 300,
) -> list[Path]:
    """Save a figure as PDF, SVG and PNG with deterministic bytes (atomic writes).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure (from one of this module's functions, or any figure).
    stem : path
        Output path without extension: ``results/figures/forest_acute`` writes
        ``forest_acute.pdf``, ``.svg`` and ``.png``.
    formats : sequence of {"pdf", "svg", "png"}
        Formats to write.
    dpi : int, default 300
        Resolution of the PNG.

    Returns
    -------
    list of Path
        The files written, in ``formats`` order.

    Notes
    -----
    The same figure saved twice gives identical bytes: PDF without ``CreationDate``/
    ``Producer``, SVG without ``Date`` and with a fixed ``svg.hashsalt``, PNG without the
    ``Software`` text chunk (Agg writes no time chunk). The saved size is the figure size.
    """
    out = []
    for fmt in formats:
        if fmt not in _METADATA:
            raise ValueError(f"unsupported figure format {fmt!r}; use pdf, svg or png")
        path = Path(f"{os.fspath(stem)}.{fmt}")
        with matplotlib.rc_context(STYLE), atomic_write(path, "wb") as fh:
            fig.savefig(fh, format=fmt, dpi=dpi, metadata=_METADATA[fmt])
        out.append(path)
    return out


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _frame(rows: Any, required: Sequence[str], what: str) -> pd.DataFrame:
    if isinstance(rows, pd.DataFrame):
        df = rows.copy()
    else:
        df = pd.DataFrame(list(rows) if not isinstance(rows, Mapping) else rows)
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise KeyError(f"{what} needs column(s) {missing}; got {list(df.columns)}")
    return df.reset_index(drop=True)


def _text_width(fig: Figure, text: str, size: float, weight: str = "normal") -> float:
    """Rendered width of ``text`` in inches (measured with the Agg renderer)."""
    if not text:
        return 0.0
    renderer = fig.canvas.get_renderer()
    prop = FontProperties(family=STYLE["font.sans-serif"], size=size, weight=weight)
    w, _, _ = renderer.get_text_width_height_descent(text, prop, ismath=False)
    return w / fig.dpi


def _wrap(
    fig: Figure, text: str, width_in: float, size: float, weight: str = "normal"
) -> list[str]:
    """Greedy word wrap of one paragraph to a width in inches (measured, not guessed)."""
    lines: list[str] = []
    for para in str(text).split("\n"):
        indent = para[: len(para) - len(para.lstrip(" "))]
        words = para.strip(" ").split(" ")
        cur = indent
        for w in words:
            cand = w if cur == indent else cur + " " + w
            if cur == indent:
                cand = indent + w
            if cur != indent and _text_width(fig, cand, size, weight) > width_in:
                lines.append(cur)
                cur = indent + w
            else:
                cur = cand
        lines.append(cur)
    return lines


def _truncate(fig: Figure, text: str, width_in: float, size: float, weight: str = "normal") -> str:
    if _text_width(fig, text, size, weight) <= width_in:
        return text
    while text and _text_width(fig, text + "\u2026", size, weight) > width_in:
        text = text[:-1]
    return text.rstrip() + "\u2026"


def _nice_ratio_ticks(lo: float, hi: float) -> list[float]:
    cands = []
    for e in range(-4, 5):
        for m in (1, 2, 5):
            cands.append(m * 10.0**e)
    ticks = [t for t in cands if lo <= t <= hi]
    if len(ticks) > 7:
        ticks = [
            t for t in ticks if round(t / 10 ** math.floor(math.log10(t)), 6) in (1, 5)
        ] or ticks
    if len(ticks) > 7:
        ticks = [t for t in ticks if round(t / 10 ** math.floor(math.log10(t)), 6) == 1]
    return ticks


def _fmt_tick(v: float, _pos: Any = None) -> str:
    s = f"{v:.6g}"
    return s.replace("-", "\u2212")


def _as_float(a: Any) -> np.ndarray:
    return np.asarray(a, dtype=float)


# --------------------------------------------------------------------------------------------
# forest
# --------------------------------------------------------------------------------------------


@_styled
def forest(
    rows: pd.DataFrame | Iterable[Mapping[str, Any]],
    pooled: Sequence[Mapping[str, Any]] | None = None,
    *,
    xlabel: str = "",
    transf: Callable[[np.ndarray], np.ndarray] | None = None,
    refline: float | None = 0.0,
    show_weights: bool = True,
    xlim: tuple[float, float] | None = None,
    xscale: str | None = None,
    digits: int = 2,
    favours: tuple[str, str] | None = None,
    header: tuple[str, str] = ("Study", "Estimate [95% CI]"),
    width: str | float = "single",
    fontsize: float | None = None,
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
    xscale : {"linear", "log"}, optional
        Default: ``"log"`` if ``transf is np.exp`` else ``"linear"``.
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
    df = _frame(rows, ["label", "yi", "ci_lb", "ci_ub"], "forest rows")
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
    yi = tf(_as_float(df["yi"]))
    lb = tf(_as_float(df["ci_lb"]))
    ub = tf(_as_float(df["ci_ub"]))
    has_w = "weight" in df.columns and show_weights and df["weight"].notna().any()
    if "weight" in df.columns and df["weight"].notna().all():
        w = _as_float(df["weight"])
    else:
        se = (_as_float(df["ci_ub"]) - _as_float(df["ci_lb"])) / (2 * 1.959964)
        with np.errstate(divide="ignore", invalid="ignore"):
            w = np.where(np.isfinite(se) & (se > 0), 1 / se**2, np.nan)
    wmax = np.nanmax(w) if k and np.isfinite(w).any() else 1.0
    sizes = np.where(np.isfinite(w), 6 + 44 * np.sqrt(np.clip(w, 0, None) / wmax) ** 2, 12)

    p_est = tf(_as_float([p["estimate"] for p in pooled])) if npool else np.array([])
    p_lb = tf(_as_float([p["ci_lb"] for p in pooled])) if npool else np.array([])
    p_ub = tf(_as_float([p["ci_ub"] for p in pooled])) if npool else np.array([])
    p_pilb = tf(_as_float([p.get("pi_lb", np.nan) for p in pooled])) if npool else np.array([])
    p_piub = tf(_as_float([p.get("pi_ub", np.nan) for p in pooled])) if npool else np.array([])
    ref = None if refline is None else float(tf(np.asarray(float(refline))))

    if xlim is None:
        vals = np.concatenate(
            [lb, ub, yi, p_lb, p_ub, p_pilb, p_piub, [ref] if ref is not None else []]
        )
        vals = vals[np.isfinite(vals)]
        if xscale == "log":
            vals = vals[vals > 0]
            lo, hi = np.log(vals.min()), np.log(vals.max())
            pad = 0.06 * (hi - lo or 1.0)
            xlim = (float(np.exp(lo - pad)), float(np.exp(hi + pad)))
        else:
            lo, hi = vals.min(), vals.max()
            pad = 0.06 * (hi - lo or 1.0)
            xlim = (float(lo - pad), float(hi + pad))
    x0, x1 = xlim

    # geometry (inches)
    W = figure_width(width)
    rh = 0.17
    gap = 0.6 if npool and k else 0.0
    n_lines = 1 + k + gap + npool
    top, bottom = 0.12, 0.42 + (0.14 if favours else 0.0) + (0.0 if xlabel else -0.12)
    H = top + (n_lines + 0.6) * rh + bottom
    fig = _new_figure(W, H)
    fs = float(fontsize) if fontsize else (6.0 if W < 4.5 else STYLE["font.size"])

    ann = [fmt_ci(e, lo_, hi_, digits) for e, lo_, hi_ in zip(yi, lb, ub)]
    ann += [fmt_ci(e, lo_, hi_, digits) for e, lo_, hi_ in zip(p_est, p_lb, p_ub)]
    ann = [a.replace("-", "\u2212") for a in ann]
    wtxt = []
    if has_w:
        wtxt = [("" if not np.isfinite(v) else f"{v:.1f}%") for v in _as_float(df["weight"])]
    pad, sep = 0.04, 0.08
    ann_w = max(
        [_text_width(fig, t, fs, "bold" if i >= k else "normal") for i, t in enumerate(ann)]
        + [_text_width(fig, header[1], fs, "bold")]
    )
    w_w = (
        max([_text_width(fig, t, fs) for t in wtxt] + [_text_width(fig, "Weight", fs, "bold")])
        if has_w
        else 0.0
    )
    right = W - pad - ann_w - (w_w + sep if has_w else 0.0) - sep
    # labels get what is left once the plot has at least 22% of the width; longer ones are cut
    max_label_w = right - 0.22 * W - sep - pad
    if max_label_w < 0.4:
        raise ValueError(
            "forest: the annotation columns leave too little room for labels and plot; "
            "use a wider figure (width='double')"
        )
    label_texts = [str(x) for x in df["label"]] + [str(p["label"]) for p in pooled]
    label_texts = [
        _truncate(fig, t, max_label_w, fs, "bold" if i >= k else "normal")
        for i, t in enumerate(label_texts)
    ]
    label_w = max(
        [_text_width(fig, t, fs, "bold" if i >= k else "normal") for i, t in enumerate(label_texts)]
        + [_text_width(fig, header[0], fs, "bold")]
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
        ax.xaxis.set_major_locator(FixedLocator(_nice_ratio_ticks(x0, x1)))
        ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(_fmt_tick))
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
        h = 0.36
        poly = Polygon(
            [(p_lb[j], y), (p_est[j], y + h), (p_ub[j], y), (p_est[j], y - h)],
            closed=True,
            facecolor="0.15",
            edgecolor="black",
            lw=0.5,
            zorder=5,
        )
        ax.add_patch(poly)

    # text columns (figure x, data y)
    tr = blended_transform_factory(fig.transFigure, ax.transData)
    xl, xa = pad / W, (W - pad) / W
    xw = (W - pad - ann_w - sep) / W
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
    return fig


# --------------------------------------------------------------------------------------------
# bubble (meta-regression)
# --------------------------------------------------------------------------------------------


@_styled
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
    x, yi, w = _as_float(x), _as_float(yi), _as_float(weights)
    px, pr, lo, hi = _as_float(pred_x), _as_float(pred), _as_float(ci_lb), _as_float(ci_ub)
    if not (len(x) == len(yi) == len(w)):
        raise ValueError("x, yi and weights must have the same length")
    if not (len(px) == len(pr) == len(lo) == len(hi)):
        raise ValueError("pred_x, pred, ci_lb and ci_ub must have the same length")
    if np.any(w[np.isfinite(w)] < 0):
        raise ValueError("weights must be non-negative")
    W = figure_width(width)
    H = height or (0.75 * W if W < 4 else 0.5 * W)
    fig = _new_figure(W, H, layout="constrained")
    ax = fig.add_subplot()
    order = np.argsort(px)
    px, pr, lo, hi = px[order], pr[order], lo[order], hi[order]
    ax.fill_between(px, lo, hi, color="0.88", lw=0, zorder=1)
    ax.plot(px, lo, color="black", lw=0.6, ls=(0, (4, 2)), zorder=2)
    ax.plot(px, hi, color="black", lw=0.6, ls=(0, (4, 2)), zorder=2)
    if pi_lb is not None and pi_ub is not None:
        pl, pu = _as_float(pi_lb)[order], _as_float(pi_ub)[order]
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
    ax.xaxis.set_major_formatter(FuncFormatter(_fmt_tick))
    ax.yaxis.set_major_formatter(FuncFormatter(_fmt_tick))
    return fig


# --------------------------------------------------------------------------------------------
# durability (effect over time)
# --------------------------------------------------------------------------------------------

_DEFAULT_TICKS = (40 / 1440, 1.0, 2.0, 3.0, 7.0, 14.0)
_EXTRA_TICKS = (28.0, 56.0, 84.0, 168.0, 365.0)


def _time_label(t: float, _pos: Any = None) -> str:
    if t < 1:
        minutes = t * 1440
        if minutes < 90:
            return f"{minutes:.0f} min"
        return f"{t * 24:.3g} h"
    return f"{t:.3g} d"


@_styled
def durability(
    time_days: Sequence[float],
    yi: Sequence[float],
    ci_lb: Sequence[float],
    ci_ub: Sequence[float],
    study: Sequence[str],
    pooled: pd.DataFrame | Mapping[str, Sequence[float]] | None = None,
    curve: pd.DataFrame | Mapping[str, Sequence[float]] | None = None,
    marks: Sequence[float] = (3, 7),
    *,
    ylabel: str = "Effect vs control",
    xlabel: str = "Time since dose (log scale)",
    ticks: Sequence[float] | None = None,
    dodge: float = 0.04,
    width: str | float = "single",
    height: float | None = None,
) -> Figure:
    """Effect over time after a single dose: per-study trajectories, pooled band, marks.

    Parameters
    ----------
    time_days : array-like
        Time of each estimate in days since the dose (40 min = 40/1440).
    yi, ci_lb, ci_ub : array-like
        Estimate and CI of each (study, time) point, on the plotted scale.
    study : sequence of str
        Study label of each point; points of one study are joined by a line.
    pooled : DataFrame or mapping, optional
        Columns ``time_days``, ``estimate``, ``ci_lb``, ``ci_ub``: pooled estimates per time
        window, drawn as black diamonds with CIs and a shaded band joining the CIs.
    curve : DataFrame or mapping, optional
        Columns ``time_days``, ``pred``, ``ci_lb``, ``ci_ub`` from a time-course model, drawn as a
        line with a shaded confidence band.
    marks : sequence of float, default (3, 7)
        Days marked by labelled vertical lines (the "3--7 days" durability claim).
    ylabel, xlabel : str
        Axis labels.
    ticks : sequence of float, optional
        Tick positions in days. Default: 40 min, 1, 2, 3, 7 and 14 days (plus 28, 56, ... when
        the data go further).
    dodge : float, default 0.04
        Horizontal offset between studies on the log scale (fraction of a log unit) so that
        CIs measured at the same time do not overlap.
    width : {"single", "onehalf", "double"} or float
        Figure width.
    height : float, optional
        Height in inches (default 0.8 × width for single column, else 0.5 × width).

    Returns
    -------
    matplotlib.figure.Figure
    """
    t, y = _as_float(time_days), _as_float(yi)
    lo, hi = _as_float(ci_lb), _as_float(ci_ub)
    study = [str(s) for s in study]
    if not (len(t) == len(y) == len(lo) == len(hi) == len(study)):
        raise ValueError("time_days, yi, ci_lb, ci_ub and study must have the same length")
    if np.any(t[np.isfinite(t)] <= 0):
        raise ValueError("time_days must be positive (log axis); 40 min = 40/1440")
    W = figure_width(width)
    H = height or (0.8 * W if W < 4 else 0.5 * W)
    fig = _new_figure(W, H, layout="constrained")
    ax = fig.add_subplot()
    ax.set_xscale("log")
    studies = list(dict.fromkeys(study))
    n = len(studies)
    all_t = list(t[np.isfinite(t)])
    for i, s in enumerate(studies):
        idx = [
            j for j, sj in enumerate(study) if sj == s and np.isfinite(t[j]) and np.isfinite(y[j])
        ]
        idx.sort(key=lambda j: t[j])
        if not idx:
            continue
        off = (i - (n - 1) / 2) * dodge
        tt = t[idx] * np.exp(off)
        color = PALETTE[i % len(PALETTE)]
        marker = _MARKERS[(i // len(PALETTE) + i) % len(_MARKERS)]
        yy, ll, hh = y[idx], lo[idx], hi[idx]
        err = np.vstack(
            [np.where(np.isfinite(ll), yy - ll, 0), np.where(np.isfinite(hh), hh - yy, 0)]
        )
        ax.errorbar(
            tt,
            yy,
            yerr=err,
            color=color,
            marker=marker,
            ms=3.2,
            lw=0.7,
            elinewidth=0.6,
            capsize=0,
            label=s,
            zorder=4,
        )
    if pooled is not None:
        pdf = _frame(pooled, ["time_days", "estimate", "ci_lb", "ci_ub"], "pooled").sort_values(
            "time_days"
        )
        pt = _as_float(pdf["time_days"])
        all_t += list(pt)
        ax.fill_between(
            pt,
            _as_float(pdf["ci_lb"]),
            _as_float(pdf["ci_ub"]),
            color="0.85",
            lw=0,
            zorder=1,
            label="Pooled 95% CI",
        )
        ax.errorbar(
            pt,
            _as_float(pdf["estimate"]),
            yerr=np.vstack(
                [
                    _as_float(pdf["estimate"]) - _as_float(pdf["ci_lb"]),
                    _as_float(pdf["ci_ub"]) - _as_float(pdf["estimate"]),
                ]
            ),
            color="black",
            marker="D",
            ms=3.6,
            lw=1.0,
            elinewidth=1.0,
            capsize=1.5,
            label="Pooled",
            zorder=5,
        )
    if curve is not None:
        cdf = _frame(curve, ["time_days", "pred", "ci_lb", "ci_ub"], "curve").sort_values(
            "time_days"
        )
        ct = _as_float(cdf["time_days"])
        all_t += list(ct)
        ax.fill_between(
            ct,
            _as_float(cdf["ci_lb"]),
            _as_float(cdf["ci_ub"]),
            color="0.8",
            alpha=0.6,
            lw=0,
            zorder=1,
        )
        ax.plot(
            ct, _as_float(cdf["pred"]), color="black", lw=1.1, zorder=3, label="Time-course model"
        )
    ax.axhline(0, color="0.3", lw=0.6, zorder=2)
    all_t = [v for v in all_t if np.isfinite(v) and v > 0]
    tmin = min(all_t + [_DEFAULT_TICKS[0]])
    tmax = max(all_t + [14.0])
    if ticks is None:
        ticks = list(_DEFAULT_TICKS) + [e for e in _EXTRA_TICKS if e <= tmax * 1.05 and e > 14]
    ticks = sorted(float(v) for v in ticks)
    ax.set_xlim(min(tmin, ticks[0]) / 1.5, max(tmax, ticks[-1]) * 1.4)
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(_time_label))
    ax.yaxis.set_major_formatter(FuncFormatter(_fmt_tick))
    trans = blended_transform_factory(ax.transData, ax.transAxes)
    for m in marks:
        ax.axvline(m, color="0.45", lw=0.6, ls=(0, (3, 2)), zorder=1)
        ax.text(
            m, 0.99, f" day {m:g}", transform=trans, ha="left", va="top", fontsize=6, color="0.3"
        )
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    handles, labs = ax.get_legend_handles_labels()
    if handles:
        ncol = 2 if W < 4 else 4
        fig.legend(
            handles,
            labs,
            loc="outside lower center",
            ncol=ncol,
            handlelength=1.6,
            columnspacing=1.0,
            borderaxespad=0.2,
        )
    return fig


# --------------------------------------------------------------------------------------------
# funnel
# --------------------------------------------------------------------------------------------


@_styled
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
    width: str | float = "single",
    height: float | None = None,
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
    width : {"single", "onehalf", "double"} or float
        Figure width; height defaults to 0.85 × width (single) or 0.5 × width.
    height : float, optional
        Height in inches.

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    The caller decides whether k is large enough for a funnel plot to be informative (a common
    rule is k >= 10). The standard-error axis is inverted (precise studies at the top) [1]_,
    [2]_.
    """
    yi, sei = _as_float(yi), _as_float(sei)
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
    fig = _new_figure(W, H, layout="constrained")
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
    for z, shade in reversed(list(zip(zs, shades))):
        ax.add_patch(
            Polygon(
                [(center - z * se_max, se_max), (center, 0.0), (center + z * se_max, se_max)],
                closed=True,
                facecolor=shade,
                edgecolor="none",
                zorder=0,
            )
        )
    for z in zs:
        ax.plot(
            [center - z * se_max, center, center + z * se_max],
            [se_max, 0, se_max],
            color="0.4",
            lw=0.4,
            zorder=1,
        )
    ax.axvline(estimate, color="black", lw=0.8, zorder=2)
    ax.scatter(yi, sei, s=12, color="black", zorder=3, linewidths=0)
    ax.set_xlim(center - span, center + span)
    ax.set_ylim(se_max, 0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.xaxis.set_major_formatter(FuncFormatter(_fmt_tick))
    ax.yaxis.set_major_formatter(FuncFormatter(_fmt_tick))
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
    fig.legend(
        handles,
        labels,
        loc="outside lower center",
        ncol=2,
        fontsize=6,
        handlelength=1.2,
        columnspacing=1.2,
    )
    return fig


# --------------------------------------------------------------------------------------------
# effect direction plot (SWiM)
# --------------------------------------------------------------------------------------------

_DIRECTIONS = {
    "benefit": "up",
    "positive": "up",
    "up": "up",
    "+": "up",
    "\u25b2": "up",
    "improvement": "up",
    "harm": "down",
    "negative": "down",
    "down": "down",
    "-": "down",
    "\u2212": "down",
    "\u25bc": "down",
    "worse": "down",
    "none": "none",
    "no difference": "none",
    "no change": "none",
    "mixed": "none",
    "conflicting": "none",
    "0": "none",
    "=": "none",
    "\u25c4\u25ba": "none",
    "null": "none",
}
_ROB_COLOURS = {
    "low": "#D5EDD5",
    "some concerns": "#FCE8C3",
    "moderate": "#FCE8C3",
    "unclear": "#FCE8C3",
    "high": "#F6D0CF",
    "serious": "#F6D0CF",
    "critical": "#F6D0CF",
}


def _size_bin(n: Any) -> int | None:
    try:
        v = float(n)
    except (TypeError, ValueError):
        return None
    if not np.isfinite(v):
        return None
    return 0 if v < 50 else (1 if v <= 300 else 2)


@_styled
def effect_direction(
    rows: pd.DataFrame | Iterable[Mapping[str, Any]],
    *,
    study: str = "study",
    column: str = "outcome",
    direction: str = "direction",
    n: str | None = "n",
    rob: str | None = "rob",
    columns: Sequence[str] | None = None,
    footer: Mapping[str, str] | None = None,
    width: str | float = "single",
) -> Figure:
    """Effect direction plot for synthesis without meta-analysis (SWiM; Boon & Thomson 2021).

    Parameters
    ----------
    rows : DataFrame or iterable of mappings
        One row per study × outcome (or time point) with the columns named below.
    study, column, direction : str
        Names of the study-label, outcome/time and direction columns. Directions:
        ``"benefit"`` (▲), ``"harm"`` (▼), ``"no difference"``/``"mixed"``/``"conflicting"``
        (◄►); aliases ``+``/``-``/``0``, ``up``/``down``/``none``, the symbols themselves.
        Missing directions leave the cell empty.
    n : str or None, default "n"
        Sample-size column (if present): arrow size small (< 50), medium (50--300), large
        (> 300) as recommended by Boon & Thomson; without it all arrows are medium.
    rob : str or None, default "rob"
        Risk-of-bias column (if present): row shading green (low), amber (some concerns /
        moderate / unclear), red (high / serious / critical).
    columns : sequence of str, optional
        Outcome columns to show, in order (default: order of first appearance).
    footer : mapping, optional
        Text per outcome column printed under the grid (e.g. a sign-test result
        ``"6/7 benefit, p = 0.13"``).
    width : {"single", "onehalf", "double"} or float
        Figure width.

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    Rows are studies (order of first appearance), columns are outcomes or time points; each
    cell shows the direction of effect reported for that study and outcome [3]_. A legend
    explains the symbols and sizes. Study × outcome pairs given twice raise an error.
    """
    df = _frame(rows, [study, column, direction], "effect_direction rows")
    cols = list(columns) if columns is not None else list(dict.fromkeys(df[column].astype(str)))
    studies = list(dict.fromkeys(df[study].astype(str)))
    dup = df.duplicated([study, column])
    if dup.any():
        first = df.loc[dup].iloc[0]
        raise ValueError(
            f"effect_direction: study {first[study]!r} has two rows for {first[column]!r}"
        )
    has_n = n is not None and n in df.columns and df[n].notna().any()
    has_rob = rob is not None and rob in df.columns and df[rob].notna().any()
    cells: dict[tuple[str, str], tuple[str, int | None]] = {}
    for _, r in df.iterrows():
        d = r[direction]
        if d is None or (isinstance(d, float) and math.isnan(d)):
            continue
        key = str(d).strip().lower()
        if key not in _DIRECTIONS:
            raise ValueError(
                f"effect_direction: unknown direction {d!r} for study {r[study]!r}; use benefit, "
                "harm or no difference (or +, -, 0)"
            )
        cells[(str(r[study]), str(r[column]))] = (
            _DIRECTIONS[key],
            _size_bin(r[n]) if has_n else None,
        )
    rob_of = {}
    if has_rob:
        for s, v in zip(df[study].astype(str), df[rob]):
            if isinstance(v, str) and v.strip():
                key = v.strip().lower()
                if key not in _ROB_COLOURS:
                    raise ValueError(f"effect_direction: unknown risk-of-bias level {v!r}")
                rob_of.setdefault(s, key)

    W = figure_width(width)
    rh = 0.2
    fs = STYLE["font.size"]
    probe = _new_figure(W, 1)
    pad = 0.05
    label_w = min(max(_text_width(probe, s, fs) for s in studies + ["Study"]) + 0.1, 0.45 * W)
    col_w = min((W - 2 * pad - label_w) / max(len(cols), 1), 0.9)
    head_lines = [_wrap(probe, c, col_w - 0.04, 6.5) for c in cols]
    n_head = max([len(h) for h in head_lines] + [1])
    head_h = 0.11 * n_head + 0.08
    foot_h = 0.22 if footer else 0.0
    legend_h = 0.32 + (0.16 if has_n else 0) + (0.16 if has_rob else 0)
    grid_h = rh * len(studies)
    H = 0.08 + head_h + grid_h + foot_h + legend_h
    fig = _new_figure(W, H)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, W)
    ax.set_ylim(0, H)
    ax.axis("off")
    top = H - 0.08
    x_grid0 = pad + label_w
    ax.text(pad, top - head_h / 2, "Study", ha="left", va="center", weight="bold")
    for j, lines in enumerate(head_lines):
        ax.text(
            x_grid0 + (j + 0.5) * col_w,
            top - head_h / 2,
            "\n".join(lines),
            ha="center",
            va="center",
            weight="bold",
            fontsize=6.5,
            linespacing=1.1,
        )
    y0 = top - head_h
    ax.plot([pad, x_grid0 + len(cols) * col_w], [y0, y0], color="black", lw=0.6)
    msize = [4.0, 5.5, 7.5]
    for i, s in enumerate(studies):
        yc = y0 - (i + 0.5) * rh
        if s in rob_of:
            ax.add_patch(
                Rectangle(
                    (pad, y0 - (i + 1) * rh),
                    x_grid0 - pad + len(cols) * col_w,
                    rh,
                    facecolor=_ROB_COLOURS[rob_of[s]],
                    edgecolor="none",
                    zorder=0,
                )
            )
        ax.text(pad, yc, _truncate(fig, s, label_w - 0.1, fs), ha="left", va="center")
        for j, c in enumerate(cols):
            cell = cells.get((s, c))
            if cell is None:
                continue
            kind, sz = cell
            ms = msize[1 if sz is None else sz]
            xc = x_grid0 + (j + 0.5) * col_w
            if kind == "up":
                ax.plot([xc], [yc], marker="^", ms=ms, color="black", ls="none")
            elif kind == "down":
                ax.plot([xc], [yc], marker="v", ms=ms, color="black", ls="none")
            else:
                dx = ms / 72 * 0.55
                ax.plot([xc - dx], [yc], marker="<", ms=ms * 0.85, color="black", ls="none")
                ax.plot([xc + dx], [yc], marker=">", ms=ms * 0.85, color="black", ls="none")
    y_end = y0 - len(studies) * rh
    ax.plot([pad, x_grid0 + len(cols) * col_w], [y_end, y_end], color="black", lw=0.6)
    if footer:
        for j, c in enumerate(cols):
            if c in footer:
                ax.text(
                    x_grid0 + (j + 0.5) * col_w,
                    y_end - foot_h / 2,
                    str(footer[c]),
                    ha="center",
                    va="center",
                    fontsize=5.5,
                    style="italic",
                )
    # legend
    ly = y_end - foot_h - 0.18
    items = [("^", "Benefit"), ("v", "Harm"), ("<>", "No difference / mixed")]
    x = pad
    for m, lab in items:
        if m == "<>":
            ax.plot([x + 0.03], [ly], marker="<", ms=4.5, color="black", ls="none")
            ax.plot([x + 0.09], [ly], marker=">", ms=4.5, color="black", ls="none")
            x += 0.16
        else:
            ax.plot([x + 0.05], [ly], marker=m, ms=5, color="black", ls="none")
            x += 0.12
        ax.text(x, ly, lab, ha="left", va="center", fontsize=6)
        x += _text_width(fig, lab, 6) + 0.15
    if has_n:
        ly -= 0.16
        x = pad
        ax.text(x, ly, "Sample size:", ha="left", va="center", fontsize=6)
        x += _text_width(fig, "Sample size:", 6) + 0.08
        for ms_, lab in zip(msize, ["< 50", "50\u2013300", "> 300"]):
            ax.plot([x + 0.05], [ly], marker="^", ms=ms_, color="black", ls="none")
            ax.text(x + 0.12, ly, lab, ha="left", va="center", fontsize=6)
            x += 0.12 + _text_width(fig, lab, 6) + 0.12
    if has_rob:
        ly -= 0.16
        x = pad
        ax.text(x, ly, "Risk of bias:", ha="left", va="center", fontsize=6)
        x += _text_width(fig, "Risk of bias:", 6) + 0.08
        for colr, lab in (("#D5EDD5", "low"), ("#FCE8C3", "some concerns"), ("#F6D0CF", "high")):
            ax.add_patch(
                Rectangle((x, ly - 0.045), 0.12, 0.09, facecolor=colr, edgecolor="0.5", lw=0.3)
            )
            ax.text(x + 0.16, ly, lab, ha="left", va="center", fontsize=6)
            x += 0.16 + _text_width(fig, lab, 6) + 0.12
    return fig


# --------------------------------------------------------------------------------------------
# PRISMA 2020 flow diagram
# --------------------------------------------------------------------------------------------

#: Count names accepted by :func:`prisma` (the node names of the PRISMA2020 R package).
PRISMA_KEYS = {
    "previous_studies": "Studies included in previous version of review",
    "previous_reports": "Reports of studies included in previous version of review",
    "database_results": "Databases",
    "register_results": "Registers",
    "duplicates": "Duplicate records removed",
    "excluded_automatic": "Records marked as ineligible by automation tools",
    "excluded_other": "Records removed for other reasons",
    "records_screened": "Records screened",
    "records_excluded": "Records excluded",
    "dbr_sought_reports": "Reports sought for retrieval",
    "dbr_notretrieved_reports": "Reports not retrieved",
    "dbr_assessed": "Reports assessed for eligibility",
    "dbr_excluded": "Reports excluded",
    "website_results": "Websites",
    "organisation_results": "Organisations",
    "citations_results": "Citation searching",
    "other_sought_reports": "Reports sought for retrieval",
    "other_notretrieved_reports": "Reports not retrieved",
    "other_assessed": "Reports assessed for eligibility",
    "other_excluded": "Reports excluded",
    "new_studies": "New studies included in review",
    "new_reports": "Reports of new included studies",
    "total_studies": "Total studies included in review",
    "total_reports": "Reports of total included studies",
}
_PRISMA_DICT_OK = {"database_results", "register_results", "dbr_excluded", "other_excluded"}
_OTHER_KEYS = (
    "website_results",
    "organisation_results",
    "citations_results",
    "other_sought_reports",
    "other_notretrieved_reports",
    "other_assessed",
    "other_excluded",
)


def _count(v: Any, key: str) -> int:
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise ValueError(f"prisma: count {key!r} must be a non-negative integer, got {v!r}")
    if v < 0:
        raise ValueError(f"prisma: count {key!r} must be non-negative, got {v!r}")
    return int(v)


def _validate_prisma(counts: Mapping[str, Any]) -> dict[str, Any]:
    unknown = [k for k in counts if k not in PRISMA_KEYS]
    if unknown:
        raise ValueError(
            f"prisma: unknown count name(s) {unknown}; valid names: {sorted(PRISMA_KEYS)}"
        )
    out: dict[str, Any] = {}
    for k, v in counts.items():
        if v is None:
            continue
        if isinstance(v, Mapping):
            if k not in _PRISMA_DICT_OK:
                raise ValueError(f"prisma: {k!r} must be a single count, not a mapping")
            out[k] = {str(name): _count(n, f"{k}[{name!r}]") for name, n in v.items()}
        else:
            out[k] = _count(v, k)
    return out


def _n(v: Any) -> str:
    # non-breaking spaces keep "(n = 650)" on one line when box text is wrapped
    if v is None:
        return "(n\u00a0=\u00a0not reported)"
    if isinstance(v, Mapping):
        v = sum(v.values())
    return f"(n\u00a0=\u00a0{v:,})"


@_styled
def prisma(
    counts: Mapping[str, Any],
    *,
    width: str | float = "double",
    fontsize: float = 6.0,
) -> Figure:
    """PRISMA 2020 flow diagram (Page et al. 2021) from a dict of counts.

    Parameters
    ----------
    counts : mapping
        Counts keyed by the PRISMA2020 R package's node names (:data:`PRISMA_KEYS`):

        * identification: ``database_results``, ``register_results`` (int, or a mapping
          name -> n listed line by line), ``duplicates``, ``excluded_automatic``,
          ``excluded_other``;
        * screening: ``records_screened``, ``records_excluded``, ``dbr_sought_reports``,
          ``dbr_notretrieved_reports``, ``dbr_assessed``, ``dbr_excluded`` (int, or a mapping
          reason -> n);
        * other methods (drawn as a second column when any is given): ``website_results``,
          ``organisation_results``, ``citations_results``, ``other_sought_reports``,
          ``other_notretrieved_reports``, ``other_assessed``, ``other_excluded``;
        * included: ``new_studies``, ``new_reports``;
        * updates (a "Previous studies" column and a total box, when ``previous_studies`` is
          given): ``previous_studies``, ``previous_reports``, ``total_studies``, ``total_reports``.

        A box whose count is missing says "not reported" (counts are never invented); optional
        detail lines (registers, automation tools, websites, ...) appear only when given.
    width : {"single", "onehalf", "double"} or float, default "double"
        Figure width (the template needs the double-column width).
    fontsize : float, default 6
        Box text size in points.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        Unknown count names, negative or non-integer counts.

    Notes
    -----
    Reproduces the PRISMA 2020 flow diagram templates for new and updated systematic reviews
    with databases, registers and other sources [4]_: phase bars (Identification, Screening,
    Included), coloured column headers, boxes joined by arrows, exclusion boxes to the right.
    """
    c = _validate_prisma(counts)
    has_prev = "previous_studies" in c or "previous_reports" in c
    has_other = any(k in c for k in _OTHER_KEYS)
    W = figure_width(width)
    fig = _new_figure(W, 1.0)
    lh = fontsize * 1.28 / 72
    bpad = 0.05
    phase_w, margin = 0.22, 0.04
    gap_in, gap_group = 0.16, 0.22
    nbox = 2 + (2 if has_other else 0) + (1 if has_prev else 0)
    ngap_in = 1 + (1 if has_other else 0)
    ngap_group = (1 if has_other else 0) + (1 if has_prev else 0)
    avail = W - 2 * margin - phase_w - 0.08
    bw = (avail - ngap_in * gap_in - ngap_group * gap_group) / nbox
    x = margin + phase_w + 0.08
    colx: dict[str, float] = {}
    if has_prev:
        colx["prev"] = x
        x += bw + gap_group
    colx["main_l"] = x
    colx["main_r"] = x + bw + gap_in
    x = colx["main_r"] + bw + gap_group
    if has_other:
        colx["other_l"] = x
        colx["other_r"] = x + bw + gap_in

    def lines_for(parts: list[str]) -> list[str]:
        out: list[str] = []
        for p in parts:
            out += _wrap(fig, p, bw - 2 * bpad, fontsize) if p else [""]
        return out

    def detail(key: str, label: str) -> list[str]:
        v = c.get(key)
        if isinstance(v, Mapping):
            return [f"{label} {_n(v)}:"] + [f"    {name} {_n(n)}" for name, n in v.items()]
        return [f"{label} {_n(v)}"]

    new_word = "new " if has_prev else ""
    boxes: dict[tuple[int, str], list[str]] = {}
    # row 1: identification
    ident = ["Records identified from:"] + detail("database_results", "Databases")
    if "register_results" in c:
        ident += detail("register_results", "Registers")
    boxes[(1, "main_l")] = lines_for(ident)
    removed = ["Records removed before screening:"]
    any_removed = False
    for key in ("duplicates", "excluded_automatic", "excluded_other"):
        if key in c:
            removed.append(f"{PRISMA_KEYS[key]} {_n(c[key])}")
            any_removed = True
    if not any_removed:
        removed.append(f"{PRISMA_KEYS['duplicates']} {_n(None)}")
    boxes[(1, "main_r")] = lines_for(removed)
    if has_prev:
        boxes[(1, "prev")] = lines_for(
            [
                f"{PRISMA_KEYS['previous_studies']} {_n(c.get('previous_studies'))}",
                "",
                f"{PRISMA_KEYS['previous_reports']} {_n(c.get('previous_reports'))}",
            ]
        )
    if has_other:
        other = ["Records identified from:"]
        for key in ("website_results", "organisation_results", "citations_results"):
            if key in c:
                other.append(f"{PRISMA_KEYS[key]} {_n(c[key])}")
        boxes[(1, "other_l")] = lines_for(other)
    # rows 2-4: screening
    boxes[(2, "main_l")] = lines_for([f"Records screened {_n(c.get('records_screened'))}"])
    boxes[(2, "main_r")] = lines_for([f"Records excluded {_n(c.get('records_excluded'))}"])
    boxes[(3, "main_l")] = lines_for(
        [f"Reports sought for retrieval {_n(c.get('dbr_sought_reports'))}"]
    )
    boxes[(3, "main_r")] = lines_for(
        [f"Reports not retrieved {_n(c.get('dbr_notretrieved_reports'))}"]
    )
    boxes[(4, "main_l")] = lines_for(
        [f"Reports assessed for eligibility {_n(c.get('dbr_assessed'))}"]
    )
    boxes[(4, "main_r")] = lines_for(detail("dbr_excluded", "Reports excluded"))
    if has_other:
        boxes[(3, "other_l")] = lines_for(
            [f"Reports sought for retrieval {_n(c.get('other_sought_reports'))}"]
        )
        boxes[(3, "other_r")] = lines_for(
            [f"Reports not retrieved {_n(c.get('other_notretrieved_reports'))}"]
        )
        boxes[(4, "other_l")] = lines_for(
            [f"Reports assessed for eligibility {_n(c.get('other_assessed'))}"]
        )
        boxes[(4, "other_r")] = lines_for(detail("other_excluded", "Reports excluded"))
    # rows 5-6: included
    boxes[(5, "main_l")] = lines_for(
        [
            f"{'New studies' if has_prev else 'Studies'} included in review "
            f"{_n(c.get('new_studies'))}",
            f"Reports of {new_word}included studies {_n(c.get('new_reports'))}",
        ]
    )
    if has_prev:
        boxes[(6, "main_l")] = lines_for(
            [
                f"{PRISMA_KEYS['total_studies']} {_n(c.get('total_studies'))}",
                f"{PRISMA_KEYS['total_reports']} {_n(c.get('total_reports'))}",
            ]
        )
    rows_used = sorted({r for r, _ in boxes})
    row_h = {
        r: max(len(v) for (rr, _), v in boxes.items() if rr == r) * lh + 2 * bpad for r in rows_used
    }
    header_h = (
        max(
            len(
                _wrap(
                    fig,
                    "Identification of new studies via databases and registers",
                    2 * bw + gap_in - 2 * bpad,
                    fontsize,
                    "bold",
                )
            ),
            1,
        )
        * lh
        + 2 * bpad
    )
    row_gap = 0.2
    # phase bars carry rotated labels: make each phase at least as tall as its label
    phase_rows = {
        "Identification": [1],
        "Screening": [2, 3, 4],
        "Included": [5, 6] if has_prev else [5],
    }
    for name, rs in phase_rows.items():
        need = _text_width(fig, name, fontsize + 0.5, "bold") + 0.16
        have = sum(row_h[r] for r in rs) + row_gap * (len(rs) - 1)
        if have < need:
            row_h[rs[-1]] += need - have
    H = margin + header_h + row_gap + sum(row_h.values()) + row_gap * (len(rows_used) - 1) + margin
    fig.set_size_inches(W, H)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, W)
    ax.set_ylim(0, H)
    ax.axis("off")

    # y positions (top of each row)
    y = H - margin
    head_top = y
    y -= header_h + row_gap
    row_top: dict[int, float] = {}
    for r in rows_used:
        row_top[r] = y
        y -= row_h[r] + row_gap

    def draw_box(
        x0: float,
        top: float,
        w: float,
        h: float,
        lines: list[str],
        *,
        face: str = "white",
        bold: bool = False,
        center: bool = False,
    ) -> None:
        ax.add_patch(
            FancyBboxPatch(
                (x0, top - h),
                w,
                h,
                boxstyle="square,pad=0",
                facecolor=face,
                edgecolor="black",
                lw=0.6,
            )
        )
        if center:
            ax.text(
                x0 + w / 2,
                top - h / 2,
                "\n".join(lines),
                ha="center",
                va="center",
                fontsize=fontsize,
                weight="bold" if bold else "normal",
                linespacing=1.28,
            )
        else:
            ax.text(
                x0 + bpad,
                top - bpad,
                "\n".join(lines),
                ha="left",
                va="top",
                fontsize=fontsize,
                weight="bold" if bold else "normal",
                linespacing=1.28,
            )

    # headers
    headers = [
        (
            "main_l",
            2 * bw + gap_in,
            f"Identification of {'new ' if has_prev else ''}studies via databases and registers",
            "#FFD966",
        )
    ]
    if has_other:
        headers.append(
            (
                "other_l",
                2 * bw + gap_in,
                f"Identification of {'new ' if has_prev else ''}studies via other methods",
                "#D9D9D9",
            )
        )
    if has_prev:
        headers.append(("prev", bw, "Previous studies", "#D9D9D9"))
    for col, w, text, face in headers:
        draw_box(
            colx[col],
            head_top,
            w,
            header_h,
            _wrap(fig, text, w - 2 * bpad, fontsize, "bold"),
            face=face,
            bold=True,
            center=True,
        )

    geom: dict[tuple[int, str], tuple[float, float, float, float]] = {}
    for (r, col), lines in boxes.items():
        h = len(lines) * lh + 2 * bpad
        top = row_top[r]
        draw_box(colx[col], top, bw, h, lines)
        geom[(r, col)] = (colx[col], top - h, bw, h)  # x, y(bottom), w, h

    def arrow(
        p0: tuple[float, float],
        p1: tuple[float, float],
        via: list[tuple[float, float]] | None = None,
    ) -> None:
        pts = [p0] + (via or []) + [p1]
        for a, b in zip(pts[:-2], pts[1:-1]):
            ax.add_line(Line2D([a[0], b[0]], [a[1], b[1]], color="black", lw=0.6))
        ax.add_patch(
            FancyArrowPatch(
                pts[-2],
                pts[-1],
                arrowstyle="-|>",
                mutation_scale=6,
                color="black",
                lw=0.6,
                shrinkA=0,
                shrinkB=0,
            )
        )

    def bottom_mid(key: tuple[int, str]) -> tuple[float, float]:
        x0, y0, w, _ = geom[key]
        return (x0 + w / 2, y0)

    def top_mid(key: tuple[int, str]) -> tuple[float, float]:
        x0, y0, w, h = geom[key]
        return (x0 + w / 2, y0 + h)

    def right_mid(key: tuple[int, str]) -> tuple[float, float]:
        x0, y0, w, h = geom[key]
        return (x0 + w, y0 + h / 2)

    def left_mid(key: tuple[int, str]) -> tuple[float, float]:
        x0, y0, _, h = geom[key]
        return (x0, y0 + h / 2)

    for r in (1, 2, 3, 4):
        arrow(right_mid((r, "main_l")), (colx["main_r"], right_mid((r, "main_l"))[1]))
        arrow(bottom_mid((r, "main_l")), top_mid((r + 1, "main_l")))
    if has_prev:
        arrow(bottom_mid((5, "main_l")), top_mid((6, "main_l")))
        px, py = bottom_mid((1, "prev"))
        tx, ty = left_mid((6, "main_l"))
        arrow((px, py), (tx, ty), via=[(px, ty)])
    if has_other:
        arrow(bottom_mid((1, "other_l")), top_mid((3, "other_l")))
        for r in (3, 4):
            arrow(right_mid((r, "other_l")), (colx["other_r"], right_mid((r, "other_l"))[1]))
        arrow(bottom_mid((3, "other_l")), top_mid((4, "other_l")))
        ox, oy = bottom_mid((4, "other_l"))
        tx, ty = right_mid((5, "main_l"))
        arrow((ox, oy), (tx, ty), via=[(ox, ty)])

    # phase bars
    for name, rs in phase_rows.items():
        top = row_top[rs[0]]
        bottom = row_top[rs[-1]] - row_h[rs[-1]]
        ax.add_patch(
            FancyBboxPatch(
                (margin, bottom),
                phase_w,
                top - bottom,
                boxstyle="round,pad=0,rounding_size=0.04",
                facecolor="#A9C7E8",
                edgecolor="none",
            )
        )
        ax.text(
            margin + phase_w / 2,
            (top + bottom) / 2,
            name,
            rotation=90,
            ha="center",
            va="center",
            fontsize=fontsize + 0.5,
            weight="bold",
        )
    return fig
