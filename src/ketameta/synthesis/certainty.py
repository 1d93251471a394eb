"""Certainty of the evidence (GRADE) for one pooled outcome window, rule-based and explained.

The GRADE approach (Guyatt et al. 2008, BMJ 336:924; GRADE Handbook, Schuenemann et al. 2013)
starts evidence from randomised trials at *high* certainty and rates it down by one or two
levels for each of five domains. GRADE asks for judgement; this module applies published
operationalisations mechanically so that every rating can be recomputed, and writes the number
behind each downgrade into its footnote:

* **risk of bias** -- the share of the pool's weight from trials whose overall RoB 2 judgement is
  *high* or *some concerns* (a trial without a RoB assessment counts as *some concerns*):
  down one level when at least ``rob_share`` (0.5) of the weight, two when at least that share
  is at *high* risk (GRADE Handbook 5.2.1; Guyatt et al. 2011, J Clin Epidemiol 64:407);
* **inconsistency** -- I^2 at least ``i2_serious`` (50%) down one, ``i2_very_serious`` (75%) down
  two; also down one when the prediction interval includes no effect although the pooled
  estimate exceeds the minimal important difference (Guyatt et al. 2011, J Clin Epidemiol
  64:1294). Not assessable with one trial;
* **indirectness** -- configured rules: down one level when at least the rule's share of the
  weight comes from trials matching it (e.g. an inert placebo in a trial of a dissociative drug,
  ketamine given under surgical anaesthesia; Guyatt et al. 2011, J Clin Epidemiol 64:1303); a
  rule may name the effect measures it applies to (``measures``: the comparator does not bear
  on an association measured within the ketamine arm);
* **imprecision** -- the confidence interval includes no effect (down one) or spans both an
  important benefit and an important harm (down two); and down at least one when the number of
  participants is below the optimal information size (``ois``; Guyatt et al. 2011, J Clin
  Epidemiol 64:1283; 400 participants for a continuous outcome);
* **publication bias** -- with at least 10 trials, Egger's regression test p < 0.10 rates down
  one level; with fewer it is *not assessed* and said so (Sterne et al. 2011, BMJ 343:d4002).

Every threshold comes from the configuration (``certainty:`` in config/config.yaml), with these
defaults.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

__all__ = ["rate", "LEVELS", "SYMBOLS", "DEFAULTS"]

LEVELS = ("very low", "low", "moderate", "high")
SYMBOLS = {"high": "⊕⊕⊕⊕", "moderate": "⊕⊕⊕⊝", "low": "⊕⊕⊝⊝", "very low": "⊕⊝⊝⊝"}

DEFAULTS = {
    "rob_share": 0.5,
    "i2_serious": 50.0,
    "i2_very_serious": 75.0,
    "mid": {"SMD": 0.2, "OR": math.log(1.25), "RD": 5.0, "ZCOR": 0.1, "GEN": 0.0},
    "ois": {"SMD": 400, "OR": 300, "RD": 300, "ZCOR": 400, "GEN": 0},
    "egger_p": 0.10,
    "min_k_publication_bias": 10,
    "indirectness": [],
}


def _weights(pool, es):
    """Per study: its share of the pool's weight (equal shares when the pool has no weights)."""
    ids = pool.get("effect_ids", [])
    rows = es[es["effect_id"].isin(ids)]
    w = pool.get("weights") or {}
    if w:
        share = rows.assign(w=[float(w.get(e, 0.0)) for e in rows["effect_id"]])
    else:
        share = rows.assign(w=1.0)
    tot = share["w"].sum()
    share = share.assign(w=share["w"] / tot if tot > 0 else 0.0)
    return share.groupby("study_id")["w"].sum()


def _risk_of_bias(wts, rob_overall, cfg):
    overall = {sid: rob_overall.get(sid, "not assessed") for sid in wts.index}
    concern = sum(w for sid, w in wts.items() if overall[sid] in ("high", "some_concerns", "not assessed"))
    high = sum(w for sid, w in wts.items() if overall[sid] == "high")
    cut = cfg["rob_share"]
    n_na = sum(1 for v in overall.values() if v == "not assessed")
    detail = (f"{100 * concern:.0f}% of the weight from trials at high risk or with some concerns "
              f"({100 * high:.0f}% at high risk" + (f"; {n_na} trial(s) without a RoB 2 assessment, counted as "
                                                    "some concerns" if n_na else "") + ")")
    if high >= cut:
        return 2, f"Risk of bias: very serious -- {detail}."
    if concern >= cut:
        return 1, f"Risk of bias: serious -- {detail}."
    return 0, f"Risk of bias: not serious -- {detail}."


def _inconsistency(pool, cfg, mid):
    k = pool.get("k", 0)
    if k < 2:
        return 0, "Inconsistency: not assessable with a single trial."
    i2 = pool.get("I2")
    i2 = 0.0 if i2 is None else float(i2)
    down, why = 0, [f"I^2 = {i2:.0f}%"]
    if i2 >= cfg["i2_very_serious"]:
        down = 2
    elif i2 >= cfg["i2_serious"]:
        down = 1
    est, lo, hi = pool.get("estimate"), pool.get("pi_lb"), pool.get("pi_ub")
    if est is not None and lo is not None and hi is not None and abs(est) >= mid > 0 and lo <= 0 <= hi:
        down = max(down, 1)
        why.append(f"prediction interval {lo:.2f} to {hi:.2f} includes no effect")
    label = ["not serious", "serious", "very serious"][down]
    return down, f"Inconsistency: {label} -- " + "; ".join(why) + "."


