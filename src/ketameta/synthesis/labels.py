"""Readable study labels for references without authors, derived from the study sheet.

Tables and figures label a study "Author et al. year" (:class:`ketameta.outputs.citations.
Citations`). Some sources were read without their author list (a registry copy, a table page);
their label must still identify the study to a reader, and must never be a journal ("Int J
Neuropsychopharmacol 2019") or a title. :func:`fallback_names` names such a study from the
study sheet, in this order:

1. the trial's name, when the study's ``notes`` name exactly one (an upper-case name with a
   number, as "TRANSFORM-1", "ASPIRE II", "ASPIRE I+II"; rating scales such as "HAMD-17" are not
   trial names);
2. its registry number (``registry_id``, e.g. NCT01234567);
3. what it is, from ``drug`` and ``design`` ("Esketamine secondary analysis", "Ketamine RCT").

The year comes from the bibliography (:class:`Citations` adds it; "n.d." when missing), and
labels that coincide get a/b suffixes there.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import pandas as pd

__all__ = ["fallback_names", "study_citations", "TRIAL_NAME"]

#: An upper-case trial name with a number: TRANSFORM-1, SUSTAIN-3, ASPIRE II, ASPIRE I+II.
TRIAL_NAME = re.compile(r"\b([A-Z][A-Z0-9]{2,}(?:-\d+[A-Z]?|\s(?:I{1,3}|IV|V)(?:\+I{1,3})?))(?![\w+-])")
#: Rating scales and questionnaires written like trial names (HAMD-17, GAD-7, ...).
_SCALES = ("HAM", "HDRS", "HRSD", "MADRS", "QIDS", "PHQ", "BDI", "GAD", "CADSS", "BPRS", "YMRS",
           "CGI", "BSS", "SSI", "SF", "IDS", "SHAPS", "CSSRS", "STAI", "PANSS")

_DRUG = {"racemic_ketamine": "Ketamine", "esketamine": "Esketamine"}
_DESIGN = {
    "parallel_rct": "RCT",
    "crossover_rct": "crossover RCT",
    "single_arm": "single-arm study",
    "pooled_secondary": "secondary analysis",
    "observational": "observational study",
    "case_series": "case series",
    "systematic_review": "systematic review",
    "meta_analysis": "meta-analysis",
}


def _text(v) -> str:
    return "" if v is None or (isinstance(v, float) and pd.isna(v)) else str(v).strip()


def trial_name(notes: str) -> str | None:
    """The one trial name the notes give (None when they name none or several)."""
    found = [m for m in TRIAL_NAME.findall(_text(notes))
             if not m.upper().startswith(_SCALES)]
    found = list(dict.fromkeys(found))
    return found[0] if len(found) == 1 else None


def fallback_name(row: Mapping) -> str:
    """The name of one study (a study-sheet row) for a reference without authors."""
    name = trial_name(row.get("notes"))
    if name:
        return name
    reg = _text(row.get("registry_id"))
    if reg and reg != "NR":
        return reg.split(";")[0].strip()
    drug = _DRUG.get(_text(row.get("drug")), "Ketamine")
    return f"{drug} {_DESIGN.get(_text(row.get('design')), 'study')}"


def fallback_names(studies: pd.DataFrame) -> dict[str, str]:
    """Citation key -> name of its study, for every study of the sheet (first study of a key).

    :class:`~ketameta.outputs.citations.Citations` uses the name only when the entry has no
    author, editor, organisation or shorthand.
    """
    out: dict[str, str] = {}
    if studies is None or "citation_key" not in studies.columns:
        return out
    for row in studies.to_dict("records"):
        key = _text(row.get("citation_key"))
        if key and key not in out:
            out[key] = fallback_name(row)
    return out


def study_citations(bib, studies: pd.DataFrame | None = None):
    """:class:`Citations` of ``bib`` whose labels fall back on the study sheet (never a journal)."""
    from ..outputs.citations import Citations

    return Citations(bib, names=fallback_names(studies) if studies is not None else None)
