"""The specification grid of a multiverse: expansion, applicability, chunks, fits and gathering.

A multiverse spec names choice dimensions and their options (config ``dimensions``). The grid is
their Cartesian product, less the combinations that do not apply:

* ``test: bayes`` (Bayesian random effects, :func:`ketameta.bayesmeta`) has no tau^2 estimator:
  one specification per other choices, its ``method`` shown as ``n/a``;
* ``per_trial: multilevel`` (every row of a trial in the window, rows nested in trials,
  :func:`ketameta.rma_mv`) takes REML or ML and a z or t test (``knha`` is read as
  ``rma.mv``'s ``test="t"``); combinations with other estimators or tests are dropped and counted;
* ``time_rho`` (the correlation assumed between the sampling errors of a trial's rows in one
  window) applies to multilevel specifications only: one specification per other choices
  otherwise, shown as ``n/a``.

Specification numbers are positions in the full product in config order (1-based), so a number
names the same choices whatever is dropped. The grid depends on the config alone: the workflow
splits it into chunks of ``chunk_size`` specifications (one job each, :func:`fit_chunk`) ordered
so that a chunk needs few row selections, and :func:`gather` joins the chunks' long tables.

Within a chunk, the effect sizes are computed once per row selection, identical data sets are
fitted once, the univariate ones in one vectorised call of :func:`ketameta.rma_batch` per
estimator and test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._dist import norm_sf
from ..batch import rma_batch
from ..errors import InputError, ModelError
from .pools import WINDOW_ORDER, z_crit

__all__ = ["Grid", "grid", "fit_chunk", "gather_parts", "read_part", "dimensions", "variance_shares",
           "windows_of", "row_selections",
           "NA", "PART_COLUMNS"]

#: label of a choice that does not apply to a specification
NA = "n/a"
#: dimensions that choose the model; the rows stay the same
MODEL_DIMENSIONS = ("method", "test")
#: how a window's rows enter the model: one per trial, or all of them nested in trials
PER_TRIAL = "per_trial"
PER_TRIAL_OPTIONS = ("one", "multilevel")
TIME_RHO = "time_rho"
WIDEN = "window_widen"
#: dimensions that do not change the effect sizes
NOT_ROWS = MODEL_DIMENSIONS + (PER_TRIAL, TIME_RHO, WIDEN)
#: dimensions that are fields of the base spec (every other row dimension is a filter column)
SPEC_FIELDS = ("grades", "crossover_rho", "unknown_n", "inconsistent_n")
BAYES = "bayes"
#: estimators and tests a multilevel model (rma_mv) offers; knha is read as its t test
MULTILEVEL_METHODS = ("REML", "ML")
MULTILEVEL_TESTS = {"z": "z", "knha": "t", "t": "t"}
#: numeric columns of a chunk's long table (the rest are labels)
NUMERIC = ("specification", "k", "rows", "estimate", "se", "ci_lb", "ci_ub", "pval", "tau2")
#: columns after the choice columns, in order
PART_COLUMNS = ("k", "rows", "estimate", "se", "ci_lb", "ci_ub", "pval", "tau2", "status", "studies")
DEFAULT_CHUNK = 5000


def _label(value) -> str:
    if isinstance(value, (list, tuple)):
        return "/".join(_label(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    if value is None:
        return "any"
    return str(value)


def dimensions(spec) -> list[tuple[str, list[str], list]]:
    """The choice dimensions of a multiverse spec: ``(name, option labels, option values)`` in
    config order. An option is a value, a list of values, or ``{label, value}``; a filter option
    ``null`` drops the base's filter on that column (label ``any``).
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
        if NA in labels:
            raise InputError(f"multiverse dimension {name!r}: {NA!r} is reserved for choices that do not apply")
        if name == PER_TRIAL and set(values) - set(PER_TRIAL_OPTIONS):
            raise InputError(f"multiverse dimension per_trial: options are {list(PER_TRIAL_OPTIONS)}, "
                             f"not {values}")
        out.append((name, labels, values))
    names = [d[0] for d in out]
    if TIME_RHO in names and PER_TRIAL not in names:
        raise InputError("multiverse dimension time_rho applies to multilevel specifications only: "
                         "add per_trial: [one, multilevel]")
    return out


