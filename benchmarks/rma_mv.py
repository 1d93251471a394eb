#!/usr/bin/env python3
"""Speed of the three-level model ``km.rma_mv`` and its cluster-robust CR2 inference
``km.robust(..., adjust="CR2")`` at 2,000 clusters x 5 rows, against R's metafor
(``rma.mv(..., sparse = TRUE)``) and clubSandwich (``coef_test(..., vcov = "CR2")``), on one core.

Usage::

    .venv/bin/python benchmarks/rma_mv.py                   # 10,000 rows; about 5 minutes
    .venv/bin/python benchmarks/rma_mv.py --metafor-mods    # metafor also fits the moderator
                                                            # model (about 4 more minutes)
    .venv/bin/python benchmarks/rma_mv.py --no-metafor --no-write   # ketameta only, print

The data (``yi, vi, cluster, id, x``; fixed seed) are written once as a CSV file to a temporary
directory and read by both tools: cluster effects N(0, 0.3^2), row effects N(0, 0.2^2),
``vi ~ U(0.01, 0.1)``, ``yi = 0.3 + u_cluster + e_row + N(0, vi)`` and a moderator
``x ~ N(0, 1)``. ketameta fits the intercept-only model and the model with ``x`` (REML) and
computes CR2 standard errors and Satterthwaite df by cluster; fit and CR2 are timed separately
(medians of repeated calls after a warm-up call). metafor does the same in one ``Rscript`` call;
at 10,000 rows one ``rma.mv`` fit takes minutes, so by default it fits the intercept-only model
once (``--metafor-reps``) and times clubSandwich's CR2 on it (``--cr2-reps``); its estimates are
compared with ketameta's. Thread pools are limited to one thread (OMP/OpenBLAS/MKL variables set
before numpy is imported, and inherited by the R process). The figures are written to a marked
section of ``benchmarks/RESULTS.md`` (``benchmarks/run.py`` keeps that section when it rewrites
the file).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
             "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import run as bench  # benchmarks/run.py: machine info, formatting

SEED = 20_261_210
CLUSTERS, ROWS = 2_000, 5
TARGET_FIT_S = 0.05       # km.rma_mv, intercept only, 2,000 clusters x 5 rows, one core
TARGET_CR2_S = 0.02       # km.robust(fit, cluster, adjust="CR2") on that fit
BEGIN, END = "<!-- begin rma_mv -->", "<!-- end rma_mv -->"
MODELS = (("intercept", "intercept only"), ("mods", "moderator `x`"))
# metafor's dense default (sparse = FALSE) is not timed; a separate trial of it on the machine of
# the first run (metafor 3.8.1, R 4.2.2 with the reference BLAS), same design with 400 clusters,
# is quoted in the report (its cost grows with the cube of the rows)
DENSE_TRIAL = "one fit of 2,000 rows, 400 clusters × 5, took 341 s"

_R_SCRIPT = r"""
suppressMessages({library(metafor); library(clubSandwich)})
args <- commandArgs(trailingOnly = TRUE)
path <- args[1]; fit_reps <- as.integer(args[2]); cr2_reps <- as.integer(args[3])
models <- strsplit(args[4], ",")[[1]]
d <- read.csv(path)
num <- function(x) paste0("[", paste(sprintf("%.17g", as.numeric(x)), collapse = ","), "]")
timed <- function(f, reps) {
  el <- cpu <- numeric(reps); val <- NULL
  for (i in seq_len(reps)) {
    t0 <- proc.time(); val <- f(); t <- proc.time() - t0
    el[i] <- t[["elapsed"]]; cpu[i] <- t[["user.self"]] + t[["sys.self"]]
  }
  list(val = val, el = el, cpu = cpu)
}
cat(sprintf('VERSIONS {"R": "%s.%s", "metafor": "%s", "clubSandwich": "%s", "blas": "%s"}\n',
            R.version$major, R.version$minor, packageVersion("metafor"),
            packageVersion("clubSandwich"), basename(extSoftVersion()[["BLAS"]])))
