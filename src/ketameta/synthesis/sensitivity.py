"""Sensitivity of the headline estimates: estimator, test, leave-one-out, evidence grades and
the handling of unknown sample sizes -- one long table.
"""

from __future__ import annotations

import pandas as pd

from ..errors import InputError, ModelError
from . import pipeline
from .registry import kind_of

__all__ = ["headlines", "run_sensitivity"]


def headlines(fit: dict) -> list[dict]:
    """The headline estimates of one fitted analysis (name, estimate, CI, k, p)."""
    if fit.get("status") != "ok":
        return []
    return kind_of(fit).headlines(fit)


def _variant(ev, spec, label, detail):
    rows = []
    try:
        es, _ = pipeline.effect_sizes(ev, spec, strict=False)
        fit = pipeline.fit(ev, es, spec)
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
        base = pipeline.as_spec({**base, "id": aid, "grades": list(grades)})
        kind = kind_of(base)
        base = kind.sensitivity_spec(base)
        rows += _variant(ev, base, "as configured",
                         f"{base.get('method')}, {base.get('test')}, grades {'/'.join(grades)}"
                         if base.get("method") else f"grades {'/'.join(grades)}")
        with_c = (settings.get("add_c_grade", True) and "C" not in grades)
        if not kind.model_variants:
            if with_c:
                rows += _variant(ev, base.replace(grades=list(grades) + ["C"]),
                                 "with C-grade sources", "third-party copies admitted")
            continue
        for m in settings.get("estimators", []):
            if m != base.get("method"):
                rows += _variant(ev, base.replace(method=m), f"estimator {m}", f"tau^2 estimator {m}")
        for t in settings.get("tests", []):
            if t != base.get("test"):
                rows += _variant(ev, base.replace(test=t), f"test {t}",
                                 {"z": "Wald z", "t": "t", "knha": "Knapp-Hartung",
                                  "adhoc": "Knapp-Hartung, factor >= 1"}[t])
        if with_c:
            rows += _variant(ev, base.replace(grades=list(grades) + ["C"]), "with C-grade sources",
                             "third-party copies admitted")
        for sub in settings.get("subsets", []):
            drop = sub.get("drop", {})
            rows += _variant(_subset(ev, drop), base, sub["label"],
                             "without studies where " + "; ".join(
                                 f"{k} in {v}" for k, v in drop.items()))
        for label, detail, spec in kind.extra_variants(base, settings):
            rows += _variant(ev, spec, label, detail)
        for rho in settings.get("crossover_rho", []):
            if rho != base.get("crossover_rho", 0.5):
                rows += _variant(ev, base.replace(crossover_rho=rho), f"within-patient correlation {rho:g}",
                                 f"crossover trials entered with an assumed within-patient correlation of {rho:g}")
        for v in settings.get("variants", []):
            if aid in v.get("analyses", []):
                select = {**(base.get("select") or {}), **v.get("select", {})}
                detail = [f"{k} in {val}" for k, val in v.get("select", {}).items()]
                detail += [f"{k} = {val}" for k, val in v.get("set", {}).items()]
                rows += _variant(ev, base.replace(select=select, **v.get("set", {})), v["label"],
                                 "; ".join(detail))
        if settings.get("leave1out", True):
            try:
                es, _ = pipeline.effect_sizes(ev, base)
            except (ModelError, InputError):
                continue
            for sid in sorted(es["study_id"].unique()):
                rows += _variant(_without_study(ev, sid), base, f"without {sid}",
                                 "leave one study out")
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
