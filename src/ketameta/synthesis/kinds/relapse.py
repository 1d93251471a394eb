"""Relapse after response to a single dose, reported as published (not pooled)."""

from __future__ import annotations

import pandas as pd

from ...outputs.tables import Table
from ..registry import register
from ..select import candidate_rows
from .base import AnalysisKind

__all__ = ["Relapse", "relapse_rows"]


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


@register
class Relapse(AnalysisKind):
    """Relapse rows tabulated as reported."""

    type = "relapse"

    def digest_spec(self, spec):
        """The rows of the relapse question."""
        return {**spec, "question": "relapse"}

    def effect_sizes(self, ev, spec, strict=True):
        """Relapse rows of admitted grades; the others with their reason."""
        rows = relapse_rows(ev, spec["grades"])
        return rows[rows["admitted"]], rows[~rows["admitted"]].assign(
            reason="grade not admitted to the primary analysis (shown in sensitivity)", filter="grades")

    def fit(self, ev, es, spec):
        """The rows as reported."""
        from ..effects import SIGN_CONVENTION

        return {"analysis": spec["id"], "type": spec["type"], "title": spec.get("title", spec["id"]),
                "status": "ok", "level": spec["level"], "sign_convention": SIGN_CONVENTION,
                "k": int(es["study_id"].nunique()) if len(es) else 0,
                "rows": es.to_dict(orient="records"),
                "note": "reported as in the sources; relapse data are not pooled"}

    def table(self, fit, es, excluded, spec, cit):
        """The relapse rows."""
        title = fit.get("title", spec["id"])
        aid = spec["id"]
        df = es.copy()
        cols = [c for c in ["citation_key", "arm", "dose", "outcome", "time_text", "estimate",
                            "pct1", "n1i", "grade", "locator"] if c in df.columns]
        df = df[cols]
        return Table(df, title=title, notes=[fit["note"], "Sign: as reported (percent of "
                                                          "responders/remitters who relapsed)."],
                     label=f"tab:{aid}", citations=cit, citekeys="citation_key",
                     columns=["Study"] + [c for c in cols if c != "citation_key"],
                     rename={"dose": "Dose (mg/kg)", "time_text": "Time", "pct1": "%",
                             "n1i": "n", "grade": "Grade", "locator": "Locator"})

    def methods(self, fit, spec):
        """Methods sentence."""
        return "Relapse after response to a single infusion is reported as published (not pooled)."

    def findings(self, fit, spec):
        """How many relapse rows there are (reported beside, not pooled)."""
        return [{"text": f"relapse after response: {len(fit.get('rows', []))} rows from {fit['k']} "
                         "study (reported beside, not pooled)"}]
