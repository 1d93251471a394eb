"""Summary-of-findings table: each outcome and window with its effect and GRADE certainty.

Laid out like a Cochrane summary-of-findings table (Schuenemann et al., Cochrane Handbook ch.
14): outcome and window, participants (trials), relative effect, anticipated absolute effects
for binary outcomes (the assumed control risk is the pooled control arms' risk; the risk with
ketamine follows from the odds ratio, ``ACR OR / (1 - ACR + ACR OR)``, per 1,000), the SMD with
a plain-language size for continuous outcomes, the certainty (:mod:`ketameta.synthesis.certainty`)
with its footnotes, and a sentence in GRADE's wording (high: "reduces"; moderate: "probably";
low: "may"; very low: "the evidence is very uncertain"; Santesso et al. 2020, J Clin Epidemiol
119:126-135).
"""

from __future__ import annotations

import math

import pandas as pd

from ...evidence.review import rob_overall
from ...outputs.tables import Table
from ..certainty import DEFAULTS, rate
from ..pools import headline_pool
from ..registry import register
from .base import AnalysisKind

__all__ = ["SummaryOfFindings", "headline_pool", "absolute_effects", "smd_size", "r_size", "grade_sentence", "PHRASES"]


def smd_size(smd: float) -> str:
    """Plain-language size of a standardized mean difference (Cochrane Handbook 15.5.3.1)."""
    a = abs(smd)
    if a < 0.2:
        return "little or no difference"
    return "a small" if a < 0.5 else ("a moderate" if a < 0.8 else "a large")


def absolute_effects(acr: float, log_or: float, lo: float, hi: float) -> dict:
    """Risk with the intervention and the difference per 1,000 from an assumed control risk and an OR.

    ``risk = ACR OR / (1 - ACR + ACR OR)`` (Cochrane Handbook 14.1.5.1), at the OR and its CI bounds.
    """
    def risk(lor):
        o = math.exp(lor)
        return acr * o / (1 - acr + acr * o)

    r, rl, rh = risk(log_or), risk(lo), risk(hi)
    return {"control_per_1000": 1000 * acr, "intervention_per_1000": 1000 * r,
            "intervention_lb": 1000 * rl, "intervention_ub": 1000 * rh,
            "difference_per_1000": 1000 * (r - acr), "difference_lb": 1000 * (rl - acr),
            "difference_ub": 1000 * (rh - acr)}


def r_size(r: float) -> str:
    """Plain-language size of a correlation (Cohen 1988: 0.1 small, 0.3 moderate, 0.5 large)."""
    a = abs(r)
    if a < 0.1:
        return "little or no association"
    return "a small" if a < 0.3 else ("a moderate" if a < 0.5 else "a large")


#: GRADE's wording of a finding (Santesso et al. 2020): subject, then for a positive, negative and
#: null estimate the verb phrase in the third person and in the base form ("may reduce").
PHRASES = {
    "SMD": {"subject": "one infusion",
            "positive": ["reduces depression severity", "reduce depression severity"],
            "negative": ["increases depression severity", "increase depression severity"],
            "null": ["makes little or no difference to depression severity",
                     "make little or no difference to depression severity"]},
    "OR": {"subject": "one infusion",
           "positive": ["increases response", "increase response"],
           "negative": ["reduces response", "reduce response"],
           "null": ["makes little or no difference to response", "make little or no difference to response"]},
    "ZCOR": {"subject": "greater acute dissociation",
             "positive": ["goes with greater improvement", "go with greater improvement"],
             "negative": ["goes with less improvement", "go with less improvement"],
             "null": ["is not associated with improvement", "not be associated with improvement"]},
    "GEN": {"subject": "greater acute dissociation",
            "positive": ["goes with greater improvement", "go with greater improvement"],
            "negative": ["goes with less improvement", "go with less improvement"],
            "null": ["is not associated with improvement", "not be associated with improvement"]},
}


def grade_sentence(window: str, certainty: str, subject: str, forms) -> str:
    """A finding in GRADE's wording: high "reduces", moderate "probably reduces", low "may reduce",
    very low "the evidence is very uncertain about whether ... reduces" (Santesso et al. 2020).
    """
    third, base = forms
    if certainty == "very low":
        return f"At {window}, the evidence is very uncertain about whether {subject} {third} (very low certainty)."
    verb = {"high": third, "moderate": f"probably {third}", "low": f"may {base}"}[certainty]
    return f"At {window}, {subject} {verb} ({certainty} certainty)."


