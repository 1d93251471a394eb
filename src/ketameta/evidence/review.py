"""The review's own records beside the data: risk of bias, screening, search log and watch list.

``data/rob.csv`` holds RoB 2 judgements (Sterne et al. 2019, BMJ 366:l4898) per trial, outcome
and domain with the passage behind each; :func:`rob_overall` derives the overall judgement.
``data/screening.csv`` and ``data/search_log.csv`` record how the trials were found and why each
candidate is in or out (the PRISMA 2020 counts come from them); ``data/watch.csv`` lists
registered trials still to report. Each sheet has a JSON schema in ``schemas/`` and is checked
like the data sheets.
"""

from __future__ import annotations

import pandas as pd

from ..errors import InputError
from .provenance import key_error
from .schema import check_rows, columns, numeric_columns
from .sheets import read_sheet, typed

__all__ = ["REVIEW_SHEETS", "load_review", "rob_overall", "ROB_DOMAINS", "ROB_LEVELS"]

#: sheets of the review's records, in the order they are read
REVIEW_SHEETS = ("rob", "screening", "search_log", "watch")

ROB_DOMAINS = ("D1_randomisation", "D2_deviations", "D3_missing_data", "D4_measurement",
               "D5_selection", "DS_period_carryover")
#: judgements from best to worst (no_information ranks as some concerns in the overall rule)
ROB_LEVELS = ("low", "some_concerns", "high")


def _empty(sheet: str) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in (*columns(sheet), "line")})


def _typed(frame: pd.DataFrame, sheet: str) -> pd.DataFrame:
    return typed(frame, numeric_columns(sheet))


def load_review(paths: dict, study_ids, bib_keys, design=None, validate=True, warnings=None):
    """Read and check the review sheets given in ``paths`` (missing keys give empty tables).

    Returns ``(frames, errors)``; ``design`` maps study_id -> design (for the crossover domain).
    """
    warn = warnings if warnings is not None else []
    frames, errors = {}, []
    for sheet in REVIEW_SHEETS:
        path = paths.get(sheet)
        if not path:
            frames[sheet] = _empty(sheet)
            continue
        frame, errs = read_sheet(path, columns(sheet), warn)
        errors += errs
        if validate and not errs:
            errors += sorted(check_rows(frame, sheet, str(path)) + _cross(sheet, frame, str(path), study_ids, bib_keys,
                                                                           design, warn),
                             key=lambda e: e.line or 0)
        frames[sheet] = frame
    if validate and not errors:
        errors += _between(frames, paths, warn)
    return {s: _typed(f, s) for s, f in frames.items()}, errors


def _cross(sheet, frame, file, study_ids, bib_keys, design, warn):
    errors = []
    seen = {}
    key_cols = {"rob": ("study_id", "outcome", "domain"), "screening": ("record_id",),
                "search_log": ("search_id",), "watch": ("registry_id",)}[sheet]
    for _, row in frame.iterrows():
        line = int(row["line"])
        key = tuple(row[c].strip() for c in key_cols)
        if all(key):
            if key in seen:
                errors.append(InputError(f"duplicated {'/'.join(key_cols)} (first used on line {seen[key]})",
                                         file=file, line=line, column=key_cols[-1], value="/".join(key)))
            seen.setdefault(key, line)
        sid = row.get("study_id", "").strip() if "study_id" in row else ""
        if sid and study_ids is not None and sid not in study_ids:
            errors.append(InputError("study_id not found in studies.csv; add the study row first", file=file,
                                     line=line, column="study_id", value=sid))
        src = row.get("source", "").strip() if "source" in row else ""
        if src:
            e = key_error(src, bib_keys, file, line, "source")
            if e:
                errors.append(e)
        if sheet == "rob" and row["domain"].strip() == "DS_period_carryover" and design is not None \
                and design.get(sid) not in (None, "crossover_rct"):
            warn.append(f"{file}, line {line}, column 'domain': the period/carry-over domain is for crossover trials; "
                        f"{sid} is {design.get(sid)}")
        if sheet in ("rob", "watch") and row.get("grade", "").strip() == "C":
            warn.append(f"{file}, line {line}, column 'grade': grade C (third-party copy)")
    return errors


def _between(frames, paths, warn):
    """Screening rows name searches of the search log; the log's counts match the screening sheet."""
    errors = []
    log, scr = frames["search_log"], frames["screening"]
    if not len(log) or not len(scr):
        return errors
    ids = set(log["search_id"].str.strip())
    kept = {}
    for _, row in scr.iterrows():
        for sid in (s.strip() for s in row["found_via"].split(";")):
            if not sid:
                continue
            if sid not in ids:
                errors.append(InputError(f"found_via names a search not in {paths['search_log']}", file=str(paths["screening"]),
                                         line=int(row["line"]), column="found_via", value=sid))
            kept[sid] = kept.get(sid, 0) + 1
    for _, row in log.iterrows():
        n = kept.get(row["search_id"].strip(), 0)
        if row["records_kept"].strip() and int(float(row["records_kept"])) != n:
            warn.append(f"{paths['search_log']}, line {row['line']}, column 'records_kept': {row['records_kept']} but "
                        f"{n} screening record(s) name this search in found_via")
    return errors


def rob_overall(rob: pd.DataFrame) -> pd.DataFrame:
    """Overall RoB 2 judgement per study and outcome (the tool's algorithm, Sterne et al. 2019).

    *High* if any domain is high; *low* if every domain is low; otherwise *some concerns*
    ("no information" counts as some concerns). RoB 2 lets a reviewer judge several
    some-concerns domains as high overall; that judgement is not automated here and the
    domain judgements are shown beside the overall one.

    Returns a DataFrame with columns ``study_id``, ``outcome``, ``overall``, ``n_domains`` and one
    column per domain.
    """
    if rob.empty:
        return pd.DataFrame(columns=["study_id", "outcome", "overall", "n_domains", *ROB_DOMAINS])
    wide = rob.pivot_table(index=["study_id", "outcome"], columns="domain", values="judgement",
                           aggfunc="first").reindex(columns=list(ROB_DOMAINS))

    def overall(r):
        vals = [v for v in r if isinstance(v, str)]
        if "high" in vals:
            return "high"
        if vals and all(v == "low" for v in vals):
            return "low"
        return "some_concerns"

    out = wide.copy()
    out.insert(0, "overall", wide.apply(overall, axis=1))
    out.insert(1, "n_domains", wide.notna().sum(axis=1))
    return out.reset_index()
