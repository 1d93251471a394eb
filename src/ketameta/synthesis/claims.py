"""The source article's empirical claims set against the synthesis, with a plain verdict.

Each claim names its rule in the config (``rule``); each analysis it draws on contributes its
*findings* (:meth:`ketameta.synthesis.kinds.base.AnalysisKind.findings`). Verdicts (documented
rules, applied mechanically):

* dissociation predicts response -- rests on the **within-trial** pools only (correlations and
  regression slopes between dissociation and improvement reported inside trials; Riley et al.
  2008, Fisher et al. 2017): *supported* when every within-trial pool of at least two studies
  excludes zero in the positive direction; *not supported* when none does; *mixed* otherwise;
  *insufficient data* when no within-trial pool has two or more studies (single studies are
  listed, not counted). Between-trial (ecological) meta-regressions and effect directions are
  shown beside the verdict as context and never decide it (a count of directions is a vote
  count; Cochrane Handbook v6.4, 12.2.2).
* benefit lasts 3-7 days -- from the Bayesian time course of every time point of every trial
  (:func:`ketameta.timecourse`): the posterior probability that the benefit falls below the
  threshold (SMD 0.2) within the claimed window. *supported* when it is at least 0.8; *not
  supported (shorter / longer)* when it is at most 0.2; *insufficient data* otherwise (the data
  cannot separate the claim from its alternatives) or when no time course can be estimated.
  The cut-offs are configurable (``probability``). No verdict when the curve would be
  extrapolated: no trial reports a time point at or after the end of the window, or fewer than
  ``min_trials`` (3) trials. Counting the trials' last significant time points is not used (vote
  counting; Cochrane Handbook ch. 12).
* usual IV dose -- *supported* when at least half of the IV studies reporting a dose used the
  claimed dose and infusion time (k >= 3); *mixed* when it is the most common but below half;
  *not supported* otherwise; *insufficient data* with fewer than 3 studies reporting a dose.
* KAP dose range -- *supported* when every KAP study reporting a mg/kg dose lies in the range;
  *not supported* when none does; *mixed* otherwise; *insufficient data* when no KAP study
  reports a dose in mg/kg.

Certainty: a verdict is not a certainty rating. Each claim names the summary-of-findings
analyses that rate its evidence (``certainty_from``); the claims table shows the GRADE ratings of
the rated windows of the claim's analyses (lowest to highest), and a *supported* or *not
supported* verdict resting on low or very low certainty says so ("supported (very low
certainty)"). A claim about study characteristics (a dose in use) is not an effect estimate and
is marked *not rated* with the claim's ``certainty_note``.

Presentation: each record carries ``summary``, one sentence with the verdict, the key number
behind it with its interval (:func:`headline_finding`) and the certainty
(:func:`claim_summary`); the claims table shows that sentence and puts the full findings beneath.
"""

from __future__ import annotations

from .certainty import LEVELS
from .text import fmt, fmt_ci

__all__ = ["assess_claims", "claim_certainty", "claim_summary", "headline_finding", "VERDICTS", "RULES",
           "fmt", "fmt_ci"]

#: the claim rules a config entry can name (``claims[].rule``)
RULES = ("association", "duration", "dose", "dose_range")

VERDICTS = ("supported", "mixed", "not supported", "not supported (shorter)", "not supported (longer)",
            "insufficient data")


def _findings(aid, fits, specs):
    """The findings of one analysis, or a 'not estimable' line, or nothing if it was not run."""
    from .pipeline import as_spec
    from .registry import kind_of

    f = fits.get(aid)
    if not f:
        return None, []
    if f.get("status") != "ok":
        return f, [{"text": f"{f.get('title', aid)}: not estimable ({f.get('reason', '')})",
                    "failed": True}]
    spec = as_spec({**(specs or {}).get(aid, {}), "id": aid, "type": f["type"],
                    "level": f.get("level", 95)})
    return f, kind_of(f).findings(f, spec)


