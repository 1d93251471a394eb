#!/usr/bin/env python3
"""Scale check of the multiverse kind: grids of >= 10^4 specifications per question, run as the
workflow runs them (one Snakemake job per chunk, then gathered), on 2 cores.

Usage::

    .venv/bin/python benchmarks/multiverse.py                     # the default runs (below)
    .venv/bin/python benchmarks/multiverse.py --data tiny --dimensions my.yaml --no-write

Each run copies the project to a temporary directory, replaces the dimensions of a configured
multiverse (``durability_multiverse``, ``dissociation_multiverse``) by those of a grid file, builds
what the multiverse reads (the validated evidence and the effect sizes: not timed), and then times
``snakemake --cores 2`` building the multiverse's summary table (four formats), long table and
specification-curve figure: its chunk jobs (``fit_chunk``), the gathering job and the rendering
jobs, wall-clock, including Snakemake's start-up. The default runs: the configured grids of
``config/config.yaml`` (what the multiverses add to ``make run``), ``benchmarks/multiverse.yaml``
(durability, 12,400 specifications per window) on the evidence base and on the synthetic test data,
``benchmarks/multiverse_dissociation.yaml`` (dissociation, 11,400) and
``benchmarks/multiverse_large.yaml`` (durability, 124,000: beyond the target, for scale). The grid
grows with the options listed in the file, without code changes. Writes a marked section of
``benchmarks/RESULTS.md`` (``benchmarks/run.py`` keeps it when it rewrites the file).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))
import run as bench  # noqa: E402  benchmarks/run.py: machine info, formatting

BEGIN, END = "<!-- begin multiverse -->", "<!-- end multiverse -->"
TARGET_S = 120.0          # a multiverse of >= 10^4 specifications per question within 2 minutes
MIN_SPECS = 10_000
CONFIGURED_S = 20.0       # the configured multiverses add at most ~20 s to `make run` on 2 cores
CORES = 2
SNAKEMAKE = ROOT / ".venv" / "bin" / "snakemake"


def _snakemake(root, *args):
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    proc = subprocess.run([str(SNAKEMAKE), "--cores", str(CORES), *args], cwd=root, env=env,
                          capture_output=True, text=True, check=False)
    if proc.returncode:
        raise SystemExit(f"snakemake {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return proc.stdout + proc.stderr


def _jobs(text):
    block = re.search(r"Job stats:\n(.*?)\n\n", text, re.S)
    if not block:
        return {}
    return {p[0]: int(p[1]) for p in (ln.split() for ln in block.group(1).splitlines()[2:])
            if len(p) == 2 and p[1].isdigit() and p[0] != "total"}


def measure(data, dims_path, analysis, chunk_size=None):
    """Time the multiverse jobs of ``analysis`` with the dimensions of ``dims_path`` (None: as
    configured) in a copy of the project."""
    from tests.workflow import tiny
    from tests.workflow.conftest import copy_project

    def edit(config):
        spec = config["analyses"][analysis]
        if dims_path is not None:
            spec["dimensions"] = yaml.safe_load(Path(dims_path).read_text(encoding="utf-8"))
        if chunk_size:
            spec["chunk_size"] = chunk_size

    root = copy_project(Path(tempfile.mkdtemp(prefix="ketameta-mv-")) / "wf", config_edit=edit)
    if data == "tiny":
        tiny.build(root / "data")
    _snakemake(root, "--until", "compute_effect_sizes")
    targets = [f"results/tables/{analysis}.html", f"results/tables/{analysis}.specifications.csv",
               f"results/figures/{analysis}.svg"]
    t0 = time.perf_counter()
    text = _snakemake(root, *targets)
    wall = time.perf_counter() - t0
    fit = json.loads((root / "results" / "fits" / f"{analysis}.json").read_text())
    jobs = _jobs(text)
    long_mb = (root / "results" / "tables" / f"{analysis}.specifications.csv").stat().st_size / 2**20
    logs = sorted((root / "results" / "logs" / "fit_chunk").glob(f"{analysis}-*.log"))
    return {"data": data, "analysis": analysis, "total_s": wall, "jobs": jobs,
            "n_specifications": fit["n_specifications"], "n_combinations": fit["n_combinations"],
            "n_windows": len(fit["windows"]), "n_chunks": fit["n_chunks"], "chunk_size": fit["chunk_size"],
            "n_row_selections": fit["n_row_selections"], "n_fitted": fit["n_fitted"],
            "long_rows": sum(s["specifications"] for s in fit["summary"]), "long_mb": long_mb,
            "fit_json_kb": (root / "results" / "fits" / f"{analysis}.json").stat().st_size / 1024,
            "chunk_logs": len(logs),
            "dimensions": [(d["name"], len(d["options"])) for d in fit["dimensions"]]}


def _shown(path):
    path = Path(path).resolve()
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def report(info, results):
    la = ", ".join(f"{x:.2f}" for x in info["load"])
    lines = [BEGIN, "## Multiverse: >= 10^4 specifications per question", "",
             f"Generated by `benchmarks/multiverse.py` on {info['date']}: {info['cpu']} "
             f"({info['cores']} cores, shared), Python {info['python']}, numpy {info['numpy']}; "
             f"load average {la} at start.", "",
             f"Each run is the workflow's: `snakemake --cores {CORES}` building the multiverse's summary "
             "table (four formats), long table and specification-curve figure in a copy of the project, "
             "one `fit_chunk` job per chunk of the grid, then `gather_chunks`, the tables and the figure "
             "(wall-clock, Snakemake's start-up included; the validated evidence and the effect sizes "
             "are built beforehand, untimed). A grid file's dimensions replace those of the configured "
             "multiverse; raising a grid is a matter of adding options there (or in "
             "`config/config.yaml`). Specifications: the applicable combinations of the options "
             "(Bayesian: no estimator; multilevel: REML or ML with z or t tests; the correlation "
             "between a trial's rows: multilevel only).", "",
             "| question | data | grid | specifications per window (combinations) × windows | chunks × size | "
             "row selections | models fitted | rows of the long table | jobs | wall-clock | target | status |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    for r in results:
        configured = r["grid"] == "config/config.yaml"
        large = r["grid"].endswith("_large.yaml")
        target = CONFIGURED_S if configured else TARGET_S
        ok = r["total_s"] <= target and (configured or r["n_specifications"] >= MIN_SPECS)
        name = {"real": "evidence base", "tiny": "synthetic test data"}[r["data"]]
        question = r["analysis"].replace("_multiverse", "")
        lines.append(
            f"| {question} | {name} | `{r['grid']}` | {r['n_specifications']:,} ({r['n_combinations']:,}) × "
            f"{r['n_windows']} | {r['n_chunks']} × {r['chunk_size']:,} | {r['n_row_selections']} | "
            f"{r['n_fitted']:,} | {r['long_rows']:,} | {sum(r['jobs'].values())} | {r['total_s']:.1f} s | "
            + ("for scale |  – |" if large else
               f"≤ {target:.0f} s{' (added to `make run`)' if configured else ''} | {bench.met(ok)} |"))
    lines += ["", "Models fitted: distinct data sets × model, summed over the chunks (identical data sets "
              "are fitted once per chunk; the univariate frequentist ones in one `km.rma_batch` call per "
              "estimator × test, the Bayesian ones with `km.bayesmeta`, the multilevel ones with "
              "`km.rma_mv`). Long tables: " + ", ".join(f"{r['long_mb']:.1f} MB" for r in results)
              + " in the order of the rows; fit records (summaries only): "
              + ", ".join(f"{r['fit_json_kb']:.0f} KB" for r in results) + ".", "", END]
    return "\n".join(lines)


def write_section(path, section):
    """Replace (or append) the marked multiverse section of RESULTS.md."""
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", choices=["real", "tiny"], help="one run on this data (default: the default runs)")
    ap.add_argument("--dimensions", default=str(HERE / "multiverse.yaml"), help="grid file of a single run")
    ap.add_argument("--analysis", default="durability_multiverse")
    ap.add_argument("--chunk-size", type=int, default=None, help="chunk size of a single run (default: configured)")
    ap.add_argument("--out", default=str(HERE / "RESULTS.md"))
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args(argv)
    info = bench.machine_info(None, None)
    dur, dis = "durability_multiverse", "dissociation_multiverse"
    runs = ([(args.data, args.dimensions, args.analysis, args.chunk_size)] if args.data else
            [("real", None, dur, None), ("real", None, dis, None),
             ("real", HERE / "multiverse.yaml", dur, 5000), ("tiny", HERE / "multiverse.yaml", dur, 5000),
             ("real", HERE / "multiverse_dissociation.yaml", dis, 5000),
             ("real", HERE / "multiverse_large.yaml", dur, 20000)])
    results = []
    for data, dims, analysis, chunk in runs:
        r = measure(data, dims, analysis, chunk)
        r["grid"] = "config/config.yaml" if dims is None else str(_shown(dims))
        print(json.dumps(r, indent=1), flush=True)
        results.append(r)
    section = report(info, results)
    print(section)
    if not args.no_write:
        write_section(Path(args.out), section)


if __name__ == "__main__":
    main()
