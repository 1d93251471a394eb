"""Every within-trial association a study reports, with its definitions and where it is used.

Pooling within-trial associations needs matched definitions: the dissociation measure and when
it was rated, the depression scale and time point, the statistic (Pearson r, slope, Spearman
rho, a dichotomised comparison) and its sign. This kind tabulates them for every primary study
of the question, and says for each row which pool uses it, or why none can (the reason the
data-gaps table gives). Nothing is pooled here.
"""

from __future__ import annotations

import pandas as pd

from ...outputs.tables import Table
from ..registry import register
from ..select import candidate_rows
from .base import AnalysisKind

__all__ = ["Associations", "STATISTICS"]

#: what each form of an association row reports, in words
STATISTICS = {
    "r_n": "correlation r with n", "r_p": "correlation r with p (n not reported)",
    "r_ci": "correlation r with CI", "r_only": "correlation r alone",
    "slope_ci": "regression slope with CI", "slope_se": "regression slope with SE",
    "slope_p": "regression slope with p", "direction": "direction or significance only",
    "events": "counts", "pct": "percentages", "d_p": "standardised difference with p",
    "d_ci": "standardised difference with CI", "not_found": "searched, not found",
}
_DIRECTION = {"+": "more dissociation, more improvement", "-": "more dissociation, less improvement",
              "0": "no association"}


@register
class Associations(AnalysisKind):
    """Definitions of the reported within-trial associations and the pool each one enters."""

    type = "associations"
    needs_evidence = True

    def depends_on(self, spec):
        """The pooled analyses whose use of each row the table reports."""
        return list(spec.get("pools", []))

    def effect_sizes(self, ev, spec, strict=True):
        """Every association row of the question's primary studies of an admitted grade (and the
        searched, not-found ones); rows read on third-party copies (grade C) are listed in the
        exclusions with that reason, as in every other analysis.
        """
        rows = candidate_rows(ev, spec["question"])
        rows = rows[(rows["outcome"].isin(spec.get("outcomes", ["dissociation_improvement_association"])))
                    & (rows["study_role"] == "primary")]
        keep = rows["grade"].isin(spec["grades"]) | (rows["form"] == "not_found")
        excluded = rows[~keep].assign(
            reason=[f"grade {g} not admitted to the primary analysis (shown in sensitivity)"
                    for g in rows.loc[~keep, "grade"]], filter="grades")
        return rows[keep].sort_values(["study_id", "effect_id"]), excluded

    def fit(self, ev, es, spec, context=None):
        """Each row with its definitions and the pool that uses it (or why none does)."""
        from ...evidence.gaps import row_gap

        fits = (context or {}).get("fits", {})
        used = {}
        for aid in spec.get("pools", []):
            f = fits.get(aid) or {}
            for p in f.get("pools", []):
                for eid in p.get("effect_ids", []):
                    used[eid] = f"{f.get('title', aid).split(':')[0]} - {p.get('label', '')}"
        records = []
        for _, r in es.iterrows():
            form = str(r["form"])
            if r["effect_id"] in used:
                use = f"used: {used[r['effect_id']]}"
            elif form == "not_found":
                use = "not found: " + str(r.get("notes") or "").strip()
            else:
                use = "not poolable: " + (row_gap(r) or f"{STATISTICS.get(form, form)} does not "
                                          "match the pooled statistics (r or slope)")
            records.append({
                "study_id": r["study_id"], "citation_key": r.get("study_citation_key") or r["study_id"],
                "effect_id": r["effect_id"], "route": r.get("study_route"), "drug": r.get("study_drug"),
                "dissociation": r.get("predictor"), "outcome_scale": r.get("scale"),
                "time": r.get("time_text"), "statistic": STATISTICS.get(form, form),
                "estimate": r.get("estimate"), "direction": _DIRECTION.get(str(r.get("direction")), ""),
                "grade": r.get("grade"), "use": use, "used": r["effect_id"] in used})
        n_studies = len({x["study_id"] for x in records})
        n_used = len({x["study_id"] for x in records if x["used"]})
        return {"analysis": spec["id"], "type": spec["type"], "title": spec.get("title", spec["id"]),
                "status": "ok", "level": spec["level"], "rows": records, "k": n_studies,
                "k_used": n_used}

    def table(self, fit, es, excluded, spec, cit):
        """One row per reported association."""
        df = pd.DataFrame(fit["rows"])
        cols = ["citation_key", "route", "dissociation", "outcome_scale", "time", "statistic",
                "estimate", "direction", "use"]
        if df.empty:
            df = pd.DataFrame(columns=cols)
        notes = [f"{fit['k_used']} of {fit['k']} studies reporting a within-trial association "
                 "enter a pool; the others report a different statistic, only a direction, or the "
                 "number was not found (reason in the last column). Rows read only on third-party "
                 "copies (grade C) are listed in the exclusions file.",
                 "Estimates as printed (before harmonising the sign); direction in words."]
        return Table(df, title=fit["title"], notes=notes, label=f"tab:{spec['id']}", citations=cit,
                     citekeys="citation_key", study_column="Study", columns=["Study"] + cols[1:],
                     rename={"route": "Route", "dissociation": "Dissociation measure",
                             "outcome_scale": "Depression scale", "time": "Time",
                             "statistic": "Statistic", "estimate": "Estimate (as printed)",
                             "direction": "Direction", "use": "Use in the synthesis"},
                     formats={"estimate": 3})

    def methods(self, fit, spec):
        """Methods sentence."""
        return ("Every within-trial association between dissociation and improvement reported by a "
                "primary study is listed with its definitions (dissociation measure and timing, "
                "depression scale and time point, statistic, sign); only correlations and slopes "
                "with a variance and matched definitions are pooled.")

    def paragraphs(self, fit, spec):
        """How many studies report an association and how many are pooled."""
        return [f"{fit['k']} studies report a within-trial association; {fit['k_used']} give a "
                "statistic that can be pooled."]

    def findings(self, fit, spec):
        """Context for the claim: how many reporting studies enter a pool."""
        return [{"text": f"{fit['k']} studies report a within-trial association; {fit['k_used']} "
                         "give a poolable correlation or slope"}]

    def values(self, aid, fit):
        """Counts."""
        from ...outputs.values import macro_name

        return {macro_name(f"{aid}_k"): (fit["k"], "int"),
                macro_name(f"{aid}_k_used"): (fit["k_used"], "int")}
