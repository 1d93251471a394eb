"""Load and validate the evidence base: ``data/studies.csv``, ``data/effects.csv``, ``data/references.bib``.

The sheets hold numbers exactly as the sources printed them, each with its provenance (source,
grade, locator, verbatim passage). This module reads them as raw text, checks them, and returns
typed tables::

    ev = load_evidence("data/studies.csv", "data/effects.csv", "data/references.bib")
    ev.studies    # DataFrame indexed by study_id (numbers as float, empty -> NaN)
    ev.effects    # DataFrame with `time_days` and `line` (1-based CSV line) added
    ev.bib        # pybtex BibliographyData
    ev.warnings   # suspicious but legal values, each naming file, line and column

Every problem found is collected and raised together as :class:`ketameta.errors.InputErrors`;
each :class:`~ketameta.errors.InputError` names the file, the 1-based line (the header is line 1),
the column and what was expected. Input files are never modified.

The column dictionary and the provenance policy are documented in ``data/README.md``; the JSON
schemas in ``workflow/schemas/`` are their machine form and are enforced here too.
"""

from __future__ import annotations

import csv
import difflib
import functools
import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError, InputErrors

__all__ = [
    "Evidence",
    "load_evidence",
    "read_sheet",
    "load_bib",
    "validate_studies",
    "validate_effects",
    "validate_rows_against_schema",
    "number_in_passage",
    "time_in_days",
    "data_gaps",
    "STUDY_COLUMNS",
    "EFFECT_COLUMNS",
    "VOCABULARY",
    "FORMS",
]

# --------------------------------------------------------------------------- column dictionary

STUDY_COLUMNS = (
    "study_id", "citation_key", "role", "design", "population", "diagnosis", "drug", "route",
    "dose_mg_kg", "dose_text", "infusion_min", "schedule", "setting", "control", "psychotherapy",
    "monitoring", "n", "n_note", "n_source", "n_grade", "n_locator", "n_passage",
    "dose_source", "dose_grade", "dose_locator", "dose_passage", "notes",
)

EFFECT_COLUMNS = (
    "effect_id", "study_id", "comparison_id", "question", "outcome", "scale", "predictor", "arm",
    "dose_mg_kg", "control", "time_value", "time_unit", "time_text", "form",
    "estimate", "ci_lb", "ci_ub", "level", "se", "sd", "t", "df", "p", "p_op",
    "n", "m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i", "ai", "ci", "pct1", "pct2",
    "benefit_sign", "direction", "significant",
    "source", "grade", "locator", "passage", "source2", "grade2", "locator2", "passage2",
    "derived_from_text", "notes",
)

STUDY_NUMERIC = ("dose_mg_kg", "infusion_min", "n")
STUDY_INTEGER = ("n",)

#: numbers that are results read from a source: they need provenance and must occur verbatim
RESULT_NUMERIC = (
    "dose_mg_kg", "estimate", "ci_lb", "ci_ub", "level", "se", "sd", "t", "df", "p",
    "n", "m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i", "ai", "ci", "pct1", "pct2",
)
EFFECT_NUMERIC = RESULT_NUMERIC + ("time_value", "benefit_sign")
EFFECT_INTEGER = ("n", "n1i", "n2i", "ai", "ci", "benefit_sign")

GRADES = ("P", "S", "C")

VOCABULARY = {
    "studies": {
        "role": ("primary", "comparator", "context"),
        "design": ("parallel_rct", "crossover_rct", "single_arm", "pooled_secondary", "observational",
                   "case_series", "systematic_review", "meta_analysis", "consensus", "other", "NR"),
        "drug": ("racemic_ketamine", "esketamine", "mixed", "NR"),
        "route": ("IV", "IN", "IM", "SL", "oral", "SC", "mixed", "non_IV", "NR"),
        "schedule": ("single", "repeated", "NR"),
        "setting": ("trial", "infusion_clinic", "kap", "surgical_anaesthesia", "NR"),
        "control": ("saline", "midazolam", "placebo", "none", "mixed", "NR"),
        "psychotherapy": ("none", "integrated", "NR"),
        "n_grade": GRADES,
        "dose_grade": GRADES,
    },
    "effects": {
        "question": ("dissociation", "durability", "relapse", "dose", "approach", "context"),
        "outcome": ("depression_severity", "response", "remission", "relapse", "suicidal_ideation",
                    "anxiety", "dissociation_improvement_association", "dissociation_incidence",
                    "dissociation_severity", "other"),
        "control": ("saline", "midazolam", "placebo", "none", "mixed", "NR"),
        "time_unit": ("min", "h", "day", "week", "month"),
        "p_op": ("=", "<", ">"),
        "direction": ("+", "0", "-"),
        "significant": ("yes", "no", "NR"),
        "grade": GRADES,
        "grade2": GRADES,
    },
}

#: days per time unit (a month is an average Gregorian month)
TIME_UNIT_DAYS = {"min": 1 / 1440, "h": 1 / 24, "day": 1.0, "week": 7.0, "month": 30.4375}