def variance_shares(frame: pd.DataFrame, dims: list[str], value="estimate") -> dict:
    """Share of the variance of ``value`` explained by each dimension's main effect (eta^2).

    For dimension d with options g: ``sum_g n_g (mean_g - mean)^2 / sum_i (x_i - mean)^2``, the
    between-option sum of squares over the total (a one-way decomposition per dimension; in a
    complete balanced grid the main effects are orthogonal). ``n/a`` is a level of its own.
    None when the values do not vary.
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


@dataclass
class Grid:
    """The applicable specifications of a multiverse, in fitting order.

    ``idx`` (n x D) holds each specification's option index per dimension, ``na`` (n x D) marks
    the choices that do not apply, ``number`` the specification's 1-based position in the full
    product (config order). ``dropped`` counts the combinations removed, by reason.
    """

    dims: list
    idx: np.ndarray
    na: np.ndarray
    number: np.ndarray
    n_combinations: int
    dropped: dict
    chunk_size: int

    @property
    def n(self) -> int:
        """Number of specifications."""
        return int(self.number.size)

    @property
    def names(self) -> list[str]:
        """Dimension names, in config order."""
        return [d[0] for d in self.dims]

    @property
    def n_chunks(self) -> int:
        """Number of chunks of ``chunk_size`` specifications (at least one)."""
        return max(1, math.ceil(self.n / self.chunk_size))

    def chunk(self, i: int) -> slice:
        """The specifications of chunk ``i`` (0-based), as a slice of the fitting order."""
        if not 0 <= i < self.n_chunks:
            raise InputError(f"chunk {i} is not a chunk of this multiverse (0-{self.n_chunks - 1})")
        return slice(i * self.chunk_size, min(self.n, (i + 1) * self.chunk_size))

    def labels(self, rows=slice(None)) -> dict:
        """Option labels per dimension (``n/a`` where a choice does not apply)."""
        out = {}
        for j, (name, labels, _) in enumerate(self.dims):
            lab = np.asarray(labels, dtype=object)[self.idx[rows, j]]
            out[name] = np.where(self.na[rows, j], NA, lab)
        return out


def _values(dims, name, idx, base_value):
    """The value of dimension ``name`` per specification (the base's when it is not varied)."""
    names = [d[0] for d in dims]
    if name not in names:
        return np.full(idx.shape[0], base_value, dtype=object)
    j = names.index(name)
    return np.asarray(dims[j][2], dtype=object)[idx[:, j]]


def grid(spec, base) -> Grid:
    """Expand the grid of a multiverse spec (``base``: the spec of the analysis varied)."""
    dims = dimensions(spec)
    names = [d[0] for d in dims]
    sizes = [len(d[1]) for d in dims]
    total = int(np.prod(sizes)) if dims else 1
    idx = np.indices(sizes, dtype=np.int32).reshape(len(sizes), -1).T if dims \
        else np.zeros((1, 0), dtype=np.int32)
    na = np.zeros(idx.shape, dtype=bool)
    keep = np.ones(idx.shape[0], dtype=bool)
    dropped = {}
    method = _values(dims, "method", idx, base["method"])
    test = _values(dims, "test", idx, base["test"])
    per = _values(dims, PER_TRIAL, idx, "one")
    bayes = test == BAYES
    if bayes.any():
        prior = ((spec.get("bayes") or {}).get("tau_prior") or {}).get(base.get("measure", "GEN"))
        if not prior:
            raise InputError(f"multiverse test 'bayes' needs a tau prior for {base.get('measure')} in the "
                             "config's bayes.tau_prior")
    if "method" in names:
        j = names.index("method")
        dup = bayes & (idx[:, j] != 0)
        keep &= ~dup
        na[bayes, j] = True
    ml = per == "multilevel"
    bad_method = ml & ~np.isin(method.astype(str), MULTILEVEL_METHODS)
    bad_test = ml & ~np.isin(test.astype(str), list(MULTILEVEL_TESTS))
    for reason, mask in (("multilevel with an estimator other than REML or ML", bad_method),
                         ("multilevel with the ad hoc or the Bayesian test", bad_test & ~bad_method)):
        n = int((mask & keep).sum())
        if n:
            dropped[reason] = n
    keep &= ~(bad_method | bad_test)
    if TIME_RHO in names:
        j = names.index(TIME_RHO)
        keep &= ml | (idx[:, j] == 0)
        na[~ml, j] = True
    # fitting order: row selections outermost, then window edges, structure, model
    row_pos = [i for i, n in enumerate(names) if n not in NOT_ROWS]
    order_pos = row_pos + [names.index(n) for n in (WIDEN, PER_TRIAL, TIME_RHO, "method", "test") if n in names]
    idx, na = idx[keep], na[keep]
    number = (np.ravel_multi_index(idx.T, sizes) + 1) if dims else np.ones(idx.shape[0], dtype=np.int64)
    order = np.lexsort([idx[:, p] for p in reversed(order_pos)]) if order_pos else np.arange(idx.shape[0])
    size = int(spec.get("chunk_size") or DEFAULT_CHUNK)
    if size < 1:
        raise InputError(f"multiverse chunk_size must be at least 1, not {size}")
    return Grid(dims, idx[order], na[order], number[order].astype(np.int64), total, dropped, size)


def windows_of(base, spec):
    """The windows of the base analysis that the multiverse varies (config ``windows``)."""
    ws = base.get("time_points") or base.get("windows") or []
    want = spec.get("windows")
    if want:
        known = {w["label"] for w in ws}
        bad = [w for w in want if w not in known]
        if bad:
            raise InputError(f"multiverse windows {bad} are not windows of {spec['base']} "
                             f"(known: {sorted(known)})")
        ws = [w for w in ws if w["label"] in want]
    if not ws:
        raise ModelError(f"{spec['base']} has no windows to vary")
    return ws


def _row_spec(base, row_dims, choice):
    """The base spec with one option of each row-choosing dimension."""
    change, select = {}, dict(base.get("select") or {})
    for (name, _, values), i in zip(row_dims, choice):
        if name in SPEC_FIELDS:
            change[name] = list(values[i]) if name == "grades" else values[i]
        elif values[i] is None:
            select.pop(name, None)
        else:
            select[name] = values[i]
    return base.replace(select=select, **change)


class _DataSets:
    """Distinct data sets of a chunk (identical rows are one data set)."""

    def __init__(self):
        self.key, self.y, self.v, self.se, self.cluster, self.studies, self.k, self.ml, self.rho = \
            {}, [], [], [], [], [], [], [], []

    def add(self, y, v, se, sid, ml=False, rho=None) -> int:
        studies = list(dict.fromkeys(sid))
        key = (ml, rho, y.tobytes(), v.tobytes(), tuple(sid))
        if key in self.key:
            return self.key[key]
        self.key[key] = len(self.y)
        self.y.append(y)
        self.v.append(v)
        self.se.append(se)
        self.cluster.append(np.asarray(sid))
        self.studies.append(";".join(studies))
        self.k.append(len(studies))
        self.ml.append(ml)
        self.rho.append(rho)
        return self.key[key]


def _effect_sizes(ev, base, kind_effect_sizes):
    try:
        es, _ = kind_effect_sizes(ev, base)
    except (InputError, ModelError):
        es = pd.DataFrame(columns=["study_id", "n_total", "time_days", "yi", "vi", "sei"])
    es = es.sort_values(WINDOW_ORDER[0], ascending=WINDOW_ORDER[1])
    t = pd.to_numeric(es["time_days"], errors="coerce").to_numpy(float)
    sid = es["study_id"].astype(str).to_numpy()
    return t, sid, *(es[c].to_numpy(float) for c in ("yi", "vi", "sei"))


def fit_chunk(ev, spec, base, chunk: int, kind_effect_sizes) -> tuple[pd.DataFrame, dict]:
    """Fit chunk ``chunk`` of the grid: its long table (one row per specification and window
    with at least one study, in fitting order) and counts (row selections, models fitted).

    ``kind_effect_sizes(ev, spec)`` computes a row selection's effect sizes (the base kind's).
    """
    g = grid(spec, base)
    rows = g.chunk(chunk)
    idx = g.idx[rows]
    names = g.names
    windows = windows_of(base, spec)
    level = spec["level"]
    dims = g.dims
    row_j = [j for j, n in enumerate(names) if n not in NOT_ROWS]
    combos, combo_of = np.unique(idx[:, row_j], axis=0, return_inverse=True) if row_j else \
        (np.zeros((1, 0), dtype=np.int32), np.zeros(idx.shape[0], dtype=np.int64))
    combo_of = np.asarray(combo_of).ravel()
    widen = np.asarray(_values(dims, WIDEN, idx, 1.0), dtype=float)
    ml = _values(dims, PER_TRIAL, idx, "one") == "multilevel"
    rho = _values(dims, TIME_RHO, idx, None)
    methods = dims[names.index("method")][2] if "method" in names else [base["method"]]
    tests = dims[names.index("test")][2] if "test" in names else [base["test"]]
    m_of = idx[:, names.index("method")] if "method" in names else np.zeros(idx.shape[0], dtype=int)
    t_of = idx[:, names.index("test")] if "test" in names else np.zeros(idx.shape[0], dtype=int)
    # the structures a specification asks for: one per trial, or multilevel with its rho
    keys = [(bool(m), float(r) if m and r is not None else None) for m, r in zip(ml, rho)]
    struct = list(dict.fromkeys([(False, None), *keys]))
    s_of = np.array([struct.index(k) for k in keys], dtype=int)
    f_vals = sorted(set(widen.tolist()))
    f_of = np.searchsorted(f_vals, widen)
    ds = _DataSets()
    table = np.full((len(combos), len(f_vals), len(windows), len(struct)), -1, dtype=np.int64)
    need = {(c, f, s) for c, f, s in zip(combo_of, f_of, s_of)}
    by_combo = {}
    for c, f, s in sorted(need):
        if c not in by_combo:
            choice = combos[c]
            by_combo[c] = _effect_sizes(ev, _row_spec(base, [dims[j] for j in row_j], choice), kind_effect_sizes)
        t, sid, y, v, se = by_combo[c]
        fac = f_vals[f]
        for wi, w in enumerate(windows):
            sel = np.flatnonzero((t >= w["from_days"] / fac) & (t <= w["to_days"] * fac))
            if not sel.size:
                continue
            ml_s, r = struct[s]
            one = sel[np.r_[True, sid[sel][1:] != sid[sel][:-1]]]
            if ml_s and len(set(sid[sel])) >= 2:
                # every row of a trial in the window, grouped by trial (the first-seen order)
                grp = pd.unique(sid[sel])
                sel = np.concatenate([sel[sid[sel] == x] for x in grp])
                table[c, f, wi, s] = ds.add(y[sel], v[sel], se[sel], sid[sel], True, r)
            else:
                table[c, f, wi, s] = ds.add(y[one], v[one], se[one], sid[one])
    n_ds = len(ds.y)
    M, T = len(methods), len(tests)
    res = {key: np.full((n_ds, M, T), np.nan) for key in ("estimate", "se", "ci_lb", "ci_ub", "pval", "tau2")}
    status = np.full((n_ds, M, T), "", dtype=object)
    # (data set, method, test) of every specification x window
    W = len(windows)
    d_sw = table[combo_of[:, None], f_of[:, None], np.arange(W)[None, :], s_of[:, None]]
    m_sw = np.broadcast_to(m_of[:, None], d_sw.shape)
    t_sw = np.broadcast_to(t_of[:, None], d_sw.shape)
    have = d_sw >= 0
    cells = np.unique(np.stack([d_sw[have], m_sw[have], t_sw[have]], axis=1), axis=0) if have.any() \
        else np.zeros((0, 3), dtype=np.int64)
    kk = np.asarray(ds.k, dtype=int)
    n_fit = _fit_cells(ds, cells, kk, methods, tests, level, spec, base, res, status)
    # the long table, vectorised over specifications x windows
    s_i, w_i = np.nonzero(have)
    d, m, t_ = d_sw[s_i, w_i], m_sw[s_i, w_i], t_sw[s_i, w_i]
    labels = g.labels(rows)
    frame = {"specification": g.number[rows][s_i], "window": np.asarray([w["label"] for w in windows],
                                                                       dtype=object)[w_i]}
    for n in names:
        frame[n] = labels[n][s_i]
    frame["k"] = kk[d]
    frame["rows"] = np.asarray([len(y) for y in ds.y], dtype=int)[d] if n_ds else np.zeros(0, int)
    for key in ("estimate", "se", "ci_lb", "ci_ub", "pval", "tau2"):
        frame[key] = res[key][d, m, t_]
    frame["status"] = status[d, m, t_]
    frame["studies"] = np.asarray(ds.studies, dtype=object)[d] if n_ds else np.zeros(0, object)
    return pd.DataFrame(frame), {"row_selections": len(by_combo), "datasets": n_ds, "fitted": n_fit,
                                 "specifications": int(idx.shape[0])}


def _fit_cells(ds, cells, kk, methods, tests, level, spec, base, res, status) -> int:
    """Fill the results of every (data set, method, test) cell; return the number of models fitted."""
    fitted = 0
    crit = z_crit(level)
    single = cells[kk[cells[:, 0]] == 1]
    for d, m, t in single:
        y, se = ds.y[d][0], ds.se[d][0]
        for key, val in (("estimate", y), ("se", se), ("ci_lb", y - crit * se), ("ci_ub", y + crit * se),
                         ("pval", 2 * norm_sf(abs(y / se)))):
            res[key][d, m, t] = val
        status[d, m, t] = "single study"
    many = cells[kk[cells[:, 0]] >= 2]
    ml = np.asarray(ds.ml, dtype=bool)
    bayes = np.asarray([tests[t] == BAYES for t in many[:, 2]], dtype=bool) if len(many) else np.zeros(0, bool)
    is_ml = ml[many[:, 0]] if len(many) else np.zeros(0, bool)
    # univariate, frequentist: one batched call per (method, test)
    uni = many[~bayes & ~is_ml]
    for (m, t) in sorted({(int(a), int(b)) for a, b in uni[:, 1:]}):
        d = np.unique(uni[(uni[:, 1] == m) & (uni[:, 2] == t), 0])
        width = int(kk[d].max())
        Y, V = np.zeros((d.size, width)), np.ones((d.size, width))
        mask = np.zeros((d.size, width), dtype=bool)
        for r, i in enumerate(d):
            Y[r, :kk[i]], V[r, :kk[i]], mask[r, :kk[i]] = ds.y[i], ds.v[i], True
        fit = rma_batch(Y, V, method=methods[m], test=tests[t], level=level, mask=mask)
        for key, arr in (("estimate", fit.beta[:, 0]), ("se", fit.se[:, 0]), ("ci_lb", fit.ci_lb[:, 0]),
                         ("ci_ub", fit.ci_ub[:, 0]), ("pval", fit.pval[:, 0]), ("tau2", fit.tau2)):
            res[key][d, m, t] = arr
        status[d, m, t] = np.where(fit.status == "ok", "pooled", fit.status)
        fitted += d.size
    # Bayesian: one posterior per data set (the estimator does not apply)
    seen = {}
    for d, m, t in many[bayes & ~is_ml]:
        if d not in seen:
            seen[d] = _bayes(ds.y[d], ds.v[d], spec, base, level)
            fitted += 1
        for key, val in seen[d].items():
            if key == "status":
                status[d, m, t] = val
            else:
                res[key][d, m, t] = val
    # multilevel: rows nested in trials, sampling errors correlated within a trial
    from ..rma_mv import rma_mv

    for d, m, t in many[is_ml]:
        # one row per trial: the row-level component is not identified; fixed at 0, the model
        # is the one-level random-effects model (tau^2 = the trial-level component)
        one_row = len(ds.y[d]) == kk[d]
        try:
            fit = rma_mv(ds.y[d], ds.v[d], cluster=ds.cluster[d], method=methods[m],
                         test=MULTILEVEL_TESTS[tests[t]], level=level, rho=ds.rho[d],
                         sigma2=[None, 0.0] if one_row else None)
        except ModelError as exc:
            status[d, m, t] = f"not fitted: {exc}"
            continue
        fitted += 1
        for key, val in (("estimate", fit.beta[0]), ("se", fit.se[0]), ("ci_lb", fit.ci_lb[0]),
                         ("ci_ub", fit.ci_ub[0]), ("pval", fit.pval[0]), ("tau2", float(np.sum(fit.sigma2)))):
            res[key][d, m, t] = float(val)
        status[d, m, t] = "pooled (multilevel)"
    return fitted


def _bayes(y, v, spec, base, level) -> dict:
    """Posterior median of mu, its central credible interval and posterior SD (bayesmeta)."""
    from ..bayesmeta import bayesmeta

    prior = spec["bayes"]["tau_prior"][base.get("measure", "GEN")]
    prior = prior if isinstance(prior, str) else tuple(prior)
    try:
        fit = bayesmeta(y, v, tau_prior=prior, level=level / 100, interval="central")
    except ModelError as exc:
        return {"status": f"not fitted: {exc}"}
    tab = fit.summary()
    lo, hi = fit.post_interval("mu", level / 100, "central")
    return {"estimate": float(tab.loc["median", "mu"]), "se": float(tab.loc["sd", "mu"]),
            "ci_lb": float(lo), "ci_ub": float(hi), "pval": math.nan,
            "tau2": float(tab.loc["median", "tau"]) ** 2, "status": "pooled (Bayesian)"}


def read_part(path, names) -> pd.DataFrame:
    """A chunk's long table as written (CSV): choice columns as text, numbers as floats/ints."""
    cols = ["specification", "window", *names, *PART_COLUMNS]
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:  # a chunk that could not be fitted (its reason is in its counts)
        return pd.DataFrame(columns=cols)
    for c in NUMERIC:
        if c in df.columns:
            df[c] = pd.to_numeric(df[c].replace("", np.nan))
    for c in ("specification", "k", "rows"):
        if c in df.columns and len(df):
            df[c] = df[c].astype(int)
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise InputError(f"{path}: not a part of this multiverse (missing columns {missing})")
    return df[cols]


def gather_parts(parts, windows) -> pd.DataFrame:
    """The chunks' long tables as one, by window position and then specification number."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=["specification", "window", *PART_COLUMNS])
    long = pd.concat(parts, ignore_index=True)
    pos = {w["label"]: i for i, w in enumerate(windows)}
    order = np.lexsort((long["specification"].to_numpy(), long["window"].map(pos).to_numpy()))
    return long.iloc[order].reset_index(drop=True)


def row_selections(spec) -> int:
    """The number of distinct row selections of the grid (effect-size computations)."""
    dims = dimensions(spec)
    return int(np.prod([len(d[1]) for d in dims if d[0] not in NOT_ROWS])) if dims else 1


