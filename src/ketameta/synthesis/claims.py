"""The source article's empirical claims set against the synthesis, with a plain verdict.

Each claim names its rule in the config (``rule``); each analysis it draws on contributes its
*findings* (:meth:`ketameta.synthesis.kinds.base.AnalysisKind.findings`). Verdicts (documented
rules, applied mechanically):

* dissociation predicts response -- *supported* when every quantitative pool with at least two
  studies excludes zero in the positive direction and at least 70% of studies with a clear
  direction are positive; *not supported* when no quantitative pool excludes zero and fewer than
  half of the studies with a clear direction are positive; *insufficient data* when fewer than two
  studies give a quantitative estimate and fewer than three give a direction; *mixed* otherwise.
* benefit lasts 3-7 days -- from the time-course model when it is informative (Satterthwaite
  df >= 4): *supported* when the last day the pooled benefit is distinguishable from zero lies in
  the claimed window; *mixed* when it does not but the confidence interval of the day the fitted
  benefit reaches zero overlaps the window; *not supported* when neither does. When the model
  cannot resolve the duration, the last time point with a significant benefit in each trial
  decides (at least 3 trials): *supported* if all lie in the window, *mixed* if some do, *not
  supported* if none does; otherwise *insufficient data*.
* usual IV dose -- *supported* when at least half of the IV studies reporting a dose used the
  claimed dose and infusion time (k >= 3); *mixed* when it is the most common but below half;
  *not supported* otherwise; *insufficient data* with fewer than 3 studies reporting a dose.
* KAP dose range -- *supported* when every KAP study reporting a mg/kg dose lies in the range;
  *not supported* when none does; *mixed* otherwise; *insufficient data* when no KAP study
  reports a dose in mg/kg.
"""

from __future__ import annotations

from .text import fmt, fmt_ci

__all__ = ["assess_claims", "VERDICTS", "RULES", "fmt", "fmt_ci"]

#: the claim rules a config entry can name (``claims[].rule``)
RULES = ("association", "duration", "dose", "dose_range")

VERDICTS = ("supported", "mixed", "not supported", "insufficient data")


def _findings(aid, fits, specs):
    """The findings of one analysis, or a 'not estimable' line, or nothing if it was not run."""
    from .pipeline import as_spec
    from .registry import kind_of

    f = fits.get(aid)
    if not f:
        return None, []
    if f.get("status") != "ok":
        return f, [{"text": f"{aid}: not estimable ({f.get('reason', '')})", "failed": True}]
    spec = as_spec({**(specs or {}).get(aid, {}), "id": aid, "type": f["type"],
                    "level": f.get("level", 95)})
    return f, kind_of(f).findings(f, spec)


def _association(claim, fits, specs=None):
    parts, quant, support, null, against = [], set(), 0, 0, 0
    dir_k, plus_share = 0, 0.0
    domain = claim.get("direction_domain")
    for aid in claim["evidence"]:
        _, found = _findings(aid, fits, specs)
        for fd in found:
            if "domain" in fd:
                if fd["domain"] != domain:
                    continue
                parts.append(fd["text"])
                dir_k = fd["n_clear"]
                plus_share = fd["n_plus"] / dir_k if dir_k else 0.0
                continue
            parts.append(fd["text"])
            if "estimate" not in fd:
                continue
            quant.update(fd.get("studies", []))
            if fd.get("tally"):
                lo, hi = fd["ci_lb"], fd["ci_ub"]
                if lo is not None and lo > 0:
                    support += 1
                elif hi is not None and hi < 0:
                    against += 1
                else:
                    null += 1
    if len(quant) < 2 and dir_k < 3:
        verdict = "insufficient data"
    elif support > 0 and null == 0 and against == 0 and plus_share >= 0.7:
        verdict = "supported"
    elif support == 0 and plus_share < 0.5:
        verdict = "not supported"
    else:
        verdict = "mixed"
    return verdict, parts, max(len(quant), dir_k)


def _last_significant_days(ev, grades, spec=None):
    """Per primary study: the latest time with a significant benefit on depression severity,
    among the studies the durability analysis admits (its route/schedule/dose/drug filters).
    """
    from .select import STUDY_FILTER_COLUMNS, as_list, candidate_rows

    rows = candidate_rows(ev, "durability")
    rows = rows[(rows["outcome"] == "depression_severity") & (rows["significant"] == "yes")
                & (rows["direction"] == "+") & rows["grade"].isin(grades)
                & rows["time_days"].notna() & (rows["study_role"] == "primary")]
    sel = (spec or {}).get("select", {}) or {}
    for key, accepted in sel.items():
        acc = [str(a) for a in as_list(accepted)]
        if key in STUDY_FILTER_COLUMNS:
            rows = rows[rows[f"study_{key}"].astype(str).isin(acc)]
        elif key == "dose_mg_kg":
            rows = rows[rows["dose"].isin([float(a) for a in acc])]
    return rows.groupby("study_id")["time_days"].max().sort_values()


