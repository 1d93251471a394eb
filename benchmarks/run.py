#!/usr/bin/env python3
"""Speed benchmarks of ketameta, side by side with metafor (R) and PyMARE.

Usage (``make bench`` runs the first form)::

    .venv/bin/python benchmarks/run.py            # everything, writes benchmarks/RESULTS.md
    .venv/bin/python benchmarks/run.py --quick    # small budgets (a smoke test of the runner)
    .venv/bin/python benchmarks/run.py --no-workflow --no-pymare --no-metafor

Every tool reads the same data files (CSV written here with 17 significant digits, fixed
seeds) and times only the model fitting, in its own process: ketameta in this interpreter,
metafor through ``Rscript`` (skipped with a note if R or metafor is missing) and PyMARE with
the interpreter of an optional separate environment, ``benchmarks/_work/pymare-venv``, created
on first use (``python3 -m venv`` + ``pip install pymare``; skipped with a note if that fails).
PyMARE is never a dependency of ketameta. Each timing is the median of repeated runs; the
number of repeats adapts to the cost (a time budget per measurement, within bounds).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / "_work"
DATA = WORK / "data"
PYMARE_VENV = WORK / "pymare-venv"
SEED = 20_260_801

TARGETS = {
    "rma_k20_ms": 0.5,           # ms per REML meta-regression (2 moderators) at k = 20
    "rma_k1e6_s": 1.0,           # s at k = 1,000,000
    "rma_k1e6_gb": 1.0,          # peak memory (GB) of the k = 1,000,000 fit
    "speedup_metafor": 10.0,     # at every k
    "speedup_pymare": 2.0,       # at every k
    "permutest_s": 1.0,          # 10,000 permutations at k = 50
    "l1o_s": 1.0,                # leave1out at k = 10,000
    "influence_s": 1.0,          # influence at k = 10,000
    "workflow_s": 60.0,          # whole workflow from an empty results/
    "rerun_s": 5.0,              # no-change rerun
}
K_GRID = [10, 100, 1_000, 10_000, 100_000, 1_000_000]
METAFOR_MAX_K = 2_000            # metafor forms k x k matrices: seconds at k = 1,000
PERM_K, PERM_ITER, PERM_ITER_METAFOR = 50, 10_000, 1_000
L1O_K, L1O_K_SMALL = 10_000, 100


# ---------------------------------------------------------------------------------------------
# data and timing helpers
# ---------------------------------------------------------------------------------------------

def data_file(k: int) -> Path:
    """CSV (yi, vi, x1, x2) of k studies: two moderators, tau^2 = 0.05, fixed seed."""
    path = DATA / f"k{k}.csv"
    if not path.exists():
        rng = np.random.default_rng(SEED + k)
        x = rng.normal(size=(k, 2))
        vi = rng.uniform(0.01, 0.2, size=k)
        yi = 0.2 + x @ np.array([0.1, -0.05]) + rng.normal(0.0, np.sqrt(vi + 0.05))
        DATA.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        np.savetxt(tmp, np.column_stack([yi, vi, x]), delimiter=",", fmt="%.17g",
                   header="yi,vi,x1,x2", comments="")
        tmp.replace(path)
    return path


def read_data(path: Path):
    a = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    return a[:, 0].copy(), a[:, 1].copy(), np.ascontiguousarray(a[:, 2:4])


def time_calls(fn, budget: float, min_reps: int = 3, max_reps: int = 2000):
    """Median wall time (s) of repeated calls: one warm-up call, then repeats until the budget
    is spent (at least ``min_reps``, at most ``max_reps``)."""
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    times: list[float] = []
    n = max(min_reps, min(max_reps, int(budget / max(first, 1e-9))))
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), len(times)


def run(cmd, timeout, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


# ---------------------------------------------------------------------------------------------
# ketameta
# ---------------------------------------------------------------------------------------------

def bench_ketameta(ks, budget, log, rounds=5):
    """Median time of ``km.rma`` at each k. The samples of each k are collected in ``rounds``
    interleaved rounds over all k, so a transient load on the machine does not fall on one k."""
    import ketameta as km

    data = {k: read_data(data_file(k)) for k in ks}
    samples: dict = {k: [] for k in ks}
    plan = {}
    for k in ks:
        y, v, X = data[k]
        t0 = time.perf_counter()
        km.rma(y, v, mods=X, method="REML")          # warm-up; sets the number of repeats
        first = time.perf_counter() - t0
        b = budget if k < 100_000 else max(budget, 3.0)
        n = max(5 if k < 1_000_000 else 3, min(2000, int(b / max(first, 1e-9))))
        plan[k] = n
    for r in range(rounds):
        for k in ks:
            y, v, X = data[k]
            n = plan[k] // rounds + (1 if r < plan[k] % rounds else 0)
            for _ in range(n):
                t0 = time.perf_counter()
                km.rma(y, v, mods=X, method="REML")
                samples[k].append(time.perf_counter() - t0)
    out = {}
    for k in ks:
        med = statistics.median(samples[k])
        out[k] = {"median_s": med, "reps": len(samples[k])}
        log(f"  ketameta rma k={k:>9,}: {fmt_t(med)} (median of {len(samples[k])})")
    return out


def bench_ketameta_extra(budget, log):
    import ketameta as km

    out = {}
    y, v, X = read_data(data_file(PERM_K))
    res = km.rma(y, v, mods=X, method="REML")
    med, n = time_calls(lambda: km.permutest(res, iter=PERM_ITER, seed=1), budget, min_reps=3,
                        max_reps=20)
    out["permutest"] = {"median_s": med, "reps": n}
    log(f"  ketameta permutest k={PERM_K}, iter={PERM_ITER:,}: {fmt_t(med)} (median of {n})")
    for k in (L1O_K, L1O_K_SMALL):
        y, v, X = read_data(data_file(k))
        res = km.rma(y, v, mods=X, method="REML")
        # metafor's leave1out only takes models without moderators: the side-by-side run at
        # the small k uses the random-effects model for it
        res_l1o = res if k == L1O_K else km.rma(y, v, method="REML")
        for name, fn, r in (("leave1out", km.leave1out, res_l1o),
                            ("influence", km.influence, res)):
            med, n = time_calls(lambda fn=fn, r=r: fn(r), budget, min_reps=3, max_reps=200)
            out[f"{name}_k{k}"] = {"median_s": med, "reps": n}
            log(f"  ketameta {name} k={k:,}: {fmt_t(med)} (median of {n})")
    return out


_MEMORY_SCRIPT = r"""
import resource, sys, time, tracemalloc
import numpy as np
import ketameta as km