#: outcome scales seen so far; anything else is legal but produces a warning (catches typos)
KNOWN_SCALES = (
    "MADRS", "HDRS", "HDRS-17", "HDRS-21", "HDRS-25", "HAM-D", "HAM-D-6", "HAM-D-17", "IDS-C", "BDI",
    "HAM-A", "SSI", "BSI", "MADRS-SI", "C-SSRS-ISS", "CADSS", "5D-ASC", "AE report", "BPRS", "POMS-D",
)

# outcomes that describe dissociation itself (moderators), not benefit
MODERATOR_OUTCOMES = ("dissociation_incidence", "dissociation_severity")


@dataclass(frozen=True)
class FormSpec:
    """How one reporting form is stored: required columns and whether it can yield an effect size."""

    required: tuple
    description: str
    ratio: bool = False
    correlation: bool = False


FORMS = {
    "r_n": FormSpec(("estimate", "n"), "correlation r with its n"),
    "r_p": FormSpec(("estimate", "p", "p_op"), "correlation r with p; n not reported"),
    "r_ci": FormSpec(("estimate", "ci_lb", "ci_ub"), "(pooled) correlation r with CI"),
    "r_only": FormSpec(("estimate",), "correlation r with no n, p or CI"),
    "d_ci": FormSpec(("estimate", "ci_lb", "ci_ub"), "standardized mean difference (d or g) with CI"),
    "d_p": FormSpec(("estimate", "p", "p_op"), "standardized mean difference with p only"),
    "d_only": FormSpec(("estimate",), "standardized mean difference with no CI, SE, p or n"),
    "md_ci": FormSpec(("estimate", "ci_lb", "ci_ub"), "mean difference (scale points) with CI"),
    "md_se": FormSpec(("estimate", "se"), "mean difference with SE"),
    "md_t": FormSpec(("estimate", "t"), "mean difference with t and df (or arm ns)"),
    "f_df": FormSpec(("estimate", "df"), "F statistic with 1 numerator df: estimate = F, df = denominator df"),
    "means_sds": FormSpec(("m1i", "sd1i"), "per-arm means/SDs/ns (arm 1 = ketamine; arm 2 = control)"),
    "change_t": FormSpec(("estimate", "t", "df"), "within-arm mean change with t and df"),
    "events": FormSpec(("ai", "n1i"), "per-arm event counts (ai/n1i ketamine; ci/n2i control)"),
    "pct": FormSpec(("pct1",), "percentages as reported (pct1 ketamine, pct2 control)"),
    "rd_ci": FormSpec(("estimate", "ci_lb", "ci_ub"), "risk difference with CI"),
    "or_ci": FormSpec(("estimate", "ci_lb", "ci_ub"), "odds ratio (natural scale) with CI", ratio=True),
    "or_only": FormSpec(("estimate",), "odds ratio with no CI or p", ratio=True),
    "rr_ci": FormSpec(("estimate", "ci_lb", "ci_ub"), "risk ratio (natural scale) with CI", ratio=True),
    "slope_ci": FormSpec(("estimate", "ci_lb", "ci_ub"), "regression slope with CI"),
    "slope_se": FormSpec(("estimate", "se"), "regression slope with SE"),
    "slope_p": FormSpec(("estimate", "p", "p_op"), "regression slope with p (a dispersion printed as SD goes in `sd`)"),
    "mean_change": FormSpec(("estimate",), "single-arm mean change (optionally sd/se/n/CI)"),
    "mean_only": FormSpec(("estimate",), "a single mean (e.g. time to relapse in days) with no dispersion"),
    "direction": FormSpec(("direction", "significant"), "only a direction/significance was reported"),
    "not_found": FormSpec(("notes",), "searched for and not found: no numbers; `notes` says where it was searched"),
}
for _f in ("r_n", "r_p", "r_ci", "r_only"):
    FORMS[_f] = FormSpec(FORMS[_f].required, FORMS[_f].description, correlation=True)

ID_RE = re.compile(r"^[a-z][a-z0-9_]*$")
KEY_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_:.\-]*$")
URL_RE = re.compile(r"^https?://\S+$")
NUMBER_RE = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")

STUDIES_FILE_DEFAULT = "data/studies.csv"


# --------------------------------------------------------------------------- verbatim check

_TOKEN_RE = re.compile(r"(?<![\d.])(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)")
_UNITS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
          "fifteen sixteen seventeen eighteen nineteen").split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()


def _number_words(value: int) -> list[str]:
    if value < 20:
        return [_UNITS[value]]
    if value < 100:
        tens, unit = divmod(value, 10)
        if unit == 0:
            return [_TENS[tens - 2]]
        return [f"{_TENS[tens - 2]}-{_UNITS[unit]}", f"{_TENS[tens - 2]} {_UNITS[unit]}"]
    return []


def _canon(text: str):
    """Canonical (integer part, fraction part) of a number written as text, sign dropped."""
    s = text.strip().lstrip("+-\u2212\u2013").replace(",", "").rstrip("%")
    if not re.fullmatch(r"\d*\.?\d*", s) or not re.search(r"\d", s):
        return None
    ip, _, fp = s.partition(".")
    ip = ip.lstrip("0")
    if fp == "0":
        fp = ""
    if not ip and not fp:
        ip = "0"
    return ip, fp