def _duration(claim, fits, ev=None, grades=("P", "S"), specs=None):
    parts, verdict, k = [], "insufficient data", 0
    lo_w, hi_w = 3, 7
    informative = False
    for aid in claim["evidence"]:
        f, found = _findings(aid, fits, specs)
        for fd in found:
            parts.append(fd["text"])
            if "time_course" not in fd:
                continue
            tc = fd["time_course"]
            lo_w, hi_w = tc.get("claim_window_days") or [lo_w, hi_w]
            if aid != claim["evidence"][0]:
                continue
            if tc.get("status") == "failed" or "t_cross_status" not in tc:
                parts.append(f"time-course model: {tc.get('reason', 'not fitted')}")
                continue
            k = tc["k"]
            tz = tc.get("t_zero")
            parts.append(
                f"time course ({tc['n_studies']} studies, {tc['k']} time points, "
                f"{tc['df_used']:.1f} df): " + (
                    f"benefit distinguishable from zero until day {tc['t_cross']:.1f}"
                    if tc.get("t_cross") is not None else tc["t_cross_status"])
                + ("; fitted benefit reaches zero at day "
                   f"{fmt_ci(tz['estimate'], tz['ci_lb'], tz['ci_ub'], 1)}" if tz else ""))
            informative = tc.get("df_used", 0) >= 4 and (tc.get("t_cross") is not None
                                                         or tz is not None)
            if informative:
                tcross = tc.get("t_cross")
                if tcross is not None and lo_w <= tcross <= hi_w:
                    verdict = "supported"
                elif tz and tz["ci_lb"] <= hi_w and tz["ci_ub"] >= lo_w:
                    verdict = "mixed"
                else:
                    verdict = "not supported"
    if ev is not None:
        spec = (specs or {}).get(claim["evidence"][0])
        last = _last_significant_days(ev, grades, spec)
        if len(last):
            from ..outputs.citations import Citations

            cit = Citations(ev.bib, name="references")
            keys = ev.studies["citation_key"]
            parts.append("last time point with a significant benefit, per trial: " + ", ".join(
                f"{cit.label(keys[sid])} day {d:g}" for sid, d in last.items()))
        if not informative:
            parts.append("the pooled time course cannot resolve the duration (too few studies "
                         "or df < 4); the verdict rests on the per-trial significance")
            if len(last) >= 3:
                inside = ((last >= lo_w) & (last <= hi_w)).mean()
                verdict = ("supported" if inside == 1 else "mixed" if inside > 0
                           else "not supported")
                k = max(k, len(last))
    return verdict, parts, k


def _dose(claim, ev):
    st = ev.studies
    iv = st[(st["route"] == "IV") & (st["role"] == "primary")]
    rep = iv[iv["dose_mg_kg"].notna()]
    k = len(rep)
    match = rep[(rep["dose_mg_kg"] == claim["dose_mg_kg"])]
    if "infusion_min" in rep and claim.get("infusion_min") is not None:
        both = match[match["infusion_min"] == claim["infusion_min"]]
    else:
        both = match
    counts = rep["dose_mg_kg"].value_counts()
    parts = [f"{len(match)} of {k} primary IV studies reporting a dose used "
             f"{claim['dose_mg_kg']:g} mg/kg ({len(both)} with a {claim.get('infusion_min', 'NA')}"
             f"-minute infusion reported)",
             "doses reported: " + ", ".join(f"{d:g} mg/kg (k = {c})" for d, c in counts.items())]
    if k < 3:
        verdict = "insufficient data"
    elif len(both) >= k / 2:
        verdict = "supported"
    elif counts.index[0] == claim["dose_mg_kg"]:
        verdict = "mixed"
    else:
        verdict = "not supported"
    return verdict, parts, k


def _kap(claim, ev):
    from .kinds.approaches import approach_of

    st = ev.studies.copy()
    st["approach"] = st.apply(approach_of, axis=1)
    kap = st[st["approach"] == "kap"]
    doses = kap["dose_mg_kg"].dropna()
    lo, hi = claim["dose_range_mg_kg"]
    parts = [f"{len(kap)} KAP source(s) in the evidence base; {len(doses)} report(s) a dose in "
             "mg/kg"]
    if kap.shape[0]:
        parts.append("routes: " + ", ".join(sorted(set(kap["route"].astype(str)))))
    if len(doses) == 0:
        return "insufficient data", parts + ["no KAP dose in mg/kg was found in the sources"], 0
    inside = doses.between(lo, hi)
    verdict = "supported" if inside.all() else "not supported" if not inside.any() else "mixed"
    return verdict, parts + [f"doses: {', '.join(f'{d:g}' for d in doses)} mg/kg"], len(doses)


def assess_claims(claims, fits: dict, ev, grades=("P", "S"), specs=None) -> list[dict]:
    """One record per claim: text, what the data say, k, verdict and the evidence used."""
    rules = {"association": lambda c: _association(c, fits, specs),
             "duration": lambda c: _duration(c, fits, ev, grades, specs),
             "dose": lambda c: _dose(c, ev),
             "dose_range": lambda c: _kap(c, ev)}
    out = []
    for c in claims:
        verdict, parts, k = rules[c["rule"]](c)
        out.append({"id": c["id"], "claim": c["text"], "source": c["source"],
                    "evidence": "; ".join(parts), "k": int(k), "verdict": verdict,
                    "analyses": ", ".join(c["evidence"])})
    return out
