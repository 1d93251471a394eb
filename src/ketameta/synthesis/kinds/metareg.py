"""Meta-regression of effect sizes on one moderator across trial arms (mixed-effects, REML)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ...errors import ModelError
from ...outputs.labels import header
from ...outputs.tables import Table
from ...permutest import permutest
from ...predict import predict
from ...rma import rma
from ..pools import TEST_NAMES, common_notes, finish_model, model_label, num, pool, require_rows
from ..registry import register
from ..select import as_list
from .base import AnalysisKind
from .base import paths as _paths
from .pooled import AXIS, label_of

__all__ = ["Metareg"]


def moderator_from_rows(ev, es, excluded, spec, grades):
    """Pair each effect size with a moderator row (same comparison_id, other outcome)."""
    mod = spec["moderator"]
    name = mod["name"]
    eff = ev.effects
    forms = as_list(mod.get("form")) or ["events"]
    cand = eff[(eff["outcome"] == mod["from_outcome"]) & eff["form"].isin(forms)]
    values, ders, ids = [], [], []
    for _, row in es.iterrows():
        m = cand[(cand["comparison_id"] == row["comparison_id"]) & cand["grade"].isin(grades)]
        if m.empty or pd.isna(row["comparison_id"]):
            values.append(np.nan)
            ders.append(f"no {mod['from_outcome']} row with comparison_id "
                        f"{row['comparison_id']!r} (admitted grades)")
            ids.append(None)
            continue
        r = m.iloc[0]
        a1, n1, a2, n2 = (float(r.get(c, np.nan)) for c in ("ai", "n1i", "ci", "n2i"))
        if not all(map(math.isfinite, (a1, n1, a2, n2))):
            values.append(np.nan)
            ders.append(f"{r['effect_id']}: both arms' counts are needed for the difference")
            ids.append(r["effect_id"])
            continue
        v = 100 * (a1 / n1 - a2 / n2)
        values.append(v)
        ders.append(f"DERIVED {name} = 100 x ({a1:g}/{n1:g} - {a2:g}/{n2:g}) = {v:.4g} "
                    f"from {r['effect_id']} ({r['source']}, {r['locator']})")
        ids.append(r["effect_id"])
    es = es.assign(**{name: values, "moderator_derivation": ders, "moderator_effect_id": ids})
    missing = es[es[name].isna()]
    if len(missing):
        add = missing.assign(reason=["moderator missing: " + d for d in missing["moderator_derivation"]])
        excluded = pd.concat([excluded, add], ignore_index=True)
        es = es[es[name].notna()]
    used = set(i for i in ids if i)
    # moderator rows are used, not excluded: say so
    if not excluded.empty and "effect_id" in excluded:
        mask = excluded["effect_id"].isin(used)
        excluded.loc[mask, "reason"] = f"used as the moderator ({name}) of its contrast"
    return es, excluded



def _shared_controls(d):
    """Studies contributing more than one contrast (their arms share a control group)."""
    counts = d["study_id"].value_counts()
    return counts[counts > 1].index.tolist()


@register
class Metareg(AnalysisKind):
    """Mixed-effects meta-regression on one moderator (Raudenbush 2009), Knapp-Hartung test and a
    permutation p-value (Higgins & Thompson 2004); exploratory below ``exploratory_k`` studies.
    """

    type = "metareg"
    has_figure = True
    model_variants = True

    def digest_spec(self, spec):
        """The rows of the question (moderator rows of another outcome are in the same sheet)."""
        return spec

    def refine(self, ev, es, excluded, spec):
        """Attach the moderator (from a column or a paired row); one effect size per contrast."""
        grades = spec["grades"]
        mod = spec["moderator"]
        if mod.get("from_outcome"):
            es, excluded = moderator_from_rows(ev, es, excluded, spec, grades)
        else:
            col = mod.get("from_column", mod["name"])
            es = es.assign(**{mod["name"]: es["dose"] if col == "dose_mg_kg" else es[col]})
            es = es.assign(moderator_derivation=f"{mod['name']} from column {col}")
            miss = es[es[mod["name"]].isna()]
            if len(miss):
                excluded = pd.concat([excluded, miss.assign(
                    reason=f"moderator {mod['name']} not reported")], ignore_index=True)
                es = es[es[mod["name"]].notna()]
        if spec.get("one_per") == "comparison_id":
            es = es.sort_values(["comparison_id", "time_days"])
            dup = es[es.duplicated("comparison_id", keep="first")]
            if len(dup):
                excluded = pd.concat([excluded, dup.assign(
                    reason="later time point of a contrast already included (one per contrast)")],
                    ignore_index=True)
            es = es.drop_duplicates("comparison_id", keep="first")
        return es, excluded

    def fit(self, ev, es, spec):
        """Fit the meta-regression, its permutation test and the bubble-plot band."""
        require_rows(es)
        mod = spec["moderator"]["name"]
        d = es.dropna(subset=[mod])
        k = len(d)
        if k < 3:
            raise ModelError(
                f"meta-regression on {mod!r} needs at least 3 effect sizes with the moderator; "
                f"found {k} ({', '.join(d['study_id']) or 'none'})."
            )
        if d[mod].nunique() < 2:
            raise ModelError(f"moderator {mod!r} takes a single value ({d[mod].iloc[0]}) across "
                             f"the {k} effect sizes; its slope cannot be estimated.")
        X = pd.DataFrame({mod: d[mod].to_numpy(dtype=float)})
        res = rma(d["yi"].to_numpy(), d["vi"].to_numpy(), mods=X, method=spec["method"],
                  test=spec["test"], level=spec["level"], slab=d["study_id"].tolist())
        n_perm = int(spec.get("permutations", 1000))
        pt = permutest(res, iter=n_perm, seed=spec.get("seed")) if n_perm > 0 else None
        grid = np.linspace(float(d[mod].min()), float(d[mod].max()), 101)
        pr = predict(res, newmods=grid)
        intercept_only = pool(d, spec["measure"], spec["method"], spec["test"], spec["level"],
                              label="all effect sizes (no moderator)")
        n_clusters = d["study_id"].nunique()
        return finish_model({
            "k": int(k),
            "n_studies": int(n_clusters),
            "studies": sorted(d["study_id"].unique().tolist()),
            "moderator": mod,
            "moderator_label": spec["moderator"]["label"],
            "exploratory": bool(n_clusters < spec.get("exploratory_k", 10)),
            "model": model_label(spec["method"], spec["test"], k, p=2),
            "slope": float(res.beta[1]), "slope_se": float(res.se[1]),
            "slope_ci_lb": float(res.ci_lb[1]), "slope_ci_ub": float(res.ci_ub[1]),
            "slope_pval": float(res.pval[1]),
            "slope_pval_perm": float(pt.pval[1]) if pt is not None else None,
            "permutation": pt.to_dict() if pt is not None else None,
            "R2": res.R2, "tau2": res.tau2, "QE": res.QE, "QEp": res.QEp, "QM": res.QM,
            "QMp": res.QMp, "fit": res.to_dict(),
            "bubble": {"x": grid.tolist(), "pred": pr["pred"].tolist(),
                       "ci_lb": pr["ci_lb"].tolist(), "ci_ub": pr["ci_ub"].tolist(),
                       "pi_lb": pr["pi_lb"].tolist() if "pi_lb" in pr else None,
                       "pi_ub": pr["pi_ub"].tolist() if "pi_ub" in pr else None},
            "shared_controls": _shared_controls(d),
            "pooled_without_moderator": intercept_only,
        }, spec)

    def table(self, fit, es, excluded, spec, cit):
        """Per-contrast rows with the moderator, then the coefficients."""
        title = fit.get("title", spec["id"])
        aid = spec["id"]
        notes = common_notes(fit, spec)
        n_exc = len(excluded)
        mod = fit["moderator"]
        rows = []
        for _, r in es.iterrows():
            rows.append({"row": "study", "citation_key": r["citation_key"],
                         "contrast": r.get("comparison_id") or r.get("arm"),
                         "moderator": num(r.get(mod)), "estimate": r["yi"], "ci_lb": r["ci_lb"],
                         "ci_ub": r["ci_ub"], "pval": np.nan, "k": np.nan, "model": "",
                         "estimator": "", "test": ""})
        f = fit["fit"]
        for j, name in enumerate(f["coef_names"]):
            rows.append({"row": "coefficient", "citation_key": None,
                         "contrast": "intercept" if name == "intrcpt" else f"slope on {name}",
                         "moderator": np.nan, "estimate": f["beta"][j], "ci_lb": f["ci_lb"][j],
                         "ci_ub": f["ci_ub"][j], "pval": f["pval"][j], "k": fit["k"],
                         "model": fit["model"], "estimator": fit["method"], "test": fit["test"]})
        df = pd.DataFrame(rows)
        notes.insert(0, f"k = {fit['k']} effect sizes from {fit['n_studies']} studies; "
                        f"{fit['model']}" + ("; EXPLORATORY (fewer than "
                                             f"{spec.get('exploratory_k', 10)} studies)"
                                             if fit.get("exploratory") else "") + ".")
        notes.append(f"Moderator: {fit['moderator_label']}.")
        perm = fit.get("permutation") or {}
        notes.append(
            f"Slope {fit['slope']:.3f} [{fit['slope_ci_lb']:.3f}, {fit['slope_ci_ub']:.3f}], "
            f"p = {fit['slope_pval']:.3f}; permutation p = "
            + (f"{fit['slope_pval_perm']:.3f} ({'exact, ' if perm.get('exact') else ''}"
               f"{perm.get('iter')} permutations)" if fit.get('slope_pval_perm') is not None else "NA")
            + f"; R^2 = {fit['R2']:.1f}%; tau^2 = {fit['tau2']:.4g}; QE = {fit['QE']:.2f} "
              f"(p = {fit['QEp']:.3f})." if fit.get("R2") is not None else ".")
        if fit.get("shared_controls"):
            notes.append("Contrasts from " + ", ".join(fit["shared_controls"]) + " share a "
                         "control arm; they are treated as independent (exploratory).")
        if n_exc:
            notes.append(f"{n_exc} row(s) not used; reasons in {_paths(spec)['excluded']}.")
        return Table(df, title=title, notes=notes, label=f"tab:{aid}", citations=cit,
                     citekeys="citation_key",
                     columns=["Study", "contrast", "moderator", "Estimate", "pval", "k",
                              "estimator", "test"],
                     ci={"Estimate": ("estimate", "ci_lb", "ci_ub")},
                     rename={"contrast": "Contrast / coefficient", "moderator": header(mod),
                             "pval": "p", "Estimate": f"{fit['measure']} [95% CI]"},
                     formats={"moderator": 3, "estimate": 3, "pval": "p", "k": "int"})

    def figure(self, fit, es, spec, cit, rob=None, rob_palette="cochrane"):
        """Bubble plot: effect sizes against the moderator, sized by weight, with the fitted line."""
        from ...outputs import figures  # matplotlib only in the jobs that draw

        mod = fit["moderator"]
        w = 1.0 / (es["vi"] + fit["tau2"])
        b = fit["bubble"]
        return figures.bubble(
            es[mod].to_numpy(float), es["yi"].to_numpy(float), w.to_numpy(float),
            b["x"], b["pred"], b["ci_lb"], b["ci_ub"], b.get("pi_lb"), b.get("pi_ub"),
            labels=[label_of(cit, k) for k in es["citation_key"]],
            xlabel=fit["moderator_label"], ylabel=AXIS.get(fit.get("measure"), fit.get("measure")),
            width="double",
        )

    def methods(self, fit, spec):
        """Methods sentence."""
        test = TEST_NAMES.get(fit.get("test"), fit.get("test"))
        perm = fit.get("permutation") or {}
        return (f"Effect sizes ({fit.get('measure_label', fit.get('measure'))}) were regressed on "
                f"{fit['moderator_label'].lower()} in a mixed-effects meta-regression "
                f"({fit['method']} estimator of residual tau^2, {test}); the slope's p-value was "
                f"also obtained by a permutation test ({'exact' if perm.get('exact') else 'approximate'}, "
                f"{perm.get('iter')} permutations, seed {spec.get('seed')}). With fewer than "
                f"{spec.get('exploratory_k', 10)} studies the analysis is exploratory.")

    def paragraphs(self, fit, spec):
        """The slope with its permutation p, and the funnel-plot note."""
        return [f"Slope on {fit['moderator']}: {fit['slope']:.3f} [{fit['slope_ci_lb']:.3f}, "
                f"{fit['slope_ci_ub']:.3f}] (k = {fit['k']}; permutation p = "
                + (f"{fit['slope_pval_perm']:.3f}" if fit.get("slope_pval_perm") is not None
                   else "NA") + ")" + (", exploratory." if fit.get("exploratory") else "."),
                f"No funnel plot: k = {fit['k']} < 10 (Sterne et al. 2011)."]

    def values(self, aid, fit):
        """Slope, its CI and p-values, and k."""
        from ...outputs.values import macro_name

        vals = {}

        def put(name, value, fmt=2):
            vals[macro_name(name)] = (value, fmt)

        put(f"{aid}_slope", fit["slope"], 3)
        put(f"{aid}_slope_low", fit["slope_ci_lb"], 3)
        put(f"{aid}_slope_high", fit["slope_ci_ub"], 3)
        put(f"{aid}_slope_p", fit["slope_pval"], "p")
        if fit.get("slope_pval_perm") is not None:
            put(f"{aid}_slope_p_perm", fit["slope_pval_perm"], "p")
        put(f"{aid}_k", fit["k"], "int")
        return vals

    def headlines(self, fit):
        """The slope."""
        return [{"estimate_name": f"slope on {fit['moderator']}", "k": fit["k"],
                 "estimate": fit["slope"], "ci_lb": fit["slope_ci_lb"],
                 "ci_ub": fit["slope_ci_ub"], "pval": fit["slope_pval"],
                 "scale": f"{fit.get('measure')} per unit", "status": "pooled"}]

    def sensitivity_spec(self, spec):
        """Slopes and CIs only in the sensitivity table (the permutation p is in the main fit)."""
        return spec.replace(permutations=0)

    def findings(self, fit, spec):
        """The slope on the moderator."""
        from ..text import fmt, fmt_ci

        return [{"text": f"meta-regression slope on {fit['moderator']}: "
                         f"{fmt_ci(fit['slope'], fit['slope_ci_lb'], fit['slope_ci_ub'], 3)} "
                         f"(k = {fit['k']}, permutation p = {fmt(fit.get('slope_pval_perm'), 3)}"
                         f"{', exploratory' if fit.get('exploratory') else ''})",
                 "estimate": fit["slope"], "ci_lb": fit["slope_ci_lb"], "ci_ub": fit["slope_ci_ub"],
                 "k": fit["k"], "studies": [], "tally": True}]
