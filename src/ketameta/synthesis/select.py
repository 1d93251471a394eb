"""Row selection for one configured analysis, with a reason for every row left out.

An analysis draws on the rows of the effects sheet whose ``question`` it names. Every such row
either enters the analysis or is listed in the exclusions with the reason (filter that did not
match, grade not admitted, no numbers, ...). Nothing is dropped silently.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd

from ..errors import InputError

__all__ = ["candidate_rows", "select_rows", "digest", "as_list", "STUDY_FILTER_COLUMNS"]

#: Filter keys answered from the study sheet (the rest come from the effects sheet).
STUDY_FILTER_COLUMNS = ("route", "drug", "schedule", "setting", "design", "polarity", "age_group")


def as_list(value):
    """A config value that may be a scalar or a list, as a list."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _merged(ev) -> pd.DataFrame:
    """Effects rows joined with the study characteristics they need (prefixed ``study_``)."""
    eff = ev.effects.copy()
    st = ev.studies
    cols = ["citation_key", "role", "design", "drug", "route", "dose_mg_kg", "infusion_min",
            "schedule", "setting", "control", "n", "population", "diagnosis", "polarity", "age_group",
            "washout_days", "period1_reported"]
    cols = [c for c in cols if c in st.columns]
    joined = st[cols].add_prefix("study_")
    eff = eff.join(joined, on="study_id")
    # the dose of a row: its own (dose arms) or the study's
    row_dose = eff["dose_mg_kg"] if "dose_mg_kg" in eff.columns else np.nan
    eff["dose"] = pd.to_numeric(row_dose, errors="coerce").fillna(eff["study_dose_mg_kg"])
    return eff


def candidate_rows(ev, question) -> pd.DataFrame:
    """All effects rows of the question(s), joined with study characteristics."""
    eff = _merged(ev)
    qs = as_list(question)
    return eff[eff["question"].isin(qs)].copy()


def _value_matches(series: pd.Series, accepted) -> pd.Series:
    acc = as_list(accepted)
    if series.dtype.kind in "fi":
        vals = np.asarray([float(a) for a in acc])
        return series.apply(lambda x: bool(np.any(np.isclose(x, vals))) if pd.notna(x) else False)
    return series.astype(str).isin([str(a) for a in acc])


def _in_vocabulary(key, accepted) -> bool:
    """Whether every accepted value of a filter is a legal value of its column (then a filter
    that selects nothing is a gap in the data, not a misspelling: no error).
    """
    from ..evidence.schema import vocabulary

    allowed = set(vocabulary("studies").get(key, ())) | set(vocabulary("effects").get(key, ()))
    return bool(allowed) and all(str(a) in allowed for a in as_list(accepted))