flush(stdout())
for (m in models) {
  fitf <- if (m == "intercept") {
    function() rma.mv(yi, vi, random = ~ 1 | cluster/id, data = d, sparse = TRUE)
  } else {
    function() rma.mv(yi, vi, mods = ~ x, random = ~ 1 | cluster/id, data = d, sparse = TRUE)
  }
  prof <- file.path(dirname(path), paste0("rprof_", m, ".out"))
  Rprof(prof, interval = 0.05)
  f <- timed(fitf, fit_reps); fit <- f$val
  Rprof(NULL)
  sp <- summaryRprof(prof)
  eig <- if ('"eigen"' %in% rownames(sp$by.total)) sp$by.total['"eigen"', "total.time"] else 0
  r <- timed(function() coef_test(fit, vcov = "CR2", cluster = d$cluster), cr2_reps)
  ct <- r$val
  cat(sprintf(paste0('RESULT {"model": "%s", "fit_s": %s, "fit_cpu_s": %s, "cr2_s": %s, ',
                     '"cr2_cpu_s": %s, "beta": %s, "se": %s, "sigma2": %s, "cr2_se": %s, ',
                     '"cr2_df": %s, "eigen_frac": %s}\n'),
              m, num(f$el), num(f$cpu), num(r$el), num(r$cpu), num(fit$beta), num(fit$se),
              num(fit$sigma2), num(ct$SE), num(ct$df_Satt),
              sprintf("%.6g", eig / max(sp$sampling.time, 1e-9))))
  flush(stdout())
}
"""


def make_data(path, clusters, rows):
    """Write the CSV (yi, vi, cluster, id, x) of ``clusters`` x ``rows`` rows (fixed seed)."""
    rng = np.random.default_rng(SEED)
    k = clusters * rows
    cluster = np.repeat(np.arange(1, clusters + 1), rows)
    u = rng.normal(0.0, 0.3, size=clusters)
    e = rng.normal(0.0, 0.2, size=k)
    vi = rng.uniform(0.01, 0.1, size=k)
    yi = 0.3 + u[cluster - 1] + e + rng.normal(0.0, np.sqrt(vi))
    x = rng.normal(size=k)
    np.savetxt(path, np.column_stack([yi, vi, cluster, np.arange(1, k + 1), x]), delimiter=",",
               fmt=["%.17g", "%.17g", "%d", "%d", "%.17g"], header="yi,vi,cluster,id,x",
               comments="")


def read_data(path):
    a = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    return a[:, 0].copy(), a[:, 1].copy(), a[:, 2].astype(np.int64), a[:, 4].copy()


def median_time(fn, reps):
    """Wall-clock and process CPU medians of repeated calls (after a warm-up call)."""
    fn()
    ts, cpu = [], []
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        ts.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return {"median_s": statistics.median(ts), "min_s": min(ts), "reps": reps,
            "cpu_median_s": statistics.median(cpu)}


def bench_ketameta(path, reps, log):
    import ketameta as km

    yi, vi, cluster, x = read_data(path)
    out = {}
    for key, _ in MODELS:
        mods = None if key == "intercept" else x

        def fit(mods=mods):
            return km.rma_mv(yi, vi, cluster=cluster, mods=mods, method="REML")

        res = fit()
        rob = km.robust(res, cluster=cluster, adjust="CR2")
        t_fit = median_time(fit, reps)
        t_cr2 = median_time(lambda res=res: km.robust(res, cluster=cluster, adjust="CR2"), reps)
        out[key] = {"fit": t_fit, "cr2": t_cr2, "beta": res.beta.tolist(),
                    "se": res.se.tolist(), "sigma2": np.asarray(res.sigma2).tolist(),
                    "cr2_se": rob.se.tolist(), "cr2_df": np.asarray(rob.dfs).tolist(),
                    "iterations": res.info.get("iterations")}
        log(f"ketameta {key}: fit {bench.fmt_t(t_fit['median_s'])} "
            f"(CPU {bench.fmt_t(t_fit['cpu_median_s'])}), CR2 {bench.fmt_t(t_cr2['median_s'])} "
            f"(CPU {bench.fmt_t(t_cr2['cpu_median_s'])}), median of {reps}")
    return out


def r_available():
    """None if Rscript, metafor and clubSandwich are there, else the reason they are not."""
    if shutil.which("Rscript") is None:
        return "Rscript not found (install R with metafor and clubSandwich to compare)"
    r = subprocess.run(["Rscript", "-e", "suppressMessages({library(metafor); "
                        "library(clubSandwich)})"], capture_output=True, text=True,
                       timeout=300, check=False)
    if r.returncode != 0:
        return "R is installed but metafor or clubSandwich is not: skipped"
    return None


def bench_metafor(path, models, fit_reps, cr2_reps, log):
    script = Path(path).parent / "rma_mv_bench.R"
    script.write_text(_R_SCRIPT)
    cmd = ["Rscript", str(script), str(path), str(fit_reps), str(cr2_reps), ",".join(models)]
    t0 = time.perf_counter()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=3600, check=False)
    except subprocess.TimeoutExpired as exc:
        stdout = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        r = None
        log("metafor timed out")
    else:
        stdout = r.stdout
    out: dict = {"total_s": time.perf_counter() - t0}
    for line in stdout.splitlines():
        if line.startswith("VERSIONS "):
            out["versions"] = json.loads(line[9:])
        elif line.startswith("RESULT "):
            res = json.loads(line[7:])
            key = res.pop("model")
            for name in ("fit", "cr2"):
                el, cpu = res.pop(f"{name}_s"), res.pop(f"{name}_cpu_s")
                res[name] = {"median_s": statistics.median(el), "min_s": min(el),
                             "reps": len(el), "cpu_median_s": statistics.median(cpu)}
            out[key] = res
            log(f"metafor {key}: fit {bench.fmt_t(res['fit']['median_s'])} "
                f"({res['fit']['reps']} run(s)), clubSandwich CR2 "
                f"{bench.fmt_t(res['cr2']['median_s'])} (median of {res['cr2']['reps']})")
    if r is not None and r.returncode != 0:
        log("metafor failed:\n" + r.stderr[-1500:])
        out["note"] = "metafor failed to run (see the runner's output)"
    return out


def loglik_gap(path, key, sigma2):
    """ketameta's restricted log-likelihood at its own estimates minus that at ``sigma2``."""
    import ketameta as km

    yi, vi, cluster, x = read_data(path)
    mods = None if key == "intercept" else x
    own = km.rma_mv(yi, vi, cluster=cluster, mods=mods, method="REML")
    fixed = km.rma_mv(yi, vi, cluster=cluster, mods=mods, method="REML", sigma2=list(sigma2))
    return float(own.logLik - fixed.logLik)


