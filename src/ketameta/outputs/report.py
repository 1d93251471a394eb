"""One self-contained HTML report: every table, figure and note of a run, readable offline.

:func:`build_report` writes a single ``report.html`` with inline CSS, figures embedded as
``data:`` URIs (SVG preferred, PNG otherwise), a table of contents and the sections in the order
given. It needs no scripts, fonts or network: a Content-Security-Policy in the page forbids any
external load, so a report that renders correctly offline renders the same everywhere.

Sections are plain data (:class:`Section`, or a mapping with the same keys). The usual order is:
claims table, one section per analysis (figure, table, a methods sentence), sensitivity
analyses, data gaps, warnings and failed analyses, references. A failed analysis keeps its place
and shows its reason; the report opens with a list of failed sections so none goes unnoticed.

Trust boundary: every *text* field (titles, paragraphs, methods, reasons, captions, list items,
metadata) is HTML-escaped here. ``tables`` and ``html`` entries are HTML fragments produced by
ketameta's own writers (:meth:`ketameta.outputs.tables.Table.to_html`,
:meth:`ketameta.outputs.citations.Citations.reference_list`), which escape their data, and are inserted
as they are.
"""

from __future__ import annotations

import base64
import functools
import os
import re
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from ..io import atomic_write
from .format import escape_html
from .tables import TABLE_CSS, Table

__all__ = [
    "FigureRef",
    "Section",
    "build_report",
    "render_report",
    "references_section",
    "provenance_list",
    "STATUSES",
]

#: Allowed section statuses.
STATUSES = ("ok", "failed", "skipped")

_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def _escape(value: Any) -> Any:
    """Jinja's finalize: every value from data is escaped (trusted fragments are Markup)."""
    if isinstance(value, Markup):
        return value
    return Markup(escape_html(value))


