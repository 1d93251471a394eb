"""Model fits of the configured analyses, as JSON-serialisable dictionaries.

Each ``fit_*`` function takes the effect-size table of one analysis (from
:func:`ketameta.synthesis.effects.compute`) and its configuration, fits the model(s) with the
library (:func:`ketameta.rma`, :func:`ketameta.rma_mv`, :func:`ketameta.robust`,
:func:`ketameta.permutest`, ...) and returns a plain dict: the ``to_dict()`` of every fitted
model plus the derived headline numbers. A model that cannot be fitted (too few studies,
collinear moderators, no convergence) raises :class:`~ketameta.errors.ModelError`; per-window
pools with fewer studies than a model needs are reported as single studies or as empty.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import optimize, stats

from ..confint import confint
from ..errors import ModelError
from ..permutest import permutest
from ..predict import predict
from ..rma import rma
from .effects import MEASURE_LABELS, SIGN_CONVENTION

__all__ = ["fit_analysis", "pool", "model_label", "z_crit"]


def z_crit(level):
    return float(stats.norm.isf((1 - level / 100) / 2))


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


def pool(es: pd.DataFrame, measure, method, test, level, label=""):
    """Pool the rows of ``es`` (one per study); single studies are reported as such.

    Returns a dict with ``k``, ``studies``, ``model``, ``estimate``, ``ci_lb``, ``ci_ub``,
    ``pval``, heterogeneity (``tau2``, ``I2``, ``QE``, ``QEp``), the prediction interval, the
    back-transformed values for ZCOR/OR, and ``fit`` (the model's ``to_dict()``).
    """
    k = len(es)
    out = {"label": label, "k": int(k), "studies": sorted(es["study_id"].unique().tolist()),
           "effect_ids": es["effect_id"].tolist(), "measure": measure, "method": method,
           "test": test, "level": level}
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
            pval=float(2 * stats.norm.sf(abs(est / se))), tau2=None, I2=None, QE=None,
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
    return out


def _windows(es, windows, level, measure, method, test):
    res = []
    for w in windows:
        lo, hi = w["from_days"], w["to_days"]
        sub = es[(es["time_days"] >= lo) & (es["time_days"] <= hi)]
        # one row per study: the largest n, then the latest time within the window
        sub = sub.sort_values(["study_id", "n_total", "time_days"], ascending=[True, False, False])
        dropped = sub[sub.duplicated("study_id", keep="first")]
        sub = sub.drop_duplicates("study_id", keep="first")
        p = pool(sub, measure, method, test, level, label=w["label"])
        p["window"] = {"name": w.get("name", w["label"]), "from_days": lo, "to_days": hi}
        if len(dropped):
            p["not_pooled_duplicates"] = dropped["effect_id"].tolist()
        res.append(p)
    return res


# -- analysis types ------------------------------------------------------------------------------

def fit_correlation(es, spec):
    """Pooled Fisher-z correlations per time window (REML, Knapp-Hartung by default)."""
    level = spec["level"]
    wins = _windows(es, spec["windows"], level, "ZCOR", spec["method"], spec["test"])
    return {"pools": wins}


def fit_slopes(es, spec):
    """Pooled regression slopes on a shared scale."""
    p = pool(es, "GEN", spec["method"], spec["test"], spec["level"], label=spec.get("unit", ""))
    return {"pools": [p]}


def fit_metareg(es, spec):
    """Meta-regression on one moderator, with a permutation p-value and bubble-plot data."""
    mod = spec["moderator"]["name"]
    d = es.dropna(subset=[mod])
    k = len(d)
    if k < 3:
        raise ModelError(
            f"meta-regression on {mod!r} needs at least 3 effect sizes with the moderator; "
            f"found {k} ({', '.join(d['study_id']) or 'none'})."
        )
    if d[mod].nunique() < 2:
        raise ModelError(f"moderator {mod!r} takes a single value ({d[mod].iloc[0]}) across "
                         f"the {k} effect sizes; its slope cannot be estimated.")
    X = pd.DataFrame({mod: d[mod].to_numpy(dtype=float)})
    res = rma(d["yi"].to_numpy(), d["vi"].to_numpy(), mods=X, method=spec["method"],
              test=spec["test"], level=spec["level"], slab=d["study_id"].tolist())
    n_perm = int(spec.get("permutations", 1000))
    pt = permutest(res, iter=n_perm, seed=spec.get("seed")) if n_perm > 0 else None
    grid = np.linspace(float(d[mod].min()), float(d[mod].max()), 101)
    pr = predict(res, newmods=grid)
    intercept_only = pool(d, spec["measure"], spec["method"], spec["test"], spec["level"],
                          label="all effect sizes (no moderator)")
    n_clusters = d["study_id"].nunique()
    return {
        "k": int(k),
        "n_studies": int(n_clusters),
        "studies": sorted(d["study_id"].unique().tolist()),
        "moderator": mod,
        "moderator_label": spec["moderator"]["label"],
        "exploratory": bool(n_clusters < spec.get("exploratory_k", 10)),
        "model": model_label(spec["method"], spec["test"], k, p=2),
        "slope": float(res.beta[1]), "slope_se": float(res.se[1]),
        "slope_ci_lb": float(res.ci_lb[1]), "slope_ci_ub": float(res.ci_ub[1]),
        "slope_pval": float(res.pval[1]),
        "slope_pval_perm": float(pt.pval[1]) if pt is not None else None,
        "permutation": pt.to_dict() if pt is not None else None,
        "R2": res.R2, "tau2": res.tau2, "QE": res.QE, "QEp": res.QEp, "QM": res.QM,
        "QMp": res.QMp, "fit": res.to_dict(),
        "bubble": {"x": grid.tolist(), "pred": pr["pred"].tolist(),
                   "ci_lb": pr["ci_lb"].tolist(), "ci_ub": pr["ci_ub"].tolist(),
                   "pi_lb": pr["pi_lb"].tolist() if "pi_lb" in pr else None,
                   "pi_ub": pr["pi_ub"].tolist() if "pi_ub" in pr else None},
        "shared_controls": _shared_controls(d),
        "pooled_without_moderator": intercept_only,
    }


def _shared_controls(d):
    """Studies contributing more than one contrast (their arms share a control group)."""
    counts = d["study_id"].value_counts()
    return counts[counts > 1].index.tolist()


def _time_course(es, spec):
    """Three-level time-course model (effect on log days, time points nested in studies) with
    cluster-robust (CR2) inference; the latest time the benefit is distinguishable from zero."""
    from ..rma_mv import rma_mv
    from ..robust import robust

    tc = spec.get("time_course") or {}
    k, n_cl = len(es), es["study_id"].nunique()
    if n_cl < 3 or k < 4 or es["time_days"].nunique() < 2:
        raise ModelError(
            f"time-course model needs >= 3 studies, >= 4 effect sizes and >= 2 time points; "
            f"found {n_cl} studies, {k} effect sizes."
        )
    logt = np.log(es["time_days"].to_numpy(dtype=float))
    mods = pd.DataFrame({"log_days": logt})
    fit = rma_mv(es["yi"].to_numpy(), es["vi"].to_numpy(), cluster=es["study_id"].to_numpy(),
                 mods=mods, method=spec["method"] if spec["method"] in ("REML", "ML") else "REML",
                 level=spec["level"])
    adjust = tc.get("robust", "CR2")
    import warnings

    from ..robust import SmallDfWarning

    with warnings.catch_warnings():
        # small Satterthwaite df are reported in the output (small_df_warning), not as noise
        warnings.simplefilter("ignore", SmallDfWarning)
        rob = robust(fit, cluster=es["study_id"].to_numpy(), adjust=adjust)
    try:
        from ..rma_mv import confint_rma_mv

        components_ci = confint_rma_mv(fit).to_dict()
    except ModelError as exc:
        components_ci = {"status": "failed", "reason": str(exc)}
    rd = rob.to_dict()
    b = np.asarray(rd["beta"], dtype=float)
    V = np.asarray(rd["vb"], dtype=float)
    dfs = np.atleast_1d(np.asarray(rd["dfs"], dtype=float))
    df_use = float(np.nanmin(dfs))
    crit = float(stats.t.isf((1 - spec["level"] / 100) / 2, df_use))
    h0, h1 = tc.get("horizon_days", [40 / 1440, 28])
    grid = np.exp(np.linspace(np.log(h0), np.log(h1), 200))
    Xg = np.column_stack([np.ones_like(grid), np.log(grid)])
    pred = Xg @ b
    se = np.sqrt(np.einsum("ij,jk,ik->i", Xg, V, Xg))
    lo, hi = pred - crit * se, pred + crit * se

    def lower(logt_):
        x = np.array([1.0, logt_])
        return float(x @ b - crit * math.sqrt(x @ V @ x))

    t_cross, status = None, ""
    if lo[0] <= 0:
        status = "not distinguishable from zero at the first time point of the horizon"
    elif lo[-1] > 0:
        status = f"still distinguishable from zero at day {h1:g} (end of horizon)"
        t_cross = float(h1)
    else:
        j = int(np.argmax(lo <= 0))
        root = optimize.brentq(lower, math.log(grid[j - 1]), math.log(grid[j]), xtol=1e-12)
        t_cross = float(math.exp(root))
        status = "lower confidence bound reaches zero"
    # time at which the fitted benefit reaches zero: log t0 = -b0/b1 (delta method)
    t_zero = None
    if b[1] < 0 and b[0] > 0:
        g = -b[0] / b[1]
        J = np.array([-1 / b[1], b[0] / b[1] ** 2])
        se_g = math.sqrt(float(J @ V @ J))
        t_zero = {"estimate": math.exp(g), "ci_lb": math.exp(g - crit * se_g),
                  "ci_ub": math.exp(g + crit * se_g), "log_se": se_g,
                  "method": "delta method on log(days), cluster-robust covariance, "
                            f"t with {df_use:.2f} df"}
    cw = spec.get("claim_window_days")
    return {
        "model": "three-level random-effects meta-regression on log(days) (time points nested "
                 f"in studies), {fit.to_dict().get('method', 'REML')}; cluster-robust "
                 f"{adjust} inference with Satterthwaite df",
        "k": int(k), "n_studies": int(n_cl),
        "fit": fit.to_dict(), "robust": rd, "variance_components_ci": components_ci,
        "intercept": float(b[0]), "slope_log_days": float(b[1]),
        "slope_ci": [float(rd["ci_lb"][1]), float(rd["ci_ub"][1])],
        "slope_pval": float(rd["pval"][1]), "df_used": df_use,
        "curve": {"time_days": grid.tolist(), "pred": pred.tolist(), "ci_lb": lo.tolist(),
                  "ci_ub": hi.tolist()},
        "t_cross": t_cross, "t_cross_status": status, "t_zero": t_zero,
        "claim_window_days": cw,
        "small_df_warning": bool(df_use < 4),
    }


def fit_durability(es, spec):
    """Per-time-point pools plus the time-course model."""
    pools = _windows(es, spec["time_points"], spec["level"], spec["measure"], spec["method"],
                     spec["test"])
    out = {"pools": pools}
    if spec.get("time_course"):
        try:
            out["time_course"] = _time_course(es, spec)
        except ModelError as exc:
            out["time_course"] = {"status": "failed", "reason": str(exc)}
    # latest time point whose pooled CI excludes zero (per-time-point view)
    sig = [p for p in pools if p.get("ci_lb") is not None and p["ci_lb"] > 0]
    out["latest_time_point_ci_excludes_zero"] = sig[-1]["label"] if sig else None
    return out


def fit_analysis(es: pd.DataFrame, spec: dict) -> dict:
    """Fit one analysis; returns the JSON-able summary (``status`` ok)."""
    kind = spec["type"]
    fns = {"correlation": fit_correlation, "slopes": fit_slopes, "metareg": fit_metareg,
           "durability": fit_durability}
    if kind not in fns:
        raise ModelError(f"analysis type {kind!r} has no model")
    if es.empty:
        raise ModelError("no effect size could be computed for this analysis (see the "
                         "exclusions table)")
    result = fns[kind](es, spec)
    result.update({
        "analysis": spec["id"], "type": kind, "title": spec.get("title", spec["id"]),
        "status": "ok", "measure": spec.get("measure", "GEN"),
        "measure_label": MEASURE_LABELS.get(spec.get("measure", "GEN"), ""),
        "method": spec.get("method"), "test": spec.get("test"), "level": spec["level"],
        "sign_convention": SIGN_CONVENTION,
    })
    return result
