"""Benefit of one dose versus control at every reported time point, and its time course."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ...errors import ModelError
from ...horizon import horizon
from ...outputs import figures
from ...predict import predict
from ...rma_mv import confint_rma_mv, rma_mv
from ...robust import SmallDfWarning, robust
from ..pools import TEST_NAMES, finish_model, pool_windows, require_rows
from ..registry import register
from .pooled import AXIS, PooledKind, label_of

__all__ = ["Durability", "time_course"]


def time_course(es, spec):
    """Three-level time-course model (effect on log days, time points nested in studies) with
    cluster-robust (CR2) inference; when the benefit stops being distinguishable from zero and
    when the fitted benefit reaches zero (:func:`ketameta.horizon`).
    """
    tc = spec.get("time_course") or {}
    k, n_cl = len(es), es["study_id"].nunique()
    if n_cl < 3 or k < 4 or es["time_days"].nunique() < 2:
        raise ModelError(
            f"time-course model needs >= 3 studies, >= 4 effect sizes and >= 2 time points; "
            f"found {n_cl} studies, {k} effect sizes."
        )
    method = tc.get("method", "REML")
    mods = pd.DataFrame({"log_days": np.log(es["time_days"].to_numpy(dtype=float))})
    fit = rma_mv(es["yi"].to_numpy(), es["vi"].to_numpy(), cluster=es["study_id"].to_numpy(),
                 mods=mods, method=method, level=spec["level"])
    adjust = tc.get("robust", "CR2")
    with warnings.catch_warnings():
        # small Satterthwaite df are reported in the output (small_df_warning), not as noise
        warnings.simplefilter("ignore", SmallDfWarning)
        rob = robust(fit, cluster=es["study_id"].to_numpy(), adjust=adjust)
    try:
        components_ci = confint_rma_mv(fit).to_dict()
    except ModelError as exc:
        components_ci = {"status": "failed", "reason": str(exc)}
    rd = rob.to_dict()
    h0, h1 = tc.get("horizon_days", [40 / 1440, 28])
    grid = np.exp(np.linspace(np.log(h0), np.log(h1), 200))
    band = predict(rob, newmods=np.log(grid))
    hz = horizon(rob, 0.0, grid=(h0, h1), level=spec["level"])
    t_cross = hz.last_time
    status = hz.last_status
    t_zero = None
    if hz.crossing is not None:
        t_zero = {"estimate": hz.crossing, "ci_lb": hz.crossing_ci[0], "ci_ub": hz.crossing_ci[1],
                  "method": hz.method + (f" ({hz.df:.2f} df)" if hz.df is not None else "")}
    df_slope = float(rd["dfs"][1])
    return {
        "model": "three-level random-effects meta-regression on log(days) (time points nested "
                 f"in studies), {fit.to_dict().get('method', method)}; cluster-robust "
                 f"{adjust} inference with Satterthwaite df",
        "k": int(k), "n_studies": int(n_cl),
        "fit": fit.to_dict(), "robust": rd, "variance_components_ci": components_ci,
        "intercept": float(rob.beta[0]), "slope_log_days": float(rob.beta[1]),
        "slope_ci": [float(rd["ci_lb"][1]), float(rd["ci_ub"][1])],
        "slope_pval": float(rd["pval"][1]), "df_used": df_slope,
        "curve": {"time_days": grid.tolist(), "pred": band["pred"].tolist(),
                  "ci_lb": band["ci_lb"].tolist(), "ci_ub": band["ci_ub"].tolist(),
                  "ddf": band["ddf"].tolist()},
        "t_cross": t_cross, "t_cross_status": status, "t_zero": t_zero,
        "horizon": hz.to_dict(),
        "claim_window_days": spec.get("claim_window_days"),
        "small_df_warning": bool(df_slope < 4),
    }


@register
class Durability(PooledKind):
    """The effect of one dose versus control pooled per time point, and a three-level time-course
    model on log(days) with cluster-robust CR2 inference (Pustejovsky & Tipton 2018).
    """

    type = "durability"

    def fit(self, ev, es, spec):
        """Per-time-point pools plus the time-course model."""
        require_rows(es)
        pools = pool_windows(es, spec["time_points"], spec["level"], spec["measure"], spec["method"],
                         spec["test"])
        out = {"pools": pools}
        if spec.get("time_course"):
            try:
                out["time_course"] = time_course(es, spec)
            except ModelError as exc:
                out["time_course"] = {"status": "failed", "reason": str(exc)}
        # latest time point whose pooled CI excludes zero (per-time-point view)
        sig = [p for p in pools if p.get("ci_lb") is not None and p["ci_lb"] > 0]
        out["latest_time_point_ci_excludes_zero"] = sig[-1]["label"] if sig else None
        return finish_model(out, spec)



    def extra_notes(self, fit, spec):
        """The time-course model's slope and horizon."""
        notes = []
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
        return notes

    def figure(self, fit, es, spec, cit):
        """Per-study effects over time, pooled points and the fitted curve with its band."""
        measure = fit.get("measure")
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
            [label_of(cit, k) for k in es["citation_key"]],
            pooled=pd.DataFrame(pooled) if pooled else None, curve=curve, marks=marks,
            ylabel=AXIS.get(measure, measure), width="double",
        )

    def methods(self, fit, spec):
        """Methods sentence."""
        test = TEST_NAMES.get(fit.get("test"), fit.get("test"))
        return ("The effect of one infusion versus control was computed at every reported time "
                f"point ({fit.get('measure_label', fit.get('measure'))}, positive = benefit) and "
                f"pooled per time point ({fit['method']}, {test}). A time-course model regressed "
                "the effect on log(days) with time points nested in studies (three-level model, "
                "REML) and cluster-robust CR2 standard errors with Satterthwaite degrees of "
                "freedom; the latest time at which the lower confidence bound of the fitted "
                "benefit stays above zero, and the day at which the fitted benefit reaches zero "
                "(delta-method interval), were set against the claimed 3-7 days.")

    def extra_paragraphs(self, fit, spec):
        """The time course in one sentence."""
        tc = fit.get("time_course") or {}
        if tc.get("status") == "failed":
            return [f"Time-course model not fitted: {tc['reason']}"]
        if tc:
            return [f"Time course: {tc['t_cross_status']}"
                    + (f" at day {tc['t_cross']:.1f}" if tc.get("t_cross") else "") + "."]
        return []

    def extra_values(self, aid, fit, put):
        """Time-course values."""
        tc = fit.get("time_course") or {}
        if tc.get("t_cross") is not None:
            put(f"{aid}_t_cross_days", tc["t_cross"], 1)
        if tc.get("t_zero"):
            put(f"{aid}_t_zero_days", tc["t_zero"]["estimate"], 1)
            put(f"{aid}_t_zero_low", tc["t_zero"]["ci_lb"], 1)
            put(f"{aid}_t_zero_high", tc["t_zero"]["ci_ub"], 1)
        if "slope_log_days" in tc:
            put(f"{aid}_slope_log_days", tc["slope_log_days"], 3)
            put(f"{aid}_time_course_k", tc["k"], "int")

    def headlines(self, fit):
        """Per-time-point pools, then the time course's slope and horizons."""
        out = super().headlines(fit)
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
        return out

    def findings(self, fit, spec):
        """Per-time-point pools in one line, and the time course."""
        from ..text import fmt_ci

        bt = fit["measure"] == "OR"
        s = "_bt" if bt else ""
        pts = [f"{p['label']}: {fmt_ci(p.get('estimate' + s), p.get('ci_lb' + s), p.get('ci_ub' + s))} (k = {p['k']})"
               for p in fit["pools"] if p["k"] > 0]
        return [{"text": f"{fit['title']} ({'OR' if bt else fit['measure']}) -- " + "; ".join(pts),
                 "time_course": fit.get("time_course") or {}}]