def _indirectness(wts, studies, cfg, measure):
    down, why = 0, []
    for rule in cfg.get("indirectness", []):
        if rule.get("measures") and measure not in rule["measures"]:
            continue  # e.g. the control arm does not bear on a within-arm association
        match = pd.Series(True, index=wts.index)
        for col, vals in rule.get("when", {}).items():
            vals = [str(v) for v in (vals if isinstance(vals, list) else [vals])]
            col_vals = studies.reindex(wts.index)[col].astype(str) if col in studies.columns else pd.Series("", index=wts.index)
            match &= col_vals.isin(vals)
        share = float(wts[match].sum())
        if share >= rule.get("share", 0.5):
            down = 1
            why.append(f"{rule['label']} ({100 * share:.0f}% of the weight)")
    if down:
        return 1, "Indirectness: serious -- " + "; ".join(why) + "."
    return 0, "Indirectness: not serious."


def _imprecision(pool, n_total, cfg, measure, mid):
    lo, hi = pool.get("ci_lb"), pool.get("ci_ub")
    if lo is None or hi is None:
        return 2, "Imprecision: very serious -- no confidence interval."
    down, why = 0, [f"95% CI {_show(lo, measure)} to {_show(hi, measure)}"]
    if lo <= 0 <= hi:
        down = 1
        why.append("includes no effect")
    if mid > 0 and lo <= -mid and hi >= mid:
        down = 2
        why.append("spans both an important benefit and an important harm")
    ois = cfg["ois"].get(measure, 0)
    if ois and (n_total is None or n_total < ois):
        down = max(down, 1)
        why.append(f"{'unknown number of' if n_total is None else int(n_total)} participants, below the optimal "
                   f"information size of {ois}")
    label = ["not serious", "serious", "very serious"][down]
    return down, f"Imprecision: {label} -- " + "; ".join(why) + "."


def _show(x, measure):
    """A bound on the scale readers see: OR for log OR, r for Fisher z."""
    if measure == "OR":
        return f"{math.exp(x):.2f}"
    if measure == "ZCOR":
        return f"{math.tanh(x):.2f}"
    return f"{x:.2f}"


def _publication_bias(pool, es, cfg):
    k = pool.get("k", 0)
    if k < cfg["min_k_publication_bias"]:
        return 0, f"Publication bias: not assessed (k = {k} < {cfg['min_k_publication_bias']} trials)."
    from ...pubbias import regtest
    from ...rma import rma

    rows = es[es["effect_id"].isin(pool.get("effect_ids", []))]
    res = rma(rows["yi"].to_numpy(), rows["vi"].to_numpy(), method="REML")
    p = float(regtest(res).pval)
    if p < cfg["egger_p"]:
        return 1, f"Publication bias: suspected -- Egger's test p = {p:.3f}."
    return 0, f"Publication bias: not detected -- Egger's test p = {p:.3f}."


def _participants(rows, studies):
    """Participants behind a pool: each row's n, else its study's n (None when neither is known)."""
    total, known = 0.0, False
    for _, r in rows.iterrows():
        n = r.get("n_total")
        if n is None or not np.isfinite(n):
            n = studies["n"].get(r["study_id"]) if "n" in studies.columns else None
        if n is not None and np.isfinite(n):
            total += float(n)
            known = True
    return total if known else None


def rate(pool: dict, es: pd.DataFrame, studies: pd.DataFrame, rob_overall: dict, measure: str,
         config: dict | None = None) -> dict:
    """GRADE certainty of one pooled window (see the module docstring for the rules).

    Parameters
    ----------
    pool : dict
        A pooled window as the analysis kinds write it (k, estimate, ci, pi, I2, weights,
        effect_ids).
    es : DataFrame
        The effect sizes the pool was computed from (effect_id, study_id, yi, vi, n_total).
    studies : DataFrame
        The study sheet indexed by study_id (for the indirectness rules).
    rob_overall : dict
        study_id -> overall RoB 2 judgement (``low``, ``some_concerns``, ``high``).
    measure : str
        The analysis scale (SMD, OR on the log scale, RD, ZCOR, GEN).
    config : dict, optional
        Thresholds (defaults in :data:`DEFAULTS`).

    Returns
    -------
    dict
        ``rating`` (very low ... high), ``symbols``, ``downgrades`` (total levels), ``domains``
        (per domain: levels and footnote) and ``footnotes``.
    """
    cfg = {**DEFAULTS, **(config or {})}
    cfg["mid"] = {**DEFAULTS["mid"], **(config or {}).get("mid", {})}
    cfg["ois"] = {**DEFAULTS["ois"], **(config or {}).get("ois", {})}
    if pool.get("k", 0) == 0:
        return {"rating": None, "symbols": "", "downgrades": None, "domains": {}, "footnotes": ["No trial."]}
    mid = float(cfg["mid"].get(measure, 0.0))
    wts = _weights(pool, es)
    rows = es[es["effect_id"].isin(pool.get("effect_ids", []))]
    n_total = _participants(rows, studies)
    domains = {
        "risk_of_bias": _risk_of_bias(wts, rob_overall, cfg),
        "inconsistency": _inconsistency(pool, cfg, mid),
        "indirectness": _indirectness(wts, studies, cfg, measure),
        "imprecision": _imprecision(pool, n_total, cfg, measure, mid),
        "publication_bias": _publication_bias(pool, es, cfg),
    }
    total = sum(d for d, _ in domains.values())
    level = max(0, 3 - total)
    rating = LEVELS[level]
    return {"rating": rating, "symbols": SYMBOLS[rating], "downgrades": int(total),
            "domains": {k: {"downgrade": int(d), "footnote": f} for k, (d, f) in domains.items()},
            "footnotes": [f for d, f in domains.values() if d > 0],
            "participants": n_total, "trials": int(len(wts))}
