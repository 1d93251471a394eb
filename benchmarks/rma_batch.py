#!/usr/bin/env python3
"""Speed of ``km.rma_batch``: many meta-analyses in one call, against a loop of ``km.rma`` and
PyMARE's batched estimators, on one core.

Usage::

    .venv/bin/python benchmarks/rma_batch.py                 # m = 100,000 fits of k = 20
    .venv/bin/python benchmarks/rma_batch.py --pymare-python /path/to/venv/bin/python
    .venv/bin/python benchmarks/rma_batch.py --quick         # m = 10,000, a smoke test

The data (``Y``, ``V`` of shape (m, k), fixed seed) are written once to
``benchmarks/_work/batch/`` as ``.npy`` files and read by both tools. Thread pools are limited
to one thread (OMP/OpenBLAS/MKL variables set before numpy is imported, and inherited by the
PyMARE subprocess), so the figures are one-core figures. PyMARE is never a dependency of
ketameta: it runs in a separate environment (``--pymare-python``, else
``benchmarks/_work/pymare-venv``, created on first use as by ``benchmarks/run.py``); if it
cannot be installed the run says so. The figures are written to a marked section of
``benchmarks/RESULTS.md`` (``benchmarks/run.py`` keeps that section when it rewrites the file).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
             "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import run as bench  # benchmarks/run.py: machine info, formatting, the PyMARE environment

WORK = HERE / "_work" / "batch"
SEED = 20_261_201
TARGET_S = 0.5            # 1e5 REML intercept-only fits of k = 20 on one core
TARGET_PYMARE = 3.0       # ketameta at least 3x faster than PyMARE's batched REML
BEGIN, END = "<!-- begin rma_batch -->", "<!-- end rma_batch -->"

_PYMARE_SCRIPT = r"""
import json, statistics, sys, time
import numpy as np
import pymare
from pymare import Dataset
from pymare.estimators import DerSimonianLaird, VarianceBasedLikelihoodEstimator
wdir, reps = sys.argv[1], int(sys.argv[2])
Y, V = np.load(wdir + "/Y.npy"), np.load(wdir + "/V.npy")
y, v = np.ascontiguousarray(Y.T), np.ascontiguousarray(V.T)   # PyMARE: (k, m)
X = np.ones((y.shape[0], 1))
out = {"version": pymare.__version__}
def reml_fit():
    est = VarianceBasedLikelihoodEstimator(method="REML", small_sample_correction="wald")
    return est.fit(y=y, v=v, X=X)
def reml_summary():
    est = VarianceBasedLikelihoodEstimator(method="REML", small_sample_correction="wald")
    s = est.fit_dataset(Dataset(y=y, v=v, add_intercept=True)).summary()
    s.get_fe_stats(); s.get_heterogeneity_stats()
    return est
def dl_fit():
    return DerSimonianLaird().fit(y=y, v=v, X=X)
for name, fn in (("reml_fit", reml_fit), ("reml_summary", reml_summary), ("dl_fit", dl_fit)):
    fn()
    ts, cpu = [], []
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        est = fn()
        ts.append(time.perf_counter() - t0); cpu.append(time.process_time() - c0)
    out[name] = {"median_s": statistics.median(ts), "reps": reps,
                 "cpu_median_s": statistics.median(cpu)}
    if name == "reml_fit":
        np.save(wdir + "/pymare_tau2.npy", np.ravel(est.params_["tau2"]))
