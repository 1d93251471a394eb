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

from ...outputs.tables import Table
from ..pools import common_notes
from ..registry import register
from ..select import as_list, candidate_rows
from .base import AnalysisKind
from .pooled import label_of

__all__ = ["Direction", "direction_rows", "summarise_directions"]

SYMBOL = {"+": "+", "-": "-", "0": "0"}


def direction_rows(ev, spec, grades):
    """Rows with a direction for each configured domain; returns (rows, excluded)."""
    keep, excl = [], []
    for dom in spec["domains"]:
        rows = candidate_rows(ev, dom["question"])
        outs = as_list(dom["outcomes"])
        for _, r in rows.iterrows():
            reason, key = "", ""  # key: the config key that left the row out
            if r["study_role"] != "primary":
                reason, key = "study is an external comparator/context source", "role"
            elif r["outcome"] not in outs:
                reason, key = f"outcome {r['outcome']} not in domain {dom['name']}", "domains.outcomes"
            elif "min_days" in dom and not (r["time_days"] >= dom["min_days"]):
                reason, key = f"time before day {dom['min_days']} (domain {dom['name']})", "domains.min_days"
            elif str(r.get("direction", "")) not in SYMBOL:  # (a not_found row has no grade either)
                reason = "no direction recorded (form not_found or direction missing)"
            elif r["grade"] not in grades:
                reason, key = f"grade {r['grade']} not admitted (admitted: {', '.join(grades)})", "grades"
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
                excl.append({**rec, "reason": reason, "filter": key})
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
    from scipy import stats  # imported where needed (slow to import)

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


@register
class Direction(AnalysisKind):
    """Effect direction per study and domain with a sign test (SWiM), beside the pooled estimates."""

    type = "direction"
    has_figure = True

    def digest_spec(self, spec):
        """The rows of every domain's question."""
        qs = sorted({q for d in spec["domains"] for q in
                     (d["question"] if isinstance(d["question"], list) else [d["question"]])})
        return {**spec, "question": qs}

    def effect_sizes(self, ev, spec, strict=True):
        """One row per finding with its direction (no effect sizes)."""
        return direction_rows(ev, spec, spec["grades"])

    def fit(self, ev, es, spec):
        """Directions per study and domain, and the sign tests."""
        return {**_base(spec), **summarise_directions(es, spec)}

    def table(self, fit, es, excluded, spec, cit):
        """One row per study and domain."""
        title = fit.get("title", spec["id"])
        aid = spec["id"]
        notes = common_notes(fit, spec)
        rows = []
        for d in fit["domains"]:
            for s in d["studies"]:
                rows.append({"domain": d["label"], "citation_key": s["citation_key"],
                             "direction": s["direction"], "findings": "; ".join(s["findings"]),
                             "n": s["n"], "quantitative": "yes" if s["quantitative"] else "no"})
            notes.append(
                f"{d['label']}: {d['k']} studies; {d['n_plus']} +, {d['n_minus']} -, "
                f"{d['n_zero']} no effect/association, {d['n_conflicting']} conflicting; sign "
                f"test p = " + (f"{d['sign_test_p']:.3f}" if d["sign_test_p"] is not None else "NA")
                + f" ({d['sign_test']}).")
        notes = [n for n in notes if not n.startswith(("Estimator", "Effect measure"))]
        notes.append("Direction per study: the direction of at least 70% of its findings, "
                     "otherwise 'conflicting' (Boon & Thomson 2021). Shown beside, never merged "
                     "into, the pooled estimates.")
        return Table(pd.DataFrame(rows), title=title, notes=notes, label=f"tab:{aid}",
                     citations=cit, citekeys="citation_key",
                     columns=["domain", "Study", "direction", "findings", "n", "quantitative"],
                     rename={"domain": "Domain", "direction": "Direction",
                             "findings": "Findings (direction; time; significance)",
                             "quantitative": "Numbers reported"},
                     formats={"n": "int"})

    def figure(self, fit, es, spec, cit, rob=None, rob_palette="cochrane", opts=None):
        """Effect-direction plot."""
        from ...outputs import figures  # matplotlib only in the jobs that draw
        from ...outputs.figures.style import message_figure
        from ..figopts import figure_kwargs

        rows = []
        for d in fit["domains"]:
            for s in d["studies"]:
                rows.append({"study": label_of(cit, s["citation_key"]), "outcome": d["label"],
                             "direction": s["direction"], "n": s["n"]})
        if not rows:
            return message_figure("no study reports a direction")
        kw = figure_kwargs(opts, clip=False, height=False, fontsize=False)
        return figures.effect_direction(pd.DataFrame(rows), rob=None, **kw)

    def methods(self, fit, spec):
        """Methods sentence."""
        return ("Findings reported only as a direction or as (non-)significance were summarised "
                "by effect direction per study (SWiM; Campbell et al. 2020) and tested with a "
                "two-sided sign test, beside and never merged into the pooled estimates.")

    def paragraphs(self, fit, spec):
        """One sentence per domain."""
        out = []
        for d in fit["domains"]:
            p = d["sign_test_p"]
            out.append(f"{d['label']}: {d['n_plus']} of {d['k']} studies positive, "
                       f"{d['n_minus']} negative, {d['n_zero']} null"
                       + (f" (sign test p = {p:.3f})." if p is not None else "."))
        return out

    def values(self, aid, fit):
        """Counts per direction and the sign-test p per domain."""
        from ...outputs.values import macro_name

        vals = {}

        def put(name, value, fmt=2):
            vals[macro_name(name)] = (value, fmt)

        for d in fit["domains"]:
            put(f"{aid}_{d['name']}_plus", d["n_plus"], "int")
            put(f"{aid}_{d['name']}_minus", d["n_minus"], "int")
            put(f"{aid}_{d['name']}_zero", d["n_zero"], "int")
            if d["sign_test_p"] is not None:
                put(f"{aid}_{d['name']}_sign_p", d["sign_test_p"], "p")
        return vals

    def headlines(self, fit):
        """The share of positive directions per domain."""
        out = []
        for d in fit["domains"]:
            clear = d["n_plus"] + d["n_minus"]
            out.append({"estimate_name": f"{d['label']}: share of positive directions",
                        "k": d["k"], "estimate": d["n_plus"] / clear if clear else None,
                        "ci_lb": None, "ci_ub": None, "pval": d["sign_test_p"],
                        "scale": "proportion (sign test p)", "status": "counted"})
        return out

    def findings(self, fit, spec):
        """One finding per domain (with its name, so a claim picks its own domain)."""
        from ..text import fmt

        out = []
        for d in fit["domains"]:
            clear = d["n_plus"] + d["n_minus"] + d["n_zero"]
            out.append({"text": f"effect direction: {d['n_plus']} positive, {d['n_zero']} null, "
                                f"{d['n_minus']} negative of {d['k']} studies (sign test p = "
                                f"{fmt(d['sign_test_p'], 3)})",
                        "domain": d["name"], "n_plus": d["n_plus"], "n_clear": clear})
        return out


def _base(spec):
    from ..effects import SIGN_CONVENTION

    return {"analysis": spec["id"], "type": spec["type"], "title": spec.get("title", spec["id"]),
            "status": "ok", "level": spec["level"], "sign_convention": SIGN_CONVENTION}
