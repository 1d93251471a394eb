"""Effect over time since the dose, per study, pooled per time point, and a fitted curve."""


from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator
from matplotlib.transforms import blended_transform_factory

from .style import (
    MARKERS,
    PALETTE,
    as_float,
    figure_width,
    fmt_tick,
    frame,
    new_figure,
    styled,
)

__all__ = ["durability"]

# --------------------------------------------------------------------------------------------
# durability (effect over time)
# --------------------------------------------------------------------------------------------

_DEFAULT_TICKS = (40 / 1440, 1.0, 2.0, 3.0, 7.0, 14.0)
_EXTRA_TICKS = (28.0, 56.0, 84.0, 168.0, 365.0)


def _time_label(t: float, _pos: Any = None) -> str:
    if t < 1:
        minutes = t * 1440
        if minutes < 90:
            return f"{minutes:.0f} min"
        return f"{t * 24:.3g} h"
    return f"{t:.3g} d"


@styled
def durability(
    time_days: Sequence[float],
    yi: Sequence[float],
    ci_lb: Sequence[float],
    ci_ub: Sequence[float],
    study: Sequence[str],
    pooled: pd.DataFrame | Mapping[str, Sequence[float]] | None = None,
    curve: pd.DataFrame | Mapping[str, Sequence[float]] | None = None,
    marks: Sequence[float] = (3, 7),
    *,
    ylabel: str = "Effect vs control",
    xlabel: str = "Time since dose (log scale)",
    ticks: Sequence[float] | None = None,
    dodge: float = 0.04,
    width: str | float = "single",
    height: float | None = None,
) -> Figure:
    """Effect over time after a single dose: per-study trajectories, pooled band, marks.

    Parameters
    ----------
    time_days : array-like
        Time of each estimate in days since the dose (40 min = 40/1440).
    yi, ci_lb, ci_ub : array-like
        Estimate and CI of each (study, time) point, on the plotted scale.
    study : sequence of str
        Study label of each point; points of one study are joined by a line.
    pooled : DataFrame or mapping, optional
        Columns ``time_days``, ``estimate``, ``ci_lb``, ``ci_ub``: pooled estimates per time
        window, drawn as black diamonds with CIs and a shaded band joining the CIs.
    curve : DataFrame or mapping, optional
        Columns ``time_days``, ``pred``, ``ci_lb``, ``ci_ub`` from a time-course model, drawn as a
        line with a shaded confidence band.
    marks : sequence of float, default (3, 7)
        Days marked by labelled vertical lines (the "3--7 days" durability claim).
    ylabel, xlabel : str
        Axis labels.
    ticks : sequence of float, optional
        Tick positions in days. Default: 40 min, 1, 2, 3, 7 and 14 days (plus 28, 56, ... when
        the data go further).
    dodge : float, default 0.04
        Horizontal offset between studies on the log scale (fraction of a log unit) so that
        CIs measured at the same time do not overlap.
    width : {"single", "onehalf", "double"} or float
        Figure width.
    height : float, optional
        Height in inches (default 0.8 × width for single column, else 0.5 × width).

    Returns
    -------
    matplotlib.figure.Figure
    """
    t, y = as_float(time_days), as_float(yi)
    lo, hi = as_float(ci_lb), as_float(ci_ub)
    study = [str(s) for s in study]
    if not (len(t) == len(y) == len(lo) == len(hi) == len(study)):
        raise ValueError("time_days, yi, ci_lb, ci_ub and study must have the same length")
    if np.any(t[np.isfinite(t)] <= 0):
        raise ValueError("time_days must be positive (log axis); 40 min = 40/1440")
    W = figure_width(width)
    H = height or (0.8 * W if W < 4 else 0.5 * W)
    fig = new_figure(W, H, layout="constrained")
    ax = fig.add_subplot()
    ax.set_xscale("log")
    studies = list(dict.fromkeys(study))
    n = len(studies)
    all_t = list(t[np.isfinite(t)])
    for i, s in enumerate(studies):
        idx = [
            j for j, sj in enumerate(study) if sj == s and np.isfinite(t[j]) and np.isfinite(y[j])
        ]
        idx.sort(key=lambda j: t[j])
        if not idx:
            continue
        off = (i - (n - 1) / 2) * dodge
        tt = t[idx] * np.exp(off)
        color = PALETTE[i % len(PALETTE)]
        marker = MARKERS[(i // len(PALETTE) + i) % len(MARKERS)]
        yy, ll, hh = y[idx], lo[idx], hi[idx]
        err = np.vstack(
            [np.where(np.isfinite(ll), yy - ll, 0), np.where(np.isfinite(hh), hh - yy, 0)]
        )
        ax.errorbar(
            tt,
            yy,
            yerr=err,
            color=color,
            marker=marker,
            ms=3.2,
            lw=0.7,
            elinewidth=0.6,
            capsize=0,
            label=s,
            zorder=4,
        )
    if pooled is not None:
        pdf = frame(pooled, ["time_days", "estimate", "ci_lb", "ci_ub"], "pooled").sort_values(
            "time_days"
        )
        pt = as_float(pdf["time_days"])
        all_t += list(pt)
        ax.fill_between(
            pt,
            as_float(pdf["ci_lb"]),
            as_float(pdf["ci_ub"]),
            color="0.85",
            lw=0,
            zorder=1,
            label="Pooled 95% CI",
        )
        ax.errorbar(
            pt,
            as_float(pdf["estimate"]),
            yerr=np.vstack(
                [
                    as_float(pdf["estimate"]) - as_float(pdf["ci_lb"]),
                    as_float(pdf["ci_ub"]) - as_float(pdf["estimate"]),
                ]
            ),
            color="black",
            marker="D",
            ms=3.6,
            lw=1.0,
            elinewidth=1.0,
            capsize=1.5,
            label="Pooled",
            zorder=5,
        )
    if curve is not None:
        cdf = frame(curve, ["time_days", "pred", "ci_lb", "ci_ub"], "curve").sort_values(
            "time_days"
        )
        ct = as_float(cdf["time_days"])
        all_t += list(ct)
        ax.fill_between(
            ct,
            as_float(cdf["ci_lb"]),
            as_float(cdf["ci_ub"]),
            color="0.8",
            alpha=0.6,
            lw=0,
            zorder=1,
        )
        ax.plot(
            ct, as_float(cdf["pred"]), color="black", lw=1.1, zorder=3, label="Time-course model"
        )
    ax.axhline(0, color="0.3", lw=0.6, zorder=2)
    all_t = [v for v in all_t if np.isfinite(v) and v > 0]
    tmin = min(all_t + [_DEFAULT_TICKS[0]])
    tmax = max(all_t + [14.0])
    if ticks is None:
        ticks = list(_DEFAULT_TICKS) + [e for e in _EXTRA_TICKS if e <= tmax * 1.05 and e > 14]
    ticks = sorted(float(v) for v in ticks)
    ax.set_xlim(min(tmin, ticks[0]) / 1.5, max(tmax, ticks[-1]) * 1.4)
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(_time_label))
    ax.yaxis.set_major_formatter(FuncFormatter(fmt_tick))
    trans = blended_transform_factory(ax.transData, ax.transAxes)
    for m in marks:
        ax.axvline(m, color="0.45", lw=0.6, ls=(0, (3, 2)), zorder=1)
        ax.text(
            m, 0.99, f" day {m:g}", transform=trans, ha="left", va="top", fontsize=6, color="0.3"
        )
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    handles, labs = ax.get_legend_handles_labels()
    if handles:
        ncol = 2 if W < 4 else 4
        fig.legend(
            handles,
            labs,
            loc="outside lower center",
            ncol=ncol,
            handlelength=1.6,
            columnspacing=1.0,
            borderaxespad=0.2,
        )
    return fig


