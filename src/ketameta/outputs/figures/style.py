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
* **Colours.** Greys and the Okabe--Ito colour-blind-safe palette. A study keeps one colour
  and marker in every figure and every run: both come from a hash of its id
  (:func:`study_style`), never from its position, so adding a study changes no other study's
  colour.
* **Ratios.** Ratio measures (odds, risk ratios) are drawn on their natural scale on a log axis
  with the null line at 1 (:func:`ratio_axis`).
* **Clipping.** One huge interval must not squash the others: an interval figure's axis covers
  the point estimates and the null line plus one spread of them on either side
  (:func:`clip_range`), and intervals beyond end in an arrow at the axis limit (as RevMan's
  forest plots); a fixed range can be given instead.
* **Sizes from the config.** ``width`` (journal width name or millimetres via
  :func:`parse_size`), ``height`` and ``fontsize`` are arguments of every figure function.

This module holds the shared style, sizes, palette, saving and text-measuring helpers; one
module per figure kind holds the drawing.
"""


from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties

from ...io import atomic_write

__all__ = [
    "WIDTHS", "STYLE", "PALETTE", "MARKERS", "figure_width", "savefig_all", "styled", "new_figure",
    "frame", "text_width", "wrap", "truncate", "nice_ratio_ticks", "fmt_tick", "as_float",
    "message_figure", "study_style", "STUDY_COLOURS", "STUDY_MARKERS", "clip_range", "ratio_axis",
    "parse_size", "FORMATS",
]

MM = 1 / 25.4
#: Journal widths in inches (single column 89 mm, 1.5 column 120 mm, double column 183 mm).
WIDTHS = {"single": 89 * MM, "onehalf": 120 * MM, "double": 183 * MM}

#: Okabe & Ito (2008) colour-blind-safe palette (yellow last: weak on white).
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#56B4E9", "#E69F00", "#000000", "#F0E442"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "<", ">", "h"]
#: Colours and markers a study can take (black and the pooled diamond are kept for pooled
#: estimates, yellow is weak on white): 6 x 8 = 48 combinations.
STUDY_COLOURS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#56B4E9", "#E69F00"]
STUDY_MARKERS = ["o", "s", "^", "v", "P", "X", "<", ">"]

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
#: Formats :func:`savefig_all` writes.
FORMATS = tuple(_METADATA)


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


def parse_size(value: Any, what: str = "width") -> str | float | None:
    """A size from the configuration: a journal width name, millimetres, or None for "auto".

    Parameters
    ----------
    value : {"single", "onehalf", "double", "auto"}, number or None
        ``"single"`` (89 mm), ``"onehalf"`` (120 mm), ``"double"`` (183 mm) pass through (widths
        only); a number is millimetres; ``"auto"`` or None means "follow the content".
    what : {"width", "height"}
        Which size (named journal widths are widths only).

    Returns
    -------
    str, float (inches) or None
    """
    if value is None or value == "auto":
        return None
    if isinstance(value, str):
        if what == "width" and value in WIDTHS:
            return value
        raise ValueError(f"figure {what} must be a number of mm"
                         + (f" or one of {sorted(WIDTHS)}" if what == "width" else "")
                         + f" or 'auto', got {value!r}")
    mm = float(value)
    if not 20 <= mm <= 500:
        raise ValueError(f"figure {what} {mm} mm is outside 20-500 mm")
    return mm * MM


def study_style(study_id: str, taken: Mapping[str, tuple[str, str]] | None = None) -> tuple[str, str]:
    """Colour and marker of a study, derived from its id (the same in every figure and run).

    Parameters
    ----------
    study_id : str
        The study's id (``study_id`` of ``data/studies.csv``, or its label).
    taken : mapping, optional
        Styles already given to other studies of the same figure (id -> (colour, marker)).
        Only when this study's pair is already taken does it move to the next free marker;
        its colour never changes.

    Returns
    -------
    (str, str)
        Hex colour from :data:`STUDY_COLOURS` and a marker from :data:`STUDY_MARKERS`.

    Notes
    -----
    With ``h`` the first 8 bytes of ``sha256(id)``, the colour is ``h mod 6`` and the marker
    ``(h // 6) mod 8``: a study's style depends on its id only, so adding or removing another
    study changes no colour (a position-based palette would recolour every study after the new
    one); a marker moves only when two studies of one figure would otherwise look identical.
    """
    import hashlib

    h = int.from_bytes(hashlib.sha256(str(study_id).encode("utf-8")).digest()[:8], "big")
    colour = STUDY_COLOURS[h % len(STUDY_COLOURS)]
    m = (h // len(STUDY_COLOURS)) % len(STUDY_MARKERS)
    used = {v for k, v in (taken or {}).items() if k != study_id}
    for step in range(len(STUDY_MARKERS)):
        pair = (colour, STUDY_MARKERS[(m + step) % len(STUDY_MARKERS)])
        if pair not in used:
            return pair
    return colour, STUDY_MARKERS[m]


def study_styles(study_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
    """:func:`study_style` of several studies of one figure (pairs made distinct in id order)."""
    out: dict[str, tuple[str, str]] = {}
    for s in sorted(dict.fromkeys(str(x) for x in study_ids)):
        out[s] = study_style(s, out)
    return out


def clip_range(
    estimates: Any, reference: float | None = None, *, log: bool = False, bounds: Any = (),
) -> tuple[float, float]:
    """Automatic axis range of an interval figure: the estimates' spread on either side.

    Parameters
    ----------
    estimates : array-like
        Point estimates on the drawn scale (studies, pooled estimates, a fitted curve).
    reference : float, optional
        The null line (0, or 1 for ratios): always inside the range.
    log : bool, default False
        Compute on the log scale (ratio measures on a log axis).
    bounds : array-like
        Interval bounds: the range never reaches beyond them (no empty margins).

    Returns
    -------
    (float, float)
        ``[lo - s, hi + s]`` where ``lo``/``hi`` are the smallest/largest estimate (or the
        reference) and ``s = hi - lo`` their spread, narrowed to the bounds when these lie
        inside. Intervals reaching beyond it are drawn up to the limit and end in an arrow
        (RevMan's forest plots use a fixed range the same way).
    """
    e = np.concatenate([np.ravel(as_float(estimates)),
                        [float(reference)] if reference is not None else []])
    b = np.ravel(as_float(bounds))
    if log:
        e = np.log(e[np.isfinite(e) & (e > 0)])
        b = np.log(b[np.isfinite(b) & (b > 0)])
    e = e[np.isfinite(e)]
    b = b[np.isfinite(b)]
    if not len(e):
        return (0.1, 10.0) if log else (-1.0, 1.0)
    lo, hi = float(e.min()), float(e.max())
    s = hi - lo or (abs(hi) or 1.0)
    r_lo, r_hi = lo - s, hi + s
    if len(b):
        r_lo, r_hi = max(r_lo, min(float(b.min()), lo)), min(r_hi, max(float(b.max()), hi))
    return (float(np.exp(r_lo)), float(np.exp(r_hi))) if log else (r_lo, r_hi)


def resolve_clip(clip: Any, estimates: Any, reference: float | None, log: bool,
                 bounds: Any) -> tuple[float, float] | None:
    """The axis range for a ``clip`` argument: ``"auto"`` (:func:`clip_range`), None / "none"
    (no clipping: the data decide), or ``(low, high)`` on the drawn scale.
    """
    if clip is None or (isinstance(clip, str) and clip == "none"):
        return None
    if isinstance(clip, str):
        if clip != "auto":
            raise ValueError(f"clip must be 'auto', 'none' or (low, high), got {clip!r}")
        return clip_range(estimates, reference, log=log, bounds=bounds)
    lo, hi = (float(v) for v in clip)
    if not lo < hi or (log and lo <= 0):
        raise ValueError(f"clip range {clip!r} must be (low, high) with low < high"
                         + (" and low > 0 (log axis)" if log else ""))
    return lo, hi


def ratio_axis(ax: Any, axis: str = "x", lo: float | None = None, hi: float | None = None) -> None:
    """Make ``ax``'s x or y axis a log axis for ratios: ticks at 0.1, 0.2, 0.5, 1, 2, 5, ...

    Tick labels are the ratios themselves (e.g. "0.5", "2"), never log values.
    """
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    a = ax.xaxis if axis == "x" else ax.yaxis
    (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
    if lo is None or hi is None:
        lo, hi = ax.get_xlim() if axis == "x" else ax.get_ylim()
    a.set_major_locator(FixedLocator(nice_ratio_ticks(lo, hi) or [1.0]))
    a.set_minor_locator(NullLocator())
    a.set_major_formatter(FuncFormatter(fmt_tick))


def styled(fn: Callable[..., Figure]) -> Callable[..., Figure]:
    """Apply :data:`STYLE` while a figure function builds its figure."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Figure:
        with matplotlib.rc_context(STYLE):
            return fn(*args, **kwargs)

    return wrapper


def new_figure(width: float, height: float, layout: str | None = None) -> Figure:
    """A figure of the given size (inches) with an Agg canvas (no pyplot state)."""
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


def frame(rows: Any, required: Sequence[str], what: str) -> pd.DataFrame:
    """Rows as a DataFrame that has the ``required`` columns (ValueError naming ``what`` otherwise)."""
    if isinstance(rows, pd.DataFrame):
        df = rows.copy()
    else:
        df = pd.DataFrame(list(rows) if not isinstance(rows, Mapping) else rows)
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise KeyError(f"{what} needs column(s) {missing}; got {list(df.columns)}")
    return df.reset_index(drop=True)


def text_width(fig: Figure, text: str, size: float, weight: str = "normal") -> float:
    """Rendered width of ``text`` in inches (measured with the Agg renderer)."""
    if not text:
        return 0.0
    renderer = fig.canvas.get_renderer()
    prop = FontProperties(family=STYLE["font.sans-serif"], size=size, weight=weight)
    w, _, _ = renderer.get_text_width_height_descent(text, prop, ismath=False)
    return w / fig.dpi


def wrap(
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
            if cur != indent and text_width(fig, cand, size, weight) > width_in:
                lines.append(cur)
                cur = indent + w
            else:
                cur = cand
        lines.append(cur)
    return lines


def truncate(fig: Figure, text: str, width_in: float, size: float, weight: str = "normal") -> str:
    """Shorten ``text`` with an ellipsis until it fits ``width_in`` inches."""
    if text_width(fig, text, size, weight) <= width_in:
        return text
    while text and text_width(fig, text + "\u2026", size, weight) > width_in:
        text = text[:-1]
    return text.rstrip() + "\u2026"


def nice_ratio_ticks(lo: float, hi: float) -> list[float]:
    """Tick positions for a log-scaled ratio axis between ``lo`` and ``hi``."""
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
    if len(ticks) < 3:  # a narrow range: finer steps (1, 1.5, 2, 3, 5, 7 per decade)
        fine = [m * 10.0**e for e in range(-4, 5) for m in (1, 1.5, 2, 3, 5, 7)]
        ticks = [t for t in fine if lo <= t <= hi] or ticks
    return ticks


def fmt_tick(v: float, _pos: Any = None) -> str:
    """A tick label with up to 6 significant digits and a typographic minus."""
    s = f"{v:.6g}"
    return s.replace("-", "\u2212")


def as_float(a: Any) -> np.ndarray:
    """``a`` as a float array."""
    return np.asarray(a, dtype=float)




def message_figure(text: str) -> Figure:
    """A small figure that states why there is no plot (e.g. a failed analysis)."""
    fig = new_figure(figure_width("single"), 1.2)
    fig.text(0.5, 0.5, text, ha="center", va="center", wrap=True, fontsize=7)
    return fig
