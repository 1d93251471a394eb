"""Benefit of one dose versus control at every reported time point, and its time course."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ...errors import ModelError
from ...horizon import horizon
from ...predict import predict
from ...rma_mv import confint_rma_mv, rma_mv
from ...robust import SmallDfWarning, robust
from ...timecourse import timecourse
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


def curves(es, spec):
    """Bayesian time courses (log-linear and exponential decay; :func:`ketameta.timecourse`) of
    every time point of every trial, the one with the lower AIC as the headline.
    """
    cfg = spec["curve"]
    d = es.dropna(subset=["time_days"])
    d = d[d["time_days"] > 0]
    if d["study_id"].nunique() < 2 or len(d) < 3:
        return {"status": "failed",
                "reason": f"a time course needs >= 2 trials and >= 3 effect sizes; found "
                          f"{d['study_id'].nunique()} trials, {len(d)} effect sizes"}
    out = {"status": "ok", "fits": {}, "rho": float(cfg.get("rho", 0.5)),
           "claim_window_days": spec.get("claim_window_days")}
    for shape in cfg.get("shapes", ["loglinear", "exponential"]):
        try:
            r = timecourse(d["yi"], d["vi"], d["time_days"], d["study_id"], shape=shape,
                           rho=out["rho"], tau_prior=tuple(cfg.get("tau_prior", ("halfnormal", 0.5))),
                           half_life_range=tuple(cfg.get("half_life_range", (0.25, 60))),
                           thresholds=tuple(cfg.get("thresholds", (0.2, 0.5))),
                           days=tuple(cfg.get("days", (3, 7))),
                           horizon=tuple(cfg.get("horizon_days", (40 / 1440, 28))),
                           window=spec.get("claim_window_days"), level=spec["level"],
                           draws=int(cfg.get("draws", 20000)), seed=spec.get("seed"))
            out["fits"][shape] = r.to_dict()
        except ModelError as exc:
            out["fits"][shape] = {"status": "failed", "reason": str(exc)}
    ok = {k: f for k, f in out["fits"].items() if "ml" in f}
    if not ok:
        return {"status": "failed", "reason": "; ".join(f"{k}: {f['reason']}" for k, f in out["fits"].items())}
    want = cfg.get("headline", "aic")
    out["headline"] = want if want in ok else min(ok, key=lambda k: ok[k]["ml"]["AIC"])
    out["k"], out["n_trials"] = int(len(d)), int(d["study_id"].nunique())
    out["t_max"] = float(d["time_days"].max())
    out["trials_with_two_times"] = int((d.groupby("study_id")["time_days"].nunique() >= 2).sum())
    return out


def curve_sentence(fit):
    """How long the benefit lasts, in one sentence with numbers (or why it cannot be said)."""
    cv = fit.get("curve") or {}
    if cv.get("status") != "ok":
        return f"How long the benefit lasts cannot be estimated: {cv.get('reason', 'no time course')}."
    h = cv["fits"][cv["headline"]]
    c0 = sorted(h["horizons"], key=float)[0]
    hz = h["horizons"][c0]
    probs = h["probabilities"]
    days = ", ".join(f"day {k.split('day ')[-1].rstrip(')')}: {v:.2f}" for k, v in probs.items()
                     if k.startswith(f"P(effect > {float(c0):g}"))
    t0, t1 = h["curve"]["time_days"][0], h["curve"]["time_days"][-1]

    def day(x):
        if x >= t1:
            return f"after day {t1:.0f}"
        if x <= t0:
            return "before the first time point"
        return f"on day {x:.1f}"

    return (f"The benefit of one infusion over control is estimated to fall below SMD {float(c0):g} "
            f"{day(hz['median'])} (95% credible interval: {day(hz['lower'])} to {day(hz['upper'])}; "
            f"{cv['headline']} time course of {cv['k']} effect sizes from {cv['n_trials']} trials, the latest "
            f"at day {cv['t_max']:g}; within-trial correlation {cv['rho']:g}); probability that the benefit "
            f"exceeds {float(c0):g}: {days}.")


@register
class Durability(PooledKind):
    """The effect of one dose versus control pooled per time point, and a three-level time-course
    model on log(days) with cluster-robust CR2 inference (Pustejovsky & Tipton 2018).
    """

    type = "durability"
    split_shared_controls = True

    def fit(self, ev, es, spec):
        """Per-time-point pools plus the time-course model."""
        require_rows(es)
        pools = pool_windows(es, spec["time_points"], spec["level"], spec["measure"], spec["method"],
                             spec["test"], bayes=spec.get("bayes"))
        out = {"pools": pools}
        if spec.get("time_course"):
            try:
                out["time_course"] = time_course(es, spec)
            except ModelError as exc:
                out["time_course"] = {"status": "failed", "reason": str(exc)}
        if spec.get("curve"):
            out["curve"] = curves(es, spec)
        return finish_model(out, spec)



    def extra_notes(self, fit, spec):
        """The time-course model's slope and horizon, and the Bayesian curves."""
        notes = []
        cv = fit.get("curve")
        if cv:
            notes.append(curve_sentence(fit))
            for shape, f in (cv.get("fits") or {}).items():
                if "ml" in f:
                    notes.append(f"{shape} time course: ML log-likelihood {f['ml']['logLik']:.2f}, AIC "
                                 f"{f['ml']['AIC']:.2f}" + (" (headline: lower AIC)" if shape == cv.get("headline") else ""))
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

    def figure(self, fit, es, spec, cit, rob=None, rob_palette="cochrane", opts=None):
        """Per-study effects over time, pooled points and the fitted curve with its band."""
        from ...outputs import figures  # matplotlib only in the jobs that draw
        from ..figopts import figure_kwargs

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
        cv = fit.get("curve") or {}
        curve = None
        if cv.get("status") == "ok":
            c = cv["fits"][cv["headline"]]["curve"]
            curve = pd.DataFrame({"time_days": c["time_days"], "pred": tr(np.asarray(c["median"])),
                                  "ci_lb": tr(np.asarray(c["lower"])), "ci_ub": tr(np.asarray(c["upper"]))})
        elif "curve" in tc:
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
            ylabel=AXIS.get(measure, measure), study_ids=es["study_id"].astype(str).tolist(),
            ratio=measure == "OR", **figure_kwargs(opts),
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
        out = [curve_sentence(fit)] if fit.get("curve") else []
        return out + self._tc_sentence(fit.get("time_course") or {})

    @staticmethod
    def _tc_sentence(tc):
        """The frequentist time course in one sentence."""
        if tc.get("status") == "failed":
            return [f"Time-course model not fitted: {tc['reason']}"]
        if tc:
            return [f"Time course: {tc['t_cross_status']}"
                    + (f" at day {tc['t_cross']:.1f}" if tc.get("t_cross") else "") + "."]
        return []

    def extra_values(self, aid, fit, put):
        """Time-course values (and the Bayesian curve's horizon and probabilities)."""
        cv = fit.get("curve") or {}
        if cv.get("status") == "ok":
            h = cv["fits"][cv["headline"]]
            for c, hz in h["horizons"].items():
                tag = f"{aid}_curve_below_{str(c).replace('.', 'p')}"
                put(f"{tag}_day", hz["median"], 1)
                put(f"{tag}_low", hz["lower"], 1)
                put(f"{tag}_high", hz["upper"], 1)
            c0 = sorted(h["horizons"], key=float)[0]
            for k, v in h["horizons"][c0].items():
                if k.startswith("p_"):
                    put(f"{aid}_curve_{k}", v, 2)
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
        """Per-time-point pools, the Bayesian curve's horizon, then the time course's slope and horizons."""
        out = super().headlines(fit)
        cv = fit.get("curve") or {}
        if cv.get("status") == "ok":
            h = cv["fits"][cv["headline"]]
            c0 = sorted(h["horizons"], key=float)[0]
            hz = h["horizons"][c0]
            end = float(h["curve"]["time_days"][-1]) if h["curve"].get("time_days") else None
            row = {"estimate_name": f"curve ({cv['headline']}): day the benefit falls below {float(c0):g}",
                   "k": cv["k"], "estimate": hz["median"], "ci_lb": hz["lower"], "ci_ub": hz["upper"],
                   "pval": None, "scale": "days (posterior median, 95% CrI)", "status": "Bayesian"}
            if end is not None and hz.get("p_beyond_end", 0) >= 0.5:
                # the median crossing lies past the modelled range: no number, a statement
                row.update(estimate=None, ci_lb=None, ci_ub=None,
                           status=f"after day {end:g}, the end of the modelled range "
                                  f"(probability {hz['p_beyond_end']:.2f})")
            out.append(row)
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
        from ..pools import headline_pool
        from ..text import fmt_ci

        bt = fit["measure"] == "OR"
        s = "_bt" if bt else ""
        pts = []
        for p in map(headline_pool, fit["pools"]):
            if p["k"] == 0:
                continue
            how = "; Bayesian" if p["headline_fit"] == "Bayesian" else ""
            pts.append(f"{p['label']}: {fmt_ci(p.get('estimate' + s), p.get('ci_lb' + s), p.get('ci_ub' + s))} "
                       f"(k = {p['k']}{how})")
        out = [{"text": f"{fit['title']} ({'OR' if bt else fit['measure']}) -- " + "; ".join(pts),
                "time_course": fit.get("time_course") or {}}]
        if fit.get("curve"):
            out.append({"text": curve_sentence(fit), "curve": fit["curve"]})
        return out
