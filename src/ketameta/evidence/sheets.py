"""Reading the data sheets as raw text (CSV and BibTeX), locating every problem by line.

Nothing is typed or converted here: :func:`read_sheet` returns the cells as strings with the
1-based line of each record, so every later check can name file, line and column.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError, InputErrors
from .provenance import suggest as _suggest

__all__ = ["read_sheet", "load_bib", "typed"]


def read_sheet(path, columns, warnings=None):
    """Read a CSV sheet as raw text (no NA conversion, nothing typed).

    Returns ``(frame, errors)``: ``frame`` has one string column per header column plus ``line``
    (the 1-based line where the record starts; the header is line 1). ``errors`` lists header and
    structure problems (missing/unknown/duplicated columns, wrong field counts, bad encoding).
    """
    path = Path(path)
    file = str(path)
    errors = []
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputErrors([InputError(f"cannot read the file ({exc.strerror})", file=file)]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputErrors([InputError("the file is not valid UTF-8; save it as UTF-8", file=file, line=line)]) from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    records, lines = [], []
    start = 1
    try:
        for row in reader:
            lines.append(start)
            records.append(row)
            start = reader.line_num + 1
    except csv.Error as exc:
        raise InputErrors([InputError(f"malformed CSV ({exc}); check quoting", file=file, line=start)]) from None
    if not records:
        raise InputErrors([InputError("the file is empty; expected a header line", file=file, line=1)])
    header = [h.strip() for h in records[0]]
    known = list(columns)
    seen = set()
    for h in header:
        if h in seen:
            errors.append(InputError("duplicated column name", file=file, line=1, column=h))
        seen.add(h)
        if h not in known:
            hint = _suggest(h, [c for c in known if c not in header])
            msg = "unknown column" + (f"; did you mean '{hint}'?" if hint else f"; expected only: {', '.join(known)}")
            errors.append(InputError(msg, file=file, line=1, column=h))
    unknown = [h for h in header if h not in known]
    for c in known:
        if c not in header:
            hint = _suggest(c, unknown)
            msg = "missing column" + (f" (is '{hint}' a misspelling of it?)" if hint else "; add it to the header (it may be left empty in every row)")
            errors.append(InputError(msg, file=file, line=1, column=c))
    if warnings is not None and not errors and tuple(header) != tuple(known):
        warnings.append(f"{file}, line 1: columns are not in the documented order ({', '.join(known)})")
    rows, row_lines = [], []
    for rec, line in zip(records[1:], lines[1:]):
        if not any(cell.strip() for cell in rec):
            continue
        if len(rec) != len(header):
            errors.append(InputError(
                f"this row has {len(rec)} fields but the header has {len(header)}; quote cells that contain commas",
                file=file, line=line))
            rec = (rec + [""] * len(header))[: len(header)]
        rows.append(rec)
        row_lines.append(line)
    frame = pd.DataFrame(rows, columns=header, dtype=object) if rows else pd.DataFrame(columns=header, dtype=object)
    # keep only the first of duplicated columns
    frame = frame.loc[:, ~frame.columns.duplicated()]
    for c in known:
        if c not in frame.columns:
            frame[c] = ""
    frame = frame.fillna("")
    frame["line"] = row_lines
    return frame, errors


def load_bib(path):
    """Parse a BibTeX file with pybtex; return ``(bib, errors, warnings)`` (errors located by line)."""
    from pybtex.database.input.bibtex import Parser
    from pybtex.exceptions import PybtexError
    from pybtex.scanner import PybtexSyntaxError

    path = Path(path)
    file = str(path)
    errors, warns = [], []
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return None, [InputError(f"cannot read the BibTeX file ({exc.strerror})", file=file)], warns
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        return None, [InputError("the BibTeX file is not valid UTF-8", file=file, line=line)], warns
    try:
        bib = Parser(encoding="utf-8").parse_string(text)
    except PybtexSyntaxError as exc:
        return None, [InputError(f"BibTeX syntax error: {exc.args[0] if exc.args else exc}; expected "
                                 "@type{key, field = {value}, ...}", file=file, line=exc.lineno)], warns
    except PybtexError as exc:
        msg = str(exc)
        line = None
        m = re.search(r"entry:?\s*([^\s]+)\s*$", msg)
        key = m.group(1) if m else None
        if key:
            hits = [i + 1 for i, ln in enumerate(text.splitlines()) if re.search(r"@\w+\s*\{\s*" + re.escape(key) + r"\s*,", ln)]
            line = hits[1] if len(hits) > 1 else (hits[0] if hits else None)
        return None, [InputError(f"BibTeX error: {msg}", file=file, line=line, column=key)], warns
    entry_lines = {}
    for i, ln in enumerate(text.splitlines()):
        m = re.match(r"\s*@\w+\s*\{\s*([^,\s}]+)", ln)
        if m:
            entry_lines.setdefault(m.group(1), i + 1)
    for key, entry in bib.entries.items():
        line = entry_lines.get(key)
        try:
            for persons in entry.persons.values():
                for p in persons:
                    str(p)
        except PybtexError as exc:  # pragma: no cover - pybtex is lenient with names
            errors.append(InputError(f"cannot parse author names: {exc}", file=file, line=line, column=key))
        if not ({"title", "howpublished"} & {f.lower() for f in entry.fields}) and not entry.persons:
            errors.append(InputError("entry has neither author, title nor howpublished; a reference must be identifiable",
                                     file=file, line=line, column=key))
        if "year" not in entry.fields:
            warns.append(f"{file}, line {line}, column '{key}': entry has no year (cited as n.d.)")
        if entry.type.lower() == "article":
            missing = [f for f in ("title", "journal", "year") if f not in entry.fields] + ([] if "author" in entry.persons else ["author"])
            if missing:
                errors.append(InputError(
                    f"@article needs {', '.join(missing)}; use @misc with howpublished when these are unknown",
                    file=file, line=line, column=key))
    return bib, errors, warns


# --------------------------------------------------------------------------- helpers


def typed(frame, numeric, index=None):
    """A raw sheet with numbers as floats and empty cells as NaN (``line`` kept as int)."""
    out = frame.copy()
    for col in out.columns:
        if col == "line":
            continue
        if col in numeric:
            out[col] = pd.to_numeric(out[col].replace("", np.nan), errors="coerce").astype(float)
        else:
            out[col] = out[col].replace("", np.nan)
    out["line"] = out["line"].astype(int)
    if index:
        out = out.set_index(index, drop=True)
    return out
