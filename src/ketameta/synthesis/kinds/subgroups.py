"""Subgroup analyses of a pooled analysis: the same windows, pooled within each subgroup.

A config entry names the analysis it divides (``base``) and the subgroups (``by``: a label and
the filters that define it, e.g. ``{polarity: [bipolar]}``). Each subgroup is pooled per window
with the base analysis' model; where at least two subgroups have studies in a window, the
difference between subgroups is tested with a mixed-effects meta-regression on subgroup
indicators (the test of moderators ``QM``; Borenstein & Higgins 2013, Prev Sci 14:134-143) --
an across-trial (observational) comparison, so it is labelled as such. A subgroup with no study
is reported as empty, never dropped.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...errors import ModelError
from ...outputs.tables import Table
from ...rma import rma
from ..pools import common_notes, num, pool
from ..registry import register
from .base import AnalysisKind

__all__ = ["Subgroups"]


def _base_spec(spec):
    """The spec of the divided analysis (carried in the subgroup spec as ``base_spec``)."""
    base = spec.get("base_spec")
    if not base:
        raise ModelError(f"subgroup analysis {spec['id']!r} needs the spec of its base analysis")
    from ..pipeline import as_spec

    return as_spec({**base, "grades": spec["grades"], "level": spec["level"]})


def _windows(base):
    return base.get("windows") or base.get("time_points") or [{"label": base.get("unit", "all"),
                                                                 "from_days": -np.inf, "to_days": np.inf}]


@register
class Subgroups(AnalysisKind):
    """Pooled estimates per subgroup and window, with a test of subgroup differences."""

    type = "subgroups"
    has_figure = True

    def expand_spec(self, spec, config):
        """Carry the spec of the divided analysis."""
        from ..spec import flat_spec

        return {**spec, "base_spec": flat_spec(config, spec["base"])}

    def digest_spec(self, spec):
        """The rows of the base analysis' question."""
        return {**spec, "question": spec["base_spec"].get("question")}

    def effect_sizes(self, ev, spec, strict=True):
        """The base analysis' effect sizes, each labelled with the subgroups it belongs to."""
        from ..registry import kind_of

        base = _base_spec(spec)
        kind = kind_of(base)
        frames, excluded = [], []
        for g in spec["by"]:
            sub = base.replace(select={**(base.get("select") or {}), **g["select"]})
            es, exc = kind.effect_sizes(ev, sub, strict=False)
            frames.append(es.assign(subgroup=g["label"]))
            excluded.append(exc.assign(subgroup=g["label"]))
        es = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        exc = pd.concat(excluded, ignore_index=True) if excluded else pd.DataFrame()
        return es, exc

    def fit(self, ev, es, spec):
        """Per subgroup and window: the pool; per window: the test of subgroup differences."""
        from ..effects import MEASURE_LABELS, SIGN_CONVENTION

        base = _base_spec(spec)
        measure = base.get("measure", "GEN")
        rows, tests = [], []
        for w in _windows(base):
            in_w = es[(es["time_days"] >= w["from_days"]) & (es["time_days"] <= w["to_days"])] if len(es) else es
            present = []
            for g in spec["by"]:
                sub = in_w[in_w["subgroup"] == g["label"]] if len(in_w) else in_w
                sub = sub.sort_values(["study_id", "n_total", "time_days"], ascending=[True, False, False]) \
                    .drop_duplicates("study_id") if len(sub) else sub
                p = pool(sub, measure, base["method"], base["test"], spec["level"], label=g["label"],
                         bayes=spec.get("bayes"))
                p.update(window=w["label"], subgroup=g["label"])
                rows.append(p)
                if len(sub):
                    present.append(sub)
            tests.append(self._difference(present, w["label"], base, spec))
        return {"analysis": spec["id"], "type": spec["type"], "title": spec.get("title", spec["id"]),
                "status": "ok", "level": spec["level"], "measure": measure,
                "measure_label": MEASURE_LABELS.get(measure, ""), "method": base["method"],
                "test": base["test"], "base": spec["base"], "pools": rows, "differences": tests,
                "sign_convention": SIGN_CONVENTION}

    @staticmethod
    def _difference(present, window, base, spec):
        """QM test of subgroup indicators (every subgroup with a study; >= 3 studies in all)."""
        out = {"window": window, "k_subgroups": len(present)}
        if len(present) < 2:
            return {**out, "status": "fewer than two subgroups with studies"}
        d = pd.concat(present, ignore_index=True)
        if len(d) < 3 or d["study_id"].duplicated().any():
            return {**out, "status": "too few studies (or a study in two subgroups)"}
        X = pd.get_dummies(d["subgroup"], drop_first=True, dtype=float)
        try:
            res = rma(d["yi"].to_numpy(), d["vi"].to_numpy(), mods=X, method=base["method"],
                      test=base["test"], level=spec["level"])
        except ModelError as exc:
            return {**out, "status": f"not estimable: {exc}"}
        return {**out, "status": "tested", "QM": res.QM, "QMp": res.QMp, "QMdf": list(res.QMdf),
                "k": int(len(d)), "tau2": res.tau2}

    def table(self, fit, es, excluded, spec, cit):
        """One row per subgroup and window."""
        rows = []
        for p in fit["pools"]:
            bt = "_bt" if p.get("estimate_bt") is not None else ""
            rows.append({"window": p["window"], "subgroup": p["subgroup"], "k": p["k"],
                         "estimate": num(p.get("estimate" + bt)), "ci_lb": num(p.get("ci_lb" + bt)),
                         "ci_ub": num(p.get("ci_ub" + bt)), "pval": num(p.get("pval")),
                         "studies": ", ".join(p.get("studies", []))})
        notes = common_notes(fit, spec)
        notes.insert(0, f"Subgroups of analysis {fit['base']}; each window pooled within each subgroup.")
        for t in fit["differences"]:
            if t["status"] == "tested":
                notes.append(f"{t['window']}: test of subgroup differences QM = {t['QM']:.2f} (df = "
                             f"{t['QMdf'][0]:g}), p = {t['QMp']:.3f}, k = {t['k']} (across trials: observational).")
            else:
                notes.append(f"{t['window']}: no test of subgroup differences ({t['status']}).")
        scale = {"ZCOR": "r", "OR": "OR"}.get(fit["measure"], fit["measure"])
        return Table(pd.DataFrame(rows), title=fit.get("title", spec["id"]), notes=notes,
                     label=f"tab:{spec['id']}",
                     columns=["window", "subgroup", "k", "Estimate", "pval", "studies"],
                     ci={"Estimate": ("estimate", "ci_lb", "ci_ub")},
                     rename={"window": "Window", "subgroup": "Subgroup", "pval": "p", "studies": "Studies",
                             "Estimate": f"{scale} [{fit.get('level', 95):g}% CI]"},
                     formats={"estimate": 2, "pval": "p", "k": "int"})

    def figure(self, fit, es, spec, cit, rob=None, rob_palette="cochrane", opts=None):
        """Subgroup forest plot: each subgroup's pooled estimate per window (empty ones left out);
        odds ratios on a log axis with the null line at 1.
        """
        from ...outputs import figures  # matplotlib only in the jobs that draw
        from ...outputs.figures.style import message_figure
        from ..figopts import figure_kwargs
        from .pooled import AXIS

        rows = []
        for p in fit["pools"]:
            if p["k"] == 0 or p.get("estimate") is None:
                continue
            rows.append({"label": f"{p['window']}: {p['subgroup']} (k = {p['k']})",
                         "yi": p["estimate"], "ci_lb": p["ci_lb"], "ci_ub": p["ci_ub"]})
        if not rows:
            return message_figure("no subgroup has a study")
        level = f"{fit.get('level', 95):g}%"
        return figures.forest(pd.DataFrame(rows), None, xlabel=AXIS.get(fit["measure"], "Estimate"),
                              transf={"ZCOR": np.tanh, "OR": np.exp}.get(fit["measure"]),
                              show_weights=False, header=("Window: subgroup", f"Estimate [{level} CI]"),
                              **figure_kwargs(opts))

    def methods(self, fit, spec):
        """Methods sentence."""
        return (f"The trials of analysis {fit['base']} were divided into subgroups "
                f"({', '.join(g['label'] for g in spec['by'])}) and pooled within each subgroup and "
                "window with the same model; differences between subgroups were tested with a "
                "mixed-effects meta-regression on subgroup indicators (an across-trial comparison).")

    def paragraphs(self, fit, spec):
        """Windows with a test of subgroup differences."""
        return [f"{t['window']}: subgroup difference QM = {t['QM']:.2f}, p = {t['QMp']:.3f} (k = {t['k']})."
                for t in fit["differences"] if t["status"] == "tested"]