def peak_rss_kb():
    # VmHWM: this process's peak resident set (getrusage's ru_maxrss also counts the peak of
    # the parent that forked it, which the kernel carries across exec)
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

a = np.load({path!r})
y, v, X = a[:, 0].copy(), a[:, 1].copy(), np.ascontiguousarray(a[:, 2:4])
del a
rss0 = peak_rss_kb()
tracemalloc.start()
tracemalloc.reset_peak()
t0 = time.perf_counter()
km.rma(y, v, mods=X, method="REML")
dt = time.perf_counter() - t0
traced = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
rss1 = peak_rss_kb()
print({{"traced_peak_bytes": traced, "maxrss_before_kb": rss0, "maxrss_after_kb": rss1,
       "seconds_with_tracemalloc": dt}})
"""


def bench_memory(log):
    """Peak memory of one k = 10^6 fit, in a fresh interpreter."""
    # the same numbers as the CSV, stored as .npy so that parsing text does not set the peak
    npy = WORK / "data" / "k1000000.npy"
    if not npy.exists():
        y, v, X = read_data(data_file(1_000_000))
        np.save(npy, np.column_stack([y, v, X]))
    code = _MEMORY_SCRIPT.format(path=str(npy))
    r = run([sys.executable, "-c", code], timeout=600)
    if r.returncode != 0:
        log("  memory measurement failed:\n" + r.stderr[-2000:])
        return None
    import ast

    m = ast.literal_eval(r.stdout.strip().splitlines()[-1])
    log(f"  ketameta k=1,000,000 peak: numpy allocations {m['traced_peak_bytes'] / 2**20:.0f} MiB "
        f"(tracemalloc); process max RSS {m['maxrss_after_kb'] / 2**10:.0f} MiB "
        f"(data loaded: {m['maxrss_before_kb'] / 2**10:.0f} MiB)")
    return m


# ---------------------------------------------------------------------------------------------
# metafor
# ---------------------------------------------------------------------------------------------

_R_SCRIPT = r"""
suppressMessages(library(metafor))
args <- commandArgs(trailingOnly = TRUE)
task <- args[1]; path <- args[2]; budget <- as.numeric(args[3]); maxreps <- as.integer(args[4])
d <- read.csv(path)
X <- cbind(d$x1, d$x2)
now <- function() as.numeric(Sys.time())   # microsecond resolution (proc.time: 1 ms)
timeit <- function(f) {
  t0 <- now(); f(); first <- now() - t0
  n <- as.integer(budget / max(first, 1e-6))
  if (n < 1L) { times <- first; n <- 1L } else {
    # the first (warm-up) run is not counted unless one run already exceeds the budget
    n <- min(maxreps, n); times <- numeric(n)
    for (i in seq_len(n)) { t0 <- now(); f(); times[i] <- now() - t0 }
  }
  cat(sprintf("RESULT %s %d %.9g %d\n", task, nrow(d), median(times), n))
}
# default control (threshold = 1e-5, maxiter = 100), as a user would call it
fit <- function() rma(d$yi, d$vi, mods = X, method = "REML")
if (task == "rma") timeit(fit)
if (task == "permutest") {
  res <- fit(); timeit(function() permutest(res, iter = as.integer(args[5])))
}
# leave1out takes models without moderators only
if (task == "leave1out") {
  res <- rma(d$yi, d$vi, method = "REML"); timeit(function() leave1out(res))
}
if (task == "influence") { res <- fit(); timeit(function() influence(res)) }
"""


def metafor_version():
    if shutil.which("Rscript") is None:
        return None, "Rscript not found (install r-base-core and r-cran-metafor to compare)"
    r = run(["Rscript", "-e", "cat(as.character(packageVersion('metafor')), "
             "R.version$major, R.version$minor)"], timeout=120)
    if r.returncode != 0:
        return None, "R is installed but metafor is not (install r-cran-metafor to compare)"
    mv, maj, minor = r.stdout.split()
    return {"metafor": mv, "R": f"{maj}.{minor}"}, None


def bench_metafor(task, k, budget, maxreps, log, extra=()):
    script = WORK / "metafor_bench.R"
    script.write_text(_R_SCRIPT)
    cmd = ["Rscript", str(script), task, str(data_file(k)), str(budget), str(maxreps), *extra]
    try:
        r = run(cmd, timeout=3600)
    except subprocess.TimeoutExpired:
        log(f"  metafor {task} k={k}: timed out")
        return None
    for line in r.stdout.splitlines():
        if line.startswith("RESULT"):
            _, _, _, med, n = line.split()
            log(f"  metafor  {task} k={k:>9,}: {fmt_t(float(med))} (median of {n})")
            return {"median_s": float(med), "reps": int(n)}
    log(f"  metafor {task} k={k} failed:\n{r.stderr[-1500:]}")
    return None


# ---------------------------------------------------------------------------------------------
# PyMARE (separate environment)
# ---------------------------------------------------------------------------------------------

_PYMARE_SCRIPT = r"""
import json, statistics, sys, time
import numpy as np
import pymare
from pymare import Dataset
from pymare.estimators import VarianceBasedLikelihoodEstimator
path, budget, maxreps = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
a = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
y, v, X = a[:, 0].copy(), a[:, 1].copy(), np.ascontiguousarray(a[:, 2:4])
def fit():
    ds = Dataset(y=y, v=v, X=X, add_intercept=True)
    est = VarianceBasedLikelihoodEstimator(method="REML", small_sample_correction="wald")
    s = est.fit_dataset(ds).summary()
    s.get_fe_stats(); s.get_heterogeneity_stats()
