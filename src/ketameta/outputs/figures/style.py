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
    "message_figure",
]

MM = 1 / 25.4
#: Journal widths in inches (single column 89 mm, 1.5 column 120 mm, double column 183 mm).
WIDTHS = {"single": 89 * MM, "onehalf": 120 * MM, "double": 183 * MM}

#: Okabe & Ito (2008) colour-blind-safe palette (yellow last: weak on white).
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#56B4E9", "#E69F00", "#000000", "#F0E442"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "<", ">", "h"]

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
    fig = Figure(figsize=(figure_width("single"), 1.2))
    fig.text(0.5, 0.5, text, ha="center", va="center", wrap=True, fontsize=7)
    return fig
