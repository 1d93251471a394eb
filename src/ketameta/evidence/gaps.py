"""The data-gaps table: the numbers each study still needs, and why."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .checks import MODERATOR_OUTCOMES

__all__ = ["data_gaps", "row_gap"]


def row_gap(row):
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
        reason = row_gap(r)
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
