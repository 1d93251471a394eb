#!/usr/bin/env python3
"""Scale check of the multiverse kind: a grid of >= 10^4 specifications per window, end to end.

Usage::

    .venv/bin/python benchmarks/multiverse.py                    # the default runs (below)
    .venv/bin/python benchmarks/multiverse.py --data tiny --dimensions my.yaml --no-write

The configured multiverse (``--analysis``, default ``durability_multiverse`` of
``config/config.yaml``) is run with its dimensions replaced by those of a grid file: by default
``benchmarks/multiverse.yaml`` (10,800 specifications per window) on the evidence base and on
the synthetic test data set, and ``benchmarks/multiverse_large.yaml`` (108,000) on the evidence
base. The grid grows with the options listed in the file, without code changes. Timed, as the workflow's jobs do them: computing the
effect sizes of every row selection, fitting every specification and window in batches and
summarising (``pipeline.fit``), the summary table, the long table written as CSV, and the
specification-curve figure written as PNG. Writes a marked section of ``benchmarks/RESULTS.md``
(``benchmarks/run.py`` keeps it when it rewrites the file).
"""

from __future__ import annotations

import argparse
import json
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
CONFIGURED_S = 10.0       # the configured multiverse adds at most ~10 s to `make run`


def _config(data, dims_path, analysis):
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text(encoding="utf-8"))
    if data == "tiny":
        from tests.workflow import tiny

        where = tiny.build(Path(tempfile.mkdtemp(prefix="ketameta-mv-")) / "data")
        for key in list(config["evidence"]):
            config["evidence"][key] = str(where / Path(config["evidence"][key]).name)
    else:
        for key in list(config["evidence"]):
            config["evidence"][key] = str(ROOT / config["evidence"][key])
    if dims_path is not None:       # None: the configured grid
        config["analyses"][analysis]["dimensions"] = yaml.safe_load(Path(dims_path).read_text(encoding="utf-8"))
    return config


