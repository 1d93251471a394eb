"""Effect-direction plot (Boon & Thomson 2021, Res Synth Methods 12:29-33)."""


from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from .style import (
    STYLE,
    figure_width,
    frame,
    new_figure,
    styled,
    text_width,
    truncate,
    wrap,
)

__all__ = ["effect_direction"]

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


@styled
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
    df = frame(rows, [study, column, direction], "effect_direction rows")
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
    probe = new_figure(W, 1)
    pad = 0.05
    label_w = min(max(text_width(probe, s, fs) for s in studies + ["Study"]) + 0.1, 0.45 * W)
    col_w = min((W - 2 * pad - label_w) / max(len(cols), 1), 0.9)
    head_lines = [wrap(probe, c, col_w - 0.04, 6.5) for c in cols]
    n_head = max([len(h) for h in head_lines] + [1])
    head_h = 0.11 * n_head + 0.08
    foot_h = 0.22 if footer else 0.0
    legend_h = 0.32 + (0.16 if has_n else 0) + (0.16 if has_rob else 0)
    grid_h = rh * len(studies)
    H = 0.08 + head_h + grid_h + foot_h + legend_h
    fig = new_figure(W, H)
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
        ax.text(pad, yc, truncate(fig, s, label_w - 0.1, fs), ha="left", va="center")
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
        x += text_width(fig, lab, 6) + 0.15
    if has_n:
        ly -= 0.16
        x = pad
        ax.text(x, ly, "Sample size:", ha="left", va="center", fontsize=6)
        x += text_width(fig, "Sample size:", 6) + 0.08
        for ms_, lab in zip(msize, ["< 50", "50\u2013300", "> 300"]):
            ax.plot([x + 0.05], [ly], marker="^", ms=ms_, color="black", ls="none")
            ax.text(x + 0.12, ly, lab, ha="left", va="center", fontsize=6)
            x += 0.12 + text_width(fig, lab, 6) + 0.12
    if has_rob:
        ly -= 0.16
        x = pad
        ax.text(x, ly, "Risk of bias:", ha="left", va="center", fontsize=6)
        x += text_width(fig, "Risk of bias:", 6) + 0.08
        for colr, lab in (("#D5EDD5", "low"), ("#FCE8C3", "some concerns"), ("#F6D0CF", "high")):
            ax.add_patch(
                Rectangle((x, ly - 0.045), 0.12, 0.09, facecolor=colr, edgecolor="0.5", lw=0.3)
            )
            ax.text(x + 0.16, ly, lab, ha="left", va="center", fontsize=6)
            x += 0.16 + text_width(fig, lab, 6) + 0.12
    return fig


