"""The JSON schemas of the data sheets: the one place where columns, types, vocabularies and ranges live.

Each sheet (``studies``, ``effects``, and the review sheets) has a JSON schema describing ONE
row, shipped with the package in ``ketameta/evidence/schemas/``. Everything per-cell is read
from it: the column order (the order of ``properties``), which columns are numbers, the allowed
values, patterns and ranges, which cells are required, which cells require others
(``dependentRequired``) and which columns each reporting ``form`` needs (``allOf`` /
``if``-``then``). :func:`check_rows` validates every row of a raw sheet against its schema and
turns each violation into an :class:`~ketameta.errors.InputError` a user can act on (file, line,
column, what was expected); a property's optional ``x-message`` gives the wording for a range
or pattern violation. Checks that need several cells, rows or files (a CI containing its
estimate, numbers verbatim in passages, keys in the BibTeX file, unique ids) are in
:mod:`ketameta.evidence.checks`.
"""

from __future__ import annotations

import functools
import math
import re
from importlib import resources

import jsonschema
import yaml

from ..errors import InputError
from .provenance import suggest

__all__ = ["SHEETS", "schema", "schema_path", "columns", "numeric_columns", "vocabulary",
           "form_requirements", "parse_number", "typed_record", "check_rows", "PROVENANCE"]

#: Sheets described by a schema in ``ketameta/evidence/schemas`` (file ``<sheet>.schema.yaml``).
SHEETS = ("studies", "effects", "rob", "screening", "search_log", "watch")

#: Provenance columns a number needs (effects.csv): the message for them names the numbers.
PROVENANCE = ("source", "grade", "locator", "passage")

NUMBER_RE = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")
_RANGE = ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum", "multipleOf")


def schema_path(sheet: str):
    """Path of the schema file of ``sheet`` inside the installed package."""
    return resources.files("ketameta.evidence") / "schemas" / f"{sheet}.schema.yaml"


@functools.cache
def schema(sheet: str) -> dict:
    """The parsed schema of ``sheet`` (cached)."""
    with schema_path(sheet).open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@functools.cache
def _validator(sheet: str):
    return jsonschema.Draft202012Validator(schema(sheet))


def columns(sheet: str) -> tuple[str, ...]:
    """The sheet's columns, in the documented order."""
    return tuple(schema(sheet)["properties"])


def numeric_columns(sheet: str) -> tuple[str, ...]:
    """Columns whose cells are numbers."""
    return tuple(c for c, p in schema(sheet)["properties"].items() if p.get("type") in ("number", "integer"))


def vocabulary(sheet: str) -> dict[str, tuple]:
    """Allowed values of every text column with a closed vocabulary."""
    out = {}
    for c, p in schema(sheet)["properties"].items():
        if "enum" in p and p.get("type") != "number":
            out[c] = tuple(str(v) for v in p["enum"] if isinstance(v, str))
    return out


def form_requirements(sheet: str = "effects") -> dict[str, tuple[str, ...]]:
    """``form`` value -> the columns it requires (from the schema's ``allOf``/``if``/``then``)."""
    out = {}
    for rule in schema(sheet).get("allOf", []):
        cond = rule.get("if", {}).get("properties", {}).get("form", {})
        if "const" in cond:
            out[cond["const"]] = tuple(rule.get("then", {}).get("required", ()))
    return out


def parse_number(value: str):
    """Parse a raw cell: ``(float or None, problem or None)``; the problem says what to write instead."""
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


def typed_record(row, numeric) -> tuple[dict, dict]:
    """One raw row as the record the schema describes (numbers as numbers, empty cells absent).

    Returns ``(record, problems)``: ``problems`` maps a numeric column whose text is not a number
    to the message saying what to write instead (the cell is left out of the record).
    """
    rec, problems = {}, {}
    for col, val in row.items():
        if col == "line" or not isinstance(val, str) or val.strip() == "":
            continue
        if col in numeric:
            v, problem = parse_number(val)
            if problem:
                problems[col] = problem
            elif v is not None:
                rec[col] = v
        else:
            rec[col] = val.strip()
    return rec, problems


def _enum_message(col, allowed, value, empty=False):
    allowed = [str(a) for a in allowed]
    if empty:
        tail = " (use NR when not reported)" if "NR" in allowed else ""
        return f"missing {col}; expected one of: {', '.join(allowed)}{tail}"
    hint = suggest(value, allowed)
    return f"unknown value; expected one of: {', '.join(allowed)}" + (f" (did you mean '{hint}'?)" if hint else "")


_MISSING_HINT = {
    "study_id": "expected a lower-case id such as luckenbaugh2014",
    "citation_key": "expected the BibTeX key of the study's reference",
    "effect_id": "expected a unique lower-case id",
    "comparison_id": "rows describing the same arm contrast share one id (e.g. transform1_56mg_vs_placebo)",
}