def measure(data, dims_path, analysis):
    from ketameta.outputs.citations import Citations
    from ketameta.outputs.figures import savefig_all
    from ketameta.synthesis import pipeline
    from ketameta.synthesis.files import write_json
    from ketameta.synthesis.spec import flat_spec
    from ketameta.synthesis.workflow import load_and_validate

    config = _config(data, dims_path, analysis)
    t0 = time.perf_counter()
    ev = load_and_validate(config, schema_path=ROOT / "workflow" / "schemas" / "config.schema.yaml")
    t_load = time.perf_counter() - t0
    spec = flat_spec(config, analysis)
    cit = Citations(config["evidence"]["bib"])
    out = Path(tempfile.mkdtemp(prefix="ketameta-mv-out-"))
    times = {}
    t0 = time.perf_counter()
    es, excluded = pipeline.effect_sizes(ev, spec)
    times["effect sizes (as configured)"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    fit = pipeline.fit(ev, es, spec)
    times["fit: every row selection, batched fits, summary"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    write_json(fit, out / "fit.json")          # as the workflow's fit_model job writes it
    times["fit record written (JSON)"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    pipeline.table(fit, es, excluded, spec, cit).write(csv=str(out / "t.csv"), md=str(out / "t.md"),
                                                       tex=str(out / "t.tex"), html=str(out / "t.html"))
    times["summary table (4 formats)"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    pipeline.long_table(fit, spec).write(csv=str(out / "t.specifications.csv"))
    times["long table (CSV)"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    savefig_all(pipeline.figure(fit, es, spec, cit), out / "f", formats=("png",))
    times["specification-curve figure (PNG)"] = time.perf_counter() - t0
    rows = len(fit["specifications"]["specification"])
    return {"data": data, "analysis": analysis, "load_s": t_load, "times": times,
            "total_s": sum(times.values()), "n_specifications": fit["n_specifications"],
            "n_windows": len(fit["windows"]), "n_row_selections": fit["n_row_selections"],
            "n_datasets": fit["n_datasets"], "n_fitted": fit["n_fitted"], "long_rows": rows,
            "json_mb": (out / "fit.json").stat().st_size / 2**20,
            "dimensions": [(d["name"], len(d["options"])) for d in fit["dimensions"]]}


def _shown(path):
    path = Path(path).resolve()
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def report(info, results):
    big = next((r for r in results if r["grid"].endswith("multiverse.yaml")), results[0])
    la = ", ".join(f"{x:.2f}" for x in info["load"])
    lines = [BEGIN, "## Multiverse: >= 10^4 specifications per question", "",
             f"Generated by `benchmarks/multiverse.py` on {info['date']}: {info['cpu']} "
             f"({info['cores']} cores, shared), Python {info['python']}, numpy {info['numpy']}; "
             f"load average {la} at start.", "",
             "Grids: the dimensions of a grid file replace those of the configured multiverse "
             "(`durability_multiverse`); `benchmarks/multiverse.yaml`: "
             + " × ".join(f"{n} ({k})" for n, k in big["dimensions"])
             + f" = {big['n_specifications']:,} specifications per window; "
               "`benchmarks/multiverse_large.yaml`: the same with 100 window edges. Raising the grid is a "
               "matter of adding options there (or in `config/config.yaml`). One process, wall-clock "
               "time of each step as the workflow's jobs do it (loading and validating the evidence, "
               "done once when the workflow is parsed, excluded).", "",
             "| data | grid | specifications × windows | row selections | models fitted (k ≥ 2) | rows of the long "
             "table | fit | tables | figure | total | target | status |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    for r in results:
        t = r["times"]
        fit_s = t["fit: every row selection, batched fits, summary"] + t["effect sizes (as configured)"]
        tab_s = t["summary table (4 formats)"] + t["long table (CSV)"] + t["fit record written (JSON)"]
        configured = r["grid"] == "config/config.yaml"
        # the configured grid: what it adds to `make run`; the grid files: the scale target
        target = CONFIGURED_S if configured else TARGET_S
        ok = r["total_s"] <= target and (configured or r["n_specifications"] >= MIN_SPECS)
        name = {"real": "evidence base (`data/`)", "tiny": "synthetic test data (`tests/workflow/tiny.py`)"}[r["data"]]
        lines.append(f"| {name} | `{r['grid']}` | {r['n_specifications']:,} × {r['n_windows']} | {r['n_row_selections']} | "
                     f"{r['n_fitted']:,} | {r['long_rows']:,} | {fit_s:.1f} s | {tab_s:.1f} s | "
                     f"{t['specification-curve figure (PNG)']:.1f} s | {r['total_s']:.1f} s | "
                     f"≤ {target:.0f} s{' (added to `make run`)' if configured else ''} | {bench.met(ok)} |")
    lines += ["", "fit: the effect sizes of every row selection (grades × crossover ρ × value type × setting, "
              "each computed once) and one `km.rma_batch` call per estimator × test over every window, "
              "window edge and row selection with k ≥ 2 (a ragged layout with a mask); tables: the fit record "
              "(JSON, " + ", ".join(f"{r['json_mb']:.1f} MB" for r in results) + " in the order of the rows"
              + "), the per-window summary in four formats and the long table as CSV. The grid of "
              "`config/config.yaml` is the multiverse the workflow runs (`make run`): its fit is one "
              "`fit_model` job.", "", END]
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
    ap.add_argument("--out", default=str(HERE / "RESULTS.md"))
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args(argv)
    info = bench.machine_info(None, None)
    runs = ([(args.data, args.dimensions)] if args.data else
            [("real", None), ("real", HERE / "multiverse.yaml"), ("tiny", HERE / "multiverse.yaml"),
             ("real", HERE / "multiverse_large.yaml")])
    results = []
    for data, dims in runs:
        r = measure(data, dims, args.analysis)
        r["grid"] = "config/config.yaml" if dims is None else str(_shown(dims))
        print(json.dumps(r, indent=1))
        results.append(r)
    section = report(info, results)
    print(section)
    if not args.no_write:
        write_section(Path(args.out), section)


if __name__ == "__main__":
    main()
