"""The data-gaps table: the numbers each study still needs, and why."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .checks import MODERATOR_OUTCOMES

__all__ = ["data_gaps", "row_gap", "NO_EFFECT_SIZE", "IRRELEVANT_FILTERS"]

#: the ``filter`` of an exclusion whose row passed every filter but gave no effect size (a gap)
NO_EFFECT_SIZE = "effect size"
#: filters that say a row belongs to another analysis, not why it is missing from this one
IRRELEVANT_FILTERS = ("", "role", "select.outcome", "select.form", "domains.outcomes", "change pair",
                      NO_EFFECT_SIZE)


def row_gap(row):
    """Return a reason if this row's form cannot yield an effect size with a variance, else None.

    The effect-size computation (:func:`ketameta.synthesis.effects.compute`) gives a row it
    cannot use this same reason, so both tables say the same thing about the row.
    """
    f = row.get("form")
    has = lambda c: not pd.isna(row.get(c, np.nan))  # noqa: E731
    if f in ("r_p",):
        return "correlation reported with p only: n of the correlation not reported"
    if f in ("r_only", "d_only", "or_only", "mean_only"):
        return "estimate reported without CI, SE, p or n: no variance"
    if f == "direction":
        return "only a direction/significance was reported: no effect size"
    if f == "f_df":
        return "F statistic without arm ns: cannot be converted to an effect size"
    if f in ("d_p", "slope_p"):
        return None if row.get("p_op") == "=" else "only a p-value bound was reported: no exact variance"
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


def _by_reason(found: dict) -> str:
    """``reason (analysis, analysis); reason (analysis)`` from {reason: [analyses]}."""
    return "; ".join(f"{r} ({', '.join(a)})" for r, a in found.items())


def data_gaps(ev, exclusions=None):
    """The numbers each study still needs, as a DataFrame.

    Columns: ``study_id``, ``citation_key`` (for labelling), ``question``, ``item`` (what is
    missing), ``reason``; then ``role``, ``effect_id`` and ``kind`` (``not_found``,
    ``not_poolable``, ``time_not_reported`` or ``no_quantitative_row``). Built from ``not_found``
    rows, rows whose form cannot yield an effect size (direction only, r without n, percentages
    without n, ...), durability/relapse rows without a time point, and primary studies that have
    no quantitative row for a question they address.

    Parameters
    ----------
    ev : Evidence
        The evidence base.
    exclusions : mapping, optional
        Analysis id -> its exclusions (``effect_id``, ``reason``, ``filter``; the workflow's
        ``<analysis>.excluded.csv``). A row an analysis could not turn into an effect size
        (``filter`` :data:`NO_EFFECT_SIZE`) is a gap with that exclusion's reason (the same
        string: :func:`row_gap`), added when the form alone does not show it; and the column
        ``excluded_by`` names the other filters that leave each gap's row out of an analysis
        (with the analyses), since filling the gap alone would not bring the row in there.
    """
    studies, effects = ev.studies, ev.effects
    rows = []

    def add(sid, question, item, reason, kind, effect_id=None):
        key = studies.loc[sid, "citation_key"] if sid in studies.index else np.nan
        role = studies.loc[sid, "role"] if sid in studies.index else np.nan
        rows.append(dict(study_id=sid, citation_key=key, question=question, item=item, reason=reason,
                         role=role, effect_id=effect_id, kind=kind))

    no_es, filtered = {}, {}  # effect_id -> reason ; effect_id -> {reason: [analyses]}
    for aid, exc in (exclusions or {}).items():
        if exc is None or exc.empty or "effect_id" not in exc.columns or "filter" not in exc.columns:
            continue
        for eid, reason, filt in zip(exc["effect_id"], exc["reason"], exc["filter"].fillna("")):
            if filt == NO_EFFECT_SIZE:
                no_es.setdefault(str(eid), str(reason))
            elif filt not in IRRELEVANT_FILTERS:
                seen = filtered.setdefault(str(eid), {}).setdefault(str(reason), [])
                if aid not in seen:
                    seen.append(aid)
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
        reason = row_gap(r) or no_es.get(str(r["effect_id"]))
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
    out = pd.DataFrame(rows, columns=cols)
    if exclusions is not None:
        out["excluded_by"] = [_by_reason(filtered.get(str(e), {})) if isinstance(e, str) else ""
                              for e in out["effect_id"]]
    return out
