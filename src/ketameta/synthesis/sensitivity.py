"""Sensitivity of the headline estimates: estimator, test, leave-one-out, evidence grades and
the handling of unknown sample sizes -- one long table."""

from __future__ import annotations

import copy

import pandas as pd

from ..errors import InputError, ModelError
from . import pipeline

__all__ = ["headlines", "run_sensitivity"]


def headlines(fit: dict) -> list[dict]:
    """The headline estimates of one fitted analysis (name, estimate, CI, k, p)."""
    out = []
    if fit.get("status") != "ok":
        return out
    kind = fit["type"]
    if kind in ("correlation", "slopes", "durability"):
        for p in fit.get("pools", []):
            bt = "_bt" if p.get("estimate_bt") is not None and fit.get("measure") == "ZCOR" else ""
            out.append({
                "estimate_name": p["label"] or fit["analysis"], "k": p["k"],
                "estimate": p.get("estimate" + bt), "ci_lb": p.get("ci_lb" + bt),
                "ci_ub": p.get("ci_ub" + bt), "pval": p.get("pval"),
                "scale": "r" if bt else fit.get("measure"), "status": p.get("status"),
            })
        tc = fit.get("time_course")
        if tc and tc.get("status") != "failed" and "slope_log_days" in tc:
            out.append({"estimate_name": "time course: slope per log(day)", "k": tc["k"],
                        "estimate": tc["slope_log_days"], "ci_lb": tc["slope_ci"][0],
                        "ci_ub": tc["slope_ci"][1], "pval": tc["slope_pval"],
                        "scale": fit.get("measure"), "status": "pooled"})
            tz = tc.get("t_zero") or {}
            out.append({"estimate_name": "time course: day the fitted benefit reaches zero",
                        "k": tc["k"], "estimate": tz.get("estimate"), "ci_lb": tz.get("ci_lb"),
                        "ci_ub": tz.get("ci_ub"), "pval": None, "scale": "days",
                        "status": "pooled" if tz else "not estimable"})
            out.append({"estimate_name": "time course: last day the benefit is distinguishable "
                        "from zero", "k": tc["k"], "estimate": tc.get("t_cross"), "ci_lb": None,
                        "ci_ub": None, "pval": None, "scale": "days",
                        "status": tc.get("t_cross_status")})
    elif kind == "direction":
        for d in fit["domains"]:
            clear = d["n_plus"] + d["n_minus"]
            out.append({"estimate_name": f"{d['label']}: share of positive directions",
                        "k": d["k"], "estimate": d["n_plus"] / clear if clear else None,
                        "ci_lb": None, "ci_ub": None, "pval": d["sign_test_p"],
                        "scale": "proportion (sign test p)", "status": "counted"})
    elif kind == "metareg":
        out.append({"estimate_name": f"slope on {fit['moderator']}", "k": fit["k"],
                    "estimate": fit["slope"], "ci_lb": fit["slope_ci_lb"],
                    "ci_ub": fit["slope_ci_ub"], "pval": fit["slope_pval"],
                    "scale": f"{fit.get('measure')} per unit", "status": "pooled"})
    return out


def _variant(ev, spec, grades, label, detail):
    rows = []
    try:
        es, _ = pipeline.effect_sizes(ev, spec, grades, strict=False)
        fit = pipeline.fit(ev, es, spec, grades)
        for h in headlines(fit):
            rows.append({"analysis": spec["id"], "variant": label, "detail": detail, **h})
    except (ModelError, InputError) as exc:
        rows.append({"analysis": spec["id"], "variant": label, "detail": detail,
                     "status": f"failed: {exc}"})
    return rows


def run_sensitivity(ev, specs: dict, settings: dict, grades) -> pd.DataFrame:
    """All variants for every configured analysis, as one long table."""
    rows = []
    for aid, base in specs.items():
        base = copy.deepcopy(base)
        if base["type"] == "metareg":
            base["permutations"] = 0  # slopes and CIs only; permutation p is in the main fit
        rows += _variant(ev, base, grades, "as configured",
                         f"{base.get('method')}, {base.get('test')}, grades {'/'.join(grades)}"
                         if base.get("method") else f"grades {'/'.join(grades)}")
        if base["type"] == "direction":
            if settings.get("add_c_grade", True) and "C" not in grades:
                rows += _variant(ev, base, list(grades) + ["C"], "with C-grade sources",
                                 "third-party copies admitted")
            continue
        for m in settings.get("estimators", []):
            if m != base.get("method"):
                s = {**base, "method": m}
                rows += _variant(ev, s, grades, f"estimator {m}", f"tau^2 estimator {m}")
        for t in settings.get("tests", []):
            if t != base.get("test"):
                s = {**base, "test": t}
                rows += _variant(ev, s, grades, f"test {t}", {"z": "Wald z", "t": "t",
                                                              "knha": "Knapp-Hartung",
                                                              "adhoc": "Knapp-Hartung, "
                                                                       "factor >= 1"}[t])
        if settings.get("add_c_grade", True) and "C" not in grades:
            rows += _variant(ev, base, list(grades) + ["C"], "with C-grade sources",
                             "third-party copies admitted")
        for sub in settings.get("subsets", []):
            drop = sub.get("drop", {})
            rows += _variant(_subset(ev, drop), base, grades, sub["label"],
                             "without studies where " + "; ".join(
                                 f"{k} in {v}" for k, v in drop.items()))
        if base["type"] == "correlation":
            for pol, what in (("bound_low", "smallest n consistent with r and p"),
                              ("bound_high", "largest n consistent with r and p"),
                              ("study_n", "the study's total n")):
                if pol != base.get("unknown_n"):
                    s = {**base, "unknown_n": pol}
                    rows += _variant(ev, s, grades, f"unknown n: {pol}",
                                     f"correlations without a reported n use {what}")
            if base.get("inconsistent_n", "implied") != "reported":
                s = {**base, "inconsistent_n": "reported"}
                rows += _variant(ev, s, grades, "inconsistent n: reported",
                                 "a reported n that contradicts r and p is used as reported")
        if settings.get("leave1out", True) and base["type"] in ("correlation", "slopes",
                                                                  "metareg", "durability"):
            try:
                es, _ = pipeline.effect_sizes(ev, base, grades)
            except (ModelError, InputError):
                continue
            for sid in sorted(es["study_id"].unique()):
                keep_ev = _without_study(ev, sid)
                rows += _variant(keep_ev, base, grades, f"without {sid}", "leave one study out")
    return pd.DataFrame(rows)


class _EvidenceView:
    """The evidence base without some studies (leave-one-out, subsets)."""

    def __init__(self, ev, sids):
        self.studies = ev.studies
        self.effects = ev.effects[~ev.effects["study_id"].isin(sids)]
        self.effects_raw = getattr(ev, "effects_raw", None)
        self.bib = getattr(ev, "bib", None)


def _without_study(ev, sid):
    return _EvidenceView(ev, [sid])


def _subset(ev, drop: dict):
    """The evidence base without the studies matching any of ``drop`` (study-sheet columns)."""
    st = ev.studies
    mask = False
    for col, values in drop.items():
        vals = values if isinstance(values, list) else [values]
        mask = mask | st[col].astype(str).isin([str(v) for v in vals])
    return _EvidenceView(ev, st.index[mask].tolist())
