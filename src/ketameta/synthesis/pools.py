"""Shared machinery of the pooled analysis kinds: pooling one window, per-window pools, and
the per-study-plus-pooled table rows they share (correlation, slopes, durability).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .._dist import norm_isf, norm_sf
from ..confint import confint
from ..errors import ModelError
from ..predict import predict
from ..rma import rma
from .effects import SIGN_CONVENTION

__all__ = ["z_crit", "model_label", "pool", "bayes_pool", "headline_of", "headline_pool", "pool_windows",
           "window_rows", "WINDOW_ORDER", "pools_table", "common_notes", "time_label", "num", "TEST_NAMES", "finish_model", "require_rows"]

TEST_NAMES = {"z": "Wald z", "t": "t (k - p df)", "knha": "Knapp-Hartung (t, k - p df)",
              "adhoc": "Knapp-Hartung, factor >= 1 (t, k - p df)"}


def z_crit(level):
    """The two-sided normal quantile of a confidence level in percent."""
    return float(norm_isf((1 - level / 100) / 2))


def _finite(x):
    if x is None:
        return None
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def model_label(method, test, k=None, p=1):
    """Plain-language description of a model, e.g. for table notes."""
    if k is not None and k < 2 and p == 1:
        return "single study (no pooling)"
    kind = "random-effects model" if p == 1 else "mixed-effects meta-regression"
    if method == "EE":
        kind = "equal-effects model" if p == 1 else "fixed-effects meta-regression"
    tau = "" if method == "EE" else f", tau^2 estimator {method}"
    tst = {"z": "Wald z-tests", "t": "t-tests (k - p df)",
           "knha": "Knapp-Hartung adjustment (t with k - p df)",
           "adhoc": "Knapp-Hartung adjustment truncated at 1 (t with k - p df)"}[test]
    return f"{kind}{tau}; {tst}"


def _back(measure):
    if measure == "ZCOR":
        return np.tanh
    if measure == "OR":
        return np.exp
    return None


def bayes_pool(es: pd.DataFrame, measure, level, cfg) -> dict | None:
    """Bayesian random-effects pool of the rows of ``es`` (:func:`ketameta.bayesmeta`).

    ``cfg`` is the config's ``bayes`` section: ``tau_prior`` per effect measure (e.g.
    ``SMD: [halfnormal, 0.5]``; a measure without a prior is not fitted and None is returned),
    flat prior on mu. Returns the posterior median of mu, its central credible interval, the
    central interval of a new study's effect, the posterior median of tau, P(mu > 0) and the
    prior's label (back-transformed values for ZCOR/OR as ``*_bt``).
    """
    from ..bayesmeta import bayesmeta

    prior = ((cfg or {}).get("tau_prior") or {}).get(measure)
    if not prior or len(es) == 0:
        return None
    prior = prior if isinstance(prior, str) else tuple(prior)
    res = bayesmeta(es["yi"].to_numpy(float), es["vi"].to_numpy(float), tau_prior=prior,
                    level=level / 100, interval="central")
    tab = res.summary()
    lo, hi = res.post_interval("mu", level / 100, "central")
    plo, phi = res.post_interval("theta", level / 100, "central")
    out = {"estimate": float(tab.loc["median", "mu"]), "ci_lb": float(lo), "ci_ub": float(hi),
           "pi_lb": float(plo), "pi_ub": float(phi), "tau": float(tab.loc["median", "tau"]),
           "p_gt_0": float(res.p_mu_gt_0), "tau_prior": res.tau_prior.label,
           "model": f"Bayesian random effects (tau prior {res.tau_prior.label}; flat prior on mu; "
                    "posterior median and central credible interval)"}
    back = _back(measure)
    if back is not None:
        for key in ("estimate", "ci_lb", "ci_ub", "pi_lb", "pi_ub"):
            out[f"{key}_bt"] = float(back(out[key]))
    return out


def headline_of(k: int, cfg) -> str:
    """Which fit a pooled row leads with: ``"bayes"`` or ``"frequentist"`` (config ``bayes.headline``:
    ``auto`` -- Bayesian when k < ``k_below`` (5) and k >= 2 -- or ``bayes`` or ``frequentist``).
    """
    cfg = cfg or {}
    choice = cfg.get("headline", "auto")
    if not cfg.get("tau_prior") or k < 2:
        return "frequentist"
    if choice == "auto":
        return "bayes" if k < cfg.get("k_below", 5) else "frequentist"
    return choice


def headline_pool(p: dict) -> dict:
    """The pool with the headline fit's estimate and intervals (Bayesian when it leads), and
    ``headline_fit`` naming it ("Bayesian", "REML" or "single trial").
    """
    if p.get("headline") == "bayes" and p.get("bayes"):
        b = p["bayes"]
        keys = [k for k in b if k.split("_bt")[0] in ("estimate", "ci_lb", "ci_ub", "pi_lb", "pi_ub")]
        return {**p, **{k: b[k] for k in keys}, "headline_fit": "Bayesian"}
    return {**p, "headline_fit": "REML" if p.get("k", 0) > 1 else "single trial"}


def pool(es: pd.DataFrame, measure, method, test, level, label="", bayes=None):
    """Pool the rows of ``es`` (one per study); single studies are reported as such.

    Returns a dict with ``k``, ``studies``, ``model``, ``estimate``, ``ci_lb``, ``ci_ub``,
    ``pval``, heterogeneity (``tau2``, ``I2``, ``QE``, ``QEp``), the prediction interval, the
    back-transformed values for ZCOR/OR, and ``fit`` (the model's ``to_dict()``). With the
    config's ``bayes`` section, also ``bayes`` (:func:`bayes_pool`, k >= 2) and ``headline``
    (:func:`headline_of`): the frequentist fields stay the REML/Knapp-Hartung fit either way.
    """
    k = len(es)
    n = pd.to_numeric(es["n_total"], errors="coerce") if "n_total" in es else pd.Series(dtype=float)
    out = {"label": label, "k": int(k), "studies": sorted(es["study_id"].unique().tolist()),
           "effect_ids": es["effect_id"].tolist(), "measure": measure, "method": method,
           "test": test, "level": level,
           # participants behind the pool, where the rows give n (None when none does)
           "participants": float(n.sum()) if n.notna().any() else None,
           "participants_known": int(n.notna().sum())}
    back = _back(measure)
    if k == 0:
        out.update(status="no data", model="no studies")
        return out
    if k == 1:
        row = es.iloc[0]
        crit = z_crit(level)
        est, se = float(row["yi"]), float(row["sei"])
        out.update(
            status="single study", model=model_label(method, test, 1),
            estimate=est, se=se, ci_lb=est - crit * se, ci_ub=est + crit * se,
            pval=float(2 * norm_sf(abs(est / se))), tau2=None, I2=None, QE=None,
            QEp=None, pi_lb=None, pi_ub=None, dfs=None,
            note="one study: its own estimate with a z-based CI; nothing is pooled",
        )
    else:
        res = rma(es["yi"].to_numpy(), es["vi"].to_numpy(), method=method, test=test,
                  level=level, slab=es["study_id"].tolist())
        pr = predict(res)
        ci = None
        if method != "EE" and k > 1:
            try:
                ci = confint(res).to_dict()
            except ModelError:
                ci = None
        out.update(
            status="pooled", model=model_label(method, test, k),
            estimate=float(res.beta[0]), se=float(res.se[0]), ci_lb=float(res.ci_lb[0]),
            ci_ub=float(res.ci_ub[0]), pval=float(res.pval[0]), tau2=res.tau2, I2=res.I2,
            QE=res.QE, QEp=res.QEp, pi_lb=_finite(pr["pi_lb"].iloc[0]) if "pi_lb" in pr else None,
            pi_ub=_finite(pr["pi_ub"].iloc[0]) if "pi_ub" in pr else None, dfs=res.dfs,
            weights=dict(zip(es["effect_id"], res.weights.round(6).tolist())),
            heterogeneity_ci=ci, fit=res.to_dict(),
        )
        if k == 2:
            out["note"] = ("k = 2: tau^2 and the Knapp-Hartung interval (1 df) are very "
                           "imprecise")
    if back is not None:
        for key in ("estimate", "ci_lb", "ci_ub", "pi_lb", "pi_ub"):
            v = out.get(key)
            out[f"{key}_bt"] = None if v is None else float(back(v))
    if k >= 2 and bayes:
        b = bayes_pool(es, measure, level, bayes)
        if b is not None:
            out["bayes"] = b
    out["headline"] = headline_of(k, bayes) if "bayes" in out else "frequentist"
    return out


#: the order in which a window keeps one row per study: the largest n, then the latest time
WINDOW_ORDER = (["study_id", "n_total", "time_days"], [True, False, False])


def window_rows(es, lo, hi):
    """The rows of ``es`` in the window ``[lo, hi]`` (days, inclusive), one per study (the largest
    n, then the latest time in the window), and the other rows of the window (``(kept, dropped)``).
    """
    sub = es[(es["time_days"] >= lo) & (es["time_days"] <= hi)]
    sub = sub.sort_values(WINDOW_ORDER[0], ascending=WINDOW_ORDER[1])
    return sub.drop_duplicates("study_id", keep="first"), sub[sub.duplicated("study_id", keep="first")]


def pool_windows(es, windows, level, measure, method, test, bayes=None):
    """One pool per window (one row per study: the largest n, then the latest time in the window)."""
    res = []
    for w in windows:
        lo, hi = w["from_days"], w["to_days"]
        sub, dropped = window_rows(es, lo, hi)
        p = pool(sub, measure, method, test, level, label=w["label"], bayes=bayes)
        p["window"] = {"name": w.get("name", w["label"]), "from_days": lo, "to_days": hi}
        if len(dropped):
            p["not_pooled_duplicates"] = dropped["effect_id"].tolist()
        res.append(p)
    return res


def num(x):
    """``x`` as a float (NaN when missing or not a number)."""
    if x is None:
        return np.nan
    try:
        x = float(x)
    except (TypeError, ValueError):
        return np.nan
    return x


def time_label(days, text=None):
    """The reported time wording, or a label from the time in days."""
    if isinstance(text, str) and text:
        return text
    if days is None or (isinstance(days, float) and math.isnan(days)):
        return ""
    mins = days * 1440
    if mins < 60 * 23:
        return f"{mins:.0f} min" if mins < 120 else f"{mins / 60:.0f} h"
    return f"day {days:g}"


def common_notes(fit, spec):
    """The notes every pooled table carries: estimator and test, sign convention, measure."""
    notes = []
    if fit.get("method"):
        notes.append(f"Estimator: {fit['method']} (tau^2); test: "
                     f"{TEST_NAMES.get(fit.get('test'), fit.get('test'))}; "
                     f"{fit.get('level', 95):g}% confidence intervals.")
    notes.append(f"Sign: {SIGN_CONVENTION}.")
    if fit.get("measure_label"):
        notes.append(f"Effect measure: {fit['measure_label']}.")
    return notes


def _pooled_label(section, k):
    """The label of a pool's summary row: a single study is not called pooled."""
    if k != k:
        return ""
    if k == 0:
        return f"No study ({section})"
    if k == 1:
        return f"Not pooled ({section}; single study, its own estimate)"
    return f"Pooled ({section}; k = {k:.0f})"


def pools_table(fit, es, spec, cit, kind):
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
                "effect_id": r["effect_id"], "time": time_label(r["time_days"], r.get("time_text")),
                "n": num(r.get("n_total")),
                "estimate": float(tr(r["yi"])), "ci_lb": float(tr(r["ci_lb"])),
                "ci_ub": float(tr(r["ci_ub"])),
                "weight": num((p.get("weights") or {}).get(r["effect_id"])),
                "pval": np.nan, "grade": r.get("grade"),
                "derived": "yes" if "DERIVED" in str(r.get("derivation")) or
                                    "ASSUMED" in str(r.get("derivation")) else "",
                "k": np.nan, "model": "", "estimator": "", "test": "",
            })
        est_key = "_bt" if (zcor or orr) and p.get("estimate_bt") is not None else ""
        rows.append({
            "section": p["label"], "row": "pooled", "citation_key": None, "effect_id": "",
            "time": "", "n": num(sum(num(x) for x in sub["n_total"]) if len(sub) else np.nan),
            "estimate": num(p.get("estimate" + est_key)), "ci_lb": num(p.get("ci_lb" + est_key)),
            "ci_ub": num(p.get("ci_ub" + est_key)), "weight": 100.0 if p["k"] > 1 else np.nan,
            "pval": num(p.get("pval")), "grade": "", "derived": "",
            "k": p["k"], "model": p.get("model", ""), "estimator": fit.get("method") if p["k"] > 1 else "",
            "test": fit.get("test") if p["k"] > 1 else "",
            **_bayes_cells(p, est_key),
        })
    df = pd.DataFrame(rows)
    df["label"] = np.where(df["row"] == "pooled",
                           [_pooled_label(s, k) for s, k in zip(df["section"], df["k"])], "")
    scale = "r" if zcor else ("OR" if orr else fit.get("measure", "estimate"))
    return df, scale