def _association(claim, fits, specs=None):
    """Verdict from the within-trial pools' estimates and intervals; the rest is context."""
    primary, context, decisive, single, studies = [], [], [], [], set()
    domain = claim.get("direction_domain")
    for aid in claim["evidence"]:
        _, found = _findings(aid, fits, specs)
        for fd in found:
            if "domain" in fd:
                if fd["domain"] == domain:
                    context.append(f"context, not counted: {fd['text']}")
                continue
            if "estimate" not in fd or fd.get("estimate") is None:
                (context if fd.get("failed") else primary).append(fd["text"])
                continue
            if fd.get("level") == "between-trial":
                context.append(f"context, not the basis of the verdict: {fd['text']}")
                continue
            primary.append(fd["text"])
            studies.update(fd.get("studies", []))
            (decisive if fd.get("k", 0) >= 2 else single).append(fd)
    if not decisive:
        verdict = "insufficient data"
        why = "no within-trial pool has two or more studies"
        if single:
            own = sorted({s for fd in single for s in fd.get("studies", [])})
            why += f" (single studies, listed not counted: {', '.join(own)}"
            if own == [claim.get("source")]:
                why += "; the only one is the claim's own source"
            why += ")"
        primary.append(why)
    else:
        sides = []
        for fd in decisive:
            lo, hi = fd.get("ci_lb"), fd.get("ci_ub")
            sides.append("+" if lo is not None and lo > 0 else "-" if hi is not None and hi < 0 else "0")
        verdict = ("supported" if all(x == "+" for x in sides) else
                   "not supported" if "+" not in sides else "mixed")
        primary.append(f"within-trial pools of two or more studies: {len(decisive)} "
                       f"({sides.count('+')} excluding zero in the claimed direction)")
    parts = ["verdict from the within-trial associations: " + "; ".join(primary)] + context
    return verdict, parts, len(studies)


def _duration(claim, fits, ev=None, grades=("P", "S"), specs=None):
    """How long the benefit lasts: the posterior probability that it falls below the threshold
    within the claimed window (Bayesian time course). Vote counts of significant time points
    are not used (Cochrane Handbook ch. 12).
    """
    parts, verdict, k = [], "insufficient data", 0
    lo_w, hi_w = claim.get("window_days", (3, 7))
    cut = claim.get("probability", {"supported": 0.8, "not_supported": 0.2})
    decided = False
    for aid in claim["evidence"]:
        _, found = _findings(aid, fits, specs)
        for fd in found:
            parts.append(fd["text"])
            cv = fd.get("curve")
            if decided or not cv or cv.get("status") != "ok":
                continue
            h = cv["fits"][cv["headline"]]
            c0 = sorted(h["horizons"], key=float)[0]
            hz = h["horizons"][c0]
            if "p_in_window" not in hz:
                continue
            decided = True
            k = cv["k"]
            pb, pin, pa = hz["p_before_window"], hz["p_in_window"], hz["p_after_window"]
            parts.append(f"probability that the benefit falls below {float(c0):g} before day {lo_w:g}: {pb:.2f}; "
                         f"between days {lo_w:g} and {hi_w:g}: {pin:.2f}; after day {hi_w:g}: {pa:.2f}")
            short = []
            if cv.get("t_max", 0) < hi_w:
                short.append(f"no trial reports a time point at or after day {hi_w:g} (latest: day {cv['t_max']:g})")
            if cv.get("n_trials", 0) < claim.get("min_trials", 3):
                short.append(f"fewer than {claim.get('min_trials', 3)} trials")
            if short:
                parts.append("the curve would be extrapolated (" + "; ".join(short) + "): no verdict")
                continue
            if pin >= cut["supported"]:
                verdict = "supported"
            elif pin <= cut["not_supported"]:
                verdict = "not supported (" + ("shorter" if pb > pa else "longer") + ")"
            else:
                verdict = "insufficient data"
                parts.append(f"the data cannot separate a benefit lasting {lo_w:g}-{hi_w:g} days from a "
                             "shorter or longer one")
    if not decided:
        parts.append("no time course could be estimated: the duration is not known from these data")
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


def claim_certainty(claim: dict, fits: dict) -> dict:
    """GRADE certainty behind a claim, from the summary-of-findings fits it names.

    Parameters
    ----------
    claim : dict
        A ``claims`` entry of the config (``evidence``, optional ``certainty_from`` and
        ``certainty_note``).
    fits : dict
        Fits by analysis id (the summary-of-findings fits among them).

    Returns
    -------
    dict
        ``certainty`` (the text of the table's column: "very low", "very low to low", or
        "not rated (...)"), ``lowest`` and ``highest`` (GRADE levels or None) and ``windows``
        (the rated windows as "analysis window: level").
    """
    rated = []
    for aid in claim.get("certainty_from", []):
        f = fits.get(aid) or {}
        if f.get("status") != "ok":
            continue
        for r in f.get("rows", []):
            if r.get("certainty") and r.get("analysis") in claim["evidence"]:
                rated.append((r["analysis"], r["window"], r["certainty"]))
    if not rated:
        note = claim.get("certainty_note") or (
            "no summary-of-findings window rates this claim's analyses" if claim.get("certainty_from")
            else "no summary of findings is named for this claim")
        return {"certainty": f"not rated ({note})", "lowest": None, "highest": None, "windows": []}
    order = sorted({lv for _, _, lv in rated}, key=LEVELS.index)
    text = order[0] if len(order) == 1 else f"{order[0]} to {order[-1]}"
    return {"certainty": f"{text} ({len(rated)} rated window{'s' if len(rated) > 1 else ''})",
            "lowest": order[0], "highest": order[-1],
            "windows": [f"{a} {w}: {lv}" for a, w, lv in rated]}