@functools.cache
def _env() -> jinja2.Environment:
    """The report templates (``ketameta/outputs/templates``), autoescaped."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("ketameta.outputs", "templates"),
        autoescape=True, finalize=_escape, trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True, undefined=jinja2.StrictUndefined)


@dataclass
class FigureRef:
    """A figure to embed.

    Parameters
    ----------
    path : str or Path
        An ``.svg`` or ``.png`` file, or a path without extension / with ``.pdf``, in which case
        the ``.svg`` (else ``.png``) next to it is used.
    caption : str, optional
        Caption text (escaped).
    alt : str, optional
        Alternative text (escaped); defaults to the caption.
    """

    path: str | Path
    caption: str = ""
    alt: str = ""


@dataclass
class Section:
    """One report section.

    Parameters
    ----------
    title : str
        Heading (escaped).
    paragraphs : sequence of str
        Plain-text paragraphs (escaped).
    methods : str
        A methods sentence shown after the paragraphs, prefixed "Methods." (escaped).
    figures : sequence of FigureRef, path or mapping
        Figures; a mapping has the :class:`FigureRef` keys.
    tables : sequence of Table, str or Path
        A :class:`~ketameta.outputs.tables.Table` (rendered with ``to_html``), an HTML fragment string
        from ``Table.to_html``, or the path of a file holding such a fragment.
    items : sequence of str
        A bulleted list of plain-text items (escaped), e.g. data gaps or warnings.
    html : sequence of str
        Further trusted HTML fragments (e.g. a reference list from ketameta).
    status : {"ok", "failed", "skipped"}
        "failed" shows ``reason`` in a highlighted box and lists the section at the top of the
        report; "skipped" shows ``reason`` as a neutral note (e.g. too few studies).
    reason : str
        Why the analysis failed or was skipped (escaped).
    id : str, optional
        Anchor id (default: made from the title, unique within the report).
    subsections : sequence of Section or mapping
        Nested sections (one heading level down).
    """

    title: str
    paragraphs: Sequence[str] = ()
    methods: str = ""
    figures: Sequence[FigureRef | str | Path | Mapping[str, Any]] = ()
    tables: Sequence[Table | str | Path] = ()
    items: Sequence[str] = ()
    html: Sequence[str] = ()
    status: str = "ok"
    reason: str = ""
    id: str | None = None
    subsections: Sequence[Section | Mapping[str, Any]] = field(default_factory=list)
    figure_html: list = field(default_factory=list, repr=False)
    table_html: list = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(
                f"section {self.title!r}: status must be one of {STATUSES}, got {self.status!r}"
            )
        if isinstance(self.paragraphs, str):
            self.paragraphs = [self.paragraphs]
        if isinstance(self.items, str):
            self.items = [self.items]
        if isinstance(self.html, str):
            self.html = [self.html]
        if isinstance(self.tables, (str, Path, Table)):
            self.tables = [self.tables]
        if isinstance(self.figures, (str, Path, FigureRef, Mapping)):
            self.figures = [self.figures]
        self.subsections = [_as_section(s) for s in self.subsections]


def _as_section(s: Section | Mapping[str, Any]) -> Section:
    if isinstance(s, Section):
        return s
    if isinstance(s, Mapping):
        unknown = set(s) - set(Section.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown section key(s) {sorted(unknown)}")
        return Section(**s)
    raise TypeError(f"a section must be a Section or a mapping, got {type(s).__name__}")


def _as_figure(f: FigureRef | str | Path | Mapping[str, Any]) -> FigureRef:
    if isinstance(f, FigureRef):
        return f
    if isinstance(f, Mapping):
        return FigureRef(**f)
    return FigureRef(path=f)


def references_section(citations: Any, keys: Sequence[str], title: str = "References") -> Section:
    """A report section listing the formatted references of ``keys`` (HTML from pybtex).

    Parameters
    ----------
    citations : ketameta.outputs.citations.Citations
        The bibliography.
    keys : sequence of str
        Cited keys (deduplicated and sorted by label).
    title : str, default "References"
        Section title.

    Returns
    -------
    Section
    """
    refs = citations.reference_list(keys, "html")
    html = '<ul class="km-references">\n' + "".join(f"<li>{r}</li>\n" for r in refs) + "</ul>"
    return Section(title=title, html=[html], id="references")


def provenance_list(items: Sequence[str]) -> str:
    """A bulleted list of messages about the data files (input warnings naming sheets, rows
    and columns), marked ``class="km-prov"``: the place where internal names may appear.
    """
    return ('<ul class="km-prov">\n' + "".join(f"<li>{escape_html(i)}</li>\n" for i in items)
            + "</ul>")


# --------------------------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------------------------


def _resolve_figure(path: str | Path) -> Path:
    p = Path(path)
    if p.suffix.lower() in (".svg", ".png"):
        if not p.is_file():
            raise FileNotFoundError(f"report figure not found: {p}")
        return p
    stem = p.with_suffix("") if p.suffix.lower() == ".pdf" else p
    for ext in (".svg", ".png"):
        cand = Path(f"{os.fspath(stem)}{ext}")
        if cand.is_file():
            return cand
    raise FileNotFoundError(f"report figure not found: no {stem}.svg or {stem}.png")


def _svg_size_px(data: bytes) -> tuple[float, float] | None:
    head = data[:4000].decode("utf-8", "replace")
    m = re.search(r"<svg\b[^>]*>", head)
    if not m:
        return None
    tag = m.group(0)
    units = {"pt": 96 / 72, "px": 1.0, "in": 96.0, "mm": 96 / 25.4, "cm": 96 / 2.54, "": 1.0}
    out = []
    for name in ("width", "height"):
        a = re.search(rf'\b{name}="([0-9.]+)(pt|px|in|mm|cm|)"', tag)
        if not a:
            return None
        out.append(float(a.group(1)) * units[a.group(2)])
    return out[0], out[1]


def _png_size_px(data: bytes) -> tuple[float, float] | None:
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    w, h = struct.unpack(">II", data[16:24])
    dpi = 96.0
    i = 8
    while i + 8 <= len(data):
        n, t = struct.unpack(">I4s", data[i : i + 8])
        if t == b"pHYs":
            ppm_x, _, unit = struct.unpack(">IIB", data[i + 8 : i + 17])
            if unit == 1 and ppm_x:
                dpi = ppm_x * 0.0254
            break
        if t == b"IDAT":
            break
        i += 12 + n
    return w * 96.0 / dpi, h * 96.0 / dpi


def _figure_html(f: FigureRef, scale: float) -> Markup:
    path = _resolve_figure(f.path)
    data = path.read_bytes()
    if path.suffix.lower() == ".svg":
        if b"<script" in data.lower():
            raise ValueError(f"refusing to embed an SVG that contains a script: {path}")
        mime, size = "image/svg+xml", _svg_size_px(data)
    else:
        mime, size = "image/png", _png_size_px(data)
        if size is None:
            raise ValueError(f"not a PNG file: {path}")
    b64 = base64.b64encode(data).decode("ascii")
    dims = (round(size[0] * scale), round(size[1] * scale)) if size else None
    html = _env().get_template("figure.html.j2").render(
        mime=mime, b64=b64, size=dims, alt=f.alt or f.caption or path.stem, caption=f.caption)
    return Markup(html.rstrip("\n"))


# --------------------------------------------------------------------------------------------
# rendering
# --------------------------------------------------------------------------------------------

_CSS = """\
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { font-family: "DejaVu Sans", "Helvetica Neue", Arial, sans-serif; line-height: 1.5;
       color: #1a1a1a; background: #fff; margin: 0; }
.km-page { max-width: 72rem; margin: 0 auto; padding: 1.5rem 1.25rem 4rem; }
main p, main ul, main ol, header, nav.km-toc { max-width: 60rem; }
header h1 { font-size: 1.7rem; margin: 0 0 .3rem; }
header .km-subtitle { color: #444; margin: 0 0 .6rem; }
dl.km-meta { display: grid; grid-template-columns: max-content 1fr; gap: .1rem 1rem;
             font-size: .85rem; color: #444; margin: .5rem 0 1rem; }
dl.km-meta dt { font-weight: bold; } dl.km-meta dd { margin: 0; }
nav.km-toc { border: 1px solid #ddd; background: #fafafa; padding: .6rem 1.2rem;
             margin: 1rem 0 1.5rem; }
nav.km-toc h2 { font-size: 1rem; margin: .2rem 0 .4rem; }
nav.km-toc ol { margin: 0; padding-left: 1.4rem; } nav.km-toc li { margin: .1rem 0; }
a { color: #0b5ea8; }
section.km-section { margin: 2rem 0; }
section.km-section h2 { font-size: 1.35rem; border-bottom: 1px solid #ccc; padding-bottom: .2rem; }
section.km-section h3 { font-size: 1.1rem; } section.km-section h4 { font-size: 1rem; }
.km-status { font-size: .75rem; font-weight: bold; text-transform: uppercase; padding: .1rem .4rem;
             border-radius: .2rem; vertical-align: middle; margin-left: .4rem; }
.km-status-failed { background: #b3261e; color: #fff; }
.km-status-skipped { background: #777; color: #fff; }
.km-failed { border-left: .3rem solid #b3261e; background: #fdecea; padding: .5rem .8rem;
             margin: .6rem 0; }
.km-skipped { border-left: .3rem solid #777; background: #f2f2f2; padding: .5rem .8rem;
              margin: .6rem 0; }
.km-alert { border: 1px solid #b3261e; background: #fdecea; padding: .6rem 1rem; margin: 1rem 0; }
.km-methods { color: #333; font-size: .95rem; }
figure.km-figure { margin: 1rem 0; }
figure.km-figure img { max-width: 100%; height: auto; display: block; }
figure.km-figure figcaption { font-size: .9rem; color: #333; margin-top: .3rem; }
ul.km-references li { margin: .25rem 0; overflow-wrap: anywhere; }
ul.km-prov { font-size: .9rem; color: #333; overflow-wrap: anywhere; }
main p, main li { overflow-wrap: anywhere; }
footer { font-size: .8rem; color: #666; border-top: 1px solid #ddd; margin-top: 3rem;
         padding-top: .5rem; }
@media print { nav.km-toc { display: none; } section.km-section { break-inside: avoid-page; } }
"""


def _slug(text: str, used: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"
    if not re.match(r"[a-z]", base):
        base = "s-" + base
    slug, i = base, 2
    while slug in used:
        slug, i = f"{base}-{i}", i + 1
    used.add(slug)
    return slug


def _assign_ids(sections: list[Section], used: set[str]) -> None:
    for s in sections:
        if s.id:
            if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_\-:.]*", s.id):
                raise ValueError(f"invalid section id {s.id!r}")
            if s.id in used:
                raise ValueError(f"duplicate section id {s.id!r}")
            used.add(s.id)
        else:
            s.id = _slug(s.title, used)
        _assign_ids(list(s.subsections), used)  # type: ignore[arg-type]


def _table_html(s: Section, t: Table | str | Path) -> Markup:
    if isinstance(t, Table):
        return Markup(t.to_html())
    if isinstance(t, Path):
        return Markup(t.read_text(encoding="utf-8"))
    if isinstance(t, str):
        if not t.lstrip().startswith("<"):
            raise TypeError(
                f"section {s.title!r}: a table string must be an HTML fragment; "
                f"pass a file as pathlib.Path({t[:60]!r})"
            )
        return Markup(t)
    raise TypeError(f"section {s.title!r}: a table must be a Table, an HTML string or a Path")


def _prepare(s: Section, scale: float) -> None:
    """Render what the template cannot: embedded figures, table fragments (trusted HTML)."""
    s.figure_html = [_figure_html(_as_figure(f), scale) for f in s.figures]
    s.table_html = [_table_html(s, t) for t in s.tables]
    s.html = [Markup(str(frag)) for frag in s.html]
    for sub in s.subsections:
        _prepare(sub, scale)  # type: ignore[arg-type]


def _failed(sections: list[Section]) -> list[Section]:
    out = []
    for s in sections:
        if s.status == "failed":
            out.append(s)
        out += _failed(list(s.subsections))  # type: ignore[arg-type]
    return out


def render_report(
    sections: Sequence[Section | Mapping[str, Any]],
    title: str,
    *,
    subtitle: str = "",
    meta: Mapping[str, str] | None = None,
    footer: str = "",
    figure_scale: float = 1.5,
    lang: str = "en",
) -> str:
    """Render the report to an HTML string (see :func:`build_report`)."""
    secs = [_as_section(s) for s in sections]
    _assign_ids(secs, {"contents"})
    for sec in secs:
        _prepare(sec, figure_scale)
    return _env().get_template("report.html.j2").render(
        lang=lang, csp=Markup(_CSP), title=title, css=Markup(_CSS + TABLE_CSS), subtitle=subtitle,
        meta=meta or {}, sections=secs, failed=_failed(secs), footer=footer)


def build_report(
    sections: Sequence[Section | Mapping[str, Any]],
    title: str,
    path: str | os.PathLike[str],
    *,
    subtitle: str = "",
    meta: Mapping[str, str] | None = None,
    footer: str = "",
    figure_scale: float = 1.5,
    lang: str = "en",
) -> Path:
    """Write one self-contained HTML report (atomically).

    Parameters
    ----------
    sections : sequence of Section or mapping
        The sections, in the order they appear (and are listed in the table of contents).
    title : str
        Page title and top heading.
    path : path
        Output file, e.g. ``results/report.html``.
    subtitle : str, optional
        A line under the title.
    meta : mapping, optional
        Key/value facts shown under the title (data version, commit, date of the data).
    footer : str, optional
        Footer text.
    figure_scale : float, default 1.5
        On-screen size of figures relative to their print size (89 mm figures are small on a
        screen); they never exceed the page width.
    lang : str, default "en"
        Document language.

    Returns
    -------
    Path
        ``path``.

    Notes
    -----
    The page has inline CSS only, figures as ``data:`` URIs (SVG if available, else PNG) and a
    Content-Security-Policy (``default-src 'none'; img-src data:; style-src 'unsafe-inline'``)
    so it cannot load anything from the network or run scripts. All text fields are escaped;
    ``tables``/``html`` fragments are trusted output of ketameta's writers.
    """
    text = render_report(
        sections,
        title,
        subtitle=subtitle,
        meta=meta,
        footer=footer,
        figure_scale=figure_scale,
        lang=lang,
    )
    with atomic_write(path) as fh:
        fh.write(text)
    return Path(path)
