"""Effect-direction synthesis and sign test (SWiM; Campbell et al. 2020, Boon & Thomson 2021).

Findings reported only as a direction or as "not significant" cannot enter a pooled estimate.
They are tabulated beside it: one direction per study and outcome domain (``+`` benefit / more
dissociation with more improvement, ``-`` the opposite, ``0`` no difference or association
reported) and a two-sided sign test of ``+`` against ``-`` (studies with ``0`` or conflicting
findings are listed but do not enter the test). The rule for a study with several findings in a
domain follows Boon & Thomson (2021): the direction shared by at least 70% of its findings,
otherwise "conflicting".

References
----------
Campbell M et al. (2020). Synthesis without meta-analysis (SWiM) in systematic reviews:
reporting guideline. BMJ 368:l6890.
Boon MH, Thomson H (2021). The effect direction plot revisited. Res Synth Methods 12:29-33.
"""

from __future__ import annotations

import pandas as pd
from scipy import stats

from .select import as_list, candidate_rows

__all__ = ["direction_rows", "summarise_directions"]

SYMBOL = {"+": "+", "-": "-", "0": "0"}


def direction_rows(ev, spec, grades):
    """Rows with a direction for each configured domain; returns (rows, excluded)."""
    keep, excl = [], []
    for dom in spec["domains"]:
        rows = candidate_rows(ev, dom["question"])
        outs = as_list(dom["outcomes"])
        for _, r in rows.iterrows():
            reason = ""
            if r["study_role"] != "primary":
                reason = "study is an external comparator/context source"
            elif r["outcome"] not in outs:
                reason = f"outcome {r['outcome']} not in domain {dom['name']}"
            elif "min_days" in dom and not (r["time_days"] >= dom["min_days"]):
                reason = f"time before day {dom['min_days']} (domain {dom['name']})"
            elif r["grade"] not in grades:
                reason = f"grade {r['grade']} not admitted (admitted: {', '.join(grades)})"
            elif str(r.get("direction", "")) not in SYMBOL:
                reason = "no direction recorded (form not_found or direction missing)"
            rec = {
                "domain": dom["name"], "domain_label": dom["label"], "effect_id": r["effect_id"],
                "study_id": r["study_id"], "citation_key": r.get("study_citation_key"),
                "outcome": r["outcome"], "scale": r.get("scale"), "time_days": r["time_days"],
                "time_text": r.get("time_text"), "form": r["form"],
                "direction": r.get("direction"), "significant": r.get("significant"),
                "n": r.get("study_n"), "grade": r["grade"], "source": r.get("source"),
                "locator": r.get("locator"), "quantitative": r["form"] not in (
                    "direction", "not_found"),
            }
            if reason:
                excl.append({**rec, "reason": reason})
            else:
                keep.append(rec)
    return pd.DataFrame(keep), pd.DataFrame(excl)


def _study_direction(dirs):
    n = len(dirs)
    for d in ("+", "-", "0"):
        if (dirs == d).sum() / n >= 0.7:
            return d
    return "conflicting"


def summarise_directions(rows: pd.DataFrame, spec) -> dict:
    """Per-study directions and a sign test per domain."""
    out = {"domains": []}
    for dom in spec["domains"]:
        sub = rows[rows["domain"] == dom["name"]] if not rows.empty else rows
        studies = []
        if not sub.empty:
            for sid, g in sub.groupby("study_id", sort=True):
                studies.append({
                    "study_id": sid, "citation_key": g["citation_key"].iloc[0],
                    "direction": _study_direction(g["direction"].astype(str)),
                    "n_findings": int(len(g)),
                    "findings": [f"{r.direction} ({r.time_text or ''}; "
                                 f"{'significant' if r.significant == 'yes' else 'not significant' if r.significant == 'no' else 'significance NR'})"
                                 for r in g.itertuples()],
                    "n": None if pd.isna(g["n"].iloc[0]) else float(g["n"].iloc[0]),
                    "quantitative": bool(g["quantitative"].any()),
                })
        plus = sum(s["direction"] == "+" for s in studies)
        minus = sum(s["direction"] == "-" for s in studies)
        n_test = plus + minus
        p = float(stats.binomtest(plus, n_test, 0.5).pvalue) if n_test > 0 else None
        out["domains"].append({
            "name": dom["name"], "label": dom["label"], "k": len(studies),
            "n_plus": plus, "n_minus": minus,
            "n_zero": sum(s["direction"] == "0" for s in studies),
            "n_conflicting": sum(s["direction"] == "conflicting" for s in studies),
            "sign_test_p": p,
            "sign_test": ("two-sided exact binomial test of + vs - (studies with 0 or "
                          "conflicting findings excluded from the test)"),
            "studies": studies,
        })
    return out
