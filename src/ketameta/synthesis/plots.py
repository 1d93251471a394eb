"""The figure of each analysis type, and the PRISMA 2020 counts, from fits and effect sizes."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..outputs import figures
from .effects import SIGN_CONVENTION

__all__ = ["figure_for", "prisma_counts", "message_figure"]

AXIS = {
    "ZCOR": "r (positive: more dissociation, more improvement)",
    "SMD": "SMD (positive = benefit)",
    "OR": "Odds ratio of response (> 1 = benefit)",
    "RD": "Risk difference, % points (positive = benefit)",
}


def message_figure(text: str) -> Figure:
    """A small figure that states why there is no plot (e.g. a failed analysis)."""
    fig = Figure(figsize=(figures.figure_width("single"), 1.2))
    fig.text(0.5, 0.5, text, ha="center", va="center", wrap=True, fontsize=7)
    return fig


def _label(cit, key, extra=""):
    base = cit.label(key) if key and key in cit else str(key)
    return f"{base}{(' - ' + extra) if extra else ''}"


def _time_text(t):
    if not np.isfinite(t):
        return ""
    mins = t * 1440
    return f"{mins:.0f} min" if mins < 120 else (f"{mins / 60:.0f} h" if mins < 1380 else f"day {t:g}")


def figure_for(fit: dict, es: pd.DataFrame, spec: dict, cit) -> Figure:
    """The figure of one analysis (forest, bubble, durability or effect-direction plot)."""
    if fit.get("status") != "ok":
        return message_figure(f"{fit.get('title', '')}\nnot fitted: {fit.get('reason', '')}")
    kind = fit["type"]
    measure = fit.get("measure")
    if kind in ("correlation", "slopes"):
        rows, pooled = [], []
        for p in fit["pools"]:
            sub = es[es["effect_id"].isin(p.get("effect_ids", []))]
            for _, r in sub.iterrows():
                rows.append({"label": f"{_label(cit, r['citation_key'])} "
                                      f"({_time_text(r['time_days'])})",
                             "yi": r["yi"], "ci_lb": r["ci_lb"], "ci_ub": r["ci_ub"],
                             "weight": (p.get("weights") or {}).get(r["effect_id"], np.nan)})
            if p["k"] >= 2:
                pooled.append({"label": f"Pooled, {p['label']} (k = {p['k']})",
                               "estimate": p["estimate"], "ci_lb": p["ci_lb"],
                               "ci_ub": p["ci_ub"], "pi_lb": p.get("pi_lb"),
                               "pi_ub": p.get("pi_ub")})
        if not rows:
            return message_figure("no effect sizes")
        return figures.forest(
            pd.DataFrame(rows), pooled or None,
            xlabel=AXIS.get(measure, spec.get("unit", "Slope (positive = more dissociation "
                                                   "with more improvement)")),
            transf=np.tanh if measure == "ZCOR" else None,
            show_weights=any(len(p.get("weights") or {}) for p in fit["pools"]),
            digits=2 if measure == "ZCOR" else 3, width="double",
        )
    if kind == "metareg":
        mod = fit["moderator"]
        w = 1.0 / (es["vi"] + fit["tau2"])
        b = fit["bubble"]
        return figures.bubble(
            es[mod].to_numpy(float), es["yi"].to_numpy(float), w.to_numpy(float),
            b["x"], b["pred"], b["ci_lb"], b["ci_ub"], b.get("pi_lb"), b.get("pi_ub"),
            labels=[_label(cit, k) for k in es["citation_key"]],
            xlabel=fit["moderator_label"], ylabel=AXIS.get(measure, measure), width="double",
        )
    if kind == "durability":
        tr = np.exp if measure == "OR" else (lambda x: x)
        pooled = []
        for p in fit["pools"]:
            if p["k"] >= 2:
                sub = es[es["effect_id"].isin(p["effect_ids"])]
                pooled.append({"time_days": float(np.exp(np.log(sub["time_days"]).mean())),
                               "estimate": tr(p["estimate"]), "ci_lb": tr(p["ci_lb"]),
                               "ci_ub": tr(p["ci_ub"])})
        tc = fit.get("time_course") or {}
        curve = None
        if "curve" in tc:
            c = tc["curve"]
            curve = pd.DataFrame({"time_days": c["time_days"], "pred": tr(np.asarray(c["pred"])),
                                  "ci_lb": tr(np.asarray(c["ci_lb"])),
                                  "ci_ub": tr(np.asarray(c["ci_ub"]))})
        marks = tuple(spec.get("claim_window_days", (3, 7)))
        return figures.durability(
            es["time_days"].to_numpy(float), tr(es["yi"].to_numpy(float)),
            tr(es["ci_lb"].to_numpy(float)), tr(es["ci_ub"].to_numpy(float)),
            [_label(cit, k) for k in es["citation_key"]],
            pooled=pd.DataFrame(pooled) if pooled else None, curve=curve, marks=marks,
            ylabel=AXIS.get(measure, measure), width="double",
        )
    if kind == "direction":
        rows = []
        for d in fit["domains"]:
            for s in d["studies"]:
                rows.append({"study": _label(cit, s["citation_key"]), "outcome": d["label"],
                             "direction": s["direction"], "n": s["n"]})
        if not rows:
            return message_figure("no study reports a direction")
        return figures.effect_direction(pd.DataFrame(rows), rob=None)
    return message_figure(f"no figure for analysis type {kind}")


def prisma_counts(ev, fits: dict, cfg: dict) -> dict:
    """PRISMA 2020 counts computed from the evidence base (nothing invented).

    The evidence base was assembled from sourced extraction notes, not from a database or
    register search: those boxes are left "not reported" unless the configuration gives counts
    (with their source).
    """
    st = ev.studies
    n_sources = int(len(st))
    primary = st[st["role"] == "primary"]
    used = set()
    for f in fits.values():
        if f.get("status") != "ok":
            continue
        for p in f.get("pools", []):
            used |= set(p.get("studies", []))
        used |= set(f.get("studies", []))
    quant = sorted(s for s in used if s in primary.index)
    excluded = {"external comparator (published synthesis)": int((st["role"] == "comparator").sum()),
                "context source (consensus, review, commentary)": int((st["role"] == "context").sum())}
    counts = {
        "citations_results": n_sources,
        "other_sought_reports": n_sources,
        "other_assessed": n_sources,
        "other_excluded": {k: v for k, v in excluded.items() if v},
        "new_studies": int(len(primary)),
    }
    db = cfg.get("databases")
    if db:
        counts["database_results"] = db.get("n")
    return {"counts": counts, "studies_in_quantitative_synthesis": len(quant),
            "sign_convention": SIGN_CONVENTION}
