"""Descriptive syntheses: infusion vs KAP side by side, and relapse after response."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .select import candidate_rows

__all__ = ["approaches", "relapse_rows", "approach_of"]

IV_SETTINGS = ("trial", "infusion_clinic", "surgical_anaesthesia")


def approach_of(study: pd.Series) -> str | None:
    """'kap' for ketamine-assisted psychotherapy, 'iv' for a medicalised IV infusion."""
    if study.get("setting") == "kap" or study.get("psychotherapy") == "integrated":
        return "kap"
    if study.get("route") == "IV":
        return "iv"
    return None


def _fmt_num(x):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return None
    return f"{x:g}"


def approaches(ev) -> dict:
    """Side-by-side characteristics of IV infusion and KAP from the study sheet.

    Every cell is computed from data/studies.csv (and the outcomes from data/effects.csv);
    a characteristic no study reports is shown as "not reported".
    """
    st = ev.studies.copy()
    st["approach"] = st.apply(approach_of, axis=1)
    eff = ev.effects
    groups = {}
    for key, label in (("iv", "Medicalised IV infusion"),
                       ("kap", "Ketamine-assisted psychotherapy (KAP)")):
        g = st[(st["approach"] == key) & (st["role"].isin(["primary", "context"]))]
        doses = g["dose_mg_kg"].dropna()
        mins = g["infusion_min"].dropna() if "infusion_min" in g else pd.Series(dtype=float)
        outs = eff[eff["study_id"].isin(g.index)]
        per_outcome = (outs[outs["outcome"] != "other"].groupby("outcome")["study_id"]
                       .nunique().sort_values(ascending=False))
        outcome_list = [f"{o.replace('_', ' ')} ({n} {'study' if n == 1 else 'studies'})"
                        for o, n in per_outcome.items()]

        def values(col):
            v = g[col].dropna().astype(str)
            v = v[(v != "") & (v != "NR")]
            return sorted(v.unique().tolist())

        groups[key] = {
            "label": label,
            "k_studies": int(len(g)),
            "studies": g.index.tolist(),
            "citation_keys": g["citation_key"].tolist(),
            "designs": values("design"),
            "routes": values("route"),
            "dose_mg_kg": {"min": _fmt_num(doses.min()) if len(doses) else None,
                           "max": _fmt_num(doses.max()) if len(doses) else None,
                           "n_reported": int(len(doses)), "values": sorted(doses.unique().tolist())},
            "dose_text": [t for t in g["dose_text"].dropna().astype(str).unique() if t],
            "infusion_min": sorted(mins.unique().tolist()),
            "schedules": values("schedule"),
            "settings": values("setting"),
            "controls": values("control"),
            "monitoring": values("monitoring"),
            "psychotherapy": values("psychotherapy"),
            "outcomes": outcome_list,
            "n_total": float(g["n"].sum()) if g["n"].notna().any() else None,
        }
    return {"groups": groups,
            "note": "From data/studies.csv; primary studies and context sources (consensus, "
                    "case series). 'not reported' means no study row gives the value."}


def relapse_rows(ev, grades) -> pd.DataFrame:
    """Rows of the relapse question, as reported (no pooling)."""
    rows = candidate_rows(ev, "relapse")
    rows = rows.assign(admitted=rows["grade"].isin(grades))
    keep = ["effect_id", "study_id", "study_citation_key", "outcome", "arm", "dose",
            "time_days", "time_text", "form", "estimate", "pct1", "pct2", "ai", "n1i", "n",
            "grade", "source", "locator", "passage", "admitted", "notes"]
    keep = [c for c in keep if c in rows.columns]
    out = rows[keep].rename(columns={"study_citation_key": "citation_key"})
    return out.sort_values(["study_id", "dose", "effect_id"], na_position="last")
