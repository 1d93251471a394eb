"""Tables, methods sentences and in-text values built from fitted analyses.

Every results table states k, the model, the tau^2 estimator and the test, both in its notes
and (for pooled rows) in the CSV columns ``k``, ``model``, ``estimator``, ``test``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..tables import Table
from ..values import macro_name
from .effects import SIGN_CONVENTION

__all__ = ["analysis_table", "claims_table", "sensitivity_table", "studies_table",
           "gaps_table", "methods_sentence", "headline_values"]

TEST_NAMES = {"z": "Wald z", "t": "t (k - p df)", "knha": "Knapp-Hartung (t, k - p df)",
              "adhoc": "Knapp-Hartung, factor >= 1 (t, k - p df)"}


def _f(x):
    if x is None:
        return np.nan
    try:
        x = float(x)
    except (TypeError, ValueError):
        return np.nan
    return x


def _time_label(days, text=None):
    if isinstance(text, str) and text:
        return text
    if days is None or (isinstance(days, float) and math.isnan(days)):
        return ""
    mins = days * 1440
    if mins < 60 * 23:
        return f"{mins:.0f} min" if mins < 120 else f"{mins / 60:.0f} h"
    return f"day {days:g}"


def _common_notes(fit, spec):
    notes = []
    if fit.get("method"):
        notes.append(f"Estimator: {fit['method']} (tau^2); test: "
                     f"{TEST_NAMES.get(fit.get('test'), fit.get('test'))}; "
                     f"{fit.get('level', 95):g}% confidence intervals.")
    notes.append(f"Sign: {SIGN_CONVENTION}.")
    if fit.get("measure_label"):
        notes.append(f"Effect measure: {fit['measure_label']}.")
    return notes


def _pools_table(fit, es, spec, cit, kind):
    """Per-study rows under each window, followed by the window's pooled row."""
    zcor = fit.get("measure") == "ZCOR"
    orr = fit.get("measure") == "OR"
    tr = np.tanh if zcor else (np.exp if orr else (lambda x: x))
    rows = []
    for p in fit["pools"]:
        sub = es[es["effect_id"].isin(p.get("effect_ids", []))]
        for _, r in sub.iterrows():
            rows.append({
                "section": p["label"], "row": "study", "citation_key": r["citation_key"],
                "effect_id": r["effect_id"], "time": _time_label(r["time_days"], r.get("time_text")),
                "n": _f(r.get("n_total")),
                "estimate": float(tr(r["yi"])), "ci_lb": float(tr(r["ci_lb"])),
                "ci_ub": float(tr(r["ci_ub"])),
                "weight": _f((p.get("weights") or {}).get(r["effect_id"])),
                "pval": np.nan, "grade": r.get("grade"),
                "derived": "yes" if "DERIVED" in str(r.get("derivation")) or
                                    "ASSUMED" in str(r.get("derivation")) else "",
                "k": np.nan, "model": "", "estimator": "", "test": "",
            })
        est_key = "_bt" if (zcor or orr) and p.get("estimate_bt") is not None else ""
        rows.append({
            "section": p["label"], "row": "pooled", "citation_key": None, "effect_id": "",
            "time": "", "n": _f(sum(_f(x) for x in sub["n_total"]) if len(sub) else np.nan),
            "estimate": _f(p.get("estimate" + est_key)), "ci_lb": _f(p.get("ci_lb" + est_key)),
            "ci_ub": _f(p.get("ci_ub" + est_key)), "weight": 100.0 if p["k"] > 1 else np.nan,
            "pval": _f(p.get("pval")), "grade": "", "derived": "",
            "k": p["k"], "model": p.get("model", ""), "estimator": fit.get("method") if p["k"] > 1 else "",
            "test": fit.get("test") if p["k"] > 1 else "",
        })
    df = pd.DataFrame(rows)
    df["label"] = np.where(df["row"] == "pooled",
                           [f"Pooled ({s}; k = {k:.0f})" if k == k else "" for s, k in
                            zip(df["section"], df["k"])], "")
    scale = "r" if zcor else ("OR" if orr else fit.get("measure", "estimate"))
    return df, scale


