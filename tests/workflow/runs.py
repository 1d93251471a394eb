"""Shared helpers of the end-to-end workflow tests: a copy of the repository, a Snakemake run,
an independent REML + Knapp-Hartung, and the reader-text checks of the report."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["ROOT", "SNAKEMAKE", "_copy_repo", "_snakemake", "_jobs", "reml_knha", "_fit",
           "internal_names", "assert_reads_like_a_report", "_SNAKE"]

ROOT = Path(__file__).resolve().parents[2]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def _copy_repo(dest: Path, with_data=True) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(ROOT / "Snakefile", dest / "Snakefile")
    for d in ("workflow", "config") + (("data",) if with_data else ()):
        shutil.copytree(ROOT / d, dest / d, ignore=shutil.ignore_patterns("__pycache__"))
    if with_data and (ROOT / "releases").is_dir():  # the committed versions of the living review
        shutil.copytree(ROOT / "releases", dest / "releases")
    return dest


def _snakemake(cwd: Path, *args, check=True) -> subprocess.CompletedProcess:
    proc = subprocess.run([SNAKEMAKE, "--cores", "2", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout[-4000:]}\n"
                             f"{proc.stderr[-6000:]}")
    return proc


def _jobs(dry_run_output: str) -> dict:
    """Job counts from the 'Job stats' block of a dry run."""
    counts = {}
    m = re.search(r"Job stats:\n(.*?)\n\n", dry_run_output, re.S)
    if not m:
        return counts
    for line in m.group(1).splitlines()[2:]:
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and parts[0] != "total":
            counts[parts[0]] = int(parts[1])
    return counts


def reml_knha(yi, vi, level=95):
    """Intercept-only REML (Fisher scoring to 1e-14) + Knapp-Hartung, dense matrices.

    Deliberately written from the textbook formulas (Viechtbauer 2005; Knapp & Hartung 2003)
    with k x k matrices, independent of ketameta's O(k) engine.
    """
    y, v = np.asarray(yi, float), np.asarray(vi, float)
    k = y.size
    X = np.ones((k, 1))
    t2 = max(0.0, (np.sum((y - y.mean()) ** 2) - np.sum(v) * (k - 1) / k) / (k - 1))
    for _ in range(10_000):
        W = np.diag(1 / (v + t2))
        P = W - W @ X @ np.linalg.inv(X.T @ W @ X) @ X.T @ W
        step = (y @ P @ P @ y - np.trace(P)) / np.trace(P @ P)
        while t2 + step < 0:
            step /= 2
        t2 += step
        if abs(step) < 1e-14:
            break
    W = np.diag(1 / (v + t2))
    b = float(np.linalg.solve(X.T @ W @ X, X.T @ W @ y)[0])
    w = 1 / (v + t2)
    s2 = float(np.sum(w * (y - b) ** 2) / (k - 1))
    se = math.sqrt(s2 / np.sum(w))
    crit = stats.t.isf((1 - level / 100) / 2, k - 1)
    return b, b - crit * se, b + crit * se, t2


def _fit(root, aid):
    return json.loads((root / "results" / "fits" / f"{aid}.json").read_text())


_SNAKE = re.compile(r"(?<![\w/.\-])[a-z][a-z0-9]*(?:_[a-z0-9]+)+(?![\w/\-])")


def internal_names(root: Path) -> set[str]:
    """The names a reader must not meet in the report: the columns of every CSV the run wrote
    and of the data sheets, the config's analysis and claim ids, and the coded outcome values."""
    import yaml

    names = set()
    for p in [*(root / "results").rglob("*.csv"), *(root / "data").glob("*.csv")]:
        try:
            names.update(pd.read_csv(p, nrows=0).columns.astype(str))
        except pd.errors.EmptyDataError:
            continue
    cfg = yaml.safe_load((root / "config" / "config.yaml").read_text())
    names.update(cfg["analyses"])
    names.update(c["id"] for c in cfg.get("claims", []))
    names.update(pd.read_csv(root / "data" / "effects.csv", usecols=["outcome"])["outcome"]
                 .dropna().astype(str))
    return {n for n in names if "_" in n}


def assert_reads_like_a_report(state: dict, root: Path) -> None:
    """No sideways scrolling at 1280 px (page and every table) and no internal name outside
    the data-provenance cells (class km-prov: rows of data/effects.csv, input warnings)."""
    lay = state["layout"]
    assert lay["viewport"] == 1280
    page = lay["page"]
    assert page["scrollWidth"] <= page["clientWidth"], f"the page scrolls sideways: {page}"
    wide = [t for t in lay["tables"]
            if t["scrollWidth"] > t["clientWidth"] or t["right"] > page["clientWidth"]
            or t["containerScrollWidth"] > t["containerClientWidth"]]
    assert lay["tables"] and not wide, f"tables wider than the page: {wide}"
    forbidden = internal_names(root)
    seen = sorted({m for m in _SNAKE.findall(state["visible_text"]) if m in forbidden})
    assert not seen, f"internal names in the report text: {seen}"


