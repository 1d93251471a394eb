"""Publication tables: one :class:`Table`, four formats (CSV, Markdown, LaTeX booktabs, HTML).

A :class:`Table` holds the *raw* numbers (a DataFrame) together with what a reader needs around
them: a title, a caption, notes (model, test, sign convention, k), per-row citation keys rendered
as author--year labels, and a reference list formatted from BibTeX (:mod:`ketameta.outputs.citations`).

* :meth:`Table.to_csv` is for machines: raw numbers at full precision, no formatting, loadable
  with ``pandas.read_csv``. Everything that is not data (title, caption, notes, references) goes
  to a sidecar text file ``<stem>.notes.txt`` so the CSV stays clean.
* :meth:`Table.to_markdown`, :meth:`Table.to_latex` and :meth:`Table.to_html` are for people:
  numbers are formatted per column (decimals, p-values as ``< 0.001``, estimates with confidence
  intervals as ``0.35 [0.17, 0.51]``) and every piece of text that came from data (study names,
  notes, captions) is escaped for the target format.

All writes are atomic (:func:`ketameta.io.atomic_write`).

Escaping and number formatting live in :mod:`ketameta.outputs.format`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import latexcodec  # noqa: F401  (registers the "ulatex" codec; a dependency of pybtex)
import pandas as pd

from ..io import atomic_write
from . import labels as _labels

if TYPE_CHECKING:
    from .citations import Citations

from .format import (
    LATEX_PREAMBLE,
    NA_REP,
    Format,
    column_formatter,
    escape_html,
    escape_latex,
    escape_markdown,
    fmt_ci,
    is_missing,
)

__all__ = ["Table", "TABLE_CSS", "latex_layout"]

# --------------------------------------------------------------------------------------------
# Table
# --------------------------------------------------------------------------------------------

_LABEL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_:.\-]*$")


@dataclass
class Table:
    r"""A results table with its title, caption, notes and references.

    Parameters
    ----------
    data : pandas.DataFrame
        The raw values, one row per table row. Never modified.
    title : str, optional
        Short title (LaTeX ``\\caption[title]``, HTML ``<caption>`` heading, Markdown bold line).
    caption : str, optional
        Longer caption text that follows the title.
    notes : sequence of str, optional
        Footnotes printed under the table, each escaped, e.g.
        ``"k = 5; model: random effects, REML; test: Knapp–Hartung; sign: positive = benefit"``.
    label : str, optional
        Identifier used for LaTeX ``\\label`` and the HTML ``id`` (letters, digits, ``_:.-``).
    formats : mapping, optional
        Per raw column: ``int`` (decimals), ``"int"``, ``"p"`` (p-value, 3 decimals; ``"p4"``
        for 4), ``"%"`` (percent, 1 decimal; ``"%0"``..``"%9"``), ``"text"``, a ``str.format``
        template (``"{:.1f}"``), a format spec (``".3g"``) or a callable ``value -> str``.
        Unlisted float columns get 2 decimals, integer columns none.
    ci : mapping, optional
        Combined estimate-and-interval columns, ``{"r [95% CI]": ("estimate", "ci_lb",
        "ci_ub")}``: in the formatted outputs the three raw columns are replaced (at the
        estimate's position) by one column printed with :func:`fmt_ci`, using the decimals given
        for the estimate in ``formats`` (default 2). The CSV keeps the raw columns.
    rename : mapping, optional
        Raw column name -> header text in the formatted outputs.
    columns : sequence of str, optional
        Raw columns (and ``ci`` names) shown in the formatted outputs, in order. Default: all.
    citations : Citations, optional
        Bibliography used for the ``Study`` column and the reference list.
    citekeys : str or sequence of str, optional
        Per-row citation keys: a column name of ``data`` or a sequence as long as ``data``.
        ``None``/empty entries are allowed (e.g. a pooled row); those rows keep the value of
        ``data[study_column]`` if that column exists. Needs ``citations``.
    study_column : str, default "Study"
        Header of the author--year column.
    references : sequence of str, optional
        Extra citation keys for the reference list (the row keys are always included).
    na_rep : str, default "–"
        Text for missing values in the formatted outputs (the CSV leaves the cell empty).
    value_labels : mapping, optional
        Extra internal value -> reader wording pairs (e.g. analysis id -> analysis title) used,
        beside :data:`ketameta.outputs.labels.VALUES`, for the cells of coded columns
        (:data:`~ketameta.outputs.labels.CODED_COLUMNS` and ``coded``).
    coded : sequence of str, optional
        Further raw columns whose cells are coded values shown in reader wording.
    provenance : sequence of str, optional
        Raw columns that point into the data files (row ids, file paths): shown as they are,
        marked ``class="km-prov"`` in HTML (the only cells where internal names may appear).
    latex_columns : sequence of str, optional
        The compact column set of the LaTeX table (default: ``columns``); columns empty in
        every row are dropped from the LaTeX table in any case.
    details : sequence of str, optional
        Raw columns shown *beneath* their row rather than as columns: in HTML a second row
        with a collapsed ``<details>`` element, in Markdown and LaTeX a note per row. Long
        text (the evidence behind a claim) stays out of the table's width.

    Notes
    -----
    The formatted outputs share one rendering (:meth:`cells`), so the four formats always show the
    same numbers. Text is escaped per format by :func:`escape_latex`, :func:`escape_html` and
    :func:`escape_markdown`; a study label such as ``<script>alert(1)</script>`` renders literally.

    Examples
    --------
    >>> import pandas as pd
    >>> t = Table(pd.DataFrame({"window": ["acute"], "k": [5], "r": [0.35], "lb": [0.17],
    ...                         "ub": [0.51], "pval": [0.0004]}),
    ...           title="Dissociation and response", ci={"r [95% CI]": ("r", "lb", "ub")},
    ...           formats={"pval": "p"}, notes=["k = 5; model: random effects, REML"])
    >>> t.cells()[0]
    ['Window', 'k', 'r [95% CI]', 'p']
    >>> t.cells()[1][0]
    ['acute', '5', '0.35 [0.17, 0.51]', '< 0.001']
    """

    data: pd.DataFrame
    title: str = ""
    caption: str = ""
    notes: Sequence[str] = ()
    label: str | None = None
    formats: Mapping[str, Format] = field(default_factory=dict)
    ci: Mapping[str, tuple[str, str, str]] = field(default_factory=dict)
    rename: Mapping[str, str] = field(default_factory=dict)
    columns: Sequence[str] | None = None
    citations: Citations | None = None
    citekeys: str | Sequence[str | None] | None = None
    study_column: str = "Study"
    references: Sequence[str] = ()
    na_rep: str = NA_REP
    value_labels: Mapping[str, str] = field(default_factory=dict)
    coded: Sequence[str] = ()
    provenance: Sequence[str] = ()
    latex_columns: Sequence[str] | None = None
    details: Sequence[str] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.data, pd.DataFrame):
            raise TypeError("Table.data must be a pandas DataFrame")
        self.notes = [str(n) for n in ([self.notes] if isinstance(self.notes, str) else self.notes)]
        self.references = list(self.references)
        if self.label is not None and not _LABEL_RE.match(self.label):
            raise ValueError(
                f"table label {self.label!r} must start with a letter and contain only letters, "
                "digits and _ : . -"
            )
        cols = set(self.data.columns)
        for name, triple in self.ci.items():
            if len(triple) != 3:
                raise ValueError(f"ci[{name!r}] must be (estimate, ci_lb, ci_ub) column names")
            missing = [c for c in triple if c not in cols]
            if missing:
                raise KeyError(f"ci[{name!r}] refers to missing column(s) {missing}")
        for name in self.formats:
            if name not in cols:
                raise KeyError(f"formats refers to missing column {name!r}")
        bad = [c for c in self.details if c not in cols]
        if bad:
            raise KeyError(f"details refers to missing column(s) {bad}")
        for name in self.rename:
            if name not in cols and name not in self.ci:
                raise KeyError(f"rename refers to missing column {name!r}")
        keys = self._row_keys()
        if keys is not None and self.citations is None:
            raise ValueError(
                "citekeys were given but no citations (a Citations object) to render them"
            )
        if (keys is not None or self.references) and self.citations is not None:
            for k in [k for k in (keys or []) if k] + list(self.references):
                self.citations.check(k)
        known = cols | set(self.ci) | ({self.study_column} if keys is not None else set())
        for what, names in (("columns", self.columns), ("latex_columns", self.latex_columns)):
            bad = [c for c in (names or []) if c not in known]
            if bad:
                raise KeyError(f"{what} refers to unknown column(s) {bad}")

    # ---- content -------------------------------------------------------------------------

    def _row_keys(self) -> list[str | None] | None:
        ck = self.citekeys
        if ck is None:
            return None
        if isinstance(ck, str):
            if ck not in self.data.columns:
                raise KeyError(f"citekeys column {ck!r} is not in the table data")
            raw = list(self.data[ck])
        else:
            raw = list(ck)
            if len(raw) != len(self.data):
                raise ValueError(
                    f"citekeys has {len(raw)} entries but the table has {len(self.data)} rows"
                )
        return [None if is_missing(k) or str(k).strip() == "" else str(k).strip() for k in raw]

    def _study_labels(self) -> list[str] | None:
        keys = self._row_keys()
        if keys is None:
            return None
        fallback = (
            list(self.data[self.study_column]) if self.study_column in self.data.columns else None
        )
        labels = []
        for i, k in enumerate(keys):
            if k is not None:
                labels.append(self.citations.label(k))  # type: ignore[union-attr]
            elif fallback is not None and not is_missing(fallback[i]):
                labels.append(str(fallback[i]))
            else:
                labels.append("")
        return labels

    def reference_keys(self) -> list[str]:
        """Citation keys of the reference list: row keys, then ``references``, deduplicated."""
        keys: list[str] = []
        for k in (self._row_keys() or []) + list(self.references):
            if k and k not in keys:
                keys.append(k)
        return keys

    def _display_columns(self, columns: Sequence[str] | None = None) -> list[tuple[str, str]]:
        """(kind, name) in display order; kind is "study", "ci" or "raw"."""
        columns = self.columns if columns is None else columns
        hidden: set[str] = set()
        if isinstance(self.citekeys, str):
            hidden.add(self.citekeys)
        has_study = self.citekeys is not None
        if has_study:
            hidden.add(self.study_column)
        hidden.update(self.details)
        ci_pos = {}
        for name, (est, lb, ub) in self.ci.items():
            ci_pos[est] = name
            hidden.update((lb, ub))
        default: list[tuple[str, str]] = [("study", self.study_column)] if has_study else []
        for c in self.data.columns:
            if c in ci_pos:
                default.append(("ci", ci_pos[c]))
            elif c not in hidden:
                default.append(("raw", c))
        if columns is None:
            return default
        lookup = {name: (kind, name) for kind, name in default}
        for name in self.ci:
            lookup.setdefault(name, ("ci", name))
        for c in self.data.columns:
            lookup.setdefault(c, ("raw", c))
        return [lookup[c] for c in columns]

    def cells(
        self, columns: Sequence[str] | None = None
    ) -> tuple[list[str], list[list[str]], list[str]]:
        """The formatted table as plain (unescaped) text.

        Headers are the reader's names: ``rename``, else
        :func:`ketameta.outputs.labels.header` (``study_id`` -> "Study", ``ci_lb`` -> "95% CI
        (lower)"); the cells of coded columns show :func:`ketameta.outputs.labels.value`
        (``knha`` -> "Knapp-Hartung"). The CSV keeps the internal names.

        Parameters
        ----------
        columns : sequence of str, optional
            Another column selection than ``columns`` (the LaTeX table's compact set).

        Returns
        -------
        header : list of str
            Column headers (after ``rename``).
        rows : list of list of str
            Formatted cells, one list per row.
        align : list of {"l", "r"}
            Column alignment: right for numbers and intervals, left for text.
        """
        cols = self._display_columns(columns)
        labels = self._study_labels()
        coded = _labels.CODED_COLUMNS | set(self.coded)
        header, columns, align = [], [], []
        for kind, name in cols:
            header.append(str(self.rename.get(name, _labels.header(name))))
            if kind == "study":
                columns.append(labels or [""] * len(self.data))
                align.append("l")
            elif kind == "ci":
                est, lb, ub = self.ci[name]
                spec = self.formats.get(est, 2)
                digits = spec if isinstance(spec, int) and not isinstance(spec, bool) else 2
                columns.append(
                    [
                        fmt_ci(e, lo, hi, digits, self.na_rep)
                        for e, lo, hi in zip(self.data[est], self.data[lb], self.data[ub])
                    ]
                )
                align.append("r")
            else:
                s = self.data[name]
                f = column_formatter(self.formats.get(name), s, self.na_rep)
                cells = [f(v) for v in s]
                if name in coded and name not in self.provenance:
                    cells = [_labels.value(c, dict(self.value_labels)) for c in cells]
                columns.append(cells)
                numeric = pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
                align.append("r" if numeric else "l")
        rows = [list(r) for r in zip(*columns)] if columns else []
        if not columns:
            rows = [[] for _ in range(len(self.data))]
        return header, rows, align

    def _refs(self, fmt: str) -> list[str]:
        keys = self.reference_keys()
        if not keys:
            return []
        if self.citations is None:  # pragma: no cover - guarded in __post_init__
            raise ValueError("references need a Citations object")
        return self.citations.reference_list(keys, fmt)

    # ---- CSV -----------------------------------------------------------------------------

    def csv_frame(self) -> pd.DataFrame:
        """The machine-readable frame written by :meth:`to_csv`.

        The raw data, preceded (when the table has citation keys) by a ``study`` column with the
        author--year labels (``study_label`` if ``data`` already has a ``study`` column) and, when
        the keys were passed as a sequence, a ``citekey`` column.
        """
        df = self.data.copy()
        keys = self._row_keys()
        if keys is not None:
            labels = self._study_labels()
            if not isinstance(self.citekeys, str) and "citekey" not in df.columns:
                df.insert(0, "citekey", keys)
            name = "study" if "study" not in df.columns else "study_label"
            df.insert(0, name, labels)
        return df

    def notes_text(self) -> str:
        """Title, caption, notes and references as plain text (the CSV sidecar content)."""
        parts = []
        if self.title:
            parts.append(self.title)
        if self.caption:
            parts.append(self.caption)
        if self.notes:
            parts.append("Notes:\n" + "\n".join(f"- {n}" for n in self.notes))
        refs = self._refs("text")
        if refs:
            parts.append("References:\n" + "\n".join(f"- {r}" for r in refs))
        return "\n\n".join(parts) + "\n"

    def to_csv(self, path: str | Path, *, notes: bool = True) -> list[Path]:
        r"""Write the raw values as CSV (and the notes to a sidecar file).

        The CSV has a header row and one row per table row, numbers at full precision, missing
        values as empty cells, UTF-8, ``\\n`` line endings: ``pandas.read_csv(path)`` gives the
        data back. Title, caption, notes and references are *not* put into the CSV (comment
        lines would break naive readers); they go to ``<stem>.notes.txt`` next to it.

        Parameters
        ----------
        path : str or Path
            Destination ``.csv``.
        notes : bool, default True
            Also write the sidecar ``<stem>.notes.txt``.

        Returns
        -------
        list of Path
            The files written.
        """
        path = Path(path)
        with atomic_write(path) as fh:
            self.csv_frame().to_csv(fh, index=False, lineterminator="\n")
        written = [path]
        if notes:
            side = path.with_name(path.stem + ".notes.txt")
            with atomic_write(side) as fh:
                fh.write(self.notes_text())
            written.append(side)
        return written

    # ---- Markdown ------------------------------------------------------------------------

    def to_markdown(self, path: str | Path | None = None) -> str:
        """Render as a GitHub pipe table with title, caption, notes and references.

        Parameters
        ----------
        path : str or Path, optional
            Write the result there (atomically).

        Returns
        -------
        str
            The Markdown text.
        """
        header, rows, align = self.cells()
        esc = [escape_markdown(h) for h in header]
        body = [[escape_markdown(c) for c in r] for r in rows]
        widths = [max([3, len(h)] + [len(r[j]) for r in body]) for j, h in enumerate(esc)]

        def line(cells: list[str]) -> str:
            padded = [
                c.rjust(w) if a == "r" else c.ljust(w) for c, w, a in zip(cells, widths, align)
            ]
            return "| " + " | ".join(padded) + " |"

        rule = (
            "| "
            + " | ".join(
                ("-" * (w - 1) + ":") if a == "r" else (":" + "-" * (w - 1))
                for w, a in zip(widths, align)
            )
            + " |"
        )
        out = []
        if self.title:
            out += [f"**{escape_markdown(self.title)}**", ""]
        if self.caption:
            out += [escape_markdown(self.caption, block=True), ""]
        if header:
            out += [line(esc), rule] + [line(r) for r in body]
            out.append("")
        notes = list(self.notes) + self._detail_notes(rows)
        if notes:
            out += ["Notes:", ""] + [f"- {escape_markdown(n, block=True)}" for n in notes]
            out.append("")
        refs = self._refs("markdown")
        if refs:
            out += ["References:", ""] + [f"- {r}" for r in refs]
            out.append("")
        text = "\n".join(out)
        if path is not None:
            with atomic_write(path) as fh:
                fh.write(text)
        return text

    # ---- LaTeX ---------------------------------------------------------------------------

    def to_latex(
        self,
        path: str | Path | None = None,
        *,
        standalone: bool = False,
        placement: str = "htbp",
        cite_command: str | None = None,
    ) -> str:
        r"""Render as a booktabs ``table`` float (``\input``-able) or a compilable document.

        Parameters
        ----------
        path : str or Path, optional
            Write the result there (atomically).
        standalone : bool, default False
            Wrap the float in an ``article`` document whose preamble loads what the table needs
            (:data:`LATEX_PREAMBLE`: T1 fonts, booktabs, url, hyperref), so it compiles alone.
        placement : str, default "htbp"
            Float placement specifier.
        cite_command : str, optional
            For a manuscript with its own bibliography: render the ``Study`` column as
            ``\<cite_command>{key}`` (e.g. ``"citet"`` with natbib) and omit the reference list.

        Returns
        -------
        str
            The LaTeX source. Needs ``booktabs``, ``array``, ``tabularx`` and ``rotating`` (a
            table too wide for a portrait page is a ``sidewaystable``; see :func:`latex_layout`)
            and ``hyperref`` for links in references.
        """
        if not re.fullmatch(r"[htbpH!]+", placement):
            raise ValueError(f"invalid float placement {placement!r}")
        if cite_command is not None and not re.fullmatch(r"[A-Za-z]+", cite_command):
            raise ValueError(f"cite_command must be letters only, got {cite_command!r}")
        names = self.latex_column_names()
        header, rows, align = self.cells(names)
        keys = self._row_keys()
        env, landscape = latex_layout(len(header), [
            max([len(r[j]) for r in rows] + [0]) if a == "l" else 0 for j, a in enumerate(align)])

        def cell(text: str) -> str:
            out = escape_latex(text)
            return "{}" + out if out.startswith("[") else out

        study_j = next(
            (j for j, (kind, _) in enumerate(self._display_columns(names)) if kind == "study"),
            None,
        )
        body = []
        for i, r in enumerate(rows):
            cells = [cell(c) for c in r]
            if cite_command and keys is not None and keys[i] is not None and study_j is not None:
                if re.search(r"[\s{}%#\\,~]", keys[i]):
                    raise ValueError(f"citation key {keys[i]!r} cannot be used in \\{cite_command}")
                cells[study_j] = f"\\{cite_command}{{{keys[i]}}}"
            body.append("    " + " & ".join(cells) + r" \\")
        float_env = "sidewaystable" if landscape else "table"
        lines = [f"\\begin{{{float_env}}}[{placement}]", "  \\centering"]
        if env == "tabularx" and len(header) > 7:
            lines.append("  \\small")
        title, caption = escape_latex(self.title), escape_latex(self.caption)
        if title and caption:
            lines.append(f"  \\caption[{{{title}}}]{{\\textbf{{{title}.}} {caption}}}")
        elif title or caption:
            lines.append(f"  \\caption{{{title or caption}}}")
        if self.label:
            lines.append(f"  \\label{{{self.label}}}")
        if env == "tabularx":
            wide = _wide_columns(header, rows, align)
            spec = "".join(_X if j in wide else a for j, a in enumerate(align))
            begin = f"  \\begin{{tabularx}}{{\\linewidth}}{{@{{}}{spec}@{{}}}}"
        else:
            begin = f"  \\begin{{tabular}}{{@{{}}{''.join(align) or 'l'}@{{}}}}"
        lines += [
            begin,
            "    \\toprule",
            "    " + " & ".join(cell(h) for h in header) + r" \\",
            "    \\midrule",
            *body,
            "    \\bottomrule",
            f"  \\end{{{env}}}",
        ]
        refs = [] if cite_command else self._refs("latex")
        notes = list(self.notes) + self._detail_notes(rows)
        if notes or refs:
            lines += ["  \\par\\smallskip", "  \\begin{minipage}{\\linewidth}\\footnotesize"]
            for n in notes:
                lines.append(f"  {escape_latex(n)}\\par")
            if refs:
                lines.append("  \\smallskip\\textit{References.}\\par")
                for r in refs:
                    lines.append(f"  {r}\\par")
            lines.append("  \\end{minipage}")
        lines.append(f"\\end{{{float_env}}}")
        text = "\n".join(lines) + "\n"
        if standalone:
            text = (
                "\\documentclass{article}\n"
                + LATEX_PREAMBLE
                + "\\usepackage[margin=2cm]{geometry}\n"
                + "\\pagestyle{empty}\n"
                + "\\begin{document}\n"
                + text
                + "\\end{document}\n"
            )
        if path is not None:
            with atomic_write(path) as fh:
                fh.write(text)
        return text

    def detail_texts(self) -> list[list[tuple[str, str]]]:
        """Per row, the ``details`` as (header, plain text) pairs (missing values left out)."""
        coded = _labels.CODED_COLUMNS | set(self.coded)
        out: list[list[tuple[str, str]]] = [[] for _ in range(len(self.data))]
        for name in self.details:
            head = str(self.rename.get(name, _labels.header(name)))
            for i, v in enumerate(self.data[name]):
                if is_missing(v) or str(v).strip() == "":
                    continue
                text = str(v)
                if name in coded:
                    text = _labels.value(text, dict(self.value_labels))
                out[i].append((head, text))
        return out

    def _detail_notes(self, rows: list[list[str]]) -> list[str]:
        """The details as notes (Markdown, LaTeX): "<first cell> -- <header>: <text>"."""
        notes = []
        for r, det in zip(rows, self.detail_texts()):
            for head, text in det:
                notes.append(f"{r[0] if r else ''} -- {head}: {text}")
        return notes

    def latex_column_names(self) -> list[str]:
        """The LaTeX table's columns: ``latex_columns`` (else ``columns``), minus empty ones."""
        cols = self._display_columns(self.latex_columns)
        _, rows, _ = self.cells([name for _, name in cols])
        keep = []
        for j, (kind, name) in enumerate(cols):
            empty = all(r[j] in ("", self.na_rep) for r in rows)
            if kind == "study" or not empty or not rows:
                keep.append(name)
        return keep

    # ---- all formats ---------------------------------------------------------------------

    def write(self, *, csv=None, md=None, tex=None, html=None) -> None:
        """Write whichever of the CSV, Markdown, LaTeX and HTML versions are given a path."""
        if csv is not None:
            self.to_csv(csv)
        if md is not None:
            self.to_markdown(md)
        if tex is not None:
            self.to_latex(tex)
        if html is not None:
            self.to_html(html)

    # ---- HTML ----------------------------------------------------------------------------

    def to_html(self, path: str | Path | None = None, *, standalone: bool = False) -> str:
        """Render as an HTML fragment: ``<table>`` with caption, thead/tbody, notes, references.

        The fragment is wrapped in ``<div class="km-table">`` (with ``id`` = ``label``); numeric
        cells carry ``class="num"``. It needs no scripts or external resources.

        Parameters
        ----------
        path : str or Path, optional
            Write the result there (atomically).
        standalone : bool, default False
            Wrap the fragment in a minimal HTML5 document with inline CSS.

        Returns
        -------
        str
            The HTML text.
        """
        header, rows, align = self.cells()
        idattr = f' id="{escape_html(self.label)}"' if self.label else ""
        out = [f'<div class="km-table"{idattr}>',
               '<table class="km-wide">' if len(header) > WIDE_HTML_COLUMNS else "<table>"]
        if self.title or self.caption:
            cap = []
            if self.title:
                cap.append(f'<span class="km-table-title">{escape_html(self.title)}</span>')
            if self.caption:
                cap.append(escape_html(self.caption))
            out.append(f"<caption>{' '.join(cap)}</caption>")

        prov = [kind == "raw" and name in self.provenance
                for kind, name in self._display_columns()]

        def attr(a: str, p: bool = False) -> str:
            classes = (["num"] if a == "r" else []) + (["km-prov"] if p else [])
            return f' class="{" ".join(classes)}"' if classes else ""

        out.append(
            "<thead><tr>"
            + "".join(
                f'<th scope="col"{attr(a)}>{escape_html(soft_hyphens(h))}</th>'
                for h, a in zip(header, align)
            )
            + "</tr></thead>"
        )
        out.append("<tbody>")
        for r, det in zip(rows, self.detail_texts() if self.details else [[]] * len(rows)):
            out.append(
                "<tr>"
                + "".join(f"<td{attr(a, p)}>{escape_html(c if p else soft_hyphens(c))}</td>"
                          for c, a, p in zip(r, align, prov))
                + "</tr>"
            )
            if det:
                body = "".join(f"<p><strong>{escape_html(h)}:</strong> {escape_html(t)}</p>"
                               for h, t in det)
                out.append(f'<tr class="km-details"><td colspan="{len(header)}"><details>'
                           f"<summary>Details</summary>{body}</details></td></tr>")
        out.append("</tbody>")
        out.append("</table>")
        if self.notes:
            out.append('<div class="km-table-notes">')
            out += [f"<p>{escape_html(n)}</p>" for n in self.notes]
            out.append("</div>")
        refs = self._refs("html")
        if refs:
            out.append('<div class="km-table-references"><p>References</p><ul>')
            out += [f"<li>{r}</li>" for r in refs]
            out.append("</ul></div>")
        out.append("</div>")
        text = "\n".join(out) + "\n"
        if standalone:
            title = escape_html(self.title or "Table")
            text = (
                '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
                f"<title>{title}</title>\n<style>\n{TABLE_CSS}</style>\n</head>\n<body>\n"
                + text
                + "</body>\n</html>\n"
            )
        if path is not None:
            with atomic_write(path) as fh:
                fh.write(text)
        return text


#: a tabularx column that wraps ragged-right
_X = r">{\raggedright\arraybackslash}X"

#: LaTeX layout thresholds: more columns than this -> tabularx; more than LANDSCAPE -> sideways
LATEX_TABULARX_COLUMNS = 6
LATEX_LANDSCAPE_COLUMNS = 9
#: a text column with a cell longer than this wraps (tabularx X column)
LATEX_WRAP_CHARS = 40


def latex_layout(ncols: int, text_widths: Sequence[int] = ()) -> tuple[str, bool]:
    r"""The LaTeX environment a table of ``ncols`` columns needs to fit a portrait page.

    Parameters
    ----------
    ncols : int
        Number of columns of the LaTeX table.
    text_widths : sequence of int, optional
        Longest cell (characters) of each left-aligned text column (0 for numeric columns).

    Returns
    -------
    env : {"tabular", "tabularx"}
        ``tabularx`` (text columns wrap at ``\linewidth``) when there are more than
        :data:`LATEX_TABULARX_COLUMNS` columns or a text cell longer than
        :data:`LATEX_WRAP_CHARS` characters; ``tabular`` otherwise.
    landscape : bool
        True (a ``sidewaystable`` of the ``rotating`` package) with more than
        :data:`LATEX_LANDSCAPE_COLUMNS` columns.
    """
    long_text = any(w > LATEX_WRAP_CHARS for w in text_widths)
    env = "tabularx" if ncols > LATEX_TABULARX_COLUMNS or long_text else "tabular"
    return env, ncols > LATEX_LANDSCAPE_COLUMNS


def _wide_columns(header: list[str], rows: list[list[str]], align: list[str]) -> set[int]:
    """Text columns that wrap in a tabularx table: the long ones (at least one column)."""
    widths = {j: max([len(r[j]) for r in rows] + [len(header[j])])
              for j, a in enumerate(align) if a == "l"}
    wide = {j for j, w in widths.items() if w > LATEX_WRAP_CHARS // 2}
    if not wide and widths:
        wide = {max(widths, key=widths.get)}
    if not wide:  # numbers only: the last column takes the rest of the line
        wide = {len(align) - 1}
    return wide


#: an HTML table with more columns than this is set in a smaller font (class km-wide)
WIDE_HTML_COLUMNS = 9

_LONG_WORD = re.compile(r"(?<![\w\u00ad])[A-Za-z]{12,}(?![\w\u00ad])")


def soft_hyphens(text: str) -> str:
    """``text`` with soft hyphens (U+00AD) inside words of 12 letters or more.

    A table column is never narrower than its longest word; soft hyphens let a long word
    ("psychotherapy", "Characteristics") break, with a hyphen, when a column must be narrow
    to keep the table within the page, and are invisible otherwise. Identifiers (with
    digits or underscores) are left whole.
    """
    def split(m: re.Match) -> str:
        w = m.group(0)
        cuts = range(6, len(w) - 4, 6)
        parts, last = [], 0
        for c in cuts:
            parts.append(w[last:c])
            last = c
        parts.append(w[last:])
        return "\u00ad".join(parts)

    return _LONG_WORD.sub(split, text)


#: CSS for the HTML tables (used by ``to_html(standalone=True)`` and the report).
TABLE_CSS = """\
.km-table { margin: 1.2em 0; max-width: 100%; }
.km-table table { border-collapse: collapse; font-variant-numeric: tabular-nums; width: 100%;
                  table-layout: auto; font-size: .9em; }
.km-table table.km-wide { font-size: .8em; }
.km-table caption { caption-side: top; text-align: left; padding-bottom: .4em; }
.km-table-title { font-weight: bold; }
.km-table thead th { border-top: 2px solid #222; border-bottom: 1px solid #222; }
.km-table tbody tr:last-child td { border-bottom: 2px solid #222; }
.km-table th, .km-table td { padding: .25em .5em; text-align: left; vertical-align: top;
                             overflow-wrap: break-word; }
.km-table td.km-prov { overflow-wrap: anywhere; }
.km-table table.km-wide th, .km-table table.km-wide td { padding: .2em .3em; }
.km-table th.num, .km-table td.num { text-align: right; }
.km-table td.km-prov { font-family: "DejaVu Sans Mono", monospace; font-size: .85em; color: #444; }
.km-table tr.km-details td { border-top: none; padding-top: 0; font-size: .92em; }
.km-table tr.km-details summary { cursor: pointer; color: #0b5ea8; }
.km-table tr.km-details p { margin: .3em 0; }
.km-table-notes, .km-table-references { font-size: .9em; color: #333; overflow-wrap: anywhere; }
.km-table-notes p { margin: .2em 0; }
.km-table-references p { margin: .6em 0 .2em; font-style: italic; }
"""