t0 = time.perf_counter(); fit(); first = time.perf_counter() - t0
n = int(budget / max(first, 1e-9))
times = [first] if n < 1 else []   # the warm-up run counts only if it exceeds the budget
for _ in range(min(maxreps, n)):
    t0 = time.perf_counter(); fit(); times.append(time.perf_counter() - t0)
n = len(times)
print("RESULT " + json.dumps({"median_s": statistics.median(times), "reps": n,
                               "version": pymare.__version__}))
"""


def pymare_python(log):
    """The PyMARE environment's interpreter, created on first use; None if unavailable."""
    py = PYMARE_VENV / "bin" / "python"
    if not py.exists():
        log("  creating benchmarks/_work/pymare-venv (python3 -m venv; pip install pymare) ...")
        base = shutil.which("python3") or sys.executable
        try:
            r = run([base, "-m", "venv", str(PYMARE_VENV)], timeout=600)
            if r.returncode == 0:
                r = run([str(py), "-m", "pip", "install", "--quiet",
                         "--disable-pip-version-check", "pymare"], timeout=1800)
        except subprocess.TimeoutExpired:
            r = None
        if r is None or r.returncode != 0:
            log("  PyMARE could not be installed; skipped"
                + ("" if r is None else ":\n" + r.stderr[-1500:]))
            shutil.rmtree(PYMARE_VENV, ignore_errors=True)
            return None
    r = run([str(py), "-c", "import pymare"], timeout=300)
    if r.returncode != 0:
        log("  PyMARE environment present but `import pymare` fails; skipped")
        return None
    return py


