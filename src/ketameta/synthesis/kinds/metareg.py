"""Meta-regression of effect sizes on one moderator across trial arms (mixed-effects, REML)."""

from __future__ import annotations

import math
import warnings

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
        add = missing.assign(reason=["moderator missing: " + d for d in missing["moderator_derivation"]],
                             filter="moderator")
        excluded = pd.concat([excluded, add], ignore_index=True)
        es = es[es[name].notna()]
    used = set(i for i in ids if i)
    # moderator rows are used, not excluded: say so
    if not excluded.empty and "effect_id" in excluded:
        mask = excluded["effect_id"].isin(used)
        excluded.loc[mask, "reason"] = f"used as the moderator ({name}) of its contrast"
        excluded.loc[mask, "filter"] = "moderator"
    return es, excluded



#: What an across-trial regression on arm-level dissociation can and cannot show.
ECOLOGICAL_NOTE = (
    "Ecological (between-trial) association: each point is a trial contrast, so the slope compares "
    "trials whose arms dissociated more with trials whose arms dissociated less; it mixes dose, "
    "drug, route and expectancy with dissociation and cannot show that the patients who dissociate "
    "more improve more (aggregation bias; Riley et al. 2008, Fisher et al. 2017). The "
    "within-trial associations answer that question."
)


def _design(ev, d, mod, covariates):
    """The moderator and the covariates (study-sheet columns or ``dose``) that vary; the rest
    are dropped with the reason (a constant covariate has no coefficient).
    """
    X = pd.DataFrame({mod: d[mod].to_numpy(dtype=float)})
    dropped = []
    for c in covariates:
        if c in ("dose", "dose_mg_kg"):
            vals = pd.to_numeric(d["dose"], errors="coerce").to_numpy()
        elif ev is not None and c in ev.studies.columns:
            vals = ev.studies[c].reindex(d["study_id"]).to_numpy()
        else:
            raise ModelError(f"covariate {c!r} is neither dose nor a study-sheet column")
        v = pd.Series(vals)
        if v.isna().any():
            dropped.append(f"{c} (not reported for {int(v.isna().sum())} of {len(v)} effect sizes)")
            continue
        if v.nunique() < 2:
            dropped.append(f"{c} (a single value, {v.iloc[0]}, across the effect sizes)")
            continue
        X[c] = v.to_numpy() if v.dtype.kind in "fi" else v.astype(str).to_numpy()
    return X, dropped


def _at_means(res, mod, grid):
    """Rows of the fitted design (without intercept) along the moderator, the other columns at
    their means (dummies at their shares): the bubble line averaged over the covariates.
    """
    names = [n for n in res.coef_names if n != "intrcpt"]
    cols = [i for i, n in enumerate(res.coef_names) if n != "intrcpt"]
    means = np.asarray(res.X)[:, cols].mean(axis=0)
    out = np.tile(means, (len(grid), 1))
    out[:, names.index(mod)] = grid
    return out if out.shape[1] > 1 else grid


