"""The source article's empirical claims set against the synthesis, with a plain verdict.

Verdicts (documented rules, applied mechanically):

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

import math

__all__ = ["assess_claims", "VERDICTS"]

VERDICTS = ("supported", "mixed", "not supported", "insufficient data")


def _fmt(x, d=2):
    return "NA" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{d}f}"


def _ci(est, lo, hi, d=2):
    return f"{_fmt(est, d)} [{_fmt(lo, d)}, {_fmt(hi, d)}]"


def _dissociation(claim, fits):
    parts, quant, support, null, against = [], set(), 0, 0, 0
    dir_k, plus_share = 0, 0.0
    for aid in claim["evidence"]:
        f = fits.get(aid)
        if not f:
            continue
        if f.get("status") != "ok":
            parts.append(f"{aid}: not estimable ({f.get('reason', '')})")
            continue
        if f["type"] in ("correlation", "slopes"):
            for p in f["pools"]:
                if p["k"] == 0:
                    parts.append(f"{p['label']}: no study")
                    continue
                bt = f["type"] == "correlation"
                est = p.get("estimate_bt") if bt else p.get("estimate")
                lo = p.get("ci_lb_bt") if bt else p.get("ci_lb")
                hi = p.get("ci_ub_bt") if bt else p.get("ci_ub")
                what = "r" if bt else "slope"
                parts.append(f"{f['title'].split(':')[0] if not bt else 'pooled r'} "
                             f"({p['label']}): {what} = {_ci(est, lo, hi)}, k = {p['k']}"
                             + (" (single study)" if p["k"] == 1 else ""))
                quant.update(p["studies"])
                if p["k"] >= 2 or f["type"] == "correlation":
                    if lo is not None and lo > 0:
                        support += 1
                    elif hi is not None and hi < 0:
                        against += 1
                    else:
                        null += 1
        elif f["type"] == "metareg":
            parts.append(f"meta-regression slope on {f['moderator']}: "
                         f"{_ci(f['slope'], f['slope_ci_lb'], f['slope_ci_ub'], 3)} "
                         f"(k = {f['k']}, permutation p = {_fmt(f.get('slope_pval_perm'), 3)}"
                         f"{', exploratory' if f.get('exploratory') else ''})")
            if f["slope_ci_lb"] > 0:
                support += 1
            elif f["slope_ci_ub"] < 0:
                against += 1
            else:
                null += 1
        elif f["type"] == "direction":
            for d in f["domains"]:
                if d["name"] != "dissociation":
                    continue
                clear = d["n_plus"] + d["n_minus"] + d["n_zero"]
                parts.append(f"effect direction: {d['n_plus']} positive, {d['n_zero']} null, "
                             f"{d['n_minus']} negative of {d['k']} studies (sign test p = "
                             f"{_fmt(d['sign_test_p'], 3)})")
                dir_k, plus_share = clear, (d["n_plus"] / clear if clear else 0.0)
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
    among the studies the durability analysis admits (its route/schedule/dose/drug filters)."""
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


def _durability(claim, fits, ev=None, grades=("P", "S"), specs=None):
    parts, verdict, k = [], "insufficient data", 0
    lo_w, hi_w = 3, 7
    informative = False
    for aid in claim["evidence"]:
        f = fits.get(aid)
        if not f or f.get("status") != "ok":
            if f:
                parts.append(f"{aid}: not estimable ({f.get('reason', '')})")
            continue
        if f["type"] == "durability":
            lo_w, hi_w = (f.get("time_course") or {}).get("claim_window_days") or [lo_w, hi_w]
            bt = f["measure"] == "OR"
            pts = [f"{p['label']}: {_ci(p.get('estimate_bt') if bt else p.get('estimate'), p.get('ci_lb_bt') if bt else p.get('ci_lb'), p.get('ci_ub_bt') if bt else p.get('ci_ub'))} (k = {p['k']})"
                   for p in f["pools"] if p["k"] > 0]
            parts.append(f"{f['title']} ({'OR' if bt else f['measure']}) -- " + "; ".join(pts))
            tc = f.get("time_course") or {}
            if aid == claim["evidence"][0]:
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
                       f"{_ci(tz['estimate'], tz['ci_lb'], tz['ci_ub'], 1)}" if tz else ""))
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
        elif f["type"] == "relapse":
            parts.append(f"relapse after response: {len(f.get('rows', []))} rows from {f['k']} "
                         "study (reported beside, not pooled)")
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
    from .descriptive import approach_of

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
    out = []
    for c in claims:
        cid = c["id"]
        if "dose_range_mg_kg" in c:
            verdict, parts, k = _kap(c, ev)
        elif "dose_mg_kg" in c:
            verdict, parts, k = _dose(c, ev)
        elif any(fits.get(a, {}).get("type") == "durability" for a in c["evidence"]):
            verdict, parts, k = _durability(c, fits, ev, grades, specs)
        else:
            verdict, parts, k = _dissociation(c, fits)
        out.append({"id": cid, "claim": c["text"], "source": c["source"],
                    "evidence": "; ".join(parts), "k": int(k), "verdict": verdict,
                    "analyses": ", ".join(c["evidence"])})
    return out