def select_rows(ev, spec, grades, config_path="config/config.yaml", primary_only=True,
                strict=True):
    """Apply an analysis' filters; return ``(selected, excluded)``.

    Parameters
    ----------
    ev : Evidence
        Loaded evidence base (:func:`ketameta.evidence.load_evidence`).
    spec : dict
        The analysis' configuration (``question``, ``select``, ``id``).
    grades : list of str
        Admitted evidence grades.
    primary_only : bool
        Keep only studies whose role is ``primary`` (comparators are never pooled).
    strict : bool
        Raise when a filter value matches no row (a misspelling in the config). Sensitivity
        analyses that leave studies out pass ``False``: an empty selection is then a result.

    Returns
    -------
    selected, excluded : DataFrame
        ``excluded`` has the columns of ``selected`` plus ``reason`` and ``filter`` (the
        configuration key that left the row out: ``role``, ``select.<key>`` or ``grades``).

    Raises
    ------
    InputError
        If the filter matches no row of the question at all (a misspelled value, say).
    """
    aid = spec.get("id", "?")
    rows = candidate_rows(ev, spec.get("question"))
    if rows.empty and not strict:
        return rows, rows.assign(reason=pd.Series(dtype=object), filter=pd.Series(dtype=object))
    if rows.empty:
        raise InputError(
            f"analyses.{aid}.question = {spec.get('question')!r} matches no row of the effects "
            f"sheet (known questions: {sorted(ev.effects['question'].unique())}).",
            file=config_path, column=f"analyses.{aid}.question",
        )
    reasons = pd.Series("", index=rows.index, dtype=object)
    filters = pd.Series("", index=rows.index, dtype=object)  # the config key that left a row out

    def drop(mask, why, key):
        mask = mask & (reasons == "")
        reasons[mask] = why
        filters[mask] = key

    if primary_only:
        drop(rows["study_role"] != "primary",
             "study is an external comparator/context source, not a primary study", "role")
    sel = spec.get("select", {}) or {}
    together = pd.Series(True, index=rows.index)  # rows matching every filter at once
    for key, accepted in sel.items():
        if key in ("min_days", "max_days"):
            continue
        if key in STUDY_FILTER_COLUMNS:
            col = rows[f"study_{key}"]
        elif key == "dose_mg_kg":
            col = rows["dose"]
        else:
            if key not in rows.columns:
                raise InputError(f"unknown filter column {key!r}", file=config_path,
                                 column=f"analyses.{aid}.select.{key}")
            col = rows[key]
        ok = _value_matches(col, accepted)
        if strict and not ok.any() and not _in_vocabulary(key, accepted):
            known = sorted({str(x) for x in col.dropna().unique()})
            raise InputError(
                f"select.{key} = {accepted!r} matches none of the rows of question "
                f"{spec.get('question')!r} (values present: {known}).",
                file=config_path, column=f"analyses.{aid}.select.{key}",
            )
        shown = [str(a) for a in as_list(accepted)]
        drop(~ok, f"{key} not in [{', '.join(shown)}]", f"select.{key}")
        together &= ok
    if "min_days" in sel:
        drop(~(rows["time_days"] >= sel["min_days"]), f"time before day {sel['min_days']}",
             "select.min_days")
        together &= rows["time_days"] >= sel["min_days"]
    if "max_days" in sel:
        drop(~(rows["time_days"] <= sel["max_days"]), f"time after day {sel['max_days']}",
             "select.max_days")
        together &= rows["time_days"] <= sel["max_days"]
    # each filter matches some row but no row matches all of them together: a gap in the
    # evidence (the analysis then reports that no effect size could be computed), not an error
    drop(~rows["grade"].isin(grades),
         f"grade {{}} not admitted to the primary analysis (admitted: {', '.join(grades)})",
         "grades")
    # fill in the grade in that message
    gmask = reasons.str.contains("{}", regex=False)
    reasons[gmask] = [r.replace("{}", str(g)) for r, g in zip(reasons[gmask], rows.loc[gmask, "grade"])]
    selected = rows[reasons == ""].copy()
    excluded = rows[reasons != ""].copy()
    excluded["reason"] = reasons[reasons != ""]
    excluded["filter"] = filters[reasons != ""]
    return selected, excluded


def digest(ev, spec) -> str:
    """Fingerprint of the rows an analysis can see (effects, their studies and the studies'
    risk-of-bias rows) and its spec; with ``spec=None``, of the whole evidence base including the
    review's records (risk of bias, screening, search log, watch list).
    """
    rob = getattr(ev, "rob", None)
    if spec is None:
        payload = ev.effects.to_csv() + ev.studies.to_csv()
        for sheet in ("rob", "screening", "search_log", "watch"):
            frame = getattr(ev, sheet, None)
            if frame is not None:
                payload += frame.to_csv()
    else:
        rows = candidate_rows(ev, spec.get("question")) if spec.get("question") else ev.effects
        ids = rows["study_id"].unique() if "study_id" in rows.columns else []
        payload = rows.to_csv() + ev.studies.loc[ev.studies.index.isin(ids)].to_csv()
        if rob is not None and len(rob):
            payload += rob[rob["study_id"].isin(ids)].to_csv()
        payload += json.dumps(spec, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:20]