print("RESULT " + json.dumps(out))
"""


def make_data(m, k):
    """Y, V (m, k): V ~ U(0.01, 0.2), tau^2 = 0.05, mu = 0.2 (as benchmarks/run.py's data)."""
    WORK.mkdir(parents=True, exist_ok=True)
    yp, vp = WORK / "Y.npy", WORK / "V.npy"
    if yp.exists() and vp.exists():
        Y, V = np.load(yp), np.load(vp)
        if Y.shape == (m, k):
            return Y, V
    rng = np.random.default_rng(SEED)
    V = rng.uniform(0.01, 0.2, size=(m, k))
    Y = 0.2 + rng.normal(size=(m, k)) * np.sqrt(V + 0.05)
    np.save(yp, Y)
    np.save(vp, V)
    return Y, V


def median_time(fn, reps):
    """Wall-clock and process CPU times of repeated calls (after a warm-up call)."""
    fn()
    ts, cpu = [], []
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        ts.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(ts), ts, cpu


def loop_rma(Y, V, n):
    """A Python loop of km.rma over the first n fits: (seconds, tau2, beta, se)."""
    import ketameta as km

    tau2, beta, se = np.empty(n), np.empty(n), np.empty(n)
    t0 = time.perf_counter()
    for i in range(n):
        r = km.rma(Y[i], V[i], method="REML")
        tau2[i], beta[i], se[i] = r.tau2, r.beta[0], r.se[0]
    return time.perf_counter() - t0, tau2, beta, se


def _reml_loglik(Y, V, t2):
    """Restricted log-likelihood (up to a constant) of intercept-only models at tau^2 = t2."""
    W = 1.0 / (V + t2[:, None])
    b = (W * Y).sum(axis=1) / W.sum(axis=1)
    rss = (W * (Y - b[:, None]) ** 2).sum(axis=1)
    return -0.5 * (np.log(V + t2[:, None]).sum(axis=1) + np.log(W.sum(axis=1)) + rss)


def run_pymare(py, reps, log):
    script = WORK / "pymare_batch_bench.py"
    script.write_text(_PYMARE_SCRIPT)
    try:
        r = subprocess.run([str(py), str(script), str(WORK), str(reps)], capture_output=True,
                           text=True, timeout=3600, check=False)
    except subprocess.TimeoutExpired:
        log("PyMARE timed out")
        return None
    for line in r.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    log("PyMARE failed:\n" + r.stderr[-1500:])
    return None


def fmt_t(s):
    return bench.fmt_t(s)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--m", type=int, default=100_000)
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--reps", type=int, default=9, help="timed repeats of rma_batch")
    ap.add_argument("--pymare-reps", type=int, default=3)
    ap.add_argument("--loop-fits", type=int, default=None,
                    help="fits in the km.rma loop (default: all m; fewer are scaled to m)")
    ap.add_argument("--pymare-python", default=None)
    ap.add_argument("--no-pymare", action="store_true")
    ap.add_argument("--quick", action="store_true", help="m = 10,000, few repeats")
    ap.add_argument("--out", default=str(HERE / "RESULTS.md"))
    ap.add_argument("--no-write", action="store_true", help="print only")
    ap.add_argument("--report-only", action="store_true",
                    help="rewrite the section from the last run (_work/rma_batch.json)")
    args = ap.parse_args(argv)
    if args.report_only:
        saved = json.loads((HERE / "_work" / "rma_batch.json").read_text())
        write_section(Path(args.out), report(saved["info"], saved["results"]))
        print(f"wrote the rma_batch section of {args.out}")
        return
    if args.quick:
        args.m, args.reps, args.pymare_reps = 10_000, 3, 1
    import ketameta as km

    def log(msg):
        print(msg, flush=True)

    load_start = os.getloadavg()
    m, k = args.m, args.k
    Y, V = make_data(m, k)
    log(f"data: m = {m:,} meta-analyses of k = {k} (Y, V in {WORK})")
    R: dict = {"m": m, "k": k}
    for label, meth, test in (("REML, z", "REML", "z"), ("REML, knha", "REML", "knha"),
                              ("DL, z", "DL", "z")):
        t, ts, cpu = median_time(lambda meth=meth, test=test: km.rma_batch(Y, V, method=meth,
                                                                             test=test),
                                 args.reps)
        R[label] = {"median_s": t, "min_s": min(ts), "reps": len(ts),
                    "cpu_median_s": statistics.median(cpu)}
        log(f"ketameta rma_batch {label}: median {fmt_t(t)}, min {fmt_t(min(ts))}, "
            f"CPU median {fmt_t(statistics.median(cpu))}")
    res = km.rma_batch(Y, V, method="REML")
    n_perm = min(m, 1000)
    sub = km.rma_batch(Y[:n_perm], V[:n_perm], method="REML")
    t0 = time.perf_counter()
    km.permutest_batch(sub, iter=1000, seed=1)
    R["permutest_batch"] = {"seconds": time.perf_counter() - t0, "fits": n_perm, "iter": 1000}
    log(f"permutest_batch, {n_perm:,} fits x 1,000 permutations: "
        f"{fmt_t(R['permutest_batch']['seconds'])}")
    R["iterations_mean"] = float(res.iterations.mean())
    R["converged"] = int(res.converged.sum())

    n_loop = m if args.loop_fits is None else min(m, args.loop_fits)
    t_loop, tau2_l, beta_l, se_l = loop_rma(Y, V, n_loop)
    R["loop"] = {"seconds": t_loop, "fits": n_loop, "scaled_s": t_loop * m / n_loop}
    rel = {name: float(np.max(np.abs(a[:n_loop] - b) / np.maximum(np.abs(b), 1e-300)))
           for name, a, b in (("beta", res.beta[:, 0], beta_l), ("se", res.se[:, 0], se_l))}
    pos = tau2_l > 0
    rel["tau2"] = float(np.max(np.abs(res.tau2[:n_loop][pos] - tau2_l[pos]) / tau2_l[pos]))
    rel["tau2_zero_agree"] = bool(np.all(res.tau2[:n_loop][~pos] == 0))
    R["equality"] = rel
    log(f"loop of km.rma over {n_loop:,} fits: {t_loop:.2f} s"
        + ("" if n_loop == m else f" (scaled to {m:,}: {R['loop']['scaled_s']:.1f} s)")
        + f"; max relative deviation rma_batch vs rma: {rel}")

    py = None
    if not args.no_pymare:
        py = Path(args.pymare_python) if args.pymare_python else bench.pymare_python(log)
        if py is None or not Path(py).exists():
            py = None
            R["pymare_note"] = "PyMARE could not be installed in a separate environment: skipped"
            log(R["pymare_note"])
    if py is not None:
        pm = run_pymare(py, args.pymare_reps, log)
        if pm:
            R["pymare"] = pm
            ptau = np.load(WORK / "pymare_tau2.npy")
            d = np.abs(ptau - res.tau2)
            far = np.flatnonzero(d > 1e-6)
            ll_k = _reml_loglik(Y[far], V[far], res.tau2[far])
            ll_p = _reml_loglik(Y[far], V[far], ptau[far])
            R["pymare_tau2"] = {"median_abs_diff": float(np.median(d)),
                                "n_over_1e-6": int(far.size),
                                "n_pymare_higher_ll": int(np.sum(ll_p > ll_k)),
                                "n_ketameta_zero": int(np.sum(res.tau2[far] == 0))}
            for key in ("reml_fit", "reml_summary", "dl_fit"):
                log(f"PyMARE {key}: {fmt_t(pm[key]['median_s'])}")
        else:
            R["pymare_note"] = "PyMARE failed to run (see the runner's output)"
    info = bench.machine_info(None, (R.get("pymare") or {}).get("version"))
    info["load_end"], info["load"] = info["load"], load_start
    (HERE / "_work").mkdir(exist_ok=True)
    (HERE / "_work" / "rma_batch.json").write_text(json.dumps({"info": info, "results": R},
                                                              indent=1))
    section = report(info, R)
    print(section)
    if not args.no_write:
        write_section(Path(args.out), section)
        log(f"wrote the rma_batch section of {args.out}")


def report(info, R):
    m, k = R["m"], R["k"]
    t = R["REML, z"]["median_s"]
    tc = R["REML, z"]["cpu_median_s"]
    pm = R.get("pymare")
    loop = R["loop"]
    la = ", ".join(f"{x:.2f}" for x in info["load"])
    le = ", ".join(f"{x:.2f}" for x in info["load_end"])
    lines = [BEGIN, f"## `km.rma_batch`: {m:,} meta-analyses of k = {k}, one core", "",
             f"Generated by `benchmarks/rma_batch.py` on {info['date']}: {info['cpu']} "
             f"({info['cores']} cores; OMP/OpenBLAS/MKL limited to one thread), Python "
             f"{info['python']}, numpy {info['numpy']}, scipy {info['scipy']}, PyMARE "
             f"{(pm or {}).get('version', 'not available')} (separate environment); load "
             f"average {la} at start, {le} at end.", "",
             f"Data: `Y`, `V` of shape ({m:,}, {k}) with a fixed seed ({SEED}; V ~ U(0.01, "
             "0.2), tau² = 0.05), saved as `.npy` and read by both tools; intercept-only "
             "random-effects models. ketameta: median of "
             f"{R['REML, z']['reps']} calls of `km.rma_batch(Y, V, method=...)` (every "
             "statistic of every fit: estimates, CIs, p-values, tau² and its SE, Q, I², H²). "
             "PyMARE: median of "
             f"{(pm or {}).get('reml_fit', {}).get('reps', '—')} fits of "
             "`VarianceBasedLikelihoodEstimator(method=\"REML\", "
             "small_sample_correction=\"wald\").fit(y, v, X)` on the same arrays (k × m), "
             "alone and with `fit_dataset(...).summary()` plus its coefficient and "
             "heterogeneity statistics; `DerSimonianLaird().fit` for DL (the estimate and "
             "its covariance only: for the closed-form estimator that is a few array "
             "passes, while `rma_batch` also computes the tests, intervals, Q, I², H² and "
             "the SE of tau², which needs a third-order pass).", "",
             "Times are medians of wall-clock time; on this shared machine they include "
             "waiting for a core (see the load average), so the one-core target is judged "
             "on the process CPU time of the single-threaded call (also a median), given "
             "beside it.", "",
             "| work | ketameta | other | ketameta speed-up | target | status |",
             "|---|---:|---:|---:|---|---|",
             f"| REML, z: `km.rma_batch`, CPU time | {fmt_t(tc)} | | | ≤ {TARGET_S} s | "
             f"{bench.met(tc <= TARGET_S)} |",
             f"| REML, z: `km.rma_batch`, wall-clock | {fmt_t(t)} (min "
             f"{fmt_t(R['REML, z']['min_s'])}) | | | ≤ {TARGET_S} s | "
             f"{bench.met(t <= TARGET_S)} |"]
    if pm:
        for label, key, target in (("REML: PyMARE batched estimator (fit)", "reml_fit",
                                    TARGET_PYMARE),
                                   ("REML: PyMARE fit + summary statistics", "reml_summary",
                                    None)):
            p = pm[key]["median_s"]
            lines.append(f"| {label} | {fmt_t(t)} | {fmt_t(p)} | {bench.fmt_x(p / t)} | "
                         + (f"≥ {TARGET_PYMARE:g}× | {bench.met(p / t >= target)} |"
                            if target else "| |"))
            pc = pm[key].get("cpu_median_s")
            if pc:
                lines.append(f"| ... CPU time | {fmt_t(tc)} | {fmt_t(pc)} | "
                             f"{bench.fmt_x(pc / tc)} | | |")
        p = pm["dl_fit"]["median_s"]
        tdl = R["DL, z"]["median_s"]
        lines.append(f"| DL: PyMARE `DerSimonianLaird` (fit) | {fmt_t(tdl)} | {fmt_t(p)} | "
                     f"{bench.fmt_x(p / tdl)} | | |")
    else:
        lines.append(f"| PyMARE | | {R.get('pymare_note', 'not run')} | | | |")
    scaled = "" if loop["fits"] == m else f" ({loop['fits']:,} fits, scaled)"
    lines += [f"| REML, z: a Python loop of `km.rma`{scaled} | {fmt_t(t)} | "
              f"{loop['scaled_s']:.1f} s | {bench.fmt_x(loop['scaled_s'] / t)} | | |",
              f"| REML, knha: `km.rma_batch` | {fmt_t(R['REML, knha']['median_s'])} | | | | |",
              f"| DL, z: `km.rma_batch` | {fmt_t(R['DL, z']['median_s'])} | | | | |",
              f"| REML, z: `km.permutest_batch`, {R['permutest_batch']['fits']:,} fits × "
              f"{R['permutest_batch']['iter']:,} permutations (one run) | "
              f"{fmt_t(R['permutest_batch']['seconds'])} | | | | |", ""]
    eq = R["equality"]
    note = (f"Every `rma_batch` fit equals the `km.rma` fit of the loop: largest relative "
            f"deviation over the {loop['fits']:,} fits {eq['beta']:.1e} (beta), "
            f"{eq['se']:.1e} (se), {eq['tau2']:.1e} (tau², where positive; tau² = 0 in both "
            f"{'everywhere' if eq['tau2_zero_agree'] else 'not everywhere'} else). The REML "
            f"iteration takes {R['iterations_mean']:.1f} Newton steps per fit on average "
            "(to machine precision).")
    if pm and "pymare_tau2" in R:
        pt = R["pymare_tau2"]
        note += (f" PyMARE's bounded search agrees on tau² to {pt['median_abs_diff']:.1e} "
                 "(median absolute difference)")
        if pt["n_over_1e-6"]:
            note += (f"; in {pt['n_over_1e-6']} of the {m:,} data sets the two differ by more than "
                     f"1e-6: ketameta reports tau² = 0 in {pt['n_ketameta_zero']} of them and PyMARE "
                     f"has the higher restricted likelihood in {pt['n_pymare_higher_ll']}.")
        else:
            note += (f"; in none of the {m:,} data sets do the two differ by more than 1e-6, "
                     "including those whose restricted likelihood has a local maximum at tau² = 0 "
                     "and a higher one inside (there `km.rma` and `rma_batch` scan the score and "
                     "return the interior maximum, as metafor does: "
                     "`tests/reference/test_interior_maxima.py`).")
    lines += [note, "", END]
    return "\n".join(lines)


def write_section(path, section):
    """Replace (or append) the marked rma_batch section of RESULTS.md."""
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        text = head + section + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)


if __name__ == "__main__":
    main()