def _record(d, spec, res, inf, dropped, shared, prediction_interval):
    """What both meta-regression models report: k, studies, the moderator's slope from the
    inference object ``inf`` (the model itself, or its cluster-robust version), heterogeneity
    from the model ``res``, the bubble-plot band and the pool without the moderator.
    """
    mod = spec["moderator"]["name"]
    j = res.coef_names.index(mod)
    n_clusters = int(d["study_id"].nunique())
    grid = np.linspace(float(d[mod].min()), float(d[mod].max()), 101)
    pr = predict(inf, newmods=_at_means(res, mod, grid))
    pi = prediction_interval and "pi_lb" in pr
    return {
        "k": int(len(d)), "n_studies": n_clusters,
        "studies": sorted(d["study_id"].unique().tolist()),
        "moderator": mod, "moderator_label": spec["moderator"]["label"],
        "covariates": [c for c in res.coef_names if c not in ("intrcpt", mod)],
        "covariates_dropped": dropped,
        "exploratory": bool(n_clusters < spec.get("exploratory_k", 10)),
        "slope": float(inf.beta[j]), "slope_se": float(inf.se[j]),
        "slope_ci_lb": float(inf.ci_lb[j]), "slope_ci_ub": float(inf.ci_ub[j]),
        "slope_pval": float(inf.pval[j]),
        "QE": res.QE, "QEp": res.QEp, "fit": res.to_dict(),
        "bubble": {"x": grid.tolist(), "pred": pr["pred"].tolist(),
                   "ci_lb": pr["ci_lb"].tolist(), "ci_ub": pr["ci_ub"].tolist(),
                   "pi_lb": pr["pi_lb"].tolist() if pi else None,
                   "pi_ub": pr["pi_ub"].tolist() if pi else None},
        "shared_controls": shared,
        "pooled_without_moderator": pool(d, spec["measure"], spec["method"], spec["test"],
                                         spec["level"], label="all effect sizes (no moderator)"),
    }


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
    split_shared_controls = True
    #: covariates can come from the study sheet (route, drug)
    needs_evidence = True

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
                    reason=f"moderator {mod['name']} not reported", filter="moderator")], ignore_index=True)
                es = es[es[mod["name"]].notna()]
        if spec.get("one_per") == "comparison_id":
            es = es.sort_values(["comparison_id", "time_days"])
            dup = es[es.duplicated("comparison_id", keep="first")]
            if len(dup):
                excluded = pd.concat([excluded, dup.assign(
                    reason="later time point of a contrast already included (one per contrast)",
                    filter="one_per")],
                    ignore_index=True)
            es = es.drop_duplicates("comparison_id", keep="first")
        return es, excluded

    def fit(self, ev, es, spec):
        """Fit the meta-regression, its permutation test and the bubble-plot band."""
        require_rows(es)
        mod = spec["moderator"]["name"]
        lab = spec["moderator"].get("label", mod).lower()
        d = es.dropna(subset=[mod])
        k = len(d)
        if k < 3:
            raise ModelError(
                f"the meta-regression on {lab} needs at least 3 effect sizes with the moderator; "
                f"found {k} ({', '.join(d['study_id']) or 'none'})."
            )
        if d[mod].nunique() < 2:
            raise ModelError(f"the moderator ({lab}) takes a single value ({d[mod].iloc[0]}) across "
                             f"the {k} effect sizes; its slope cannot be estimated.")
        X, dropped = _design(ev, d, mod, spec.get("covariates") or [])
        n_coef = 1 + sum(1 if X[c].dtype.kind in "fi" else X[c].nunique() - 1 for c in X.columns)
        if k <= n_coef:
            raise ModelError(f"the meta-regression on {lab} with covariates {', '.join(X.columns[1:])} needs "
                             f"more effect sizes than its {n_coef} coefficients; found k = {k}.")
        shared = _shared_controls(d)
        if spec.get("multilevel") and shared:
            return self._fit_multilevel(d, X, dropped, shared, spec)
        res = rma(d["yi"].to_numpy(), d["vi"].to_numpy(), mods=X, method=spec["method"],
                  test=spec["test"], level=spec["level"], slab=d["study_id"].tolist())
        j = res.coef_names.index(mod)
        n_perm = int(spec.get("permutations", 1000))
        pt = permutest(res, iter=n_perm, seed=spec.get("seed")) if n_perm > 0 else None
        return finish_model({
            **_record(d, spec, res, res, dropped, shared, prediction_interval=True),
            "model": model_label(spec["method"], spec["test"], k, p=res.p),
            "slope_pval_perm": float(pt.pval[j]) if pt is not None else None,
            "permutation": pt.to_dict() if pt is not None else None,
            "R2": res.R2, "tau2": res.tau2, "QM": res.QM, "QMp": res.QMp,
        }, spec)

    def _fit_multilevel(self, d, X, dropped, shared, spec):
        """Contrasts nested in trials: a three-level model (``rma_mv``, ~ 1 | trial/contrast) with
        cluster-robust CR2 inference (Pustejovsky & Tipton 2018) when there are enough trials.

        Permutation tests are not defined for this model; the slope's interval is CR2's
        (Satterthwaite df) with at least ``min_clusters_cr2`` trials, else model-based (t, k - p df).
        """
        from ...rma_mv import rma_mv
        from ...robust import robust

        cluster = pd.Series(d["study_id"].to_numpy(), name="trial")
        test = "t" if spec["test"] in ("knha", "adhoc", "t") else "z"
        res = rma_mv(d["yi"].to_numpy(), d["vi"].to_numpy(), cluster=cluster, mods=X,
                     method="REML" if spec["method"] not in ("ML",) else "ML", test=test,
                     level=spec["level"])
        n_clusters = int(d["study_id"].nunique())
        min_cl = int(spec.get("min_clusters_cr2", 4))
        inf, how = res, f"model-based ({'t' if test == 't' else 'z'}; fewer than {min_cl} trials for CR2)"
        cautions = []
        if n_clusters >= min_cl:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                inf = robust(res, cluster=d["study_id"].to_numpy(), adjust="CR2")
            cautions = [str(w.message) for w in caught]
            how = "cluster-robust CR2 with Satterthwaite df (clubSandwich)"
        return finish_model({
            **_record(d, spec, res, inf, dropped, shared, prediction_interval=False),
            "model": f"three-level model (contrasts in trials), REML; {how}",
            "multilevel": True, "inference": how, "cautions": cautions,
            "slope_pval_perm": None, "permutation": None,
            "R2": None, "tau2": float(np.sum(res.sigma2)), "sigma2": [float(x) for x in res.sigma2],
            "QM": inf.QM, "QMp": inf.QMp,
            "coefficients": {"coef_names": list(inf.coef_names), "beta": [float(x) for x in inf.beta],
                             "ci_lb": [float(x) for x in inf.ci_lb],
                             "ci_ub": [float(x) for x in inf.ci_ub],
                             "pval": [float(x) for x in inf.pval]},
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
        f = fit.get("coefficients") or fit["fit"]
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
        slope = (f"Slope {fit['slope']:.3f} [{fit['slope_ci_lb']:.3f}, {fit['slope_ci_ub']:.3f}], "
                 f"p = {fit['slope_pval']:.3f}")
        if fit.get("slope_pval_perm") is not None:
            slope += (f"; permutation p = {fit['slope_pval_perm']:.3f} "
                      f"({'exact, ' if perm.get('exact') else ''}{perm.get('iter')} permutations)")
        if fit.get("R2") is not None:
            slope += (f"; R^2 = {fit['R2']:.1f}%; tau^2 = {fit['tau2']:.4g}; QE = {fit['QE']:.2f} "
                      f"(p = {fit['QEp']:.3f})")
        elif fit.get("sigma2"):
            slope += (f"; variance between trials {fit['sigma2'][0]:.4g}, between contrasts within "
                      f"trials {fit['sigma2'][1]:.4g}; inference: {fit.get('inference')}")
        notes.append(slope + ".")
        if fit.get("covariates"):
            notes.append("Adjusted for " + ", ".join(fit["covariates"]) + " (the slope is the "
                         "moderator's coefficient with the covariates held fixed).")
        for c in fit.get("cautions") or []:
            notes.append(f"Caution: {c}")
        if fit.get("covariates_dropped"):
            notes.append("Covariates not in the model: " + "; ".join(fit["covariates_dropped"]) + ".")
        if fit.get("shared_controls") and fit.get("multilevel"):
            notes.append("Contrasts from " + ", ".join(fit["shared_controls"]) + " share a trial "
                         "(and a control arm): they are modelled as nested in their trial.")
        elif fit.get("shared_controls"):
            notes.append("Contrasts from " + ", ".join(fit["shared_controls"]) + " share a "
                         "control arm: where arm counts are reported its n and events are divided "
                         "among the contrasts (Cochrane Handbook v6.4, 23.3.4; see the derivation "
                         "column); contrasts reported only as a difference are treated as "
                         "independent (exploratory).")
        if spec.get("ecological"):
            notes.insert(0, ECOLOGICAL_NOTE)
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

    def figure(self, fit, es, spec, cit, rob=None, rob_palette="cochrane", opts=None):
        """Bubble plot: effect sizes against the moderator, sized by weight, with the fitted line."""
        from ...outputs import figures  # matplotlib only in the jobs that draw
        from ..figopts import figure_kwargs

        mod = fit["moderator"]
        w = 1.0 / (es["vi"] + fit["tau2"])
        b = fit["bubble"]
        ratio = fit.get("measure") == "OR"  # log odds ratios: drawn as odds ratios, log axis

        def tr(v):
            if v is None:
                return None
            v = np.asarray(v, dtype=float)
            return np.exp(v) if ratio else v

        return figures.bubble(
            es[mod].to_numpy(float), tr(es["yi"].to_numpy(float)), w.to_numpy(float),
            b["x"], tr(b["pred"]), tr(b["ci_lb"]), tr(b["ci_ub"]), tr(b.get("pi_lb")), tr(b.get("pi_ub")),
            labels=[label_of(cit, k) for k in es["citation_key"]],
            study_ids=es["study_id"].astype(str).tolist(), ratio=ratio,
            xlabel=fit["moderator_label"], ylabel=AXIS.get(fit.get("measure"), fit.get("measure")),
            **figure_kwargs(opts),
        )

    def lead(self, spec):
        """An ecological analysis says so first."""
        return ECOLOGICAL_NOTE if spec.get("ecological") else None

    def methods(self, fit, spec):
        """Methods sentence (an ecological analysis says so first)."""
        test = TEST_NAMES.get(fit.get("test"), fit.get("test"))
        perm = fit.get("permutation") or {}
        return ((ECOLOGICAL_NOTE + " " if spec.get("ecological") else "") + f"Effect sizes ({fit.get('measure_label', fit.get('measure'))}) were regressed on "
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

        eco = bool(spec.get("ecological"))
        return [{"text": ("ecological (between-trial) " if eco else "")
                         + f"meta-regression slope on {fit['moderator']}: "
                         f"{fmt_ci(fit['slope'], fit['slope_ci_lb'], fit['slope_ci_ub'], 3)} "
                         f"(k = {fit['k']}, permutation p = {fmt(fit.get('slope_pval_perm'), 3)}"
                         f"{', exploratory' if fit.get('exploratory') else ''})",
                 "estimate": fit["slope"], "ci_lb": fit["slope_ci_lb"], "ci_ub": fit["slope_ci_ub"],
                 "k": fit["k"], "studies": fit.get("studies", []), "tally": True,
                 "level": "between-trial" if eco else "within-trial"}]
