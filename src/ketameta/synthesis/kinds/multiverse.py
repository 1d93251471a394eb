"""Multiverse analysis: every defensible specification of a pooled analysis at once.

A multiverse (Steegen et al. 2016) or specification-curve meta-analysis (Voracek, Kossmeier &
Tran 2019; Simonsohn, Simmons & Nelson 2020) refits the per-window pools of a pooled analysis
(``base``: durability or correlation) under every applicable combination of the options of its
choice dimensions: the tau^2 estimator (``method``), the test (``test``; ``bayes``: Bayesian
random effects with the config's tau prior), the admitted evidence grades (``grades``), the
within-patient correlation assumed for crossover trials (``crossover_rho``), the handling of a
correlation without a usable n (``unknown_n``, ``inconsistent_n``), one effect per trial or every
row of a trial nested in the trial (``per_trial``) with the correlation assumed between a trial's
rows (``time_rho``), how far the window edges are moved out (``window_widen``: a window
``[lo, hi]`` becomes ``[lo / f, hi * f]``), and any column of the base's row filter (``select``:
value type, setting, dose, polarity, ...; ``null`` drops the filter). The grid, the rules for
choices that do not apply, the chunks and the fits are in :mod:`ketameta.synthesis.grid`.

Outputs: a long table of every specification and window; per window, the number of
specifications, the share whose interval excludes zero in favour of benefit, the median and range
of the estimates, and a main-effects variance decomposition (eta^2 per dimension); and the
specification-curve figure.

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

import math

import numpy as np
import pandas as pd

from ...outputs.tables import Table
from .. import grid as G
from ..grid import dimensions, variance_shares
from ..pools import TEST_NAMES, common_notes, num
from ..registry import register
from .base import AnalysisKind

__all__ = ["Multiverse", "dimensions", "variance_shares", "specifications"]

WIDEN = G.WIDEN


def dim_label(name: str) -> str:
    """The reader name of a choice dimension: the report's wording of a coded name
    (:data:`ketameta.outputs.labels.VALUES`), ``method`` as the estimator, else the name without
    underscores.
    """
    from ...outputs.labels import VALUES

    if name == "method":
        return "estimator"
    return VALUES.get(name, str(name).replace("_", " "))


def _summary(long, dims, windows, n_specs, measure="GEN"):
    from ..pools import _back

    back = _back(measure)
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
        if back is not None:
            # the reader's scale (r, OR): the median of the back-transformed estimates
            bt = back(est)
            rows[-1].update({"median_bt": float(np.median(bt)) if len(ok) else None,
                             "min_bt": float(bt.min()) if len(ok) else None,
                             "max_bt": float(bt.max()) if len(ok) else None})
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


#: shorter reader wording for the rows of the choice matrix
_SHORT = {"unknown_n": "n if none reported", "inconsistent_n": "n if inconsistent with r, p",
          "implied": "implied by r and p", "bound_low": "lowest consistent", "bound_high": "highest consistent",
          "study_n": "study total", "reported": "reported", "exclude": "excluded",
          "time_rho": "rho between a trial's rows", "multilevel": "all, nested in trials",
          "crossover_rho": "crossover rho"}


def opt_label(option: str) -> str:
    """The reader wording of an option label (coded values such as ``knha`` or ``bound_low``)."""
    from ...outputs.labels import VALUES

    return VALUES.get(option, option)


def _reader_scale(fit) -> tuple[str, str]:
    """The summary keys' suffix and the scale's name the reader sees: back-transformed (r, OR)
    when the summary has them (``_bt``), else the analysis scale.
    """
    if fit["summary"] and "median_bt" in fit["summary"][0]:
        return "_bt", {"ZCOR": "r", "OR": "OR"}.get(fit["measure"], fit["measure"])
    return "", fit["measure"]


def _favour(measure) -> str:
    """What an interval above the null shows: a benefit, or (correlations) a positive association."""
    return "a positive association" if measure == "ZCOR" else "benefit"


def _base_name(fit) -> str:
    """The analysis varied, as the reader knows it (its title)."""
    return f"\u201c{fit.get('base_title', fit['base'])}\u201d"


def specifications(fit) -> pd.DataFrame:
    """The long table of a fitted multiverse: one row per specification and window (columns in
    the order of ``specification_columns``: a fit record written as JSON may sort its keys).
    ``fit["specifications"]`` is a DataFrame (as the workflow attaches it from the gathered CSV)
    or a column -> list mapping (as :meth:`Multiverse.fit` keeps it in memory).
    """
    long = fit["specifications"]
    long = long if isinstance(long, pd.DataFrame) else pd.DataFrame(long)
    return long[fit["specification_columns"]] if len(long.columns) else long


@register
class Multiverse(AnalysisKind):
    """Every applicable combination of the configured choices, per window of a pooled analysis."""

    type = "multiverse"
    needs_evidence = True
    has_figure = True
    after_sensitivity = True
    has_long_table = True
    chunked = True

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

    # ---- the grid in chunks -------------------------------------------------------------
    def n_chunks(self, spec) -> int:
        """How many chunks (jobs) the grid is fitted in: ``chunk_size`` specifications each."""
        return G.grid(spec, self._base(spec)).n_chunks

    def fit_chunk(self, ev, spec, chunk: int):
        """The long table of one chunk of the grid and its counts (:func:`ketameta.synthesis.grid.fit_chunk`)."""
        from ..registry import kind_of

        base = self._base(spec)
        kind = kind_of(base)
        return G.fit_chunk(ev, spec, base, chunk, lambda e, s: kind.effect_sizes(e, s, strict=False))

    def gather(self, parts, counts, spec):
        """The fit record (summary per window, no long table) and the long table of all chunks."""
        from ..effects import MEASURE_LABELS, SIGN_CONVENTION

        base = self._base(spec)
        g = G.grid(spec, base)
        windows = G.windows_of(base, spec)
        dims = g.dims
        long = G.gather_parts(parts, windows)
        measure = base.get("measure", "GEN")
        fit = {
            "analysis": spec["id"], "type": spec["type"], "title": spec.get("title", spec["id"]),
            "status": "ok", "base": spec["base"], "base_title": spec["base_spec"].get("title", spec["base"]),
            "measure": measure,
            "measure_label": MEASURE_LABELS.get(measure, ""), "level": spec["level"],
            "sign_convention": SIGN_CONVENTION,
            "dimensions": [{"name": n, "options": labels} for n, labels, _ in dims],
            "base_choices": {"method": base["method"], "test": base["test"],
                             "grades": list(base["grades"]), "crossover_rho": base.get("crossover_rho", 0.5),
                             "select": dict(base.get("select") or {})},
            "n_specifications": g.n, "n_combinations": g.n_combinations, "not_applicable": g.dropped,
            "n_chunks": g.n_chunks, "chunk_size": g.chunk_size,
            "n_row_selections": G.row_selections(spec),
            "n_datasets": int(sum(c["datasets"] for c in counts)),
            "n_fitted": int(sum(c["fitted"] for c in counts)),
            "windows": [{"label": w["label"], "from_days": w["from_days"], "to_days": w["to_days"]}
                        for w in windows],
            "summary": _summary(long, dims, windows, g.n, measure),
            "specification_columns": list(long.columns),
        }
        return fit, long

    def fit(self, ev, es, spec):
        """Every chunk in this process, gathered (the workflow runs one job per chunk)."""
        n = self.n_chunks(spec)
        done = [self.fit_chunk(ev, spec, i) for i in range(n)]
        fit, long = self.gather([d[0] for d in done], [d[1] for d in done], spec)
        fit["specifications"] = _records(long)
        return fit

    # ---- outputs --------------------------------------------------------------------------
    def table(self, fit, es, excluded, spec, cit):
        """Per window: specifications, share with benefit, median [range], variance shares."""
        names = [d["name"] for d in fit["dimensions"]]
        bt, scale = _reader_scale(fit)
        rows = []
        for s in fit["summary"]:
            r = {k: s[k] for k in ("window", "specifications", "pooled", "single_study", "no_study")}
            r.update({k: s.get(k + bt) for k in ("median", "min", "max")})
            r["share_benefit"] = None if s["share_benefit"] is None else 100 * s["share_benefit"]
            r["k_range"] = (f"{s['k_min']}" if s["k_min"] == s["k_max"] else f"{s['k_min']}-{s['k_max']}") \
                if s["specifications"] else ""
            r["top"] = (f"{dim_label(s['top_dimension'])} ({s['variance_shares'][s['top_dimension']]:.0%})"
                        if s["top_dimension"] else "")
            known = sorted(((v, d) for d, v in s["variance_shares"].items() if v is not None), key=lambda x: -x[0])
            r["shares"] = "; ".join(f"{dim_label(d)} {v:.0%}" for v, d in known)
            for d in names:
                r[f"eta_{d}"] = 100 * num(s["variance_shares"].get(d))
            rows.append(r)
        df = pd.DataFrame(rows)
        for c in ("median", "min", "max", "share_benefit"):
            df[c] = pd.to_numeric(df[c], errors="coerce")
        grid = " x ".join(f"{dim_label(d['name'])} ({len(d['options'])}: "
                          f"{', '.join(opt_label(o) for o in d['options'])})"
                          for d in fit["dimensions"])
        dimnames = {d["name"] for d in fit["dimensions"]}
        dropped = fit.get("not_applicable") or {}
        notes = [f"Multiverse of {_base_name(fit)}: {fit['n_specifications']} specifications per window, the "
                 f"Cartesian product of {grid}"
                 + (f" ({fit['n_combinations']} combinations, less {sum(dropped.values())} that do not apply: "
                    + "; ".join(f"{n} {why}" for why, n in dropped.items()) + ")" if dropped else "")
                 + f". Choices not varied keep the base analysis' setting "
                 f"({fit['base_choices']['method']}, {TEST_NAMES.get(fit['base_choices']['test'])}, grades "
                 f"{'/'.join(fit['base_choices']['grades'])}).",
                 "Specifications: those with at least one study in the window (a single study is its own "
                 "estimate with a z interval, not a pool); no study: specifications without any study in "
                 "the window (not fitted).",
                 f"{'Positive association' if fit['measure'] == 'ZCOR' else 'Benefit'}: share of specifications "
                 "whose confidence (Bayesian: credible) interval lies above zero (on the scale of the analysis).",
                 "Bayesian test: random-effects model with the config's prior on tau and a flat prior on the "
                 "mean (bayesmeta; posterior median and central credible interval); the estimator does not "
                 "apply (n/a)." if "bayes" in next((d["options"] for d in fit["dimensions"] if d["name"] == "test"),
                                                   []) else "",
                 "Per trial: one effect per trial (as the base pools choose it) or every row of a trial in "
                 "the window, rows nested in trials (three-level model, ketameta.rma_mv, REML; z or t tests, "
                 "the t test standing for Knapp-Hartung), with the correlation assumed between a trial's "
                 "rows (time rho; n/a for one effect per trial). With one row per trial the row-level "
                 "component is fixed at 0 (not identified)." if "per_trial" in dimnames else "",
                 "Variance share (eta^2): share of the variance of the estimates across the window's "
                 "specifications explained by the option means of each dimension (main effects; n/a is a "
                 "level of its own); 'moves most' names the largest.",
                 "Window widening f: a window [lo, hi] becomes [lo / f, hi * f] (days)."
                 if WIDEN in dimnames else "",
                 f"Fitted in {fit.get('n_chunks', 1)} chunk(s) of up to {fit.get('chunk_size', '')} "
                 f"specifications; {fit['n_row_selections']} row selections; {fit['n_fitted']} distinct models "
                 "fitted (univariate ones in batches, ketameta.rma_batch). Every specification x window, with "
                 "its studies, is in the long table (<analysis>.specifications.csv)."]
        notes = [n for n in notes if n] + common_notes({"level": fit["level"], "measure_label":
                                                         fit["measure_label"]}, spec)
        cols = ["window", "specifications", "pooled", "single_study", "no_study", "k_range", "share_benefit",
                "Median", "top"]
        return Table(df, title=fit.get("title", spec["id"]), notes=notes, label=f"tab:{spec['id']}",
                     columns=cols, ci={"Median": ("median", "min", "max")}, details=["shares"],
                     rename={"window": "Window", "specifications": "Specifications", "pooled": "Pooled (k >= 2)",
                             "single_study": "Single study", "no_study": "No study", "k_range": "k",
                             "share_benefit": ("Positive association" if fit["measure"] == "ZCOR" else "Benefit")
                             + ", CI excludes 0",
                             "Median": f"Median {scale} [range]",
                             "top": "Moves most (eta^2)", "shares": "Variance share of each choice (eta^2)",
                             **{f"eta_{d}": f"eta^2 {dim_label(d)}" for d in names}},
                     formats={"share_benefit": "%0", "median": 2, "specifications": "int", "pooled": "int",
                              "single_study": "int", "no_study": "int",
                              **{f"eta_{d}": "%0" for d in names}})

    def long_table(self, fit, spec):
        """Every specification x window with at least one study: choices, k, estimate, CI, p."""
        long = specifications(fit)
        names = [d["name"] for d in fit["dimensions"]]
        notes = [f"Multiverse of {_base_name(fit)}: one row per specification (numbered by its position in the "
                 f"Cartesian product of {', '.join(names)}; combinations that do not apply are skipped) and "
                 "window with at least one study; k = 1: the study's own estimate with a z interval (nothing "
                 "pooled), tau2 empty; k: studies, rows: effect rows (several per study in multilevel "
                 "specifications); n/a: a choice that does not apply; Bayesian rows: posterior median, "
                 "posterior SD as se, no p-value, tau2 the squared posterior median of tau.",
                 f"Sign: {fit['sign_convention']}.",
                 f"Effect measure: {fit['measure_label'].split(' (table shows')[0]}, on the scale of the "
                 f"analysis ({'r = tanh(z)' if fit['measure'] == 'ZCOR' else 'OR = exp(log OR)' if fit['measure'] == 'OR' else 'as pooled'}); "
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
        # default: the windows with a pooled specification; when none pools two studies, the
        # windows with any (a single study's interval still moves with the choices)
        want = spec.get("figure_windows") or [s["window"] for s in fit["summary"] if s["pooled"] > 0] \
            or [s["window"] for s in fit["summary"] if s["specifications"] > 0]
        panels = [{"title": w, "rows": long[long["window"] == w]} for w in want
                  if len(long) and (long["window"] == w).any()]
        if not panels:
            return message_figure("no specification has a study in the windows shown")
        # the matrix in reader wording, short enough for a row label: dimension names and coded
        # options (n/a where a choice does not apply to some specifications)
        def short(o):
            return _SHORT.get(o, opt_label(o))

        dims, names = [], {}
        for d in fit["dimensions"]:
            name = d["name"]
            names[name] = _SHORT.get(name, dim_label(name))
            na = [G.NA] if len(long) and (long[name] == G.NA).any() else []
            dims.append((names[name], [short(o) for o in d["options"]] + na))
        # correlations drawn as r (the reader's scale; tanh keeps the order and the null at 0)
        back = np.tanh if fit["measure"] == "ZCOR" else None
        for p in panels:
            rows = p["rows"].rename(columns=names)
            for label, _ in dims:
                rows[label] = rows[label].map(short)
            if back is not None:
                rows = rows.assign(**{c: back(rows[c].to_numpy(float)) for c in ("estimate", "ci_lb", "ci_ub")})
            p["rows"] = rows
        import textwrap

        # the curve panel is short: the axis label in lines that fit its height
        ylabel = "\n".join(textwrap.wrap(AXIS.get(fit["measure"], "Estimate"), 24))
        return specification_curve(panels, dims, ylabel=ylabel,
                                   **figure_kwargs(opts, clip=False, height=False, fontsize=False))

    def methods(self, fit, spec):
        """Methods sentence."""
        names = ", ".join(dim_label(d["name"]) for d in fit["dimensions"])
        return (f"Multiverse analysis (Steegen et al. 2016; Voracek et al. 2019): the per-window pools of "
                f"{_base_name(fit)} were refitted under every applicable combination of the options of {names} "
                f"({fit['n_specifications']} specifications per window), shown as specification curves "
                "(Simonsohn et al. 2020) with the share of specifications whose interval excludes zero in favour of "
                "benefit and a main-effects decomposition of the variance of the estimates.")

    def paragraphs(self, fit, spec):
        """One sentence per window with specifications (correlations as r)."""
        out = []
        bt, scale = _reader_scale(fit)
        what = _favour(fit["measure"])
        for s in fit["summary"]:
            if not s["specifications"]:
                continue
            top = (f"; the choice of {dim_label(s['top_dimension'])} moves the estimate most "
                   f"({s['variance_shares'][s['top_dimension']]:.0%} of its variance)" if s["top_dimension"] else "")
            pooled = (f"{s['pooled']} pooled" if s["pooled"] else
                      "none pools two or more studies: each is a single study's estimate")
            out.append(f"{s['window']}: {s['specifications']} specifications with a study ({pooled}), "
                       f"median {scale} {s['median' + bt]:.2f} [range {s['min' + bt]:.2f} to {s['max' + bt]:.2f}]; "
                       f"{what} with an interval excluding zero in {s['share_benefit']:.0%}{top}.")
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