def number_in_passage(cell_text, passage, labels=(), words=True, article=False) -> bool:
    """Does the number in ``cell_text`` occur, as written, in ``passage``?

    The comparison is token by token (so ``3.9`` is *not* found in ``13.94``) and ignores only:
    the sign (``-``, ``+``, ``\u2212``), a leading zero (``0.35`` matches ``.35``), a trailing ``.0``
    (``50`` matches ``50.0``), a trailing ``%`` and thousands commas. ``0.5`` does not match
    ``0.50``. Whole numbers 0-99 also match their English words (``18`` matches "Eighteen",
    ``61`` matches "Sixty-one"); with ``article=True`` (used for times) "a"/"an" match 1.

    ``labels`` are row labels (e.g. the ``time_text`` "Day 2") that a table copy may have run
    into the first value ("Day 214 (33.3)" = "Day 2" + "14"): the label is split off before
    matching, in addition to matching the passage as it is.
    """
    if cell_text is None or passage is None:
        return False
    cell = str(cell_text).strip()
    passage = str(passage)
    if not cell or not passage:
        return False
    target = _canon(cell)
    if target is None:
        return cell.lower() in passage.lower()
    texts = [passage]
    for label in labels or ():
        if label and label in passage:
            texts.append(passage.replace(label, label + " "))
    for text in texts:
        for m in _TOKEN_RE.finditer(text):
            if _canon(m.group(0)) == target:
                return True
    if words and not target[1] and len(target[0]) <= 2:
        value = int(target[0])
        alts = _number_words(value) + (["a", "an"] if article and value == 1 else [])
        for w in alts:
            if re.search(rf"(?<![A-Za-z\-]){re.escape(w)}(?![A-Za-z])", passage, flags=re.IGNORECASE):
                return True
    return False


