"""Multiverse analysis: every defensible specification of a pooled analysis at once.

A multiverse (Steegen et al. 2016) or specification-curve meta-analysis (Voracek, Kossmeier &
Tran 2019; Simonsohn, Simmons & Nelson 2020) refits the per-window pools of a pooled analysis
(``base``, e.g. durability) under every combination of the options of its choice dimensions: the
tau^2 estimator (``method``), the test (``test``), the admitted evidence grades (``grades``), the
within-patient correlation assumed for crossover trials (``crossover_rho``), how far the window
edges are moved out (``window_widen``: a window ``[lo, hi]`` becomes ``[lo / f, hi * f]``), and
any column of the base's row filter (``select``: value type, setting, dose, polarity, ...). The
grid is the Cartesian product of the options.

Choices that change the rows (grades, crossover rho, filters) change the effect sizes: they are
computed once per distinct row selection (the base kind's own ``effect_sizes``, as the
sensitivity analysis does). Every window of every row selection and window edge is one data set
(one row per study, as the base pools choose it); all those with k >= 2 are fitted in one
vectorised call of :func:`ketameta.rma_batch` (a ragged layout with a mask) per estimator and
test. A data set of one study is reported as that study (z interval, nothing pooled); one without
studies is counted, not fitted.

Outputs: a long table of every specification and window (``specifications`` of the fit record);
per window, the number of specifications, the share whose interval excludes zero in favour of
benefit, the median and range of the estimates, and a main-effects variance decomposition: the
share of the variance of the estimates explained by each dimension's option means (eta^2);
and the specification-curve figure.

References
----------
Steegen S, Tuerlinckx F, Gelman A, Vanpaemel W (2016). Increasing transparency through a
    multiverse analysis. Perspect Psychol Sci 11:702-712.
Voracek M, Kossmeier M, Tran US (2019). Which data to meta-analyze, and how? A
    specification-curve and multiverse-analysis approach to meta-analysis. Z Psychol 227:64-82.
Simonsohn U, Simmons JP, Nelson LD (2020). Specification curve analysis. Nat Hum Behav
    4:1208-1214.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd

from ..._dist import norm_sf
from ...batch import rma_batch
from ...errors import InputError, ModelError
from ...outputs.tables import Table
from ..pools import TEST_NAMES, WINDOW_ORDER, common_notes, num, z_crit
from ..registry import register
from .base import AnalysisKind

__all__ = ["Multiverse", "dimensions", "variance_shares"]

#: dimensions that choose the model (fitted in batches); the others choose rows
MODEL_DIMENSIONS = ("method", "test")
#: dimensions that are fields of the analysis spec (not filter columns)
SPEC_DIMENSIONS = ("grades", "crossover_rho")
WIDEN = "window_widen"



def dim_label(name: str) -> str:
    """The reader name of a choice dimension: the report's wording of a coded name
    (:data:`ketameta.outputs.labels.VALUES`), ``method`` as the estimator, else the name without
    underscores.
    """
    from ...outputs.labels import VALUES

    if name == "method":
        return "estimator"
    return VALUES.get(name, str(name).replace("_", " "))

def _label(value) -> str:
    if isinstance(value, (list, tuple)):
        return "/".join(_label(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def dimensions(spec) -> list[tuple[str, list[str], list]]:
    """The choice dimensions of a multiverse spec: ``(name, option labels, option values)`` in
    config order. An option is a value, a list of values, or ``{label, value}``.
    """
    out = []
    for name, opts in (spec.get("dimensions") or {}).items():
        labels, values = [], []
        for o in opts:
            if isinstance(o, dict):
                labels.append(str(o["label"]))
                values.append(o["value"])
            else:
                labels.append(_label(o))
                values.append(o)
        if len(set(labels)) != len(labels):
            raise InputError(f"multiverse dimension {name!r} repeats an option: {labels}")
        out.append((name, labels, values))
    return out


def variance_shares(frame: pd.DataFrame, dims: list[str], value="estimate") -> dict:
    """Share of the variance of ``value`` explained by each dimension's main effect (eta^2).

    For dimension d with options g: ``sum_g n_g (mean_g - mean)^2 / sum_i (x_i - mean)^2``, the
    between-option sum of squares over the total (a one-way decomposition per dimension; in a
    complete balanced grid the main effects are orthogonal). None when the values do not vary.
    """
    x = frame[value].to_numpy(float)
    total = float(((x - x.mean()) ** 2).sum()) if x.size else 0.0
    # values equal up to rounding do not vary: nothing to explain
    flat = not x.size or np.ptp(x) <= 1e-10 * max(1.0, float(np.abs(x).max()))
    out = {}
    for d in dims:
        if flat:
            out[d] = None
            continue
        g = frame.groupby(d, sort=False)[value].agg(["size", "mean"])
        out[d] = float((g["size"] * (g["mean"] - x.mean()) ** 2).sum() / total)
    return out


def _windows(base, spec):
    ws = base.get("time_points") or base.get("windows") or []
    want = spec.get("windows")
    if want:
        known = {w["label"] for w in ws}
        bad = [w for w in want if w not in known]
        if bad:
            raise InputError(f"multiverse windows {bad} are not windows of {spec['base']} "
                             f"(known: {sorted(known)})")
        ws = [w for w in ws if w["label"] in want]
    return ws


def _row_spec(base, row_dims, choice):
    """The base spec with one option of each row-choosing dimension."""
    change, select = {}, dict(base.get("select") or {})
    for (name, _, values), i in zip(row_dims, choice):
        if name in SPEC_DIMENSIONS:
            change[name] = list(values[i]) if name == "grades" else values[i]
        else:
            select[name] = values[i]
    return base.replace(select=select, **change)


def _layouts(ev, base, row_dims, windows, widen):
    """Every (row selection, window edge, window) data set: its rows, one per study."""
    from ..pipeline import effect_sizes

    combos = list(itertools.product(*[range(len(d[1])) for d in row_dims]))
    lay = {"combo": [], "widen": [], "window": [], "y": [], "v": [], "se": [], "studies": []}
    for ci, choice in enumerate(combos):
        try:
            es, _ = effect_sizes(ev, _row_spec(base, row_dims, choice), strict=False)
        except (InputError, ModelError):
            es = pd.DataFrame(columns=["study_id", "n_total", "time_days", "yi", "vi", "sei"])
        es = es.sort_values(WINDOW_ORDER[0], ascending=WINDOW_ORDER[1])
        t = pd.to_numeric(es["time_days"], errors="coerce").to_numpy(float)
        sid = es["study_id"].astype(str).to_numpy()
        y, v, se = (es[c].to_numpy(float) for c in ("yi", "vi", "sei"))
        for fi, f in enumerate(widen):
            for wi, w in enumerate(windows):
                idx = np.flatnonzero((t >= w["from_days"] / f) & (t <= w["to_days"] * f))
                # one row per study: the first after sorting (largest n, then latest time)
                keep = idx[np.r_[True, sid[idx][1:] != sid[idx][:-1]]] if idx.size else idx
                lay["combo"].append(ci)
                lay["widen"].append(fi)
                lay["window"].append(wi)
                lay["y"].append(y[keep])
                lay["v"].append(v[keep])
                lay["se"].append(se[keep])
                lay["studies"].append(";".join(sid[keep]))
    return combos, lay


def _fit_grid(lay, methods, tests, level):
    """Estimates of every data set under every (method, test): arrays of shape (L, M, T)."""
    n = len(lay["y"])
    kk = np.array([len(y) for y in lay["y"]], dtype=int)
    shape = (n, len(methods), len(tests))
    out = {key: np.full(shape, np.nan) for key in ("estimate", "se", "ci_lb", "ci_ub", "pval", "tau2")}
    status = np.full(shape, "", dtype=object)
    one = np.flatnonzero(kk == 1)
    if one.size:
        y = np.array([lay["y"][i][0] for i in one])
        se = np.array([lay["se"][i][0] for i in one])
        crit = z_crit(level)
        for key, val in (("estimate", y), ("se", se), ("ci_lb", y - crit * se),
                         ("ci_ub", y + crit * se), ("pval", 2 * norm_sf(np.abs(y / se)))):
            out[key][one] = val[:, None, None]
        status[one] = "single study"
    many = np.flatnonzero(kk >= 2)
    if many.size:
        width = int(kk[many].max())
        Y, V = np.zeros((many.size, width)), np.ones((many.size, width))
        mask = np.zeros((many.size, width), dtype=bool)
        for r, i in enumerate(many):
            Y[r, :kk[i]], V[r, :kk[i]], mask[r, :kk[i]] = lay["y"][i], lay["v"][i], True
        for mi, m in enumerate(methods):
            for ti, t in enumerate(tests):
                res = rma_batch(Y, V, method=m, test=t, level=level, mask=mask)
                for key, arr in (("estimate", res.beta[:, 0]), ("se", res.se[:, 0]),
                                 ("ci_lb", res.ci_lb[:, 0]), ("ci_ub", res.ci_ub[:, 0]),
                                 ("pval", res.pval[:, 0]), ("tau2", res.tau2)):
                    out[key][many, mi, ti] = arr
                status[many, mi, ti] = np.where(res.status == "ok", "pooled", res.status)
    return kk, out, status


def _long_table(dims, row_dims, combos, lay, kk, out, status, windows):
    """One row per specification and window with at least one study."""
    names = [d[0] for d in dims]
    L, M, T = status.shape
    li, mi, ti = (a.ravel() for a in np.meshgrid(np.arange(L), np.arange(M), np.arange(T), indexing="ij"))
    keep = kk[li] >= 1
    li, mi, ti = li[keep], mi[keep], ti[keep]
    combos = np.asarray(combos, dtype=int).reshape(len(combos), len(row_dims))
    combo = np.asarray(lay["combo"])[li]
    choice = {}
    for j, (name, _, _) in enumerate(row_dims):
        choice[name] = combos[combo, j]
    choice["method"], choice["test"] = mi, ti
    choice[WIDEN] = np.asarray(lay["widen"])[li]
    sizes = [len(d[1]) for d in dims]
    spec_id = (np.ravel_multi_index([choice[n] for n in names], sizes) + 1) if names else np.ones(li.size, int)
    wlab = np.array([w["label"] for w in windows], dtype=object)
    frame = {"specification": spec_id, "window": wlab[np.asarray(lay["window"])[li]]}
    for name, labels, _ in dims:
        frame[name] = np.asarray(labels, dtype=object)[choice[name]]
    frame["k"] = kk[li]
    for key in ("estimate", "se", "ci_lb", "ci_ub", "pval", "tau2"):
        frame[key] = out[key][li, mi, ti]
    frame["status"] = status[li, mi, ti]
    frame["studies"] = np.asarray(lay["studies"], dtype=object)[li]
    # by the window's position, then the specification's place in the grid
    order = np.lexsort((spec_id, np.asarray(lay["window"])[li]))
    return pd.DataFrame(frame).iloc[order].reset_index(drop=True)


def _summary(long, dims, windows, n_specs):
    rows = []
    names = [d[0] for d in dims]
    for w in windows:
        sub = long[(long["window"] == w["label"])]
        ok = sub[np.isfinite(sub["estimate"].to_numpy(float))]
        shares = variance_shares(ok, names) if len(ok) else {d: None for d in names}
        known = {d: s for d, s in shares.items() if s is not None}
        top = max(known, key=known.get) if known else None
        est = ok["estimate"].to_numpy(float)
        rows.append({
            "window": w["label"], "specifications": int(len(ok)),
            "pooled": int((ok["k"] >= 2).sum()), "single_study": int((ok["k"] == 1).sum()),
            "no_study": int(n_specs - len(sub)), "not_fitted": int(len(sub) - len(ok)),
            "share_benefit": float(np.mean(ok["ci_lb"].to_numpy(float) > 0)) if len(ok) else None,
            "share_positive": float(np.mean(est > 0)) if len(ok) else None,
            "median": float(np.median(est)) if len(ok) else None,
            "min": float(est.min()) if len(ok) else None, "max": float(est.max()) if len(ok) else None,
            "k_min": int(ok["k"].min()) if len(ok) else 0, "k_max": int(ok["k"].max()) if len(ok) else 0,
            "variance_shares": shares, "top_dimension": top,
        })
    return rows


def _records(df: pd.DataFrame) -> dict:
    """A DataFrame as ``{column: list}`` (JSON-able; NaN becomes None)."""
    out = {}
    for c in df.columns:
        col = df[c].to_numpy()
        if col.dtype.kind == "f":
            out[c] = [None if not math.isfinite(x) else float(x) for x in col]
        elif col.dtype.kind in "iu":
            out[c] = [int(x) for x in col]
        else:
            out[c] = [None if x is None else str(x) for x in col]
    return out


def specifications(fit) -> pd.DataFrame:
    """The long table of a fitted multiverse: one row per specification and window (columns in
    the order of ``specification_columns``: a fit record written as JSON may sort its keys).
    """
    long = pd.DataFrame(fit["specifications"])
    return long[fit["specification_columns"]] if len(long.columns) else long


@register
class Multiverse(AnalysisKind):
    """Every combination of the configured choices, per window of a pooled analysis."""

    type = "multiverse"
    needs_evidence = True
    has_figure = True
    after_sensitivity = True
    has_long_table = True

    def expand_spec(self, spec, config):
        """Carry the spec of the analysis whose pools are varied."""
        from ..spec import flat_spec

        return {**spec, "base_spec": flat_spec(config, spec["base"])}

    def digest_spec(self, spec):
        """Every row of the base analysis' question (the options select among them)."""
        return {**spec, "question": spec["base_spec"].get("question")}

    def _base(self, spec):
        from ..pipeline import as_spec

        base = {k: v for k, v in spec["base_spec"].items() if k not in ("time_course", "curve", "bayes")}
        return as_spec({**base, "grades": list(spec["grades"]), "level": spec["level"]})

    def effect_sizes(self, ev, spec, strict=True):
        """The base analysis' effect sizes as configured (each specification recomputes its own)."""
        from ..registry import kind_of

        base = self._base(spec)
        return kind_of(base).effect_sizes(ev, base, strict=False)

    def fit(self, ev, es, spec):
        """Expand the grid, fit it in batches and summarise it per window."""
        from ..effects import MEASURE_LABELS, SIGN_CONVENTION

        base = self._base(spec)
        dims = dimensions(spec)
        given = {d[0] for d in dims}
        windows = _windows(base, spec)
        if not windows:
            raise ModelError(f"{spec['base']} has no windows to vary")
        # a dimension that is not varied keeps the base's setting (one option, not in the grid)
        model = {d[0]: d for d in dims}
        methods = model["method"][2] if "method" in given else [base["method"]]
        tests = model["test"][2] if "test" in given else [base["test"]]
        widen = [float(f) for f in model[WIDEN][2]] if WIDEN in given else [1.0]
        row_dims = [d for d in dims if d[0] not in MODEL_DIMENSIONS + (WIDEN,)]
        combos, lay = _layouts(ev, base, row_dims, windows, widen)
        kk, out, status = _fit_grid(lay, methods, tests, spec["level"])
        long = _long_table(dims, row_dims, combos, lay, kk, out, status, windows)
        n_specs = int(np.prod([len(d[1]) for d in dims])) if dims else 1
        measure = base.get("measure", "GEN")
        return {
            "analysis": spec["id"], "type": spec["type"], "title": spec.get("title", spec["id"]),
            "status": "ok", "base": spec["base"], "measure": measure,
            "measure_label": MEASURE_LABELS.get(measure, ""), "level": spec["level"],
            "sign_convention": SIGN_CONVENTION,
            "dimensions": [{"name": n, "options": labels} for n, labels, _ in dims],
            "base_choices": {"method": base["method"], "test": base["test"],
                             "grades": list(base["grades"]), "crossover_rho": base.get("crossover_rho", 0.5),
                             "select": dict(base.get("select") or {})},
            "n_specifications": n_specs, "n_row_selections": len(combos),
            "n_datasets": int(len(kk)), "n_fitted": int((kk >= 2).sum()) * len(methods) * len(tests),
            "windows": [{"label": w["label"], "from_days": w["from_days"], "to_days": w["to_days"]}
                        for w in windows],
            "summary": _summary(long, dims, windows, n_specs),
            "specifications": _records(long), "specification_columns": list(long.columns),
        }

    # ---- outputs --------------------------------------------------------------------------
    def table(self, fit, es, excluded, spec, cit):
        """Per window: specifications, share with benefit, median [range], variance shares."""
        names = [d["name"] for d in fit["dimensions"]]
        rows = []
        for s in fit["summary"]:
            r = {k: s[k] for k in ("window", "specifications", "pooled", "single_study", "no_study",
                                   "median", "min", "max")}
            r["share_benefit"] = None if s["share_benefit"] is None else 100 * s["share_benefit"]
            r["k_range"] = (f"{s['k_min']}" if s["k_min"] == s["k_max"] else f"{s['k_min']}-{s['k_max']}") \
                if s["specifications"] else ""
            r["top"] = (f"{dim_label(s['top_dimension'])} ({s['variance_shares'][s['top_dimension']]:.0%})"
                        if s["top_dimension"] else "")
            for d in names:
                r[f"eta_{d}"] = 100 * num(s["variance_shares"].get(d))
            rows.append(r)
        df = pd.DataFrame(rows)
        for c in ("median", "min", "max", "share_benefit"):
            df[c] = pd.to_numeric(df[c], errors="coerce")
        scale = {"ZCOR": "z", "OR": "log OR"}.get(fit["measure"], fit["measure"])
        grid = " x ".join(f"{dim_label(d['name'])} ({len(d['options'])}: {', '.join(d['options'])})"
                          for d in fit["dimensions"])
        notes = [f"Multiverse of {fit['base']}: {fit['n_specifications']} specifications per window, the "
                 f"Cartesian product of {grid}. Choices not varied keep the base analysis' setting "
                 f"({fit['base_choices']['method']}, {TEST_NAMES.get(fit['base_choices']['test'])}, grades "
                 f"{'/'.join(fit['base_choices']['grades'])}).",
                 "Specifications: those with at least one study in the window (a single study is its own "
                 "estimate with a z interval, not a pool); no study: specifications without any study in "
                 "the window (not fitted).",
                 "Benefit: share of specifications whose confidence interval lies above zero.",
                 "Variance share (eta^2): share of the variance of the estimates across the window's "
                 "specifications explained by the option means of each dimension (main effects); "
                 "'moves most' names the largest.",
                 "Window widening f: a window [lo, hi] becomes [lo / f, hi * f] (days)."
                 if any(d["name"] == WIDEN for d in fit["dimensions"]) else "",
                 f"{fit['n_row_selections']} row selections were computed once each; "
                 f"{fit['n_fitted']} models were fitted in batches (ketameta.rma_batch). Every "
                 "specification x window, with its studies, is in the fit record (specifications)."]
        notes = [n for n in notes if n] + common_notes({"level": fit["level"], "measure_label":
                                                         fit["measure_label"]}, spec)
        cols = ["window", "specifications", "pooled", "single_study", "no_study", "k_range", "share_benefit",
                "Median", "top"] + [f"eta_{d}" for d in names]
        return Table(df, title=fit.get("title", spec["id"]), notes=notes, label=f"tab:{spec['id']}",
                     columns=cols, ci={"Median": ("median", "min", "max")},
                     rename={"window": "Window", "specifications": "Specifications", "pooled": "Pooled (k >= 2)",
                             "single_study": "Single study", "no_study": "No study", "k_range": "k",
                             "share_benefit": "Benefit, CI excludes 0", "Median": f"Median {scale} [range]",
                             "top": "Moves most (eta^2)", **{f"eta_{d}": f"eta^2 {dim_label(d)}" for d in names}},
                     formats={"share_benefit": "%0", "median": 2, "specifications": "int", "pooled": "int",
                              "single_study": "int", "no_study": "int",
                              **{f"eta_{d}": "%0" for d in names}})

    def long_table(self, fit, spec):
        """Every specification x window with at least one study: choices, k, estimate, CI, p."""
        long = specifications(fit)
        names = [d["name"] for d in fit["dimensions"]]
        notes = [f"Multiverse of {fit['base']}: one row per specification (numbered in the order of the "
                 f"Cartesian product of {', '.join(names)}) and window with at least one study; k = 1: the "
                 "study's own estimate with a z interval (nothing pooled), tau2 empty.",
                 f"Sign: {fit['sign_convention']}.", f"Effect measure: {fit['measure_label']}; "
                 f"{fit['level']:g}% confidence intervals.",
                 "studies: the studies entering the specification (one row per study: the largest n, then "
                 "the latest time in the window)."]
        return Table(long, title=f"{fit.get('title', spec['id'])}: every specification", notes=notes,
                     label=f"tab:{spec['id']}_specifications")

    def figure(self, fit, es, spec, cit, rob=None, rob_palette="cochrane", opts=None):
        """Specification curve with the choice matrix, one panel per window shown (the configured
        width; the height follows the panels).
        """
        from ...outputs.figures.specification_curve import specification_curve
        from ...outputs.figures.style import message_figure
        from ..figopts import figure_kwargs
        from .pooled import AXIS

        long = specifications(fit)
        long = long[long["estimate"].notna()] if len(long) else long
        want = spec.get("figure_windows") or [s["window"] for s in fit["summary"] if s["pooled"] > 0]
        panels = [{"title": w, "rows": long[long["window"] == w]} for w in want
                  if len(long) and (long["window"] == w).any()]
        if not panels:
            return message_figure("no specification has a study in the windows shown")
        dims = [(dim_label(d["name"]), d["options"]) for d in fit["dimensions"]]
        return specification_curve(panels, dims, ylabel=AXIS.get(fit["measure"], "Estimate"),
                                   **figure_kwargs(opts, clip=False, height=False, fontsize=False))

    def methods(self, fit, spec):
        """Methods sentence."""
        names = ", ".join(dim_label(d["name"]) for d in fit["dimensions"])
        return (f"Multiverse analysis (Steegen et al. 2016; Voracek et al. 2019): the per-window pools of "
                f"{fit['base']} were refitted under every combination of the options of {names} "
                f"({fit['n_specifications']} specifications per window), shown as specification curves "
                "(Simonsohn et al. 2020) with the share of specifications whose interval excludes zero in favour of "
                "benefit and a main-effects decomposition of the variance of the estimates.")

    def paragraphs(self, fit, spec):
        """One sentence per window with specifications."""
        out = []
        for s in fit["summary"]:
            if not s["specifications"]:
                continue
            top = (f"; the choice of {dim_label(s['top_dimension'])} moves the estimate most "
                   f"({s['variance_shares'][s['top_dimension']]:.0%} of its variance)" if s["top_dimension"] else "")
            out.append(f"{s['window']}: {s['specifications']} specifications with a study ({s['pooled']} pooled), "
                       f"median {s['median']:.2f} [range {s['min']:.2f} to {s['max']:.2f}]; benefit with an "
                       f"interval excluding zero in {s['share_benefit']:.0%}{top}.")
        return out

    def values(self, aid, fit):
        """``<analysis>_<window>_{n,share,median}`` per window with specifications."""
        from ...outputs.values import macro_name

        vals = {}
        for s in fit["summary"]:
            if not s["specifications"]:
                continue
            nm = "".join(ch if ch.isalnum() else "_" for ch in str(s["window"]))
            vals[macro_name(f"{aid}_{nm}_n")] = (s["specifications"], "int")
            vals[macro_name(f"{aid}_{nm}_share")] = (100 * s["share_benefit"], 0)
            vals[macro_name(f"{aid}_{nm}_median")] = (s["median"], 2)
        return vals