def _dependency_message(col, trigger_cols, sch):
    """Message for a cell that other filled cells require (``dependentRequired``)."""
    if col in PROVENANCE:
        return (f"the number(s) in {', '.join(trigger_cols)} need provenance: fill '{col}' "
                "(source key, grade P/S/C, locator, verbatim passage)")
    if {col} | set(trigger_cols) <= {"ci_lb", "ci_ub"}:
        return "a confidence interval needs both ci_lb and ci_ub"
    if col == "p_op":
        return "p needs p_op: '=' for an exact p, '<' or '>' for a bound (e.g. p < 0.001)"
    if col == "p":
        return "p_op is given without p"
    if col == "time_value":
        return "time_unit is given without time_value"
    if col == "time_unit":
        units = ", ".join(str(u) for u in sch["properties"]["time_unit"]["enum"])
        return f"time_value needs a time_unit: one of {units}"
    if col == "time_text":
        return "time_value needs time_text: the verbatim time wording (e.g. '24 hours', 'Day 7')"
    if col in ("source2", "grade2", "locator2", "passage2"):
        return "a second passage needs all of source2, grade2, locator2 and passage2"
    if col == "sd2i" and "m2i" in trigger_cols:
        return "a control-arm mean (m2i) needs its SD (sd2i)"
    if col == "n2i" and "ci" in trigger_cols:
        return "control-arm events (ci) need the control-arm n (n2i)"
    if col.endswith(("_source", "_grade", "_locator", "_passage")):
        prefix = col.rsplit("_", 1)[0]
        return f"{trigger_cols[0]} is given without provenance: fill {prefix}_{col.rsplit('_', 1)[1]}"
    return f"{', '.join(trigger_cols)} needs '{col}'"


def check_rows(frame, sheet: str, file: str, descriptions: dict | None = None) -> list[InputError]:
    """Check every row of a raw sheet (from :func:`ketameta.evidence.sheets.read_sheet`) against its schema.

    ``descriptions`` maps a ``form`` value to its plain-language description (used in the
    message for a column the form requires). One message per (line, column).
    """
    sch = schema(sheet)
    props = sch["properties"]
    numeric = set(numeric_columns(sheet))
    deps = sch.get("dependentRequired", {})
    required = set(sch.get("required", ()))
    validator = _validator(sheet)
    errors = []
    for _, row in frame.iterrows():
        line = int(row["line"])
        rec, problems = typed_record(row, numeric)
        done = set()

        def add(msg, col, value=None):
            if col in done:
                return
            done.add(col)
            errors.append(InputError(msg, file=file, line=line, column=col, value=value))

        for col, problem in problems.items():
            add(problem, col, row[col])
        # what a form requires is the most specific message for a missing cell: report it first
        for err in sorted(validator.iter_errors(rec), key=lambda e: e.schema_path[0] != "allOf"):
            v = err.validator
            if v == "required":
                missing = [c for c in err.validator_value if c not in err.instance]
                in_form = any(p == "allOf" for p in err.schema_path)
                for col in missing:
                    if col in problems:
                        continue
                    if in_form and col in PROVENANCE:
                        nums = [c for c in numeric_columns(sheet) if c in rec and c not in ("time_value", "benefit_sign")]
                        what = f"the number(s) in {', '.join(nums)}" if nums else "the reported result"
                        add(f"{what} need provenance: fill '{col}' (source key, grade P/S/C, locator, "
                            "verbatim passage)", col)
                    elif props.get(col, {}).get("x-missing"):
                        add(props[col]["x-missing"], col)
                    elif in_form and col not in required:
                        form = rec.get("form")
                        desc = (descriptions or {}).get(form, "")
                        add(f"form '{form}'" + (f" ({desc})" if desc else "") + f" needs a value in '{col}'", col)
                    elif "enum" in props.get(col, {}):
                        add(_enum_message(col, props[col]["enum"], "", empty=True), col)
                    else:
                        hint = _MISSING_HINT.get(col, "")
                        add(f"missing {col}" + (f"; {hint}" if hint else ""), col)
            elif v == "dependentRequired":
                for trigger, needs in err.validator_value.items():
                    if trigger not in err.instance:
                        continue
                    for col in needs:
                        if col in err.instance or col in problems:
                            continue
                        triggers = [t for t, n in deps.items() if t in rec and col in n]
                        # CI pairs and p/p_op are reported on the cell that is missing
                        add(_dependency_message(col, triggers, sch), col)
            elif err.path:
                col = str(err.path[0])
                if col in problems:
                    continue
                p = props.get(col, {})
                value = row[col] if col in row else None
                own = err.schema.get("x-message") if isinstance(err.schema, dict) else None
                if v == "enum":
                    add(own or _enum_message(col, p["enum"], err.instance), col, value)
                elif v in _RANGE or v in ("pattern", "not"):
                    add(own or f"{col}: {err.message}", col, value)
                else:
                    add(f"does not match {sheet}.schema.yaml: {err.message}", col, value)
            elif v not in ("if", "then", "allOf"):
                add(f"does not match {sheet}.schema.yaml: {err.message}", None)
    return errors