def time_in_days(value, unit):
    """Convert a time value to days (min/1440, h/24, day, week*7, month*30.4375); NaN if absent."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return math.nan
    if math.isnan(v) or unit not in TIME_UNIT_DAYS:
        return math.nan
    return v * TIME_UNIT_DAYS[unit]


# --------------------------------------------------------------------------- reading

def _suggest(name, known):
    m = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return m[0] if m else None


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

def _num(value):
    """Parse a raw cell: return (float or None, problem or None)."""
    s = value.strip()
    if s == "":
        return None, None
    if NUMBER_RE.match(s):
        v = float(s)
        if math.isfinite(v):
            return v, None
    if "\u2212" in s or "\u2013" in s:
        return None, "use the ASCII hyphen-minus '-' for a negative number"
    if s.upper() in {"NA", "NR", "N/A", "NAN", "NONE", "NULL", "-", "?"}:
        return None, "leave the cell empty when a number was not reported (never NA, NR or 0)"
    if s.endswith("%"):
        return None, "give the number without '%' (e.g. 45.8)"
    if re.fullmatch(r"[+-]?\d+,\d+", s):
        return None, "use '.' as the decimal separator"
    return None, "expected a number such as 0.52 or -16.5 (leave empty if not reported)"


def _key_error(value, bib_keys, file, line, column):
    if URL_RE.match(value):
        return None
    if not KEY_RE.match(value):
        return InputError("expected a BibTeX citation key (letters, digits, _ : . -) or an http(s) URL",
                          file=file, line=line, column=column, value=value)
    if bib_keys is not None and value not in bib_keys:
        hint = _suggest(value, bib_keys)
        return InputError("citation key not found in the BibTeX file" + (f"; did you mean '{hint}'?" if hint else "; add an entry to data/references.bib"),
                          file=file, line=line, column=column, value=value)
    return None


# --------------------------------------------------------------------------- studies

def validate_studies(frame, file=STUDIES_FILE_DEFAULT, bib_keys=None, warnings=None):
    """Check a raw studies frame (from :func:`read_sheet`); return a list of InputError."""
    errors = []
    warn = warnings if warnings is not None else []
    vocab = VOCABULARY["studies"]
    seen = {}
    for _, row in frame.iterrows():
        line = int(row["line"])

        def err(msg, col, value=None):
            errors.append(InputError(msg, file=file, line=line, column=col, value=value))

        sid = row["study_id"].strip()
        if not sid:
            err("missing study_id; expected a lower-case id such as luckenbaugh2014", "study_id")
        elif not ID_RE.match(sid):
            err("study_id must match ^[a-z][a-z0-9_]*$ (lower case, digits, underscores)", "study_id", row["study_id"])
        elif sid in seen:
            err(f"duplicated study_id (first used on line {seen[sid]})", "study_id", sid)
        else:
            seen[sid] = line
        key = row["citation_key"].strip()
        if not key:
            err("missing citation_key; expected the BibTeX key of the study's reference", "citation_key")
        else:
            e = _key_error(key, bib_keys, file, line, "citation_key")
            if e:
                errors.append(e)
        for col in ("role", "design", "drug", "route", "schedule", "setting", "control", "psychotherapy"):
            v = row[col].strip()
            if not v:
                err(f"missing {col}; expected one of: {', '.join(vocab[col])} (use NR when not reported)" if "NR" in vocab[col]
                    else f"missing {col}; expected one of: {', '.join(vocab[col])}", col)
            elif v not in vocab[col]:
                hint = _suggest(v, vocab[col])
                err(f"unknown value; expected one of: {', '.join(vocab[col])}" + (f" (did you mean '{hint}'?)" if hint else ""), col, v)
        nums = {}
        for col in STUDY_NUMERIC:
            v, problem = _num(row[col])
            if problem:
                err(problem, col, row[col])
            nums[col] = v
        if nums["n"] is not None:
            if nums["n"] < 1 or nums["n"] != int(nums["n"]):
                err("n must be a whole number >= 1 (leave empty if not reported)", "n", row["n"])
            elif nums["n"] > 100000:
                warn.append(f"{file}, line {line}, column 'n': n = {row['n']} is unusually large; check it")
        for col in ("dose_mg_kg", "infusion_min"):
            if nums[col] is not None and nums[col] <= 0:
                err(f"{col} must be > 0 (leave empty if not reported)", col, row[col])
        if nums["dose_mg_kg"] is not None and nums["dose_mg_kg"] > 5:
            warn.append(f"{file}, line {line}, column 'dose_mg_kg': {row['dose_mg_kg']} mg/kg is far above subanaesthetic doses; check it")
        for prefix, cols in (("n", ("n",)), ("dose", ("dose_mg_kg", "infusion_min"))):
            present = [c for c in cols if nums[c] is not None]
            prov = {p: row[f"{prefix}_{p}"].strip() for p in ("source", "grade", "locator", "passage")}
            if present:
                for p, v in prov.items():
                    if not v:
                        err(f"{present[0]} is given without provenance: fill {prefix}_{p}", f"{prefix}_{p}")
                if prov["passage"]:
                    for c in present:
                        if not number_in_passage(row[c], prov["passage"]):
                            err(f"the value does not occur verbatim in {prefix}_passage; copy the number exactly as printed", c, row[c])
            if prov["grade"] and prov["grade"] not in GRADES:
                err("grade must be P (the paper itself), S (another peer-reviewed paper) or C (third-party copy)", f"{prefix}_grade", prov["grade"])
            elif prov["grade"] == "C" and present:
                warn.append(f"{file}, line {line}, column '{prefix}_grade': grade C (third-party copy) for {', '.join(present)}")
            if prov["source"]:
                e = _key_error(prov["source"], bib_keys, file, line, f"{prefix}_source")
                if e:
                    errors.append(e)
    return errors


# --------------------------------------------------------------------------- effects

def _p_from_r(r, n):
    from scipy import stats

    if n <= 3 or abs(r) >= 1:
        return None
    t = r * math.sqrt((n - 2) / (1 - r * r))
    return float(2 * stats.t.sf(abs(t), n - 2))


def validate_effects(frame, file="data/effects.csv", study_ids=None, bib_keys=None, warnings=None):
    """Check a raw effects frame (from :func:`read_sheet`); return a list of InputError."""
    errors = []
    warn = warnings if warnings is not None else []
    vocab = VOCABULARY["effects"]
    seen = {}
    for _, row in frame.iterrows():
        line = int(row["line"])
        get = {c: row[c].strip() if isinstance(row[c], str) else "" for c in EFFECT_COLUMNS}

        def err(msg, col, value=None):
            errors.append(InputError(msg, file=file, line=line, column=col, value=value))

        eid = get["effect_id"]
        if not eid:
            err("missing effect_id; expected a unique lower-case id", "effect_id")
        elif not ID_RE.match(eid):
            err("effect_id must match ^[a-z][a-z0-9_]*$", "effect_id", row["effect_id"])
        elif eid in seen:
            err(f"duplicated effect_id (first used on line {seen[eid]})", "effect_id", eid)
        else:
            seen[eid] = line
        sid = get["study_id"]
        if not sid:
            err("missing study_id; expected a study_id from studies.csv", "study_id")
        elif study_ids is not None and sid not in study_ids:
            hint = _suggest(sid, study_ids)
            err("study_id not found in studies.csv" + (f"; did you mean '{hint}'?" if hint else "; add the study row first"), "study_id", sid)
        cid = get["comparison_id"]
        if not cid:
            err("missing comparison_id; rows describing the same arm contrast share one id (e.g. transform1_56mg_vs_placebo)", "comparison_id")
        elif not ID_RE.match(cid):
            err("comparison_id must match ^[a-z][a-z0-9_]*$", "comparison_id", row["comparison_id"])
        for col in ("question", "outcome", "form"):
            allowed = tuple(FORMS) if col == "form" else vocab[col]
            v = get[col]
            if not v:
                err(f"missing {col}; expected one of: {', '.join(allowed)}", col)
            elif v not in allowed:
                hint = _suggest(v, allowed)
                err(f"unknown value; expected one of: {', '.join(allowed)}" + (f" (did you mean '{hint}'?)" if hint else ""), col, v)
        for col in ("control", "time_unit", "p_op", "direction", "significant", "grade", "grade2"):
            v = get[col]
            if v and v not in vocab[col]:
                hint = _suggest(v, vocab[col])
                err(f"unknown value; expected one of: {', '.join(vocab[col])}" + (f" (did you mean '{hint}'?)" if hint else ""), col, v)
        nums = {}
        for col in EFFECT_NUMERIC:
            v, problem = _num(get[col])
            if problem:
                err(problem, col, row[col])
            nums[col] = v
        form = get["form"]
        spec = FORMS.get(form)
        present = [c for c in RESULT_NUMERIC if nums[c] is not None]
        # ---- form requirements
        if spec is not None:
            for col in spec.required:
                have = get[col] != ""
                if not have:
                    err(f"form '{form}' ({spec.description}) needs a value in '{col}'", col)
            if form == "not_found":
                for col in present:
                    err("a not_found row holds no numbers (only time_value may say which time point is missing)", col, row[col])
            else:
                for col in ("source", "grade", "locator", "passage"):
                    if not get[col]:
                        what = f"the number(s) in {', '.join(present)}" if present else "the reported result"
                        err(f"{what} need provenance: fill '{col}' (source key, grade P/S/C, locator, verbatim passage)", col)
            if form == "md_t" and nums["df"] is None and (nums["n1i"] is None or nums["n2i"] is None):
                err("form 'md_t' needs df, or both n1i and n2i", "df")
            if form == "means_sds" and nums["m2i"] is not None and nums["sd2i"] is None:
                err("a control-arm mean (m2i) needs its SD (sd2i)", "sd2i")
            if form == "events" and nums["ci"] is not None and nums["n2i"] is None:
                err("control-arm events (ci) need the control-arm n (n2i)", "n2i")
        # ---- paired columns
        if (nums["ci_lb"] is None) != (nums["ci_ub"] is None):
            err("a confidence interval needs both ci_lb and ci_ub", "ci_ub" if nums["ci_ub"] is None else "ci_lb")
        if nums["p"] is not None and not get["p_op"]:
            err("p needs p_op: '=' for an exact p, '<' or '>' for a bound (e.g. p < 0.001)", "p_op")
        if get["p_op"] and nums["p"] is None:
            err("p_op is given without p", "p")
        if (nums["time_value"] is None) != (not get["time_unit"]):
            if nums["time_value"] is None:
                err("time_unit is given without time_value", "time_value")
            else:
                err(f"time_value needs a time_unit: one of {', '.join(vocab['time_unit'])}", "time_unit")
        if nums["time_value"] is not None:
            if nums["time_value"] < 0:
                err("time_value must be >= 0", "time_value", row["time_value"])
            if not get["time_text"]:
                err("time_value needs time_text: the verbatim time wording (e.g. '24 hours', 'Day 7')", "time_text")
            elif not (number_in_passage(get["time_value"], get["time_text"], article=True)
                      or number_in_passage(get["time_value"], get["passage"], article=True)
                      or number_in_passage(get["time_value"], get["passage2"], article=True)):
                err("time_value does not occur in time_text or the passages; copy the time wording verbatim into time_text",
                    "time_value", row["time_value"])
        has2 = {c: bool(get[c]) for c in ("source2", "grade2", "locator2", "passage2")}
        if any(has2.values()) and not all(has2.values()):
            for c, h in has2.items():
                if not h:
                    err("a second passage needs all of source2, grade2, locator2 and passage2", c)
        # ---- ranges
        for col in ("se", "sd", "sd1i", "sd2i"):
            if nums.get(col) is not None and nums[col] <= 0:
                err(f"{col} must be > 0", col, row[col])
        for col in ("n", "n1i", "n2i"):
            if nums[col] is not None and (nums[col] < 1 or nums[col] != int(nums[col])):
                err(f"{col} must be a whole number >= 1", col, row[col])
            elif nums[col] is not None and nums[col] > 100000:
                warn.append(f"{file}, line {line}, column '{col}': {row[col]} is unusually large; check it")
        for col in ("ai", "ci"):
            if nums[col] is not None and (nums[col] < 0 or nums[col] != int(nums[col])):
                err(f"{col} must be a whole number >= 0", col, row[col])
        for a, n in (("ai", "n1i"), ("ci", "n2i")):
            if nums[a] is not None and nums[n] is not None and nums[a] > nums[n]:
                err(f"events ({a} = {row[a]}) exceed the arm size ({n} = {row[n]})", a, row[a])
        for col in ("pct1", "pct2"):
            if nums[col] is not None and not 0 <= nums[col] <= 100:
                err(f"{col} must be a percentage in [0, 100]", col, row[col])
        if nums["p"] is not None and not 0 <= nums["p"] <= 1:
            err("p must be in [0, 1]", "p", row["p"])
        if nums["level"] is not None and not 0 < nums["level"] < 100:
            err("level is a confidence level in percent, e.g. 95", "level", row["level"])
        if nums["df"] is not None and nums["df"] <= 0:
            err("df must be > 0", "df", row["df"])
        if nums["dose_mg_kg"] is not None and nums["dose_mg_kg"] <= 0:
            err("dose_mg_kg must be > 0", "dose_mg_kg", row["dose_mg_kg"])
        if nums["benefit_sign"] is not None and nums["benefit_sign"] not in (1.0, -1.0):
            err("benefit_sign must be 1 or -1 (or empty)", "benefit_sign", row["benefit_sign"])
        est, lb, ub = nums["estimate"], nums["ci_lb"], nums["ci_ub"]
        if spec is not None and spec.correlation:
            for col in ("estimate", "ci_lb", "ci_ub"):
                if nums[col] is not None and not -1 <= nums[col] <= 1:
                    err("a correlation must lie in [-1, 1]", col, row[col])
        if spec is not None and spec.ratio:
            for col in ("estimate", "ci_lb", "ci_ub"):
                if nums[col] is not None and nums[col] <= 0:
                    err("ratios are given on the natural scale and must be > 0 (not log ratios)", col, row[col])
        if lb is not None and ub is not None:
            if lb > ub:
                err("ci_lb is above ci_ub; put the lower bound in ci_lb", "ci_lb", row["ci_lb"])
            elif lb == ub:
                err("ci_lb equals ci_ub: a confidence interval of zero width implies a variance of 0; "
                    "check the numbers", "ci_ub", row["ci_ub"])
            elif est is not None and not lb <= est <= ub:
                err(f"the CI [{row['ci_lb']}, {row['ci_ub']}] does not contain the estimate {row['estimate']}"
                    + (" (ratios must be on the natural scale)" if spec is not None and spec.ratio else ""), "estimate", row["estimate"])
        # ---- verbatim numbers
        if present and get["passage"] and form != "not_found":
            labels = (get["time_text"],) if get["time_text"] else ()
            for col in present:
                if not (number_in_passage(get[col], get["passage"], labels=labels)
                        or number_in_passage(get[col], get["passage2"], labels=labels)):
                    err("the value does not occur verbatim in passage or passage2; copy the number exactly as printed", col, row[col])
        # ---- sources
        for col in ("source", "source2"):
            if get[col]:
                e = _key_error(get[col], bib_keys, file, line, col)
                if e:
                    errors.append(e)
        # ---- warnings
        if get["grade"] == "C" or get["grade2"] == "C":
            warn.append(f"{file}, line {line}, column '{'grade' if get['grade'] == 'C' else 'grade2'}': grade C (third-party copy) "
                        f"- {eid} is used only in sensitivity analyses")
        if form in ("d_ci", "d_p", "d_only") and est is not None and abs(est) > 5:
            warn.append(f"{file}, line {line}, column 'estimate': |d| = {abs(est)} > 5 is implausible for a standardized mean difference; check it")
        if form == "r_n" and est is not None and nums["n"] is not None and nums["p"] is not None and get["p_op"] == "=":
            p_calc = _p_from_r(est, nums["n"])
            if p_calc is not None and not (nums["p"] / 5 <= p_calc <= nums["p"] * 5):
                warn.append(f"{file}, line {line}, column 'n': r = {row['estimate']} with n = {row['n']} implies p = {p_calc:.2g}, "
                            f"not the reported p = {row['p']}; is n the n of this correlation?")
        if get["scale"] and get["scale"] not in KNOWN_SCALES:
            warn.append(f"{file}, line {line}, column 'scale': '{get['scale']}' is not a known scale name ({', '.join(KNOWN_SCALES)}); check the spelling")
        vote_count = get["outcome"] == "dissociation_improvement_association" and form in ("events", "pct")
        if (spec is not None and form not in ("direction", "not_found", "f_df") and not vote_count
                and get["outcome"] not in MODERATOR_OUTCOMES and get["outcome"] != "other" and not get["benefit_sign"]):
            warn.append(f"{file}, line {line}, column 'benefit_sign': empty for a {form} row on {get['outcome']}; the sign convention "
                        "of this result is unknown, so it cannot be harmonised")
    return errors


# --------------------------------------------------------------------------- JSON schema

def _find_schema_dir(schema_dir, anchor):
    if schema_dir is not None:
        return Path(schema_dir)
    candidates = [Path(__file__).resolve().parents[2] / "workflow" / "schemas",
                  Path(anchor).resolve().parent.parent / "workflow" / "schemas",
                  Path.cwd() / "workflow" / "schemas"]
    for c in candidates:
        if (c / "studies.schema.yaml").exists() and (c / "effects.schema.yaml").exists():
            return c
    return None


def _typed_record(row, numeric):
    rec = {}
    for col, val in row.items():
        if col == "line" or not isinstance(val, str) or val.strip() == "":
            continue
        if col in numeric:
            v, problem = _num(val)
            if problem is None and v is not None:
                rec[col] = v
        else:
            rec[col] = val
    return rec


def _schema_validator(path):
    return _schema_validator_cached(str(path), Path(path).stat().st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _schema_validator_cached(path, mtime_ns):
    import jsonschema
    import yaml

    with open(path, encoding="utf-8") as fh:
        schema = yaml.safe_load(fh)
    return jsonschema.Draft202012Validator(schema)


def validate_rows_against_schema(frame, schema_path, file, numeric, already=()):
    """Validate each row of a raw frame against a JSON schema describing one row.

    Rows are typed as pandas would read them (numbers as numbers, empty cells dropped), the same
    records :func:`snakemake.utils.validate` checks. Returns InputErrors, skipping (line, column)
    pairs already reported in ``already``.
    """
    validator = _schema_validator(str(schema_path))
    done = {(e.line, e.column) for e in already}
    errors = []
    for _, row in frame.iterrows():
        line = int(row["line"])
        rec = _typed_record(row, numeric)
        for e in validator.iter_errors(rec):
            cols = []
            if e.validator == "required":
                cols = [c for c in e.validator_value if c not in e.instance]
            elif e.validator == "dependentRequired":
                for k, deps in e.validator_value.items():
                    if k in e.instance:
                        cols += [d for d in deps if d not in e.instance]
            elif e.path:
                cols = [str(e.path[0])]
            cols = cols or [None]
            for col in cols:
                if (line, col) in done or (col is None and any(d[0] == line for d in done)):
                    continue
                done.add((line, col))
                desc = e.schema.get("description", "") if isinstance(e.schema, dict) else ""
                msg = f"does not match {Path(schema_path).name}: {e.message}" + (f" ({desc})" if desc else "")
                if e.validator in ("required", "dependentRequired") and col:
                    msg = f"missing value required by {Path(schema_path).name} ({e.message})"
                errors.append(InputError(msg, file=file, line=line, column=col,
                                         value=row.get(col) if col in row else None))
    return errors


# --------------------------------------------------------------------------- loading

@dataclass
class Evidence:
    """The validated evidence base."""

    studies: pd.DataFrame
    effects: pd.DataFrame
    bib: object
    warnings: list = field(default_factory=list)
    files: dict = field(default_factory=dict)
    #: effects sheet as raw text (indexed by effect_id): printed decimals of reported numbers
    effects_raw: pd.DataFrame | None = None


def _typed(frame, numeric, index=None):
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


def load_evidence(studies="data/studies.csv", effects="data/effects.csv", bib="data/references.bib", schema_dir=None,
                  validate=True):
    """Read, validate and type the evidence base.

    Raises :class:`ketameta.errors.InputErrors` listing every problem found in the three files
    (each located by file, line and column); nothing derived is returned when any problem exists.

    ``validate=False`` skips the row checks (value ranges, verbatim numbers, JSON schemas) and
    only reads and types the sheets. The workflow validates once when it is parsed and its jobs
    then read the same, unchanged files with ``validate=False``.
    """
    warnings = []
    errors = []
    bib_data, bib_errors, bib_warns = load_bib(bib)
    errors += bib_errors
    warnings += bib_warns
    bib_keys = set(bib_data.entries.keys()) if bib_data is not None else None
    s_frame, s_err = read_sheet(studies, STUDY_COLUMNS, warnings)
    e_frame, e_err = read_sheet(effects, EFFECT_COLUMNS, warnings)
    errors += s_err + e_err
    s_file, e_file = str(studies), str(effects)
    # rows of a sheet whose header is broken cannot be read reliably: report the header only
    sv = [] if (s_err or not validate) else validate_studies(s_frame, file=s_file, bib_keys=bib_keys,
                                                             warnings=warnings)
    # an empty study sheet gives an empty set: every effects row then names an unknown study
    study_ids = {s.strip() for s in s_frame["study_id"]} if not s_err else None
    ev_ = [] if (e_err or not validate) else validate_effects(e_frame, file=e_file, study_ids=study_ids,
                                                              bib_keys=bib_keys, warnings=warnings)
    errors += sv + ev_
    sdir = _find_schema_dir(schema_dir, studies)
    if not validate:
        pass
    elif sdir is None:
        warnings.append("workflow/schemas not found: rows were not checked against the JSON schemas")
    elif not (s_err or e_err):
        errors += validate_rows_against_schema(s_frame, sdir / "studies.schema.yaml", s_file, STUDY_NUMERIC, sv)
        errors += validate_rows_against_schema(e_frame, sdir / "effects.schema.yaml", e_file, EFFECT_NUMERIC, ev_)
    if errors:
        raise InputErrors(errors)
    # cross-sheet warnings
    used = set(s_frame["study_id"]) & set(e_frame["study_id"])
    for _, row in s_frame.iterrows():
        if row["role"] == "primary" and row["study_id"] not in used:
            warnings.append(f"{s_file}, line {row['line']}, column 'study_id': primary study {row['study_id']} has no rows in {e_file}")
    cited = set(s_frame["citation_key"]) | set(s_frame["n_source"]) | set(s_frame["dose_source"]) \
        | set(e_frame["source"]) | set(e_frame["source2"])
    for key in sorted(set(bib_data.entries.keys()) - cited):
        warnings.append(f"{bib}: entry '{key}' is not cited in either sheet")
    studies_t = _typed(s_frame, STUDY_NUMERIC, index="study_id")
    effects_t = _typed(e_frame, EFFECT_NUMERIC)
    effects_t["time_days"] = [time_in_days(v, u) for v, u in zip(effects_t["time_value"], effects_t["time_unit"])]
    raw = e_frame.drop(columns=["line"]).set_index("effect_id", drop=False)
    return Evidence(studies=studies_t, effects=effects_t, bib=bib_data, warnings=warnings,
                    files={"studies": s_file, "effects": e_file, "bib": str(bib)}, effects_raw=raw)


# --------------------------------------------------------------------------- data gaps

_EFFECT_FORMS_OK = {"r_n", "r_ci", "d_ci", "md_ci", "md_se", "md_t", "change_t", "events", "rd_ci",
                    "or_ci", "rr_ci", "slope_ci", "slope_se"}


def _row_gap(row):
    """Return a reason if this row's form cannot yield an effect size with a variance, else None."""
    f = row["form"]
    has = lambda c: not pd.isna(row[c])  # noqa: E731
    if f in ("r_p",):
        return "correlation reported with p only: n of the correlation not reported"
    if f in ("r_only", "d_only", "or_only", "mean_only"):
        return "estimate reported without CI, SE, p or n: no variance"
    if f == "direction":
        return "only a direction/significance was reported: no effect size"
    if f == "f_df":
        return "F statistic without arm ns: cannot be converted to an effect size"
    if f in ("d_p", "slope_p"):
        return None if row["p_op"] == "=" else "only a p-value bound was reported: no exact variance"
    if f == "md_t" and not has("df") and not (has("n1i") and has("n2i")):
        return "t without df or arm ns"
    if f == "pct":
        if not has("n1i") or (has("pct2") and not has("n2i")):
            return "percentages without arm n: counts cannot be reconstructed"
        return None
    if f == "means_sds":
        if not has("n1i") or (has("m2i") and not has("n2i")):
            return "means and SDs without arm n"
        return None
    if f == "mean_change":
        if not ((has("sd") and has("n")) or has("se") or (has("ci_lb") and has("ci_ub"))):
            return "mean change without SD and n, SE or CI: no variance"
        return None
    return None


