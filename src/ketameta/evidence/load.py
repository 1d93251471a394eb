"""Load the evidence base: read the sheets, check them, return typed tables."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from ..errors import InputErrors
from .checks import FORMS, validate_effects, validate_studies
from .provenance import time_in_days
from .review import load_review
from .schema import check_rows, columns, numeric_columns
from .sheets import load_bib, read_sheet, typed

__all__ = ["Evidence", "load_evidence"]


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
    #: the review's records (:mod:`ketameta.evidence.review`): empty tables when not given
    rob: pd.DataFrame | None = None
    screening: pd.DataFrame | None = None
    search_log: pd.DataFrame | None = None
    watch: pd.DataFrame | None = None


def load_evidence(studies="data/studies.csv", effects="data/effects.csv", bib="data/references.bib",
                  validate=True, rob=None, screening=None, search_log=None, watch=None):
    """Read, validate and type the evidence base.

    Raises :class:`ketameta.errors.InputErrors` listing every problem found in the three files
    (each located by file, line and column); nothing derived is returned when any problem exists.
    Per-cell rules come from the sheets' JSON schemas (:mod:`ketameta.evidence.schema`), rules
    across cells, rows and files from :mod:`ketameta.evidence.checks`.

    ``rob``, ``screening``, ``search_log`` and ``watch`` are the optional sheets of the review's
    records (:mod:`ketameta.evidence.review`); each becomes a table of the result (empty when
    not given).

    ``validate=False`` skips the row checks and only reads and types the sheets (for a copy
    already validated, e.g. the workflow's ``results/evidence/``).
    """
    warnings, errors = [], []
    bib_data, bib_errors, bib_warns = load_bib(bib)
    errors += bib_errors
    warnings += bib_warns
    bib_keys = set(bib_data.entries.keys()) if bib_data is not None else None
    s_frame, s_err = read_sheet(studies, columns("studies"), warnings)
    e_frame, e_err = read_sheet(effects, columns("effects"), warnings)
    errors += s_err + e_err
    s_file, e_file = str(studies), str(effects)
    by_line = lambda errs: sorted(errs, key=lambda e: e.line or 0)  # noqa: E731
    if validate and not s_err:
        errors += by_line(check_rows(s_frame, "studies", s_file)
                          + validate_studies(s_frame, file=s_file, bib_keys=bib_keys, warnings=warnings))
    # an empty study sheet gives an empty set: every effects row then names an unknown study
    study_ids = {s.strip() for s in s_frame["study_id"]} if not s_err else None
    design = dict(zip(s_frame["study_id"].str.strip(), s_frame["design"].str.strip())) if not s_err else None
    if validate and not e_err:
        errors += by_line(check_rows(e_frame, "effects", e_file, {f: s.description for f, s in FORMS.items()})
                          + validate_effects(e_frame, file=e_file, study_ids=study_ids, bib_keys=bib_keys,
                                             warnings=warnings, design=design))
    paths = {"rob": rob, "screening": screening, "search_log": search_log, "watch": watch}
    review, r_err = load_review(paths, study_ids, bib_keys, design=design, validate=validate, warnings=warnings)
    errors += r_err
    if errors:
        raise InputErrors(errors)
    # cross-sheet warnings
    used = set(s_frame["study_id"]) & set(e_frame["study_id"])
    for _, row in s_frame.iterrows():
        if row["role"] == "primary" and row["study_id"] not in used:
            warnings.append(f"{s_file}, line {row['line']}, column 'study_id': primary study {row['study_id']} has no rows in {e_file}")
    cited = set(s_frame["citation_key"]) | set(s_frame["n_source"]) | set(s_frame["dose_source"]) \
        | set(s_frame["design_source"]) | set(e_frame["source"]) | set(e_frame["source2"])
    for frame in review.values():
        if "source" in frame.columns:
            cited |= set(frame["source"].dropna())
    for key in sorted(set(bib_data.entries.keys()) - cited):
        warnings.append(f"{bib}: entry '{key}' is not cited in either sheet")
    studies_t = typed(s_frame, numeric_columns("studies"), index="study_id")
    effects_t = typed(e_frame, numeric_columns("effects"))
    effects_t["time_days"] = [time_in_days(v, u) for v, u in zip(effects_t["time_value"], effects_t["time_unit"])]
    raw = e_frame.drop(columns=["line"]).set_index("effect_id", drop=False)
    return Evidence(studies=studies_t, effects=effects_t, bib=bib_data, warnings=warnings,
                    files={"studies": s_file, "effects": e_file, "bib": str(bib),
                           **{k: str(v) for k, v in paths.items() if v}},
                    effects_raw=raw, **review)