@register
class SummaryOfFindings(AnalysisKind):
    """A summary-of-findings table over the windows of other analyses, with GRADE certainty."""

    type = "sof"
    needs_evidence = True
    report_order = 0
    shows_risk_of_bias = True

    def expand_spec(self, spec, config):
        """Carry the specs of the summarised analyses and the certainty thresholds."""
        from ..spec import flat_spec

        return {**spec, "bases": {o["analysis"]: flat_spec(config, o["analysis"]) for o in spec["outcomes"]},
                "certainty": spec.get("certainty", config.get("certainty", {}))}

    def depends_on(self, spec):
        """The analyses whose windows the table summarises."""
        return [o["analysis"] for o in spec["outcomes"]]

    def digest_spec(self, spec):
        """Every row (the table summarises several analyses and the RoB sheet)."""
        return None

    def effect_sizes(self, ev, spec, strict=True):
        """The effect sizes of every summarised analysis (labelled with the analysis)."""
        from ..pipeline import as_spec
        from ..registry import kind_of

        frames, excluded = [], []
        for o in spec["outcomes"]:
            base = as_spec({**spec["bases"][o["analysis"]], "grades": spec["grades"]})
            es, exc = kind_of(base).effect_sizes(ev, base, strict=False)
            frames.append(es.assign(analysis=o["analysis"]))
            excluded.append(exc.assign(analysis=o["analysis"]))
        return pd.concat(frames, ignore_index=True), pd.concat(excluded, ignore_index=True)

    def fit(self, ev, es, spec, context=None):
        """Certainty and absolute effects of every configured outcome window."""
        from ..effects import SIGN_CONVENTION

        fits = (context or {}).get("fits", {})
        rob = ev.rob if ev is not None and ev.rob is not None else pd.DataFrame()
        overall = {}
        if len(rob):
            ov = rob_overall(rob[rob["outcome"] == spec.get("rob_outcome", "depression_severity")])
            overall = dict(zip(ov["study_id"], ov["overall"]))
        cfg = spec.get("certainty") or {}
        rows = []
        for o in spec["outcomes"]:
            f = fits.get(o["analysis"], {})
            if f.get("status") != "ok":
                rows.append({"outcome": o["label"], "analysis": o["analysis"], "window": "all",
                             "status": f"analysis not estimable: {f.get('reason', 'not fitted')}"})
                continue
            measure = f.get("measure", "GEN")
            sub = es[es["analysis"] == o["analysis"]]
            for p in f.get("pools", []):
                if o.get("windows") and p["label"] not in o["windows"]:
                    continue
                row = {"outcome": o["label"], "analysis": o["analysis"], "window": p["label"], "k": p["k"],
                       "measure": measure}
                if p["k"] == 0:
                    continue  # a window without trials is listed in the analysis' own table
                p = headline_pool(p)
                cert = rate(p, sub, ev.studies, overall, measure, cfg)
                prow = sub[sub["effect_id"].isin(p["effect_ids"])]
                row.update(status="ok", estimate=p["estimate"], ci_lb=p["ci_lb"], ci_ub=p["ci_ub"],
                           fit=p["headline_fit"],
                           participants=cert["participants"], certainty=cert["rating"], symbols=cert["symbols"],
                           domains=cert["domains"], footnotes=cert["footnotes"])
                phrases = {**PHRASES.get(measure, PHRASES["GEN"]), **(o.get("phrases") or {})}
                mid = float({**DEFAULTS["mid"], **cfg.get("mid", {})}.get(measure, 0.0))
                est = p["estimate"]
                if measure == "OR":
                    e2, t2 = prow.get("events2"), prow.get("total2")
                    if e2 is not None and e2.notna().all() and t2.notna().all() and t2.sum() > 0:
                        acr = float(e2.sum() / t2.sum())
                        row.update(acr=acr, acr_source=f"pooled control arms: {int(e2.sum())}/{int(t2.sum())}",
                                   **absolute_effects(acr, est, p["ci_lb"], p["ci_ub"]))
                elif measure == "ZCOR":
                    row.update(size=r_size(math.tanh(est)), r=math.tanh(est), r_lb=math.tanh(p["ci_lb"]),
                               r_ub=math.tanh(p["ci_ub"]))
                elif measure == "SMD":
                    row["size"] = smd_size(est)
                else:
                    row["measure_label"] = f.get("measure_label", measure)
                if abs(est) < mid:
                    forms = phrases["null"]
                else:
                    forms = phrases["positive" if est > 0 else "negative"]
                    if row.get("size"):
                        noun = "association" if measure == "ZCOR" else "effect"
                        forms = [f"{x} ({row['size'].replace('a ', '')} {noun})" for x in forms]
                when = o.get("time", p["label"])
                row["time"] = when
                row["what_happens"] = grade_sentence(when, cert["rating"], phrases["subject"], forms)
                rows.append(row)
        return {"analysis": spec["id"], "type": spec["type"], "title": spec.get("title", spec["id"]),
                "status": "ok", "level": spec["level"], "rows": rows, "rob_outcome": spec.get("rob_outcome",
                                                                                              "depression_severity"),
                "sign_convention": SIGN_CONVENTION}

    def table(self, fit, es, excluded, spec, cit):
        """One row per outcome window; footnotes numbered under the table."""
        notes, rows = [], []
        for r in fit["rows"]:
            marks = []
            for fn in r.get("footnotes", []):
                if fn not in notes:
                    notes.append(fn)
                marks.append(str(notes.index(fn) + 1))
            if r.get("status") != "ok":
                rows.append({"outcome": r["outcome"], "window": r["window"], "participants": "", "relative": "",
                             "control": "", "ketamine": "", "difference": "", "fit": "", "certainty": "",
                             "what": r.get("what_happens", r.get("status", ""))})
                continue
            n = r.get("participants")
            part = f"{int(n) if n else 'NR'} ({r['k']} {'trial' if r['k'] == 1 else 'trials'})"
            if r["measure"] == "OR":
                rel = f"OR {math.exp(r['estimate']):.2f} ({math.exp(r['ci_lb']):.2f} to {math.exp(r['ci_ub']):.2f})"
                if "acr" in r:
                    ctl = f"{r['control_per_1000']:.0f} per 1,000"
                    ket = f"{r['intervention_per_1000']:.0f} per 1,000"
                    diff = (f"{r['difference_per_1000']:+.0f} per 1,000 ({r['difference_lb']:+.0f} to "
                            f"{r['difference_ub']:+.0f})")
                else:
                    ctl = ket = diff = "control risk not reported"
            elif r["measure"] == "ZCOR":
                rel, ctl, ket = "", "", ""
                diff = f"r {r['r']:.2f} ({r['r_lb']:.2f} to {r['r_ub']:.2f}): {r['size']}"
            elif r["measure"] == "SMD":
                rel, ctl, ket = "", "", ""
                diff = f"SMD {r['estimate']:.2f} ({r['ci_lb']:.2f} to {r['ci_ub']:.2f}): {r['size']}"
            else:
                rel, ctl, ket = "", "", ""
                diff = f"{r['estimate']:.2f} ({r['ci_lb']:.2f} to {r['ci_ub']:.2f}) {r.get('measure_label', '')}".strip()
            cert = f"{r['symbols']} {r['certainty'].upper()}" + (f" ({', '.join(marks)})" if marks else "")
            rows.append({"outcome": r["outcome"], "window": r.get("time", r["window"]), "participants": part,
                         "relative": rel,
                         "control": ctl, "ketamine": ket, "difference": diff, "fit": r.get("fit", ""),
                         "certainty": cert, "what": r["what_happens"]})
        notes = [f"({i + 1}) {n}" for i, n in enumerate(notes)]
        notes.insert(0, "Effects: the headline fit of each pooled window (Fit: the Bayesian random-effects "
                        "posterior median and credible interval when the pooled table leads with it, i.e. few "
                        "trials; REML with Knapp-Hartung otherwise); the certainty rules read that interval.")
        notes.insert(0, "Certainty (GRADE): start high for randomised trials (and for associations measured "
                        "within trial arms, as for prognostic factors in longitudinal cohorts: Iorio et al. "
                        "2015, BMJ 350:h870); rated down per domain by the "
                        "rules in ketameta.synthesis.certainty (thresholds in config/config.yaml, certainty). "
                        "Risk with control: the pooled control arms' risk; risk with ketamine from the odds "
                        "ratio. SMD sizes: < 0.2 little or no difference, 0.2 small, 0.5 moderate, 0.8 large.")
        return Table(pd.DataFrame(rows), title=fit.get("title", spec["id"]), notes=notes, label=f"tab:{spec['id']}",
                     rename={"outcome": "Outcome", "window": "Time", "participants": "Participants (trials)",
                             "relative": "Relative effect (95% CI)", "control": "Risk with control",
                             "ketamine": "Risk with ketamine", "difference": "Difference (95% CI)", "fit": "Fit",
                             "certainty": "Certainty", "what": "What happens"})

    def methods(self, fit, spec):
        """Methods sentence."""
        return ("Each outcome window was rated with GRADE (start high for randomised trials; rated down for "
                "risk of bias from the RoB 2 sheet, inconsistency, indirectness, imprecision and publication "
                "bias) by documented rules whose numbers are given in the footnotes; absolute effects use the "
                "pooled control arms' risk as the assumed control risk.")

    def paragraphs(self, fit, spec):
        """The 'what happens' sentences."""
        return [r["what_happens"] for r in fit["rows"] if r.get("what_happens")]

    def values(self, aid, fit):
        """Certainty per outcome window (as text) and the absolute difference per 1,000."""
        from ...outputs.values import macro_name

        vals = {}
        for r in fit["rows"]:
            tag = f"{aid}_{r['analysis']}_{''.join(ch if ch.isalnum() else '_' for ch in r['window'])}"
            if r.get("certainty"):
                vals[macro_name(f"{tag}_certainty")] = r["certainty"]
            if "difference_per_1000" in r:
                vals[macro_name(f"{tag}_diff_per_1000")] = (r["difference_per_1000"], 0)
        return vals

    def findings(self, fit, spec):
        """Certainty of every rated window (the claims table reports the headline ones)."""
        return [{"text": f"{r['outcome']} at {r['window']}: {r['certainty']} certainty",
                 "certainty": r["certainty"], "analysis": r["analysis"], "window": r["window"]}
                for r in fit["rows"] if r.get("certainty")]
