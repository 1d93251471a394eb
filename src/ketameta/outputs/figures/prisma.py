"""PRISMA 2020 flow diagram (Page et al. 2021, BMJ 372:n71)."""


from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from .style import (
    figure_width,
    new_figure,
    styled,
    text_width,
    wrap,
)

__all__ = ["prisma", "PRISMA_KEYS"]

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


@styled
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
    fig = new_figure(W, 1.0)
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
            out += wrap(fig, p, bw - 2 * bpad, fontsize) if p else [""]
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
                wrap(
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
        need = text_width(fig, name, fontsize + 0.5, "bold") + 0.16
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
            wrap(fig, text, w - 2 * bpad, fontsize, "bold"),
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