def analysis_table(fit: dict, es: pd.DataFrame, excluded: pd.DataFrame, spec: dict, cit) -> Table:
    """The results table of one analysis."""
    title = fit.get("title", spec.get("id"))
    aid = spec["id"]
    if fit.get("status") != "ok":
        df = pd.DataFrame({"status": ["failed"], "reason": [fit.get("reason", "")]})
        return Table(df, title=title, notes=[f"The analysis could not be fitted: "
                                              f"{fit.get('reason', '')}"], label=f"tab:{aid}")
    kind = fit["type"]
    notes = _common_notes(fit, spec)
    n_exc = len(excluded)
    if kind in ("correlation", "slopes", "durability"):
        df, scale = _pools_table(fit, es, spec, cit, kind)
        ks = "; ".join(f"{p['label']}: k = {p['k']} ({p.get('model', '')})" for p in fit["pools"])
        notes.insert(0, f"k per pool -- {ks}.")
        if (df["derived"] == "yes").any():
            notes.append("derived = a number derived by the pipeline (the derivation is in "
                         "results/effect_sizes/" + aid + ".csv).")
        if kind == "durability":
            tc = fit.get("time_course") or {}
            if tc.get("status") == "failed":
                notes.append(f"Time-course model not fitted: {tc['reason']}")
            elif tc:
                tz = tc.get("t_zero")
                notes.append(
                    f"Time course ({tc['model']}; k = {tc['k']} effect sizes in "
                    f"{tc['n_studies']} studies): slope per log(day) "
                    f"{tc['slope_log_days']:.3f} [{tc['slope_ci'][0]:.3f}, {tc['slope_ci'][1]:.3f}]"
                    f" (t, {tc['df_used']:.1f} df); benefit distinguishable from zero until day "
                    f"{tc['t_cross']:.1f} ({tc['t_cross_status']})" if tc.get("t_cross") is not None
                    else f"Time course: {tc.get('t_cross_status')}")
                if tz:
                    notes.append(f"Fitted benefit reaches zero at day {tz['estimate']:.1f} "
                                 f"[{tz['ci_lb']:.1f}, {tz['ci_ub']:.1f}] ({tz['method']}).")
                if tc.get("small_df_warning"):
                    notes.append("Satterthwaite df < 4: cluster-robust p-values and intervals "
                                 "are unreliable with this few studies (exploratory).")
        if n_exc:
            notes.append(f"{n_exc} row(s) of this question were not used; reasons in "
                         f"results/effect_sizes/{aid}.excluded.csv.")
        for p in fit["pools"]:
            if p.get("note"):
                notes.append(f"{p['label']}: {p['note']}.")
        return Table(
            df, title=title, notes=notes, label=f"tab:{aid}", citations=cit,
            citekeys="citation_key", study_column="Study",
            columns=["section", "Study", "label", "time", "n", "Estimate", "weight", "pval",
                     "grade", "derived", "k", "estimator", "test"],
            ci={"Estimate": ("estimate", "ci_lb", "ci_ub")},
            rename={"section": "Window" if kind != "slopes" else "Scale", "label": "Pooled",
                    "time": "Time", "weight": "Weight (%)", "pval": "p", "grade": "Grade",
                    "derived": "Derived", "Estimate": f"{scale} [{fit.get('level', 95):g}% CI]"},
            formats={"estimate": 2 if scale != "GEN" else 3, "weight": 1, "pval": "p",
                     "n": "int", "k": "int"},
        )
    if kind == "metareg":
        mod = fit["moderator"]
        rows = []
        for _, r in es.iterrows():
            rows.append({"row": "study", "citation_key": r["citation_key"],
                         "contrast": r.get("comparison_id") or r.get("arm"),
                         "moderator": _f(r.get(mod)), "estimate": r["yi"], "ci_lb": r["ci_lb"],
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
            notes.append(f"{n_exc} row(s) not used; reasons in results/effect_sizes/{aid}"
                         ".excluded.csv.")
        return Table(df, title=title, notes=notes, label=f"tab:{aid}", citations=cit,
                     citekeys="citation_key",
                     columns=["Study", "contrast", "moderator", "Estimate", "pval", "k",
                              "estimator", "test"],
                     ci={"Estimate": ("estimate", "ci_lb", "ci_ub")},
                     rename={"contrast": "Contrast / coefficient", "moderator": mod,
                             "pval": "p", "Estimate": f"{fit['measure']} [95% CI]"},
                     formats={"moderator": 3, "estimate": 3, "pval": "p", "k": "int"})
    if kind == "direction":
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
    if kind == "approaches":
        g = fit["groups"]
        feats = [
            ("Sources (k)", lambda x: str(x["k_studies"])),
            ("Designs", lambda x: ", ".join(x["designs"]) or "not reported"),
            ("Routes", lambda x: ", ".join(x["routes"]) or "not reported"),
            ("Dose (mg/kg)", lambda x: (
                (x['dose_mg_kg']['min'] if x['dose_mg_kg']['min'] == x['dose_mg_kg']['max']
                 else f"{x['dose_mg_kg']['min']}-{x['dose_mg_kg']['max']}")
                + f" ({x['dose_mg_kg']['n_reported']} of {x['k_studies']} sources report it)")
             if x["dose_mg_kg"]["n_reported"] else "not reported in mg/kg"),
            ("Dose as reported", lambda x: "; ".join(x["dose_text"][:6]) or "not reported"),
            ("Infusion length (min)", lambda x: ", ".join(f"{m:g}" for m in x["infusion_min"])
             or "not reported"),
            ("Schedule", lambda x: ", ".join(x["schedules"]) or "not reported"),
            ("Setting", lambda x: ", ".join(x["settings"]) or "not reported"),
            ("Control", lambda x: ", ".join(x["controls"]) or "not reported"),
            ("Monitoring", lambda x: "; ".join(x["monitoring"]) or "not reported"),
            ("Psychotherapy", lambda x: ", ".join(x["psychotherapy"]) or "not reported"),
            ("Outcomes reported", lambda x: "; ".join(x["outcomes"]) or "not reported"),
        ]
        df = pd.DataFrame({"characteristic": [f for f, _ in feats],
                           "iv": [fn(g["iv"]) for _, fn in feats],
                           "kap": [fn(g["kap"]) for _, fn in feats]})
        keys = sorted(set(g["iv"]["citation_keys"]) | set(g["kap"]["citation_keys"]))
        return Table(df, title=title, notes=[fit["note"]], label=f"tab:{aid}", citations=cit,
                     references=keys,
                     rename={"characteristic": "Characteristic", "iv": g["iv"]["label"],
                             "kap": g["kap"]["label"]})
    if kind == "relapse":
        df = es.copy()
        cols = [c for c in ["citation_key", "arm", "dose", "outcome", "time_text", "estimate",
                            "pct1", "n1i", "grade", "locator"] if c in df.columns]
        df = df[cols]
        return Table(df, title=title, notes=[fit["note"], f"Sign: as reported (percent of "
                                                          "responders/remitters who relapsed)."],
                     label=f"tab:{aid}", citations=cit, citekeys="citation_key",
                     columns=["Study"] + [c for c in cols if c != "citation_key"],
                     rename={"dose": "Dose (mg/kg)", "time_text": "Time", "pct1": "%",
                             "n1i": "n", "grade": "Grade", "locator": "Locator"})
    raise ValueError(f"no table for analysis type {kind}")


def methods_sentence(fit: dict, spec: dict) -> str:
    """A methods sentence generated from the model settings."""
    if fit.get("status") != "ok":
        return f"This analysis could not be fitted: {fit.get('reason', '')}"
    kind = fit["type"]
    test = TEST_NAMES.get(fit.get("test"), fit.get("test"))
    lvl = f"{fit.get('level', 95):g}%"
    if kind == "correlation":
        return ("Within-study correlations between acute dissociation and improvement were "
                "harmonised so that positive values mean more dissociation with more improvement, "
                "transformed to Fisher's z (variance 1/(n - 3)) and pooled per time window with a "
                f"random-effects model ({fit['method']} estimator of tau^2, {test}); pooled values "
                f"were back-transformed to r with {lvl} confidence intervals. Correlations without a "
                "reported n used the n implied by r and its p-value (a flagged derivation; bounds "
                "in the sensitivity analysis). A window with a single study reports that study.")
    if kind == "slopes":
        return (f"Regression slopes reported on a shared scale ({spec.get('unit', '')}) were "
                f"pooled with a random-effects model ({fit['method']}, {test}).")
    if kind == "metareg":
        perm = fit.get("permutation") or {}
        return (f"Effect sizes ({fit.get('measure_label', fit.get('measure'))}) were regressed on "
                f"{fit['moderator_label'].lower()} in a mixed-effects meta-regression "
                f"({fit['method']} estimator of residual tau^2, {test}); the slope's p-value was "
                f"also obtained by a permutation test ({'exact' if perm.get('exact') else 'approximate'}, "
                f"{perm.get('iter')} permutations, seed {spec.get('seed')}). With fewer than "
                f"{spec.get('exploratory_k', 10)} studies the analysis is exploratory.")
    if kind == "durability":
        return ("The effect of one infusion versus control was computed at every reported time "
                f"point ({fit.get('measure_label', fit.get('measure'))}, positive = benefit) and "
                f"pooled per time point ({fit['method']}, {test}). A time-course model regressed "
                "the effect on log(days) with time points nested in studies (three-level model, "
                "REML) and cluster-robust CR2 standard errors with Satterthwaite degrees of "
                "freedom; the latest time at which the lower confidence bound of the fitted "
                "benefit stays above zero, and the day at which the fitted benefit reaches zero "
                "(delta-method interval), were set against the claimed 3-7 days.")
    if kind == "direction":
        return ("Findings reported only as a direction or as (non-)significance were summarised "
                "by effect direction per study (SWiM; Campbell et al. 2020) and tested with a "
                "two-sided sign test, beside and never merged into the pooled estimates.")
    if kind == "approaches":
        return ("Characteristics of medicalised IV infusion and ketamine-assisted psychotherapy "
                "were tabulated from the study sheet; 'not reported' marks what no source gives.")
    if kind == "relapse":
        return "Relapse after response to a single infusion is reported as published (not pooled)."
    return ""


def claims_table(claims: list[dict], cit) -> Table:
    df = pd.DataFrame(claims)
    return Table(df, title="Claims of the source article set against the synthesized data",
                 notes=["Verdicts follow fixed rules (see ketameta.synthesis.claims): supported / "
                        "mixed / not supported / insufficient data.",
                        "k = number of studies (or time points for durability) behind the "
                        "quantitative evidence."],
                 label="tab:claims", citations=cit, citekeys="source", study_column="Source",
                 columns=["claim", "Source", "evidence", "k", "verdict", "analyses"],
                 rename={"claim": "Claim", "evidence": "What the synthesized data say",
                         "verdict": "Verdict", "analyses": "Analyses"},
                 formats={"k": "int"})


def sensitivity_table(df: pd.DataFrame) -> Table:
    df = df.copy()
    for c in ("estimate", "ci_lb", "ci_ub", "pval", "k"):
        if c not in df:
            df[c] = np.nan
    return Table(df, title="Sensitivity of the headline estimates",
                 notes=["Each row refits one headline estimate under one change: tau^2 "
                        "estimator (REML/DL/PM), test (z vs Knapp-Hartung), adding C-grade "
                        "sources, handling of unknown n, or leaving one study out.",
                        f"Sign: {SIGN_CONVENTION}."],
                 label="tab:sensitivity",
                 columns=["analysis", "estimate_name", "variant", "detail", "k", "Estimate",
                          "pval", "scale", "status"],
                 ci={"Estimate": ("estimate", "ci_lb", "ci_ub")},
                 rename={"analysis": "Analysis", "estimate_name": "Estimate of",
                         "variant": "Variant", "detail": "Detail", "pval": "p",
                         "scale": "Scale", "status": "Status", "Estimate": "Estimate [95% CI]"},
                 formats={"estimate": 3, "pval": "p", "k": "int"})


def studies_table(ev, cit) -> Table:
    st = ev.studies.reset_index()
    cols = ["study_id", "citation_key", "role", "design", "population", "drug", "route",
            "dose_mg_kg", "infusion_min", "schedule", "setting", "control", "psychotherapy", "n"]
    cols = [c for c in cols if c in st.columns]
    df = st[cols].sort_values(["role", "study_id"])
    return Table(df, title="Characteristics of the studies and sources", label="tab:studies",
                 notes=["From data/studies.csv; every number has its source, grade, locator and "
                        "verbatim passage there. Empty = not reported in the sources examined."],
                 citations=cit, citekeys="citation_key",
                 columns=["Study"] + [c for c in cols if c not in ("study_id", "citation_key")],
                 formats={"n": "int", "dose_mg_kg": "{:g}", "infusion_min": "{:g}"})


def gaps_table(gaps: pd.DataFrame, cit) -> Table:
    df = gaps.copy()
    key = "citation_key" if "citation_key" in df.columns else None
    return Table(df, title="Data gaps: numbers an analysis needs that the sources do not give",
                 notes=["A reader with full-text access can fill these in data/effects.csv "
                        "(see data/README.md, 'Add a new trial')."],
                 label="tab:gaps", citations=cit if key else None, citekeys=key)


def headline_values(fits: dict, claims: list[dict] | None = None) -> dict:
    """In-text values: macro name -> (value, format)."""
    vals = {}

    def put(name, value, fmt=2):
        vals[macro_name(name)] = (value, fmt)

    for aid, f in fits.items():
        if f.get("status") != "ok":
            vals[macro_name(f"{aid}_status")] = "failed"
            continue
        if f["type"] in ("correlation", "slopes", "durability"):
            for p in f["pools"]:
                nm = p.get("window", {}).get("name") or p["label"]
                nm = "".join(ch if ch.isalnum() else "_" for ch in str(nm))
                bt = "_bt" if p.get("estimate_bt") is not None else ""
                base = f"{aid}_{nm}"
                put(f"{base}_k", p["k"], "int")
                if p["k"] > 0:
                    d = 3 if f["type"] == "slopes" else 2
                    put(f"{base}_est", p.get("estimate" + bt), d)
                    put(f"{base}_low", p.get("ci_lb" + bt), d)
                    put(f"{base}_high", p.get("ci_ub" + bt), d)
            tc = f.get("time_course") or {}
            if tc.get("t_cross") is not None:
                put(f"{aid}_t_cross_days", tc["t_cross"], 1)
            if tc.get("t_zero"):
                put(f"{aid}_t_zero_days", tc["t_zero"]["estimate"], 1)
                put(f"{aid}_t_zero_low", tc["t_zero"]["ci_lb"], 1)
                put(f"{aid}_t_zero_high", tc["t_zero"]["ci_ub"], 1)
            if "slope_log_days" in tc:
                put(f"{aid}_slope_log_days", tc["slope_log_days"], 3)
                put(f"{aid}_time_course_k", tc["k"], "int")
        elif f["type"] == "metareg":
            put(f"{aid}_slope", f["slope"], 3)
            put(f"{aid}_slope_low", f["slope_ci_lb"], 3)
            put(f"{aid}_slope_high", f["slope_ci_ub"], 3)
            put(f"{aid}_slope_p", f["slope_pval"], "p")
            if f.get("slope_pval_perm") is not None:
                put(f"{aid}_slope_p_perm", f["slope_pval_perm"], "p")
            put(f"{aid}_k", f["k"], "int")
        elif f["type"] == "direction":
            for d in f["domains"]:
                put(f"{aid}_{d['name']}_plus", d["n_plus"], "int")
                put(f"{aid}_{d['name']}_minus", d["n_minus"], "int")
                put(f"{aid}_{d['name']}_zero", d["n_zero"], "int")
                if d["sign_test_p"] is not None:
                    put(f"{aid}_{d['name']}_sign_p", d["sign_test_p"], "p")
    for c in claims or []:
        vals[macro_name(f"claim_{c['id']}_verdict")] = c["verdict"]
    return vals


def report_paragraphs(fit: dict, spec: dict) -> list[str]:
    """Plain-language result sentences for the report (numbers from the fit)."""
    if fit.get("status") != "ok":
        return []
    kind = fit["type"]
    out = []
    if kind in ("correlation", "slopes", "durability"):
        bt = fit.get("measure") in ("ZCOR", "OR")
        what = {"ZCOR": "r", "OR": "OR", "SMD": "SMD", "GEN": "slope"}.get(fit.get("measure"), "")
        for p in fit["pools"]:
            if p["k"] == 0:
                continue
            s = "_bt" if bt else ""
            est, lo, hi = p.get("estimate" + s), p.get("ci_lb" + s), p.get("ci_ub" + s)
            out.append(f"{p['label']}: {what} = {est:.2f} [{lo:.2f}, {hi:.2f}], k = {p['k']} "
                       f"({p['model']}).")
        tc = fit.get("time_course") or {}
        if tc.get("status") == "failed":
            out.append(f"Time-course model not fitted: {tc['reason']}")
        elif tc:
            out.append(f"Time course: {tc['t_cross_status']}"
                       + (f" at day {tc['t_cross']:.1f}" if tc.get("t_cross") else "") + ".")
        kmax = max((p["k"] for p in fit["pools"]), default=0)
        if kmax < 10:
            out.append(f"No funnel plot: at most k = {kmax} studies per pool; funnel plots and "
                       "tests of asymmetry need at least 10 (Sterne et al. 2011, BMJ 343:d4002).")
    elif kind == "metareg":
        out.append(f"Slope on {fit['moderator']}: {fit['slope']:.3f} [{fit['slope_ci_lb']:.3f}, "
                   f"{fit['slope_ci_ub']:.3f}] (k = {fit['k']}; permutation p = "
                   + (f"{fit['slope_pval_perm']:.3f}" if fit.get("slope_pval_perm") is not None
                      else "NA") + ")" + (", exploratory." if fit.get("exploratory") else "."))
        out.append(f"No funnel plot: k = {fit['k']} < 10 (Sterne et al. 2011).")
    elif kind == "direction":
        for d in fit["domains"]:
            p = d["sign_test_p"]
            out.append(f"{d['label']}: {d['n_plus']} of {d['k']} studies positive, "
                       f"{d['n_minus']} negative, {d['n_zero']} null"
                       + (f" (sign test p = {p:.3f})." if p is not None else "."))
    return out