def _bayes_cells(p, est_key):
    b = p.get("bayes")
    if not b:
        return {"bayes_estimate": np.nan, "bayes_ci_lb": np.nan, "bayes_ci_ub": np.nan, "headline": ""}
    return {"bayes_estimate": num(b.get("estimate" + est_key)), "bayes_ci_lb": num(b.get("ci_lb" + est_key)),
            "bayes_ci_ub": num(b.get("ci_ub" + est_key)),
            "headline": "Bayesian" if p.get("headline") == "bayes" else "REML"}


def bayes_notes(fit) -> list[str]:
    """The notes of a pooled table with Bayesian columns: the prior and which fit leads."""
    pools = [p for p in fit.get("pools", []) if p.get("bayes")]
    if not pools:
        return []
    priors = sorted({p["bayes"]["tau_prior"] for p in pools})
    cfg = fit.get("bayes_settings") or {}
    rule = {"auto": f"the Bayesian fit when k < {cfg.get('k_below', 5)}, REML otherwise",
            "bayes": "the Bayesian fit", "frequentist": "the REML fit"}[cfg.get("headline", "auto")]
    return [f"Bayesian random-effects pools (bayesmeta; Roever 2020): prior on tau {', '.join(priors)}, flat "
            f"prior on mu; posterior median and central {fit.get('level', 95):g}% credible interval. "
            f"Headline (column 'Headline'): {rule} (few trials: Friede et al. 2017, Res Synth Methods 8:79; "
            "Roever et al. 2021, Res Synth Methods 12:448)."]


def finish_model(result: dict, spec) -> dict:
    """Add the fields every fitted model record carries (analysis, type, measure, model settings)."""
    from .effects import MEASURE_LABELS

    result.update({
        "analysis": spec["id"], "type": spec["type"], "title": spec.get("title", spec["id"]),
        "status": "ok", "measure": spec.get("measure", "GEN"),
        "measure_label": MEASURE_LABELS.get(spec.get("measure", "GEN"), ""),
        "method": spec.get("method"), "test": spec.get("test"), "level": spec["level"],
        "sign_convention": SIGN_CONVENTION,
    })
    if spec.get("bayes"):
        result["bayes_settings"] = {k: spec["bayes"][k] for k in ("headline", "k_below") if k in spec["bayes"]}
    return result


def require_rows(es) -> None:
    """Raise ModelError when no effect size could be computed."""
    if es.empty:
        raise ModelError("no effect size could be computed for this analysis (see the "
                         "exclusions table)")