def _qualified(verdict: str, cert: dict) -> str:
    """A definite verdict on low or very low certainty says so."""
    hi = cert["highest"]
    if hi in ("very low", "low") and verdict.startswith(("supported", "not supported")):
        return f"{verdict} ({hi} certainty)"
    return verdict


def assess_claims(claims, fits: dict, ev, grades=("P", "S"), specs=None) -> list[dict]:
    """One record per claim: text, what the data say, k, verdict, certainty and the evidence used."""
    rules = {"association": lambda c: _association(c, fits, specs),
             "duration": lambda c: _duration(c, fits, ev, grades, specs),
             "dose": lambda c: _dose(c, ev),
             "dose_range": lambda c: _kap(c, ev)}
    out = []
    for c in claims:
        verdict, parts, k = rules[c["rule"]](c)
        cert = claim_certainty(c, fits)
        rec = {"id": c["id"], "claim": c["text"], "source": c["source"],
               "evidence": "; ".join(parts), "k": int(k), "verdict": _qualified(verdict, cert),
               "certainty": cert["certainty"], "analyses": ", ".join(c["evidence"])}
        rec["summary"] = claim_summary(rec, headline_finding(c, parts, fits, specs))
        out.append(rec)
    return out


# ---- the one-sentence summary of a claim (presentation only) ---------------------------------


def headline_finding(claim: dict, parts: list[str], fits: dict, specs=None) -> str:
    """The key number behind a claim's verdict, as a phrase.

    Parameters
    ----------
    claim : dict
        The ``claims`` entry of the config (its ``rule`` and ``evidence``).
    parts : list of str
        The claim's findings as written in the claims table's details.
    fits : dict
        Fits by analysis id.
    specs : dict, optional
        Analysis specs by id.

    Returns
    -------
    str
        For an association, the quantitative finding resting on the most studies (its estimate,
        interval and k); for a duration, the posterior probabilities of the time course (or
        why there are none); for the dose claims, the count they rest on. Empty when the
        claim has no finding.
    """
    rule = claim.get("rule")
    if rule == "association":
        # the within-trial estimate resting on the most studies (the level the verdict uses)
        best, best_k = "", -1
        for aid in claim.get("evidence", []):
            _, found = _findings(aid, fits, specs)
            for fd in found:
                if ("domain" not in fd and fd.get("estimate") is not None
                        and fd.get("level") != "between-trial" and (fd.get("k") or 0) > best_k):
                    best, best_k = fd["text"], fd.get("k") or 0
        if best and best_k < 2:
            best = f"no within-trial pool of two or more studies (e.g. {best})"
        return best or (parts[0] if parts else "")
    if rule == "duration":
        prob = [p for p in parts if p.startswith("probability that the benefit falls below")]
        if prob:
            extrapolated = any("would be extrapolated" in p for p in parts)
            return prob[0] + ("; no verdict: the time course would be extrapolated beyond the "
                              "latest time point reported" if extrapolated else "")
        none = [p for p in parts if p.startswith("no time course")]
        return none[0] if none else (parts[0] if parts else "")
    return parts[0] if parts else ""


def claim_summary(record: dict, headline: str) -> str:
    """One sentence per claim: the verdict, the key number with its interval, the certainty.

    Parameters
    ----------
    record : dict
        A record of :func:`assess_claims` (``verdict``, ``k``, ``certainty``).
    headline : str
        The key finding (:func:`headline_finding`).

    Returns
    -------
    str
        E.g. "Mixed: pooled r (day 7): r = 0.41 [0.11, 0.64], k = 1 (single study); GRADE
        certainty very low to low (3 rated windows)."
    """
    verdict = str(record["verdict"])
    text = verdict[:1].upper() + verdict[1:]
    if headline:
        text += f": {headline.rstrip('. ')}"
    cert = str(record.get("certainty", ""))
    if cert.startswith("not rated"):
        text += "; certainty not rated (not an effect estimate)"
    elif cert:
        text += f"; GRADE certainty {cert}"
    return text + "."