def bench_pymare(py, k, budget, maxreps, log):
    script = WORK / "pymare_bench.py"
    script.write_text(_PYMARE_SCRIPT)
    try:
        r = run([str(py), str(script), str(data_file(k)), str(budget), str(maxreps)],
                timeout=3600)
    except subprocess.TimeoutExpired:
        log(f"  PyMARE k={k}: timed out")
        return None
    for line in r.stdout.splitlines():
        if line.startswith("RESULT "):
            res = json.loads(line[7:])
            log(f"  PyMARE   rma k={k:>9,}: {fmt_t(res['median_s'])} (median of {res['reps']})")
            return res
    log(f"  PyMARE k={k} failed:\n{r.stderr[-1500:]}")
    return None


# ---------------------------------------------------------------------------------------------
# workflow
# ---------------------------------------------------------------------------------------------

def bench_workflow(log):
    """``snakemake --cores 2`` from an empty results/ and a no-change rerun, in a temporary
    copy of the repository (Snakefile, config, data, workflow)."""
    snakemake = ROOT / ".venv" / "bin" / "snakemake"
    if not snakemake.exists():
        log("  .venv/bin/snakemake not found; workflow timing skipped")
        return None
    out = {}
    with tempfile.TemporaryDirectory(prefix="ketameta-bench-") as tmp:
        for name in ("Snakefile", "config", "data", "workflow"):
            src = ROOT / name
            if src.is_dir():
                shutil.copytree(src, Path(tmp) / name)
            else:
                shutil.copy2(src, Path(tmp) / name)
        env = dict(os.environ)
        env["PATH"] = f"{ROOT / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        for label in ("full", "rerun"):
            t0 = time.perf_counter()
            r = run([str(snakemake), "--cores", "2"], timeout=3600, cwd=tmp, env=env)
            dt = time.perf_counter() - t0
            out[label] = {"seconds": dt, "ok": r.returncode == 0}
            log(f"  workflow {label}: {dt:.1f} s" + ("" if r.returncode == 0 else " (FAILED)"))
            if r.returncode != 0:
                out[label]["error"] = r.stderr[-3000:]
                break
    return out


# ---------------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------------

