"""Medicalised IV infusion and ketamine-assisted psychotherapy (KAP) side by side."""

from __future__ import annotations

import math

import pandas as pd

from ...outputs.tables import Table
from ..registry import register
from .base import AnalysisKind

__all__ = ["Approaches", "approaches", "approach_of"]

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


@register
class Approaches(AnalysisKind):
    """A descriptive table of the two approaches (no model)."""

    type = "approaches"
    needs_evidence = True

    def digest_spec(self, spec):
        """The whole evidence base (the table summarises every study)."""
        return None

    def effect_sizes(self, ev, spec, strict=True):
        """The studies of either approach; every other study with its reason."""
        st = ev.studies.reset_index()
        st["approach"] = st.apply(approach_of, axis=1)
        inc = st[st["approach"].notna() & st["role"].isin(["primary", "context"])]
        exc = st[~st.index.isin(inc.index)].assign(
            reason="neither an IV infusion nor KAP study, or an external comparator")
        return inc, exc

    def fit(self, ev, es, spec):
        """Characteristics of the two approaches from the study sheet."""
        from ..effects import SIGN_CONVENTION

        return {"analysis": spec["id"], "type": spec["type"], "title": spec.get("title", spec["id"]),
                "status": "ok", "level": spec["level"], "sign_convention": SIGN_CONVENTION,
                **approaches(ev)}

    def table(self, fit, es, excluded, spec, cit):
        """One row per characteristic, one column per approach."""
        title = fit.get("title", spec["id"])
        aid = spec["id"]
        g = fit["groups"]
        feats = [
            ("Sources (k)", lambda x: str(x["k_studies"])),
            ("Designs", lambda x: ", ".join(x["designs"]) or "not reported"),
            ("Routes", lambda x: ", ".join(x["routes"]) or "not reported"),
            ("Dose (mg/kg)", lambda x: (
                (x['dose_mg_kg']['min'] if x['dose_mg_kg']['min'] == x['dose_mg_kg']['max']
                 else f"{x['dose_mg_kg']['min']}-{x['dose_mg_kg']['max']}")
                + f" ({x['dose_mg_kg']['n_reported']} of {x['k_studies']} sources report it)")
             if x["dose_mg_kg"]["n_reported"] else "not reported in mg/kg"),
            ("Dose as reported", lambda x: "; ".join(x["dose_text"][:6]) or "not reported"),
            ("Infusion length (min)", lambda x: ", ".join(f"{m:g}" for m in x["infusion_min"])
             or "not reported"),
            ("Schedule", lambda x: ", ".join(x["schedules"]) or "not reported"),
            ("Setting", lambda x: ", ".join(x["settings"]) or "not reported"),
            ("Control", lambda x: ", ".join(x["controls"]) or "not reported"),
            ("Monitoring", lambda x: "; ".join(x["monitoring"]) or "not reported"),
            ("Psychotherapy", lambda x: ", ".join(x["psychotherapy"]) or "not reported"),
            ("Outcomes reported", lambda x: "; ".join(x["outcomes"]) or "not reported"),
        ]
        df = pd.DataFrame({"characteristic": [f for f, _ in feats],
                           "iv": [fn(g["iv"]) for _, fn in feats],
                           "kap": [fn(g["kap"]) for _, fn in feats]})
        keys = sorted(set(g["iv"]["citation_keys"]) | set(g["kap"]["citation_keys"]))
        return Table(df, title=title, notes=[fit["note"]], label=f"tab:{aid}", citations=cit,
                     references=keys,
                     rename={"characteristic": "Characteristic", "iv": g["iv"]["label"],
                             "kap": g["kap"]["label"]})

    def methods(self, fit, spec):
        """Methods sentence."""
        return ("Characteristics of medicalised IV infusion and ketamine-assisted psychotherapy "
                "were tabulated from the study sheet; 'not reported' marks what no source gives.")
