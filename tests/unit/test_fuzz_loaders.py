"""Fuzz the evidence loader with damaged copies of the real data files.

Every mutation of ``data/studies.csv``, ``data/effects.csv`` or ``data/references.bib`` (written
to ``tmp_path``; the repository's files are only read) must end in one of two ways:

* :func:`ketameta.evidence.load_evidence` returns an :class:`~ketameta.evidence.Evidence`, or
* it raises :class:`~ketameta.errors.InputError` / :class:`~ketameta.errors.InputErrors` in which
  every problem names one of the three files (and the message says so).

Anything else -- ``KeyError``, ``TypeError``, ``UnicodeDecodeError``, a pandas ``ParserError``,
a pybtex exception, ``RecursionError`` ... -- is a failure. The mutations come from a seeded RNG
(reproducible; ``KETAMETA_FUZZ_N`` sets how many, ``KETAMETA_FUZZ_SEED`` the seed) plus a few
hypothesis-driven cell values.

Speed: validating each row against the JSON schemas dominates the loader's run time. Most
mutations leave most rows untouched, so :func:`_cached_schema_validators` memoises the schema
errors of each *row record* (the same validator, the same errors, computed once per distinct
record). The loader's code path is otherwise unchanged.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import os
import random
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ketameta.evidence as evidence
import ketameta.evidence.schema  # noqa: F401  (patched below)
from ketameta.errors import InputError, InputErrors

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data"
FILES = ("studies.csv", "effects.csv", "references.bib")
ORIGINAL = {name: (DATA / name).read_bytes() for name in FILES}

N_MUTATIONS = int(os.environ.get("KETAMETA_FUZZ_N", "300"))
SEED = int(os.environ.get("KETAMETA_FUZZ_SEED", "20261128"))

# cell values that have broken parsers before: numbers in odd notations, unicode look-alikes,
# quotes, separators, control characters, very long text
NASTY = [
    "", " ", "  \t", "NA", "NaN", "nan", "inf", "-inf", "Infinity", "1e999", "-1e999", "1e-999",
    "0", "-0", "+0", "00", "0x1A", "1_000", "1,5", "1.5.2", "½", "١٢", "\u2212" "0.5", "0.5%",
    "—", "–0.2", "1e", ".", "-", "+", "e5", "True", "None", "null", "[]", "{}",
    "\"", "'", "\"\"",
    "a,b", "a\nb", "a\rb", "\x00", "\x1b[31m", "\ufeff", "\u200b", "ß", "İ", "𝟘.𝟝", "🙂",
    "=1+1", "@SUM(A1)", "{author}", "\\", "%", "#", "x" * 5000, "9" * 400, "-" * 50,
    "study_id", "luckenbaugh2014", "P", "C", "IV", "r_n", "events", "min", "day", "week",
    "-1", "2", "1.0000001", "-1.0000001", "1e308", "5e-324", "3.", ".5", "+.5e+1",
]


# --------------------------------------------------------------------------- helpers

@pytest.fixture(autouse=True)
def _cached_schema_validators(monkeypatch):
    """Memoise per-record schema errors (see the module docstring)."""
    original = evidence.schema._validator

    @functools.lru_cache(maxsize=8)
    def cached(sheet):
        return _CachingValidator(original(sheet))

    monkeypatch.setattr(evidence.schema, "_validator", cached)


class _CachingValidator:
    def __init__(self, validator):
        self._validator = validator
        self._cache: dict[str, list] = {}

    def iter_errors(self, record):
        key = json.dumps(record, sort_keys=True, default=repr)
        if key not in self._cache:
            self._cache[key] = list(self._validator.iter_errors(record))
        return iter(self._cache[key])


def _parse(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def _unparse(rows, rng: random.Random | None = None) -> str:
    buf = io.StringIO()
    quoting = csv.QUOTE_MINIMAL
    if rng is not None and rng.random() < 0.2:
        quoting = rng.choice([csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC])
    csv.writer(buf, lineterminator="\n", quoting=quoting).writerows(rows)
    return buf.getvalue()


def _random_text(rng: random.Random) -> str:
    kind = rng.randrange(6)
    if kind == 0:
        return rng.choice(NASTY)
    if kind == 1:
        if rng.random() < 0.5:
            return repr(rng.uniform(-1e6, 1e6))
        return str(rng.randint(-10**6, 10**6))
    if kind == 2:
        return "".join(chr(rng.randrange(32, 0x2FFF)) for _ in range(rng.randrange(1, 30)))
    if kind == 3:
        return "".join(chr(rng.randrange(0, 128)) for _ in range(rng.randrange(1, 10)))
    if kind == 4:
        return rng.choice(["0.5", "-0.35", "108", "1", "0", "-1", "1.35", "1000001", "0.0001"])
    return ""


# --------------------------------------------------------------------------- mutations

def _csv_mutation(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    """One random mutation of a CSV file; returns (description, new bytes)."""
    text = data.decode("utf-8")
    rows = _parse(text)
    header, body = rows[0], rows[1:]
    ops = ["cell", "cell", "cell", "cells", "drop_col", "dup_col", "rename_col", "reorder_cols",
           "drop_row", "dup_row", "reorder_rows", "short_row", "long_row", "truncate", "bytes",
           "insert_bytes", "swap_quotes", "strip_quotes", "crlf", "cr", "mixed_eol", "bom",
           "header_only", "empty", "blank_lines", "upper_header", "latin1", "nul", "tabs"]
    op = rng.choice(ops)
    if op in ("cell", "cells"):
        for _ in range(1 if op == "cell" else rng.randrange(2, 12)):
            r = rng.randrange(len(body))
            c = rng.randrange(len(header))
            body[r][c] = _random_text(rng)
        return f"{op}", _unparse([header] + body, rng).encode("utf-8")
    if op == "drop_col":
        c = rng.randrange(len(header))
        kept = [[x for i, x in enumerate(r) if i != c] for r in rows]
        return f"drop column {header[c]}", _unparse(kept).encode()
    if op == "dup_col":
        c = rng.randrange(len(header))
        return f"duplicate column {header[c]}", _unparse([r + [r[c]] for r in rows]).encode()
    if op == "rename_col":
        c = rng.randrange(len(header))
        old = header[c]
        header[c] = rng.choice([old[:-1], old + "s", old.upper(), " " + old + " ",
                                old.replace("_", " "), _random_text(rng)])
        return f"rename column {old} -> {header[c]!r}", _unparse([header] + body).encode("utf-8")
    if op == "reorder_cols":
        perm = list(range(len(header)))
        rng.shuffle(perm)
        return "reorder columns", _unparse([[r[i] for i in perm] for r in rows]).encode()
    if op == "drop_row":
        del body[rng.randrange(len(body))]
        return "drop row", _unparse([header] + body).encode()
    if op == "dup_row":
        i = rng.randrange(len(body))
        body.insert(rng.randrange(len(body) + 1), list(body[i]))
        return "duplicate row", _unparse([header] + body).encode()
    if op == "reorder_rows":
        rng.shuffle(body)
        return "reorder rows", _unparse([header] + body).encode()
    if op == "short_row":
        i = rng.randrange(len(body))
        body[i] = body[i][: rng.randrange(len(body[i]))]
        return "short row", _unparse([header] + body).encode()
    if op == "long_row":
        i = rng.randrange(len(body))
        body[i] = body[i] + [_random_text(rng) for _ in range(rng.randrange(1, 4))]
        return "long row", _unparse([header] + body).encode("utf-8")
    if op == "truncate":
        return "truncate", data[: rng.randrange(len(data))]
    if op == "bytes":
        return "random bytes", bytes(rng.randrange(256) for _ in range(rng.randrange(0, 2000)))
    if op == "insert_bytes":
        pos = rng.randrange(len(data))
        junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 20)))
        return "insert bytes", data[:pos] + junk + data[pos:]
    if op == "swap_quotes":
        return "swap quotes", text.replace('"', "'").encode()
    if op == "strip_quotes":
        return "strip quotes", text.replace('"', "").encode()
    if op == "crlf":
        return "CRLF", text.replace("\n", "\r\n").encode()
    if op == "cr":
        return "CR only", text.replace("\n", "\r").encode()
    if op == "mixed_eol":
        lines = text.split("\n")
        return "mixed EOL", "".join(ln + rng.choice(["\n", "\r\n", "\r"]) for ln in lines).encode()
    if op == "bom":
        return "BOM", b"\xef\xbb\xbf" + data
    if op == "header_only":
        return "header only", (text.split("\n", 1)[0] + "\n").encode()
    if op == "empty":
        return "empty", rng.choice([b"", b"\n", b"\n\n", b" ", b"\xef\xbb\xbf"])
    if op == "blank_lines":
        lines = text.split("\n")
        i = rng.randrange(len(lines))
        lines.insert(i, rng.choice(["", ",,,", " ", '""']))
        return "blank line", "\n".join(lines).encode()
    if op == "upper_header":
        return "upper-case header", _unparse([[h.upper() for h in header]] + body).encode()
    if op == "latin1":
        r = rng.randrange(len(body))
        c = rng.randrange(len(header))
        body[r][c] = "caf\u00e9"
        return "latin-1 encoded cell", _unparse([header] + body).encode("latin-1", errors="replace")
    if op == "nul":
        pos = rng.randrange(len(data))
        return "NUL byte", data[:pos] + b"\x00" + data[pos:]
    # tabs: a tab-separated file
    return "tab-separated", _unparse([header] + body).replace(",", "\t").encode()


def _bib_mutation(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    """One random mutation of a BibTeX file."""
    text = data.decode("utf-8")
    entries = [m for m in _entry_starts(text)]
    op = rng.choice(["truncate", "truncate", "bytes", "insert_bytes", "drop_char", "drop_char",
                     "dup_entry", "drop_entry", "unicode", "crlf", "empty", "garbage_entry",
                     "drop_field", "rename_key", "nul", "latin1", "deep_braces"])
    if op == "truncate":
        return "truncate", data[: rng.randrange(len(data))]
    if op == "bytes":
        return "random bytes", bytes(rng.randrange(256) for _ in range(rng.randrange(0, 3000)))
    if op == "insert_bytes":
        pos = rng.randrange(len(data))
        junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 20)))
        return "insert bytes", data[:pos] + junk + data[pos:]
    if op == "drop_char":
        specials = [i for i, ch in enumerate(text) if ch in "{}@,=\""]
        i = rng.choice(specials)
        return f"drop {text[i]!r}", (text[:i] + text[i + 1:]).encode()
    if op == "dup_entry":
        a, b = _entry_span(text, rng.choice(entries))
        return "duplicate entry", (text + "\n" + text[a:b]).encode()
    if op == "drop_entry":
        a, b = _entry_span(text, rng.choice(entries))
        return "drop entry", (text[:a] + text[b:]).encode()
    if op == "unicode":
        pos = rng.randrange(len(text))
        mutated = text[:pos] + _random_text(rng) + text[pos:]
        return "insert unicode", mutated.encode("utf-8", errors="replace")
    if op == "crlf":
        return "CRLF", text.replace("\n", "\r\n").encode()
    if op == "empty":
        return "empty", b""
    if op == "garbage_entry":
        junk = rng.choice(["@article{", "@misc{x,", "@{}", "@article{a b, title={x}}", "@comment{",
                           "@string{x = \"", "@preamble{", "@misc{k, author = {and and}}",
                           "@misc{k, author = {, , ,}, title={t}}", "@misc{k, year = 20{}21}",
                           "@misc{" + "x" * 3000 + ", title={t}}",
                           "@misc{k, title = {" + "{" * 500 + "}"])
        return f"garbage {junk[:20]!r}", (text + "\n" + junk + "\n").encode()
    if op == "drop_field":
        lines = text.split("\n")
        field_lines = [i for i, ln in enumerate(lines) if "=" in ln]
        i = rng.choice(field_lines)
        del lines[i]
        return "drop field line", "\n".join(lines).encode()
    if op == "rename_key":
        start = rng.choice(entries)
        brace = text.index("{", start)
        comma = text.index(",", brace)
        new = rng.choice(["", "a b", "x}", "ünïcode", "1abc", _random_text(rng)])
        mutated = text[: brace + 1] + new + text[comma:]
        return f"rename key to {new!r}", mutated.encode("utf-8", errors="replace")
    if op == "nul":
        pos = rng.randrange(len(data))
        return "NUL byte", data[:pos] + b"\x00" + data[pos:]
    if op == "latin1":
        return "latin-1", text.replace("Montjoy", "Montjo\u00ff").encode("latin-1", "replace")
    # deep_braces: pathological nesting
    pos = rng.choice(entries)
    deep = "@misc{deep, title = " + "{" * 2000 + "x" + "}" * 2000 + "}\n"
    return "deep braces", (text[:pos] + deep + text[pos:]).encode()


def _entry_starts(text):
    import re

    return [m.start() for m in re.finditer(r"(?m)^@\w+\{", text)]


def _entry_span(text, start):
    nxt = [s for s in _entry_starts(text) if s > start]
    return start, (nxt[0] if nxt else len(text))


# --------------------------------------------------------------------------- the check

def _load(tmp_path: Path, name: str, content: bytes):
    """Write the three files (one replaced by ``content``) and load them."""
    paths = {}
    for f in FILES:
        p = tmp_path / f
        p.write_bytes(content if f == name else ORIGINAL[f])
        paths[f] = p
    return evidence.load_evidence(studies=paths["studies.csv"], effects=paths["effects.csv"],
                                  bib=paths["references.bib"]), paths


def _check(tmp_path: Path, name: str, content: bytes, what: str):
    """Run the loader; anything but a result or a located InputError fails the test."""
    files = {str(tmp_path / f) for f in FILES}
    try:
        ev, _ = _load(tmp_path, name, content)
    except InputError as exc:
        problems = exc.errors if isinstance(exc, InputErrors) else [exc]
        assert problems, f"{name} / {what}: empty InputErrors"
        for e in problems:
            assert str(e.file) in files, (
                f"{name} / {what}: an error does not name an input file: {e}")
            assert str(e).startswith(str(e.file)), (
                f"{name} / {what}: message does not start with the file: {e}")
        assert any(f in str(exc) for f in files)
        return "error"
    except Exception as exc:  # noqa: BLE001 - the point of the test
        pytest.fail(f"{name} / {what}: unhandled {type(exc).__name__}: {exc}")
    else:
        assert isinstance(ev, evidence.Evidence)
        return "ok"


def test_unmodified_files_load(tmp_path):
    """Baseline: the real files, copied, load without error."""
    ev, _ = _load(tmp_path, "studies.csv", ORIGINAL["studies.csv"])
    for name, table in (("effects.csv", ev.effects), ("studies.csv", ev.studies)):
        rows = pd.read_csv(io.BytesIO(ORIGINAL[name]), dtype=str, keep_default_na=False)
        assert len(table) == len(rows), name  # every row of the copy, none dropped or added
    assert list(ev.effects["effect_id"]) == list(
        pd.read_csv(io.BytesIO(ORIGINAL["effects.csv"]), dtype=str)["effect_id"])


def test_seeded_mutations(tmp_path):
    """N_MUTATIONS seeded random mutations, spread over the three files."""
    rng = random.Random(SEED)
    outcomes = {"ok": 0, "error": 0}
    for i in range(N_MUTATIONS):
        name = FILES[i % 3]
        mutate = _bib_mutation if name.endswith(".bib") else _csv_mutation
        what, content = mutate(ORIGINAL[name], rng)
        outcomes[_check(tmp_path, name, content, f"mutation {i} ({what}; seed {SEED})")] += 1
    # the mutations are not all harmless: most must be caught
    assert outcomes["error"] > N_MUTATIONS // 2, outcomes


def _cut_points(data: bytes) -> list[int]:
    """Where truncation hurts most: inside the header, right after it, inside the first quoted
    cell, inside the first multi-byte character, inside the first BibTeX entry, plus a spread."""
    points = set(range(0, 12))
    nl = data.find(b"\n")
    points |= {nl - 1, nl, nl + 1, nl + 2}
    quote = data.find(b'"')
    if quote >= 0:
        points |= {quote, quote + 1, quote + 7}
    multi = next((i for i, b in enumerate(data) if b >= 0x80), None)
    if multi is not None:
        points |= {multi, multi + 1, multi + 2}
    at = data.find(b"@")
    if at >= 0:
        points |= {at + 1, at + 6, data.find(b"{", at) + 1, data.find(b",", at),
                   data.find(b"=", at) + 2}
    points |= set(range(0, len(data), max(1, len(data) // 12)))
    return sorted(p for p in points if 0 <= p < len(data))


@pytest.mark.parametrize("name", FILES)
def test_truncated_files(tmp_path, name):
    """A file cut off anywhere (inside the header, a quoted cell, a multi-byte character, a
    BibTeX entry) is reported, never a crash."""
    data = ORIGINAL[name]
    for n in _cut_points(data):
        _check(tmp_path, name, data[:n], f"truncated to {n} bytes")


@pytest.mark.parametrize("name", ["studies.csv", "effects.csv"])
@pytest.mark.parametrize("eol", ["\r\n", "\r"])
def test_line_endings_do_not_change_the_result(tmp_path, name, eol):
    """CRLF files (Excel on Windows) load like LF files; CR-only files load or are reported."""
    text = ORIGINAL[name].decode("utf-8")
    outcome = _check(tmp_path, name, text.replace("\n", eol).encode(), f"EOL {eol!r}")
    if eol == "\r\n":
        assert outcome == "ok"


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(sheet=st.sampled_from(["studies.csv", "effects.csv"]),
       row=st.integers(min_value=0, max_value=10_000),
       col=st.integers(min_value=0, max_value=100),
       value=st.one_of(st.text(max_size=40), st.sampled_from(NASTY),
                       st.floats(allow_nan=True, allow_infinity=True).map(repr),
                       st.integers().map(str)))
def test_any_single_cell_value(tmp_path, sheet, row, col, value):
    """Any text in any one cell of either sheet: a result or a located InputError."""
    rows = _parse(ORIGINAL[sheet].decode("utf-8"))
    r = 1 + row % (len(rows) - 1)
    c = col % len(rows[0])
    rows[r][c] = value
    _check(tmp_path, sheet, _unparse(rows).encode("utf-8"),
           f"row {r} column {rows[0][c]} = {value!r}")


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(value=st.text(max_size=60),
       field=st.sampled_from(["author", "title", "year", "howpublished", "note"]))
def test_any_bibtex_field_value(tmp_path, value, field):
    """Any text as a field value of the first BibTeX entry: a result or a located InputError."""
    text = ORIGINAL["references.bib"].decode("utf-8")
    start = _entry_starts(text)[0]
    end = _entry_span(text, start)[1]
    entry = text[start:end]
    lines = entry.split("\n")
    idx = [i for i, ln in enumerate(lines) if ln.strip().startswith(field)]
    new = f"  {field} = {{{value}}},"
    if idx:
        lines[idx[0]] = new
    else:
        lines.insert(1, new)
    mutated = text[:start] + "\n".join(lines) + text[end:]
    _check(tmp_path, "references.bib", mutated.encode("utf-8"), f"{field} = {value!r}")


@pytest.mark.parametrize("emptied", ["studies.csv", "effects.csv"])
def test_header_only_sheet(tmp_path, emptied):
    """A sheet cut down to its header: an empty study sheet must not let the effects rows
    through (each names a study that no longer exists); an empty effects sheet is legal here
    (the workflow then stops because no analysis selects a row)."""
    header = ORIGINAL[emptied].split(b"\n", 1)[0] + b"\n"
    if emptied == "studies.csv":
        with pytest.raises(InputError) as info:
            _load(tmp_path, emptied, header)
        assert "study_id not found in studies.csv" in str(info.value)
        assert str(tmp_path / "effects.csv") in str(info.value)
    else:
        ev, _ = _load(tmp_path, emptied, header)
        assert len(ev.effects) == 0
