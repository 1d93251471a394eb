"""Kinds that pool effect sizes per window (correlation, slopes, durability): shared outputs."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...outputs.tables import Table
from ..pools import bayes_notes, common_notes, pools_table
from .base import AnalysisKind
from .base import paths as _paths

__all__ = ["PooledKind", "AXIS", "label_of", "time_text", "WITHIN_TRIAL_NOTE"]

#: What a within-trial association shows, and where the between-trial one is.
WITHIN_TRIAL_NOTE = (
    "Within-trial association: correlations and slopes computed inside each trial relate how much "
    "each patient dissociated to how much that patient improved, with dose, drug and setting held "
    "fixed; the claim that dissociation predicts response is judged on this level. Associations "
    "across trials (arm-level dissociation against arm-level response) are ecological and are "
    "shown separately as context (Riley et al. 2008; Fisher et al. 2017)."
)

AXIS = {
    "ZCOR": "r (positive: more dissociation, more improvement)",
    "SMD": "SMD (positive = benefit)",
    "OR": "Odds ratio of response (> 1 = benefit)",
    "RD": "Risk difference, % points (positive = benefit)",
}


def label_of(cit, key, extra=""):
    """Author-year label of a citation key (the key itself if unknown)."""
    base = cit.label(key) if key and key in cit else str(key)
    return f"{base}{(' - ' + extra) if extra else ''}"


def time_text(t):
    """A short time label for a figure row (40 min, 4 h, day 7)."""
    if not np.isfinite(t):
        return ""
    mins = t * 1440
    return f"{mins:.0f} min" if mins < 120 else (f"{mins / 60:.0f} h" if mins < 1380 else f"day {t:g}")


class PooledKind(AnalysisKind):
    """Per-window pools: a table of studies under each pooled row, a forest plot, values."""

    has_figure = True
    model_variants = True
    #: the Table's first column header (what a pool is a pool of)
    section_header = "Window"

    # ---- table ----------------------------------------------------------------------------
    def extra_notes(self, fit, spec) -> list[str]:
        """Notes after the derived-number note (the time course, for durability)."""
        return []

    def table(self, fit, es, excluded, spec, cit):
        """Per-study rows under each window, followed by the window's pooled row."""
        aid = spec["id"]
        notes = common_notes(fit, spec)
        df, scale = pools_table(fit, es, spec, cit, self.type)
        # a window without studies has no row (the notes name it; the fit keeps it)
        empty = [p["label"] for p in fit["pools"] if p["k"] == 0]
        df = df[~((df["row"] == "pooled") & (df["k"] == 0))].reset_index(drop=True)
        ks = "; ".join(f"{p['label']}: k = {p['k']} ({p.get('model', '')})" for p in fit["pools"])
        notes.insert(0, f"k per pool -- {ks}.")
        if (df["derived"] == "yes").any():
            notes.append("derived = a number derived by the pipeline (the derivation is in "
                         + _paths(spec)["effect_sizes"] + ").")
        notes += bayes_notes(fit)
        notes += self.extra_notes(fit, spec)
        if len(excluded):
            notes.append(f"{len(excluded)} row(s) of this question were not used; reasons in "
                         f"{_paths(spec)['excluded']}.")
        if empty:
            notes.append("No study reports a result for: " + ", ".join(empty) + ".")
        for p in fit["pools"]:
            if p.get("note"):
                notes.append(f"{p['label']}: {p['note']}.")
        bayes = df["bayes_estimate"].notna().any()
        lev = f"{fit.get('level', 95):g}%"
        cols = ["section", "Study", "label", "time", "n", "Estimate", "weight", "pval"]
        cols += ["Bayes", "headline"] if bayes else []
        cols += ["grade", "derived", "k", "estimator", "test"]
        # LaTeX: a compact set that fits a page (model, grade and derivation are in the notes)
        compact = ["section", "Study", "label", "time", "Estimate"] + (["Bayes"] if bayes else [])
        compact += ["weight", "pval"] if not bayes else ["pval"]
        return Table(
            df, title=fit.get("title", aid), notes=notes, label=f"tab:{aid}", citations=cit,
            citekeys="citation_key", study_column="Study", columns=cols, latex_columns=compact,
            ci={"Estimate": ("estimate", "ci_lb", "ci_ub"),
                **({"Bayes": ("bayes_estimate", "bayes_ci_lb", "bayes_ci_ub")} if bayes else {})},
            rename={"section": self.section_header, "label": "Pooled",
                    "time": "Time", "weight": "Weight (%)", "pval": "p", "grade": "Grade",
                    "derived": "Derived", "Estimate": f"{scale} [{lev} CI]",
                    **({"Bayes": f"Bayesian {scale} [{lev} CrI]", "headline": "Headline"} if bayes else {})},
            formats={"estimate": 2 if scale != "GEN" else 3, "weight": 1, "pval": "p", "n": "int", "k": "int",
                     **({"bayes_estimate": 2 if scale != "GEN" else 3} if bayes else {})},
        )

    # ---- figure ---------------------------------------------------------------------------
    def figure(self, fit, es, spec, cit, rob=None, rob_palette="cochrane", opts=None):
        """Forest plot: every study under its window, then the window's pooled estimate."""
        from ...outputs import figures  # matplotlib only in the jobs that draw
        from ...outputs.figures.style import message_figure
        from ..figopts import figure_kwargs

        measure = fit.get("measure")
        rows, pooled, ids = [], [], []
        for p in fit["pools"]:
            sub = es[es["effect_id"].isin(p.get("effect_ids", []))]
            for _, r in sub.iterrows():
                rows.append({"label": f"{label_of(cit, r['citation_key'])} "
                                      f"({time_text(r['time_days'])})",
                             "yi": r["yi"], "ci_lb": r["ci_lb"], "ci_ub": r["ci_ub"],
                             "weight": (p.get("weights") or {}).get(r["effect_id"], np.nan)})
                ids.append(r["study_id"])
            if p["k"] >= 2:
                pooled.append({"label": f"Pooled, {p['label']} (k = {p['k']})",
                               "estimate": p["estimate"], "ci_lb": p["ci_lb"],
                               "ci_ub": p["ci_ub"], "pi_lb": p.get("pi_lb"),
                               "pi_ub": p.get("pi_ub")})
        if not rows:
            return message_figure("no effect sizes")
        # risk of bias at the right edge when any trial of the plot was assessed
        rob_rows = None
        if rob is not None and len(rob) and rob.index.isin(ids).any():
            rob_rows = rob.reindex(ids)
            rob_rows = rob_rows[[c for c in rob_rows.columns if rob_rows[c].notna().any()]]
        return figures.forest(
            pd.DataFrame(rows), pooled or None,
            xlabel=AXIS.get(measure, spec.get("unit", "Slope (positive = more dissociation "
                                                   "with more improvement)")),
            transf={"ZCOR": np.tanh, "OR": np.exp}.get(measure),
            show_weights=any(len(p.get("weights") or {}) for p in fit["pools"]),
            digits=2 if measure == "ZCOR" else 3,
            rob=rob_rows, rob_palette=rob_palette, **figure_kwargs(opts),
        )

    # ---- sentences, values, headlines -----------------------------------------------------
    def extra_paragraphs(self, fit, spec) -> list[str]:
        """Sentences after the per-pool ones (the time course, for durability)."""
        return []

    def paragraphs(self, fit, spec):
        """One sentence per non-empty pool, then the funnel-plot note."""
        out = []
        bt = fit.get("measure") in ("ZCOR", "OR")
        what = {"ZCOR": "r", "OR": "OR", "SMD": "SMD", "GEN": "slope"}.get(fit.get("measure"), "")
        for p in fit["pools"]:
            if p["k"] == 0:
                continue
            s = "_bt" if bt else ""
            est, lo, hi = p.get("estimate" + s), p.get("ci_lb" + s), p.get("ci_ub" + s)
            out.append(f"{p['label']}: {what} = {est:.2f} [{lo:.2f}, {hi:.2f}], k = {p['k']} "
                       f"({p['model']}).")
        out += self.extra_paragraphs(fit, spec)
        kmax = max((p["k"] for p in fit["pools"]), default=0)
        if kmax < 10:
            out.append(f"No funnel plot: at most k = {kmax} studies per pool; funnel plots and "
                       "tests of asymmetry need at least 10 (Sterne et al. 2011, BMJ 343:d4002).")
        return out

    def extra_values(self, aid, fit, put) -> None:
        """Values after the per-pool ones (the time course, for durability)."""

    def values(self, aid, fit):
        """``<analysis>_<window>_{k,est,low,high}`` per pool."""
        from ...outputs.values import macro_name

        vals = {}

        def put(name, value, fmt=2):
            vals[macro_name(name)] = (value, fmt)

        for p in fit["pools"]:
            nm = (p.get("window", {}).get("name") or (p.get("group") or {}).get("value")
                  or p["label"])
            nm = "".join(ch if ch.isalnum() else "_" for ch in str(nm))
            bt = "_bt" if p.get("estimate_bt") is not None else ""
            base = f"{aid}_{nm}"
            put(f"{base}_k", p["k"], "int")
            if p["k"] > 0:
                d = 3 if self.type == "slopes" else 2
                put(f"{base}_est", p.get("estimate" + bt), d)
                put(f"{base}_low", p.get("ci_lb" + bt), d)
                put(f"{base}_high", p.get("ci_ub" + bt), d)
        self.extra_values(aid, fit, put)
        return vals

    def headlines(self, fit):
        """One headline per pool (back-transformed to r for correlations)."""
        out = []
        for p in fit.get("pools", []):
            bt = "_bt" if p.get("estimate_bt") is not None and fit.get("measure") == "ZCOR" else ""
            out.append({
                "estimate_name": p["label"] or fit["analysis"], "k": p["k"],
                "estimate": p.get("estimate" + bt), "ci_lb": p.get("ci_lb" + bt),
                "ci_ub": p.get("ci_ub" + bt), "pval": p.get("pval"),
                "scale": "r" if bt else (fit.get("unit") or fit.get("measure")), "status": p.get("status"),
                "participants": p.get("participants"),
            })
        return out
