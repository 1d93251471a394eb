"""Which trial contrasts report two arm-level numbers side by side (e.g. dissociation and outcome).

An across-arm meta-regression of response on dissociation needs, for every contrast, both the
arms' dissociation (CADSS mean or incidence) and the arms' depression outcome. This kind lists
every contrast of the configured questions with what it reports for each of the two, and why a
missing number is missing (the extraction's ``not_found`` note), so a reader holding the full
texts can close the gaps. Nothing is pooled.
"""

from __future__ import annotations

import pandas as pd

from ...outputs.tables import Table
from ..registry import register
from ..select import candidate_rows
from .base import AnalysisKind

__all__ = ["Coverage", "coverage_rows", "usable"]

#: forms that give both arms' values of a continuous or binary outcome
_ARM_FORMS = {"means_sds", "means_ses", "events", "pct"}
#: forms that give a contrast's effect with a variance (enough for an outcome, not a moderator)
_CONTRAST_FORMS = _ARM_FORMS | {"rd_ci", "or_ci", "rr_ci", "d_ci", "d_p", "md_ci", "md_se",
                                "md_t", "change_t", "mean_change"}


def usable(row, arm_level: bool) -> bool:
    """Whether a row gives the number the pairing needs (arm level, or a contrast with variance)."""
    from ...evidence.gaps import row_gap

    form = str(row.get("form"))
    if form == "not_found" or row_gap(row) is not None:
        return False
    if form in ("means_sds", "means_ses"):
        return pd.notna(row.get("m1i")) and pd.notna(row.get("n1i"))
    if form in ("events", "pct"):
        return pd.notna(row.get("n1i")) and (pd.notna(row.get("ai")) or pd.notna(row.get("pct1")))
    return (not arm_level) and form in _CONTRAST_FORMS


def _status(rows: pd.DataFrame, arm_level: bool) -> tuple[str, str, str]:
    """(status, the rows used or searched, the reason a number is missing)."""
    if rows.empty:
        return "no row", "", "not extracted: no row of this kind for the contrast"
    ok = rows[[usable(r, arm_level) for _, r in rows.iterrows()]]
    if len(ok):
        return "reported", ", ".join(ok["effect_id"]), ""
    nf = rows[rows["form"] == "not_found"]
    if len(nf):
        note = str(nf.iloc[0].get("notes") or "").strip()
        return "not found", ", ".join(nf["effect_id"]), note or "searched, not found"
    from ...evidence.gaps import row_gap

    gaps = [row_gap(r) or f"form {r['form']} gives no {'arm-level value' if arm_level else 'effect'}"
            for _, r in rows.iterrows()]
    return "not usable", ", ".join(rows["effect_id"]), "; ".join(dict.fromkeys(gaps))


def coverage_rows(ev, spec) -> pd.DataFrame:
    """One row per contrast of the question(s): what it reports for each of the two items."""
    rows = candidate_rows(ev, spec["question"])
    rows = rows[rows["study_role"] == "primary"] if "study_role" in rows else rows
    first, second = spec["first"], spec["second"]
    for key, val in (spec.get("select") or {}).items():
        col = f"study_{key}" if f"study_{key}" in rows else key
        rows = rows[rows[col].astype(str).isin([str(v) for v in (val if isinstance(val, list) else [val])])]
    rows = rows[rows["grade"].isin(spec["grades"]) | (rows["form"] == "not_found")]
    wanted = set(first["outcomes"]) | set(second["outcomes"])
    rows = rows[rows["outcome"].isin(wanted) & rows["comparison_id"].notna()]
    out = []
    for cid, g in rows.groupby("comparison_id", sort=True):
        r0 = g.iloc[0]
        arms = g[g["outcome"].isin(second["outcomes"])]["arm"].dropna()
        arms = arms if len(arms) else g["arm"].dropna()
        rec = {"study_id": r0["study_id"], "citation_key": r0.get("study_citation_key", r0["study_id"]),
               "contrast": cid, "comparison": str(arms.iloc[0]) if len(arms) else "",
               "route": r0.get("study_route"), "drug": r0.get("study_drug"),
               "schedule": r0.get("study_schedule")}
        for tag, item in (("first", first), ("second", second)):
            st, ids, why = _status(g[g["outcome"].isin(item["outcomes"])],
                                   bool(item.get("arm_level", tag == "first")))
            rec.update({f"{tag}_status": st, f"{tag}_rows": ids, f"{tag}_reason": why})
        rec["both"] = rec["first_status"] == "reported" and rec["second_status"] == "reported"
        out.append(rec)
    cols = ["study_id", "citation_key", "contrast", "comparison", "route", "drug", "schedule", "first_status",
            "first_rows", "first_reason", "second_status", "second_rows", "second_reason", "both"]
    return pd.DataFrame(out, columns=cols)


