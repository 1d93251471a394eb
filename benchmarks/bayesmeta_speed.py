#!/usr/bin/env python3
"""Time one :func:`ketameta.bayesmeta` fit, by number of studies k and prior.

Usage::

    .venv/bin/python benchmarks/bayesmeta_speed.py            # k = 2 ... 100, five priors
    .venv/bin/python benchmarks/bayesmeta_speed.py --quick    # fewer repeats

Prints, per k and prior, the median CPU time and wall time of one fit (repeated runs of the same
data: simulated log odds ratios, fixed seed) with the default DIRECT discretisation, and with
``method="quadrature"`` for the half-normal prior. CPU time is the figure to read on a shared
machine. The target is <= 20 ms per fit at k <= 50 on one core.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import ketameta as km

PRIORS = {
    "half-normal(0.5)": (("halfnormal", 0.5), None),
    "half-Cauchy(0.5), N(0, 4)": (("halfcauchy", 0.5), ("normal", 0.0, 4.0)),
    "uniform": ("uniform", None),
    "Turner 2015 general": ("turner2015_general", None),
    "Rhodes 2015 general": ("rhodes2015_general", None),
}


def time_fit(y, v, tau_prior, mu_prior, repeats, **kw):
    km.bayesmeta(y, v, tau_prior, mu_prior, **kw)  # warm-up
    cpu, wall = [], []
    for _ in range(repeats):
        c0, w0 = time.process_time(), time.perf_counter()
        km.bayesmeta(y, v, tau_prior, mu_prior, **kw)
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return 1e3 * statistics.median(cpu), 1e3 * statistics.median(wall)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="3 repeats instead of 15")
    args = ap.parse_args(argv)
    repeats = 3 if args.quick else 15
    rng = np.random.default_rng(20_240_215)
    print(f"ketameta {km.__version__}: one bayesmeta() fit, median of {repeats} runs, ms "
          "(CPU / wall)")
    print(f"{'k':>4}  {'prior':<28} {'direct':>15} {'quadrature':>15}")
    for k in (2, 6, 10, 20, 50, 100):
        v = rng.uniform(0.02, 0.4, k)
        y = rng.normal(-0.4, np.sqrt(v + 0.1))
        for label, (tp, mp) in PRIORS.items():
            if tp == "uniform" and k < 3:
                continue  # improper posterior
            cpu, wall = time_fit(y, v, tp, mp, repeats)
            quad = ""
            if label.startswith("half-normal"):
                qc, qw = time_fit(y, v, tp, mp, repeats, method="quadrature")
                quad = f"{qc:6.1f} / {qw:6.1f}"
            print(f"{k:>4}  {label:<28} {cpu:6.1f} / {wall:6.1f} {quad:>15}")


if __name__ == "__main__":
    main()