def fmt_t(s):
    if s is None:
        return "—"
    if s < 1e-3:
        return f"{s * 1e6:.0f} µs"
    if s < 1:
        return f"{s * 1e3:.3g} ms"
    return f"{s:.3g} s"


def fmt_x(r):
    return "—" if r is None else (f"{r:,.0f}×" if r >= 100 else f"{r:.3g}×")


def ratio_cell(r, target):
    return "—" if r is None else f"{fmt_x(r)} {met(r >= target)}"


def met(ok):
    return "—" if ok is None else ("met" if ok else "**not met**")


def machine_info(mf_versions, pymare_version):
    import numpy
    import scipy

    import ketameta

    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return {
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu, "cores": os.cpu_count(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(), "numpy": numpy.__version__,
        "scipy": scipy.__version__, "ketameta": getattr(ketameta, "__version__", "?"),
        "R": (mf_versions or {}).get("R"), "metafor": (mf_versions or {}).get("metafor"),
        "pymare": pymare_version, "load": load,
    }


def write_results(path, info, R, notes):
    ke, mf, pm = R["ketameta"], R.get("metafor", {}), R.get("pymare", {})
    lines = ["# Benchmark results", "",
             f"Generated by `benchmarks/run.py` on {info['date']}.", "",
             "## Machine", "",
             "| | |", "|---|---|",
             f"| CPU | {info['cpu']} ({info['cores']} cores) |",
             f"| OS | {info['os']} |",
             f"| Python / numpy / scipy | {info['python']} / {info['numpy']} / {info['scipy']} |",
             f"| ketameta | {info['ketameta']} |",
             f"| R / metafor | {info['R'] or 'not available'} / "
             f"{info['metafor'] or 'not available'} |",
             f"| PyMARE | {info['pymare'] or 'not available'} (separate environment) |"]
    if info.get("load"):
        la = ", ".join(f"{x:.2f}" for x in info["load"])
        lines.append(f"| load average at start (1, 5, 15 min) | {la} |")
        if info.get("load_end"):
            le = ", ".join(f"{x:.2f}" for x in info["load_end"])
            lines.append(f"| load average at end | {le} |")
    lines += ["", "Data: `yi, vi, x1, x2` CSV files written once with a fixed seed "
              f"({SEED} + k) and read by every tool; the model is a REML meta-regression "
              "with an intercept and two moderators (`rma(yi, vi, mods = cbind(x1, x2), "
              "method = \"REML\")`). Times are wall-clock medians of repeated runs (number of "
              "repeats in parentheses, adapted to the cost) of the fit alone: reading data and "
              "starting R or Python are excluded. ketameta's `rma` samples are collected in five "
              "interleaved rounds over all k, so that a transient load on the (shared) machine "
              "does not fall on one k. metafor uses its default control "
              "(`threshold = 1e-5`, `maxiter = 100`); ketameta iterates to machine precision "
              "(relative 1e-15) whatever the k, so the comparison does not favour it. PyMARE: "
              "`VarianceBasedLikelihoodEstimator(method=\"REML\", "
              "small_sample_correction=\"wald\")` on a `Dataset` with an intercept, plus its "
              "summary's coefficient and heterogeneity statistics (ketameta's `rma` computes "
              "all of its statistics, including the R² refit).", ""]

    def speedups(k):
        t = ke["rma"].get(k, {}).get("median_s")
        a = mf.get("rma", {}).get(k, {})
        b = pm.get(k, {})
        ra = a.get("median_s") / t if (t and a) else None
        rb = b.get("median_s") / t if (t and b) else None
        return t, a.get("median_s") if a else None, b.get("median_s") if b else None, ra, rb

    # -- targets ------------------------------------------------------------------------------
    lines += ["## Targets", ""]
    t20, m20, p20, r20a, r20b = speedups(20)
    lines += ["### `km.rma` REML meta-regression (2 moderators), k = 20", "",
              "| tool | median | target | status |", "|---|---|---|---|",
              f"| ketameta | {fmt_t(t20)} ({ke['rma'].get(20, {}).get('reps', '—')}) | "
              "≤ 0.5 ms | "
              f"{met(None if t20 is None else t20 * 1e3 <= TARGETS['rma_k20_ms'])} |",
              f"| metafor | {fmt_t(m20)} | ketameta ≥ 10× faster | {ratio_cell(r20a, 10)} |",
              f"| PyMARE | {fmt_t(p20)} | ketameta ≥ 2× faster | {ratio_cell(r20b, 2)} |", ""]
    t6, _, p6, _, r6b = speedups(1_000_000)
    mem = R.get("memory")
    gb = mem["maxrss_after_kb"] / 2**20 if mem else None
    lines += ["### `km.rma` at k = 1,000,000", "",
              "| quantity | measured | target | status |", "|---|---|---|---|",
              f"| time (median) | {fmt_t(t6)} | ≤ 1 s | "
              f"{met(None if t6 is None else t6 <= TARGETS['rma_k1e6_s'])} |"]
    if mem:
        lines += [f"| peak memory: process max RSS (interpreter + data + fit) | "
                  f"{gb * 1024:.0f} MiB | ≤ 1 GB | {met(gb <= TARGETS['rma_k1e6_gb'])} |",
                  f"| peak memory: numpy allocations during the fit (tracemalloc) | "
                  f"{mem['traced_peak_bytes'] / 2**20:.0f} MiB | | |"]
    lines += [f"| PyMARE (median) | {fmt_t(p6)} | ketameta ≥ 2× faster | "
              f"{ratio_cell(r6b, 2)} |",
              "| metafor | cannot fit (k × k matrices: 8 TB) | | |", ""]
    if mem:
        lines += ["Memory is measured in a fresh interpreter that loads the k = 10⁶ data (the "
                  "same numbers as the CSV, from a `.npy` copy so that text parsing does not "
                  "set the peak) and fits once: the process's peak resident set size after the "
                  "fit (`VmHWM` in `/proc/self/status`; the whole process: interpreter, "
                  "numpy/scipy/pandas, data and fit; "
                  f"{mem['maxrss_before_kb'] / 2**10:.0f} MiB before the fit) and "
                  "`tracemalloc`'s peak over the fit (numpy reports its array allocations to "
                  "tracemalloc).", ""]

    ex = R.get("ketameta_extra", {})
    pt = ex.get("permutest", {}).get("median_s")
    mpt = mf.get("permutest", {}).get("median_s") if mf.get("permutest") else None
    mpt_scaled = mpt * PERM_ITER / PERM_ITER_METAFOR if mpt else None
    lines += [f"### `km.permutest(res, iter={PERM_ITER:,})`, k = {PERM_K}, 2 moderators", "",
              "| tool | median | target | status |", "|---|---|---|---|",
              f"| ketameta ({PERM_ITER:,} permutations, batched) | {fmt_t(pt)} | ≤ 1 s | "
              f"{met(None if pt is None else pt <= TARGETS['permutest_s'])} |",
              f"| metafor `permutest(res, iter = {PERM_ITER_METAFOR:,})` | {fmt_t(mpt)} | | |",
              f"| metafor scaled to {PERM_ITER:,} | {fmt_t(mpt_scaled)} | | ketameta "
              f"{fmt_x(mpt_scaled / pt if (mpt_scaled and pt) else None)} faster |", ""]
    lines += [f"### Leave-one-out and influence diagnostics, k = {L1O_K:,} (2 moderators)", "",
              "| function | ketameta median | target | status |", "|---|---|---|---|"]
    for name, key in (("`km.leave1out`", "l1o_s"), ("`km.influence`", "influence_s")):
        fn = name.strip("`").split(".")[1]
        t = ex.get(f"{fn}_k{L1O_K}", {}).get("median_s")
        lines.append(f"| {name} | {fmt_t(t)} | ≤ 1 s | "
                     f"{met(None if t is None else t <= TARGETS[key])} |")
    m_big = mf.get("rma", {}).get(METAFOR_MAX_K, {}).get("median_s")
    lines += ["", f"metafor refits the model k times with k × k matrices: at k = {L1O_K:,} "
              "that is 10,000 fits with 800 MB matrices each"
              + (f" (one fit at k = {METAFOR_MAX_K:,} already takes {fmt_t(m_big)} here)"
                 if m_big else "")
              + f", so it is compared at k = {L1O_K_SMALL} instead (leave1out on the "
              "random-effects model: metafor's "
              "`leave1out` does not take moderators; influence on the 2-moderator model):", "",
              f"| function, k = {L1O_K_SMALL} | ketameta | metafor | ketameta speed-up |",
              "|---|---|---|---|"]
    for fn in ("leave1out", "influence"):
        t = ex.get(f"{fn}_k{L1O_K_SMALL}", {}).get("median_s")
        m = mf.get(fn, {}).get("median_s") if mf.get(fn) else None
        lines.append(f"| `{fn}` | {fmt_t(t)} | {fmt_t(m)} | "
                     f"{fmt_x(m / t if (m and t) else None)} |")
    wf = R.get("workflow")
    lines += ["", "### Workflow (`snakemake --cores 2` in a temporary copy of the repository)", "",
              "| run | measured | target | status |", "|---|---|---|---|"]
    if wf:
        for label, key, what in (("full", "workflow_s", "from an empty `results/`"),
                                 ("rerun", "rerun_s", "no-change rerun")):
            w = wf.get(label)
            if w is None:
                lines.append(f"| {what} | not run | | |")
                continue
            ok = w["ok"] and w["seconds"] <= TARGETS[key]
            lines.append(f"| {what} | {w['seconds']:.1f} s{'' if w['ok'] else ' (failed)'} | "
                         f"≤ {TARGETS[key]:.0f} s | {met(ok)} |")
    else:
        lines.append("| — | not run | | |")
    lines += ["", "Workflow times include Snakemake's own start-up and DAG building; installs "
              "are excluded (the environment exists).", ""]

    # -- cost vs k ---------------------------------------------------------------------------
    lines += ["## Cost against k (REML meta-regression, 2 moderators)", "",
              "| k | ketameta | metafor | PyMARE | ketameta vs metafor | ketameta vs PyMARE |",
              "|---:|---:|---:|---:|---:|---:|"]
    all_k = sorted(set(K_GRID) | {20} | set(mf.get("rma", {}).keys()))
    for k in all_k:
        t, m, p, ra, rb = speedups(k)
        rs = ke["rma"].get(k, {}).get("reps")
        cell_m = fmt_t(m) if m else ("not run (k × k)" if k > METAFOR_MAX_K else "—")
        lines.append(f"| {k:,} | {fmt_t(t)}" + (f" ({rs})" if rs else "") + f" | {cell_m} | "
                     f"{fmt_t(p)} | {ratio_cell(ra, 10)} | {ratio_cell(rb, 2)} |")
    lines += ["", f"metafor is run up to k = {METAFOR_MAX_K:,}: it allocates k × k matrices "
              "(cost grows roughly with k³; 8 GB at k = 32,000), so larger k are not "
              "feasible. The speed-up columns are ratios of the medians from this run "
              "(metafor or PyMARE time / ketameta time); targets: ≥ 10× vs metafor, ≥ 2× vs "
              "PyMARE.", ""]
    if notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    path.write_text("\n".join(lines) + _kept_sections(path))


def _kept_sections(path):
    """Sections of the existing report written by other scripts (between ``<!-- begin NAME
    -->`` and ``<!-- end NAME -->``, e.g. benchmarks/rma_batch.py's), kept on a rewrite."""
    if not path.exists():
        return ""
    import re

    text = path.read_text()
    found = re.findall(r"<!-- begin (\S+) -->.*?<!-- end \1 -->", text, re.DOTALL)
    out = []
    for name in found:
        begin, end = f"<!-- begin {name} -->", f"<!-- end {name} -->"
        out.append(begin + text.split(begin, 1)[1].split(end, 1)[0] + end)
    return "".join("\n" + sec + "\n" for sec in out)


# ---------------------------------------------------------------------------------------------

def _raw_path(out):
    """Raw numbers of a run, next to the data: _work/<report name>.json."""
    return WORK / f"{Path(out).stem.lower()}.json"


def _int_keys(d):
    """JSON object hook: the k of the per-k tables back to int."""
    return {int(k) if k.isdigit() else k: v for k, v in d.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small budgets and grid (smoke test)")
    ap.add_argument("--no-metafor", action="store_true")
    ap.add_argument("--no-pymare", action="store_true")
    ap.add_argument("--no-workflow", action="store_true")
    ap.add_argument("--out", default=str(HERE / "RESULTS.md"))
    ap.add_argument("--report-only", action="store_true",
                    help="rewrite the report from the last run's raw numbers "
                         "(_work/<report name>.json)")
    args = ap.parse_args(argv)
    if args.report_only:
        saved = json.loads(_raw_path(args.out).read_text(), object_hook=_int_keys)
        write_results(Path(args.out), saved["info"], saved["results"], saved.get("notes", []))
        print(f"wrote {args.out}")
        return
    WORK.mkdir(parents=True, exist_ok=True)
    load_start = os.getloadavg()
    budget = 0.3 if args.quick else 2.0
    ks = [10, 20, 100, 1_000] if args.quick else sorted(set(K_GRID) | {20, METAFOR_MAX_K})

    def log(msg):
        print(msg, flush=True)

    notes: list[str] = []
    R: dict = {}
    mf_versions = None
    if not args.no_metafor:
        mf_versions, why = metafor_version()
        if why:
            notes.append(f"metafor skipped: {why}.")
            log(f"metafor skipped: {why}")
    py = None if args.no_pymare else pymare_python(log)
    if py is None and not args.no_pymare:
        notes.append("PyMARE skipped: its environment could not be created or imported.")

    log("ketameta")
    R["ketameta"] = {"rma": bench_ketameta(ks, budget, log)}
    R["ketameta_extra"] = bench_ketameta_extra(budget, log)
    if not args.quick:
        R["memory"] = bench_memory(log)

    pym_version = None
    if py is not None:
        log("PyMARE")
        R["pymare"] = {}
        for k in ks:
            res = bench_pymare(py, k, budget if k < 100_000 else 1.0, 50 if k < 100_000 else 2,
                               log)
            if res:
                R["pymare"][k] = res
                pym_version = res.get("version")
    if mf_versions:
        log("metafor")
        R["metafor"] = {"rma": {}}
        mks = [k for k in ks if k <= (1_000 if args.quick else METAFOR_MAX_K)]
        for k in mks:
            res = bench_metafor("rma", k, budget if k <= 1_000 else 1.0,
                                200 if k <= 100 else (5 if k <= 1_000 else 1), log)
            if res:
                R["metafor"]["rma"][k] = res
        R["metafor"]["permutest"] = bench_metafor(
            "permutest", PERM_K, budget, 1 if args.quick else 3, log,
            extra=(str(PERM_ITER_METAFOR),))
        for fn in ("leave1out", "influence"):
            R["metafor"][fn] = bench_metafor(fn, L1O_K_SMALL, budget, 1 if args.quick else 5, log)
    if not args.no_workflow:
        log("workflow")
        R["workflow"] = bench_workflow(log)
        if R["workflow"] and not all(w["ok"] for w in R["workflow"].values()):
            notes.append("The workflow run failed; see the runner's output.")
    if args.quick:
        notes.append("Quick run (`--quick`): small budgets, k ≤ 1,000, no memory or k = 10⁶ "
                     "figures.")
    info = machine_info(mf_versions, pym_version)
    info["load_end"], info["load"] = info["load"], load_start
    _raw_path(args.out).write_text(json.dumps({"info": info, "results": R, "notes": notes},
                                              indent=1, default=str))
    write_results(Path(args.out), info, R, notes)
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