@register
class Coverage(AnalysisKind):
    """Contrasts with two arm-level numbers side by side, and why the others lack them."""

    type = "coverage"

    def digest_spec(self, spec):
        """The rows of the questions."""
        return spec

    def effect_sizes(self, ev, spec, strict=True):
        """The coverage rows (nothing is excluded: every contrast is listed)."""
        cov = coverage_rows(ev, spec)
        return cov, cov.iloc[0:0].assign(reason=pd.Series(dtype=str))

    def fit(self, ev, es, spec):
        """Counts of contrasts and trials with both numbers."""
        both = es[es["both"].astype(bool)] if len(es) else es
        target = int(spec.get("target", 15))
        return {"analysis": spec["id"], "type": spec["type"], "title": spec.get("title", spec["id"]),
                "status": "ok", "level": spec["level"], "k": int(len(es)),
                "n_both": int(len(both)), "trials_both": sorted(both["study_id"].unique().tolist()),
                "n_trials": int(es["study_id"].nunique()) if len(es) else 0, "target": target,
                "first_label": spec["first"]["label"], "second_label": spec["second"]["label"]}

    def table(self, fit, es, excluded, spec, cit):
        """One row per contrast with the two items' status and the reason for a gap."""
        df = es.copy()
        df["both"] = df["both"].map({True: "yes", False: "no"})
        notes = [f"{fit['n_both']} of {fit['k']} contrasts ({len(fit['trials_both'])} of "
                 f"{fit['n_trials']} trials) report both {fit['first_label'].lower()} and "
                 f"{fit['second_label'].lower()}; an across-arm meta-regression needs at least "
                 f"{fit['target']}.",
                 "Reasons are the extraction's notes for the searched, not-found numbers; a reader "
                 "with the full text can close each gap by adding the row (data/README.md)."]
        cols = ["citation_key", "comparison", "route", "drug", "first_status", "first_reason",
                "second_status", "second_reason", "both"]
        return Table(df, title=fit["title"], notes=notes, label=f"tab:{spec['id']}", citations=cit,
                     citekeys="citation_key", study_column="Study",
                     columns=["Study"] + cols[1:],
                     rename={"comparison": "Comparison", "route": "Route", "drug": "Drug",
                             "first_status": fit["first_label"],
                             "first_reason": f"Why {fit['first_label'].lower()} is missing",
                             "second_status": fit["second_label"],
                             "second_reason": f"Why {fit['second_label'].lower()} is missing",
                             "both": "Both"})

    def methods(self, fit, spec):
        """Methods sentence."""
        return (f"Every contrast of a primary study was checked for {fit['first_label'].lower()} "
                f"and {fit['second_label'].lower()} at arm level; nothing is pooled here.")

    def paragraphs(self, fit, spec):
        """How far the data are from an across-arm regression."""
        return [f"{fit['n_both']} of {fit['k']} contrasts report both numbers "
                f"(target for an across-arm meta-regression: {fit['target']})."]

    def values(self, aid, fit):
        """Counts."""
        from ...outputs.values import macro_name

        return {macro_name(f"{aid}_both"): (fit["n_both"], "int"),
                macro_name(f"{aid}_k"): (fit["k"], "int")}

    def findings(self, fit, spec):
        """How many contrasts could enter an across-arm regression (context for a claim)."""
        return [{"text": f"{fit['n_both']} of {fit['k']} trial contrasts report both "
                         f"{fit['first_label'].lower()} and {fit['second_label'].lower()} "
                         f"(an across-arm regression needs {fit['target']})"}]