def _item(row):
    parts = [str(row["outcome"])]
    for col in ("scale", "predictor", "arm"):
        if not pd.isna(row[col]) and str(row[col]):
            parts.append(str(row[col]))
    if not pd.isna(row["time_text"]):
        parts.append(f"time: {row['time_text']}")
    return "; ".join(parts)


def data_gaps(ev):
    """The numbers each study still needs, as a DataFrame.

    Columns: ``study_id``, ``citation_key`` (for labelling), ``question``, ``item`` (what is
    missing), ``reason``; then ``role``, ``effect_id`` and ``kind`` (``not_found``,
    ``not_poolable``, ``time_not_reported`` or ``no_quantitative_row``). Built from ``not_found``
    rows, rows whose form cannot yield an effect size (direction only, r without n, percentages
    without n, ...), durability/relapse rows without a time point, and primary studies that have
    no quantitative row for a question they address.
    """
    studies, effects = ev.studies, ev.effects
    rows = []

    def add(sid, question, item, reason, kind, effect_id=None):
        key = studies.loc[sid, "citation_key"] if sid in studies.index else np.nan
        role = studies.loc[sid, "role"] if sid in studies.index else np.nan
        rows.append(dict(study_id=sid, citation_key=key, question=question, item=item, reason=reason,
                         role=role, effect_id=effect_id, kind=kind))

    quantitative = {}
    for _, r in effects.iterrows():
        sid, q = r["study_id"], r["question"]
        quantitative.setdefault((sid, q), False)
        if r["form"] == "not_found":
            where = r["notes"] if not pd.isna(r["notes"]) else "searched; not found"
            add(sid, q, _item(r), f"not found: {where}", "not_found", r["effect_id"])
            continue
        if r["outcome"] in MODERATOR_OUTCOMES:
            quantitative[(sid, q)] = quantitative[(sid, q)] or False
            continue
        reason = _row_gap(r)
        if reason:
            add(sid, q, _item(r), reason, "not_poolable", r["effect_id"])
        else:
            quantitative[(sid, q)] = True
        if q in ("durability", "relapse") and pd.isna(r["time_value"]) and not (
                isinstance(r["time_text"], str) and ("some point" in r["time_text"] or "time to" in r["time_text"]
                                                     or "mean time" in r["time_text"])):
            add(sid, q, _item(r), "time point not reported in the graded source", "time_not_reported", r["effect_id"])
    for sid, srow in studies.iterrows():
        if srow["role"] != "primary":
            continue
        qs = [q for (s, q) in quantitative if s == sid]
        if not qs:
            add(sid, np.nan, "any result", "study has no rows in effects.csv", "no_quantitative_row")
        for q in qs:
            if not quantitative[(sid, q)]:
                add(sid, q, "a result usable as an effect size", "no quantitative row for this question", "no_quantitative_row")
    cols = ["study_id", "citation_key", "question", "item", "reason", "role", "effect_id", "kind"]
    return pd.DataFrame(rows, columns=cols)
