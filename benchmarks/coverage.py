"""Coverage of 95% intervals with few trials: Knapp-Hartung, its truncated "adhoc" variant, and
the Bayesian random-effects model (half-normal(0.5) prior on tau), side by side.

Simulation design (seeded): k trials, true mean effect mu = 0.5 (SMD scale), between-trial SD
tau, within-trial variances v_i ~ Uniform(0.02, 0.2) (roughly 20-200 patients per arm for an
SMD), y_i ~ N(mu, v_i + tau^2). For each (k, tau) cell ``n_sim`` meta-analyses are drawn;
Knapp-Hartung and adhoc intervals come from one batched REML fit (:func:`ketameta.rma_batch`),
the Bayesian central credible interval from :func:`ketameta.bayesmeta` per data set.

The test suite runs a small version (tests/unit/test_coverage_simulation.py); the full-size run
writes ``benchmarks/results/coverage.md``::

    .venv/bin/python benchmarks/coverage.py [--n-sim 2000] [--out benchmarks/results/coverage.md]

References: Knapp & Hartung 2003 (Stat Med 22:2693); Roever et al. 2015 (BMC Med Res Methodol
15:99, the truncated "adhoc" factor); Friede et al. 2017 (Res Synth Methods 8:79: Bayesian
intervals with half-normal priors for few studies).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ketameta import bayesmeta, rma_batch

MU = 0.5
PRIOR = ("halfnormal", 0.5)


def simulate(ks=(2, 3, 5), taus=(0.1, 0.3, 0.5), n_sim=200, seed=20261204, bayes=True) -> pd.DataFrame:
    """Coverage (share of intervals containing mu) and median width per method, k and tau."""
    rng = np.random.default_rng(seed)
    rows = []
    for k in ks:
        for tau in taus:
            v = rng.uniform(0.02, 0.2, size=(n_sim, k))
            y = rng.normal(MU, np.sqrt(v + tau**2))
            for test in ("knha", "adhoc"):
                res = rma_batch(y, v, method="REML", test=test)
                lo, hi = res.ci_lb[:, 0], res.ci_ub[:, 0]
                ok = np.isfinite(lo) & np.isfinite(hi)
                rows.append({"k": k, "tau": tau, "method": "REML + " + ("Knapp-Hartung" if test == "knha"
                                                                          else "Knapp-Hartung (adhoc)"),
                             "coverage": float(np.mean((lo <= MU) & (MU <= hi) & ok)),
                             "median_width": float(np.median((hi - lo)[ok])), "n_sim": n_sim})
            if bayes:
                lo = np.empty(n_sim)
                hi = np.empty(n_sim)
                for i in range(n_sim):
                    fit = bayesmeta(y[i], v[i], tau_prior=PRIOR)
                    lo[i], hi[i] = fit.post_interval("mu", 0.95, "central")
                rows.append({"k": k, "tau": tau, "method": "Bayesian, half-normal(0.5) on tau",
                             "coverage": float(np.mean((lo <= MU) & (MU <= hi))),
                             "median_width": float(np.median(hi - lo)), "n_sim": n_sim})
    return pd.DataFrame(rows)


def to_markdown(df: pd.DataFrame, seconds: float) -> str:
    """The coverage table as Markdown (one row per k and tau, methods side by side)."""
    cov = df.pivot_table(index=["k", "tau"], columns="method", values="coverage")
    wid = df.pivot_table(index=["k", "tau"], columns="method", values="median_width")
    lines = ["# Coverage of 95% intervals with few trials", "",
             f"mu = {MU}, v_i ~ U(0.02, 0.2), {int(df['n_sim'].iloc[0])} simulated meta-analyses per cell, "
             f"seeded; {seconds:.0f} s. Coverage (median interval width).", "",
             "| k | tau | " + " | ".join(cov.columns) + " |", "|---|---|" + "---|" * len(cov.columns)]
    for (k, tau), r in cov.iterrows():
        cells = [f"{r[m]:.3f} ({wid.loc[(k, tau), m]:.2f})" for m in cov.columns]
        lines.append(f"| {k} | {tau:g} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    """Run the full-size simulation and write the Markdown table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-sim", type=int, default=2000)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "coverage.md"))
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    df = simulate(n_sim=a.n_sim)
    text = to_markdown(df, time.perf_counter() - t0)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
