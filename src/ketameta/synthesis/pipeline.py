"""One entry point per workflow stage: rows -> effect sizes -> fit, for any analysis type."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..errors import ModelError
from . import descriptive, direction, effects, models
from .select import as_list, select_rows

__all__ = ["effect_sizes", "fit", "failed_fit"]


def _moderator_from_rows(ev, es, excluded, spec, grades):
    """Pair each effect size with a moderator row (same comparison_id, other outcome)."""
    mod = spec["moderator"]
    name = mod["name"]
    eff = ev.effects
    forms = as_list(mod.get("form")) or ["events"]
    cand = eff[(eff["outcome"] == mod["from_outcome"]) & eff["form"].isin(forms)]
    values, ders, ids = [], [], []
    for _, row in es.iterrows():
        m = cand[(cand["comparison_id"] == row["comparison_id"]) & cand["grade"].isin(grades)]
        if m.empty or pd.isna(row["comparison_id"]):
            values.append(np.nan)
            ders.append(f"no {mod['from_outcome']} row with comparison_id "
                        f"{row['comparison_id']!r} (admitted grades)")
            ids.append(None)
            continue
        r = m.iloc[0]
        a1, n1, a2, n2 = (float(r.get(c, np.nan)) for c in ("ai", "n1i", "ci", "n2i"))
        if not all(map(math.isfinite, (a1, n1, a2, n2))):
            values.append(np.nan)
            ders.append(f"{r['effect_id']}: both arms' counts are needed for the difference")
            ids.append(r["effect_id"])
            continue
        v = 100 * (a1 / n1 - a2 / n2)
        values.append(v)
        ders.append(f"DERIVED {name} = 100 x ({a1:g}/{n1:g} - {a2:g}/{n2:g}) = {v:.4g} "
                    f"from {r['effect_id']} ({r['source']}, {r['locator']})")
        ids.append(r["effect_id"])
    es = es.assign(**{name: values, "moderator_derivation": ders, "moderator_effect_id": ids})
    missing = es[es[name].isna()]
    if len(missing):
        add = missing.assign(reason=["moderator missing: " + d for d in missing["moderator_derivation"]])
        excluded = pd.concat([excluded, add], ignore_index=True)
        es = es[es[name].notna()]
    used = set(i for i in ids if i)
    # moderator rows are used, not excluded: say so
    if not excluded.empty and "effect_id" in excluded:
        mask = excluded["effect_id"].isin(used)
        excluded.loc[mask, "reason"] = f"used as the moderator ({name}) of its contrast"
    return es, excluded


def effect_sizes(ev, spec, grades, strict=True):
    """Effect-size table and exclusions for one analysis.

    Returns
    -------
    es, excluded : DataFrame
        ``es`` are the rows entering the analysis (columns of
        :data:`ketameta.synthesis.effects.OUT_COLUMNS`, plus moderators); ``excluded`` every
        other row of the analysis' question(s) with its ``reason``.
    """
    kind = spec["type"]
    if kind == "direction":
        return direction.direction_rows(ev, spec, grades)
    if kind == "approaches":
        st = ev.studies.reset_index()
        st["approach"] = st.apply(descriptive.approach_of, axis=1)
        inc = st[st["approach"].notna() & st["role"].isin(["primary", "context"])]
        exc = st[~st.index.isin(inc.index)].assign(
            reason="neither an IV infusion nor KAP study, or an external comparator")
        return inc, exc
    if kind == "relapse":
        rows = descriptive.relapse_rows(ev, grades)
        return rows[rows["admitted"]], rows[~rows["admitted"]].assign(
            reason="grade not admitted to the primary analysis (shown in sensitivity)")

    selected, excluded = select_rows(ev, spec, grades, strict=strict)
    es, skipped = effects.compute(ev, selected, spec)
    if not skipped.empty:
        excluded = pd.concat([excluded, skipped], ignore_index=True)
    if kind == "metareg":
        mod = spec["moderator"]
        if mod.get("from_outcome"):
            es, excluded = _moderator_from_rows(ev, es, excluded, spec, grades)
        else:
            col = mod.get("from_column", mod["name"])
            es = es.assign(**{mod["name"]: es["dose"] if col == "dose_mg_kg" else es[col]})
            es = es.assign(moderator_derivation=f"{mod['name']} from column {col}")
            miss = es[es[mod["name"]].isna()]
            if len(miss):
                excluded = pd.concat([excluded, miss.assign(
                    reason=f"moderator {mod['name']} not reported")], ignore_index=True)
                es = es[es[mod["name"]].notna()]
        if spec.get("one_per") == "comparison_id":
            es = es.sort_values(["comparison_id", "time_days"])
            dup = es[es.duplicated("comparison_id", keep="first")]
            if len(dup):
                excluded = pd.concat([excluded, dup.assign(
                    reason="later time point of a contrast already included (one per contrast)")],
                    ignore_index=True)
            es = es.drop_duplicates("comparison_id", keep="first")
    es = es.sort_values(["study_id", "time_days", "effect_id"], na_position="last")
    return es.reset_index(drop=True), excluded.reset_index(drop=True)


def fit(ev, es, spec, grades):
    """Fit/summarise one analysis from its effect-size table (and the evidence for descriptive
    types). Raises ModelError when a model cannot be fitted."""
    kind = spec["type"]
    base = {"analysis": spec["id"], "type": kind, "title": spec.get("title", spec["id"]),
            "status": "ok", "level": spec["level"], "sign_convention": effects.SIGN_CONVENTION}
    if kind == "direction":
        return {**base, **direction.summarise_directions(es, spec)}
    if kind == "approaches":
        return {**base, **descriptive.approaches(ev)}
    if kind == "relapse":
        return {**base, "k": int(es["study_id"].nunique()) if len(es) else 0,
                "rows": es.to_dict(orient="records"),
                "note": "reported as in the sources; relapse data are not pooled"}
    return models.fit_analysis(es, spec)


def failed_fit(spec, exc) -> dict:
    """The record written when an analysis cannot be fitted: status and the reason."""
    return {"analysis": spec["id"], "type": spec["type"], "title": spec.get("title", spec["id"]),
            "status": "failed", "reason": str(exc), "error": type(exc).__name__}


def safe_fit(ev, es, spec, grades):
    """:func:`fit`, but a ModelError becomes a ``failed`` record instead of an exception."""
    try:
        return fit(ev, es, spec, grades)
    except ModelError as exc:
        return failed_fit(spec, exc)