def agreement(ke, mf):
    """Largest relative difference |ketameta - metafor| / |metafor| per quantity."""
    out = {}
    for q in ("beta", "se", "sigma2", "cr2_se", "cr2_df"):
        a, b = np.asarray(ke[q], float), np.asarray(mf[q], float)
        out[q] = float(np.max(np.abs(a - b) / np.abs(b)))
    return out


def main(argv=None):
    t_start = time.perf_counter()
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clusters", type=int, default=CLUSTERS)
    ap.add_argument("--rows", type=int, default=ROWS, help="rows per cluster")
    ap.add_argument("--reps", type=int, default=21, help="timed repeats of each ketameta call")
    ap.add_argument("--metafor-reps", type=int, default=1, help="timed rma.mv fits per model")
    ap.add_argument("--cr2-reps", type=int, default=3, help="timed clubSandwich CR2 calls")
    ap.add_argument("--metafor-mods", action="store_true",
                    help="metafor also fits the model with the moderator (minutes at 10,000 rows)")
    ap.add_argument("--no-metafor", action="store_true")
    ap.add_argument("--json", default=None, help="also write the raw figures to this file")
    ap.add_argument("--out", default=str(HERE / "RESULTS.md"))
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args(argv)

    def log(msg):
        print(msg, flush=True)

    load_start = os.getloadavg()
    R: dict = {"clusters": args.clusters, "rows": args.rows, "k": args.clusters * args.rows}
    with tempfile.TemporaryDirectory(prefix="ketameta-rma-mv-") as tmp:
        path = Path(tmp) / "rma_mv.csv"
        make_data(path, args.clusters, args.rows)
        log(f"data: {args.clusters:,} clusters x {args.rows} rows = {R['k']:,} rows ({path})")
        R["ketameta"] = bench_ketameta(path, args.reps, log)
        note = "not run (--no-metafor)" if args.no_metafor else r_available()
        if note:
            R["metafor_note"] = note
            log(note)
        else:
            models = ["intercept", "mods"] if args.metafor_mods else ["intercept"]
            R["metafor"] = bench_metafor(path, models, args.metafor_reps, args.cr2_reps, log)
            for key in models:
                if key in R["metafor"]:
                    R["metafor"][key]["ll_gap"] = loglik_gap(path, key,
                                                             R["metafor"][key]["sigma2"])
    mf = R.get("metafor") or {}
    R["agreement"] = {key: agreement(R["ketameta"][key], mf[key])
                      for key, _ in MODELS if key in mf}
    for key, rel in R["agreement"].items():
        log(f"agreement ({key}), largest relative difference: "
            + ", ".join(f"{q} {v:.1e}" for q, v in rel.items()))
    info = bench.machine_info(None, None)
    info["load_end"], info["load"] = info["load"], load_start
    R["total_s"] = time.perf_counter() - t_start
    if args.json:
        Path(args.json).write_text(json.dumps({"info": info, "results": R}, indent=1))
    section = report(info, R)
    print(section)
    if not args.no_write:
        write_section(Path(args.out), section)
        log(f"wrote the rma_mv section of {args.out}")


