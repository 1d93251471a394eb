"""Cumulative meta-analysis by publication year: how the evidence accumulated.

For each configured window of a pooled analysis (``base``; e.g. the day-1 and day-7 pools of the
durability analysis) the trials are added in order of publication year and the model is refitted
after each one (:func:`ketameta.cumul`, metafor's ``cumul``; Lau et al. 1992, N Engl J Med
327:248-254). Each step is exactly the base analysis' model on the trials published so far. A
window without trials is reported as such; a window with one trial has one step (its own
estimate).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from ...diagnostics import cumul
from ...outputs.tables import Table
from ...rma import rma
from ..pools import common_notes, num
from ..registry import register
from .base import AnalysisKind

__all__ = ["Cumulative"]


def _year(ev, key) -> float:
    """Publication year of a citation key (NaN when the BibTeX entry has none)."""
    try:
        fields = ev.bib.entries[key].fields
    except (KeyError, AttributeError):
        return np.nan
    m = re.match(r"\s*(\d{4})", str(fields.get("year") or fields.get("date") or ""))
    return float(m.group(1)) if m else np.nan


@register
class Cumulative(AnalysisKind):
    """Cumulative pooled estimates by publication year, per window of a pooled analysis."""

    type = "cumulative"
    needs_evidence = True
    has_figure = True
    report_order = 2

    def expand_spec(self, spec, config):
        """Carry the spec of the accumulated analysis."""
        from ..spec import flat_spec

        return {**spec, "base_spec": flat_spec(config, spec["base"])}

    def depends_on(self, spec):
        """The pooled analysis whose windows are accumulated."""
        return [spec["base"]]

    def digest_spec(self, spec):
        """The rows of the base analysis' question."""
        return {**spec, "question": spec["base_spec"].get("question")}

    def effect_sizes(self, ev, spec, strict=True):
        """The base analysis' effect sizes, each with its publication year."""
        from ..pipeline import as_spec
        from ..registry import kind_of

        base = as_spec({**spec["base_spec"], "grades": spec["grades"], "level": spec["level"]})
        es, excluded = kind_of(base).effect_sizes(ev, base, strict=False)
        if len(es):
            es = es.assign(year=[_year(ev, k) for k in es["citation_key"]])
        return es, excluded

    def fit(self, ev, es, spec, context=None):
        """Per window: one step per trial added in order of publication year."""
        from ..effects import MEASURE_LABELS, SIGN_CONVENTION

        base_fit = (context or {}).get("fits", {}).get(spec["base"], {})
        base = spec["base_spec"]
        measure = base.get("measure", "GEN")
        pools = {p["label"]: p for p in base_fit.get("pools", [])}
        windows = spec.get("windows") or list(pools)
        steps, empty = [], []
        for w in windows:
            p = pools.get(w)
            if not p or p.get("k", 0) == 0:
                empty.append(w)
                continue
            rows = es[es["effect_id"].isin(p["effect_ids"])].copy()
            rows = rows.sort_values(["year", "study_id"], kind="stable", na_position="last").reset_index(drop=True)
            if len(rows) == 1:
                r = rows.iloc[0]
                steps.append({"window": w, "step": 1, "study_id": r["study_id"], "citation_key": r["citation_key"],
                              "year": num(r["year"]), "k": 1, "estimate": float(r["yi"]),
                              "ci_lb": float(r["ci_lb"]), "ci_ub": float(r["ci_ub"]), "tau2": None, "I2": None})
                continue
            res = rma(rows["yi"].to_numpy(float), rows["vi"].to_numpy(float), method=base["method"],
                      test=base["test"], level=spec["level"])
            cu = cumul(res)  # rows are already in publication order
            frame = cu.to_frame()
            for i, pos in enumerate(cu.order):
                r = rows.iloc[int(pos)]
                steps.append({"window": w, "step": i + 1, "study_id": r["study_id"],
                              "citation_key": r["citation_key"], "year": num(r["year"]), "k": int(frame["k"].iloc[i]),
                              "estimate": float(frame["estimate"].iloc[i]), "ci_lb": float(frame["ci_lb"].iloc[i]),
                              "ci_ub": float(frame["ci_ub"].iloc[i]), "tau2": num(frame["tau2"].iloc[i]) if "tau2" in frame else None,
                              "I2": num(frame["I2"].iloc[i])})
        return {"analysis": spec["id"], "type": spec["type"], "title": spec.get("title", spec["id"]),
                "status": "ok", "base": spec["base"], "measure": measure,
                "measure_label": MEASURE_LABELS.get(measure, ""), "method": base["method"], "test": base["test"],
                "level": spec["level"], "steps": steps, "empty_windows": empty, "sign_convention": SIGN_CONVENTION}

    def _tr(self, fit):
        return {"ZCOR": np.tanh, "OR": np.exp}.get(fit["measure"], lambda x: x)

    def table(self, fit, es, excluded, spec, cit):
        """One row per step: the trial added and the pooled estimate so far."""
        tr = self._tr(fit)
        rows = [{"window": s["window"], "citation_key": s["citation_key"], "year": s["year"], "k": s["k"],
                 "estimate": float(tr(s["estimate"])), "ci_lb": float(tr(s["ci_lb"])),
                 "ci_ub": float(tr(s["ci_ub"])), "I2": num(s["I2"])} for s in fit["steps"]]
        df = pd.DataFrame(rows, columns=["window", "citation_key", "year", "k", "estimate", "ci_lb", "ci_ub", "I2"])
        notes = common_notes(fit, spec)
        notes.insert(0, f"Cumulative meta-analysis of {fit['base']}: trials added in order of publication year; "
                        "each row is the model refitted on the trials published so far.")
        if fit["empty_windows"]:
            notes.append("No trial in: " + ", ".join(fit["empty_windows"]) + ".")
        scale = {"ZCOR": "r", "OR": "OR"}.get(fit["measure"], fit["measure"])
        return Table(df, title=fit.get("title", spec["id"]), notes=notes, label=f"tab:{spec['id']}",
                     citations=cit, citekeys="citation_key", study_column="Trial added",
                     columns=["window", "Trial added", "year", "k", "Estimate", "I2"],
                     ci={"Estimate": ("estimate", "ci_lb", "ci_ub")},
                     rename={"window": "Window", "year": "Year", "I2": "I^2 (%)",
                             "Estimate": f"Cumulative {scale} [{fit.get('level', 95):g}% CI]"},
                     formats={"estimate": 2, "I2": 0, "k": "int", "year": "int"})

    def figure(self, fit, es, spec, cit, rob=None, rob_palette="cochrane", opts=None):
        """Cumulative forest plot: one row per trial added, the estimate so far."""
        from ...outputs import figures  # matplotlib only in the jobs that draw
        from ...outputs.figures.style import message_figure
        from ..figopts import figure_kwargs
        from .pooled import AXIS, label_of

        if not fit["steps"]:
            return message_figure("no trial in the accumulated windows")
        rows = [{"label": f"{s['window']}: + {label_of(cit, s['citation_key'])} (k = {s['k']})",
                 "yi": s["estimate"], "ci_lb": s["ci_lb"], "ci_ub": s["ci_ub"]} for s in fit["steps"]]
        return figures.forest(pd.DataFrame(rows), None, xlabel=AXIS.get(fit["measure"], "Estimate"),
                              transf={"ZCOR": np.tanh, "OR": np.exp}.get(fit["measure"]), show_weights=False,
                              header=("Trial added (window)", "Cumulative estimate [95% CI]"),
                              **figure_kwargs(opts))

    def methods(self, fit, spec):
        """Methods sentence."""
        return (f"Cumulative meta-analysis (Lau et al. 1992): the trials of {fit['base']} were added in order of "
                "publication year and the same model refitted after each addition.")

    def paragraphs(self, fit, spec):
        """The last step of each window."""
        tr = self._tr(fit)
        last = {}
        for s in fit["steps"]:
            last[s["window"]] = s
        return [f"{w}: after {s['k']} trial(s), up to {s['year']:.0f}: {float(tr(s['estimate'])):.2f} "
                f"[{float(tr(s['ci_lb'])):.2f}, {float(tr(s['ci_ub'])):.2f}]." for w, s in last.items()]