def report(info, R):
    fmt_t, fmt_x = bench.fmt_t, bench.fmt_x
    ke, mf = R["ketameta"], R.get("metafor") or {}
    v = mf.get("versions") or {}
    la = ", ".join(f"{x:.2f}" for x in info["load"])
    le = ", ".join(f"{x:.2f}" for x in info["load_end"])
    reps = ke["intercept"]["fit"]["reps"]
    lines = [BEGIN,
             f"## `km.rma_mv` and `km.robust` (CR2): {R['clusters']:,} clusters × {R['rows']} "
             "rows, one core", "",
             f"Generated by `benchmarks/rma_mv.py` on {info['date']}: {info['cpu']} "
             f"({info['cores']} cores; OMP/OpenBLAS/MKL limited to one thread), Python "
             f"{info['python']}, numpy {info['numpy']}, scipy {info['scipy']}, ketameta "
             f"{info['ketameta']}; R {v.get('R', 'not available')}, metafor "
             f"{v.get('metafor', 'not available')}, clubSandwich "
             f"{v.get('clubSandwich', 'not available')}"
             + (f" (BLAS: `{v['blas']}`)" if v.get("blas") else "")
             + f"; load average {la} at start, {le} at end. The whole script took "
             f"{R['total_s'] / 60:.1f} min.", "",
             f"Data: {R['k']:,} rows in {R['clusters']:,} clusters of {R['rows']} (fixed seed "
             f"{SEED}): cluster effects N(0, 0.3²), row effects N(0, 0.2²), vi ~ U(0.01, 0.1), "
             "yi = 0.3 + cluster effect + row effect + N(0, vi), a moderator x ~ N(0, 1); "
             "written once as a CSV file and read by both tools. ketameta: "
             "`km.rma_mv(yi, vi, cluster=cluster, method=\"REML\")` (and with `mods=x`), then "
             "`km.robust(fit, cluster=cluster, adjust=\"CR2\")` (CR2 standard errors, "
             "Satterthwaite df per coefficient, HTZ test), each the median of "
             f"{reps} timed calls after a warm-up call. metafor: `rma.mv(yi, vi, random = ~ 1 | "
             "cluster/id, data = d, sparse = TRUE)` (and with `mods = ~ x`), then "
             "`clubSandwich::coef_test(fit, vcov = \"CR2\", cluster = d$cluster)` (CR2 "
             "standard errors, Satterthwaite df), in one `Rscript` process; the number of "
             "timed runs is in parentheses. Times are wall-clock; data reading and start-up "
             "are excluded.", "",
             "| work | ketameta | metafor | metafor / ketameta | target | status |",
             "|---|---:|---:|---:|---|---|"]
    for key, label in MODELS:
        k, m = ke[key], mf.get(key)
        for part, what, target in (("fit", "fit", TARGET_FIT_S if key == "intercept" else None),
                                   ("cr2", "CR2", TARGET_CR2_S if key == "intercept" else None)):
            t = k[part]["median_s"]
            if m:
                o = m[part]["median_s"]
                other, ratio = f"{fmt_t(o)} ({m[part]['reps']})", fmt_x(o / t)
            elif key == "mods" and "intercept" in mf:
                other, ratio = "not run (`--metafor-mods`)", "—"
            else:
                other, ratio = R.get("metafor_note") or mf.get("note", "not run"), "—"
            tgt = f"≤ {target:g} s | {bench.met(t <= target)}" if target else " | "
            lines.append(f"| {what}, {label} | {fmt_t(t)} (min {fmt_t(k[part]['min_s'])}) | "
                         f"{other} | {ratio} | {tgt} |")
    lines += ["", "Process CPU time (medians) of the ketameta calls: "
              + "; ".join(f"{label}: fit {fmt_t(ke[key]['fit']['cpu_median_s'])}, CR2 "
                          f"{fmt_t(ke[key]['cr2']['cpu_median_s'])}"
                          for key, label in MODELS)
              + f" (REML: {ke['intercept']['iterations']} Newton steps for the intercept-only "
              f"model, {ke['mods']['iterations']} with the moderator)."]
    if R["agreement"]:
        lines += ["", "| estimate | ketameta | metafor / clubSandwich | relative difference |",
                  "|---|---:|---:|---:|"]
        for key, label in MODELS:
            if key not in mf:
                continue
            k, m = ke[key], mf[key]
            names = ["intercept", "x"][:len(k["beta"])]
            rows = ([(f"beta ({n})", "beta", i) for i, n in enumerate(names)]
                    + [(f"se ({n})", "se", i) for i, n in enumerate(names)]
                    + [("sigma² (cluster)", "sigma2", 0), ("sigma² (row)", "sigma2", 1)]
                    + [(f"CR2 se ({n})", "cr2_se", i) for i, n in enumerate(names)]
                    + [(f"CR2 Satterthwaite df ({n})", "cr2_df", i)
                       for i, n in enumerate(names)])
            for name, q, i in rows:
                a, b = k[q][i], m[q][i]
                lines.append(f"| {label}: {name} | {a:.8g} | {b:.8g} | "
                             f"{abs(a - b) / abs(b):.1e} |")
        lines += ["", "Largest relative difference between ketameta and metafor / clubSandwich: "
                  + "; ".join(f"{dict(MODELS)[key]}: {max(rel.values()):.1e} (beta "
                              f"{rel['beta']:.1e}, se {rel['se']:.1e}, sigma² "
                              f"{rel['sigma2']:.1e}, CR2 se {rel['cr2_se']:.1e}, CR2 df "
                              f"{rel['cr2_df']:.1e})" for key, rel in R["agreement"].items())
                  + ". Restricted log-likelihood at ketameta's variance components minus that "
                  "at metafor's: "
                  + "; ".join(f"{dict(MODELS)[key]}: {mf[key]['ll_gap']:.1e}"
                              for key in R["agreement"])
                  + (" (the restricted likelihood is higher at ketameta's estimates: the "
                     "differences are where metafor's optimiser, `nlminb` with its default "
                     "tolerances, stops; "
                     "ketameta iterates to a relative step below 1e-10)."
                     if all(mf[key]["ll_gap"] > 1e-10 for key in R["agreement"]) else ".")]
    mi = mf.get("intercept")
    if mi:
        frac = mi.get("eigen_frac", 0.0)
        t_mf, t_ke = mi["fit"]["median_s"], ke["intercept"]["fit"]["median_s"]
        lines += ["", f"metafor is timed with `sparse = TRUE` only. `rma.mv` (metafor "
                  f"{v.get('metafor', '?')}) checks that the sampling covariance V is positive "
                  "definite with `eigen()` on V as a dense k × k matrix whatever `sparse` is: "
                  f"an O(k³) step, run here by R's reference BLAS/LAPACK on one core. R's "
                  f"profiler (`Rprof`, during the timed fits) puts {frac:.0%} of the "
                  f"intercept-only fit in `eigen()`; without it the fit would take about "
                  f"{fmt_t(t_mf * (1 - frac))}, {fmt_x(t_mf * (1 - frac) / t_ke)} ketameta's "
                  "time. The dense default (`sparse = FALSE`) is not run: it factorises k × k "
                  f"matrices at every iteration (in a separate trial on this machine "
                  f"{DENSE_TRIAL}; each k × k matrix takes {R['k'] ** 2 * 8 / 1e6:,.0f} MB at "
                  f"{R['k']:,} rows). metafor's fits are timed without a warm-up run"
                  + ("." if "mods" in mf else
                     "; the moderator model is fitted in R only with `--metafor-mods` (as "
                     "long again).")]
    lines += ["", END]
    return "\n".join(lines)


def write_section(path, section):
    """Replace (or append) the marked rma_mv section of RESULTS.md."""
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
