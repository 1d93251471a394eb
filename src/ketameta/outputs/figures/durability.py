"""Effect over time since the dose, per study, pooled per time point, and a fitted curve."""


from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator
from matplotlib.transforms import blended_transform_factory

from .style import (
    STYLE,
    as_float,
    figure_width,
    fmt_tick,
    frame,
    new_figure,
    ratio_axis,
    resolve_clip,
    study_styles,
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
    study_ids: Sequence[str] | None = None,
    ratio: bool = False,
    refline: float | None = None,
    clip: str | tuple[float, float] | None = "auto",
    width: str | float = "single",
    height: float | None = None,
    fontsize: float | None = None,
) -> Figure:
    """Effect over time after a single dose: per-study trajectories, pooled band, marks.

    Parameters
    ----------
    time_days : array-like
        Time of each estimate in days since the dose (40 min = 40/1440).
    yi, ci_lb, ci_ub : array-like
        Estimate and CI of each (study, time) point, on the plotted scale (odds ratios, not
        log odds ratios, when ``ratio``).
    study : sequence of str
        Study label of each point (shown in the legend); points of one study are joined by a line.
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
    study_ids : sequence of str, optional
        Stable id of each point's study (e.g. ``study_id``): colour and marker come from it
        (:func:`.style.study_style`), so a study looks the same in every figure and run. Default:
        the labels.
    ratio : bool, default False
        The values are ratios (e.g. odds ratios): log effect axis with ratio ticks, null line at 1.
    refline : float, optional
        Null line (default 1 for ratios, else 0).
    clip : "auto", "none"/None or (float, float), default "auto"
        Effect-axis range beyond which intervals are cut and end in an arrow (see
        :func:`.style.clip_range`); a pair fixes the range.
    width : {"single", "onehalf", "double"} or float
        Figure width.
    height : float, optional
        Height in inches (default 0.8 × width for single column, else 0.5 × width).
    fontsize : float, optional
        Base text size in points (default 7).

    Returns
    -------
    matplotlib.figure.Figure
    """
    t, y = as_float(time_days), as_float(yi)
    lo, hi = as_float(ci_lb), as_float(ci_ub)
    study = [str(s) for s in study]
    ids = [str(s) for s in study_ids] if study_ids is not None else study
    if not (len(t) == len(y) == len(lo) == len(hi) == len(study) == len(ids)):
        raise ValueError("time_days, yi, ci_lb, ci_ub and study must have the same length")
    if np.any(t[np.isfinite(t)] <= 0):
        raise ValueError("time_days must be positive (log axis); 40 min = 40/1440")
    if ratio and np.any(np.concatenate([y, lo, hi])[np.isfinite(np.concatenate([y, lo, hi]))] <= 0):
        raise ValueError("ratio=True needs positive values (odds ratios, not log odds ratios)")
    ref = (1.0 if ratio else 0.0) if refline is None else float(refline)
    W = figure_width(width)
    H = height or (0.8 * W if W < 4 else 0.5 * W)
    fs = float(fontsize) if fontsize else STYLE["font.size"]
    rc = {"font.size": fs, "axes.labelsize": fs, "xtick.labelsize": fs - 0.5,
          "ytick.labelsize": fs - 0.5, "legend.fontsize": fs - 0.5}
    with matplotlib.rc_context(rc):
        return _draw(t, y, lo, hi, study, ids, pooled, curve, marks, ylabel, xlabel, ticks, dodge,
                     ratio, ref, clip, W, H, fs)


def _draw(t, y, lo, hi, study, ids, pooled, curve, marks, ylabel, xlabel, ticks, dodge, ratio,
          ref, clip, W, H, fs):
    fig = new_figure(W, H, layout="constrained")
    ax = fig.add_subplot()
    ax.set_xscale("log")
    pdf = cdf = None
    if pooled is not None:
        pdf = frame(pooled, ["time_days", "estimate", "ci_lb", "ci_ub"], "pooled").sort_values(
            "time_days")
    if curve is not None:
        cdf = frame(curve, ["time_days", "pred", "ci_lb", "ci_ub"], "curve").sort_values("time_days")
    # the effect axis: estimates and the null line decide; huge intervals are cut (arrows)
    est = [y] + ([as_float(pdf["estimate"])] if pdf is not None else []) \
        + ([as_float(cdf["pred"])] if cdf is not None else [])
    bnd = [y, lo, hi] + ([as_float(pdf[c]) for c in ("ci_lb", "ci_ub")] if pdf is not None else []) \
        + ([as_float(cdf[c]) for c in ("ci_lb", "ci_ub")] if cdf is not None else [])
    allb = np.concatenate(bnd + [[ref]])
    allb = allb[np.isfinite(allb) & ((allb > 0) if ratio else True)]
    lim = resolve_clip(clip, np.concatenate(est), ref, ratio, allb)
    if lim is None or (isinstance(clip, str) and clip == "auto"):
        b_lo, b_hi = float(allb.min()), float(allb.max())
        if lim is not None:
            b_lo, b_hi = max(b_lo, lim[0]), min(b_hi, lim[1])
        if ratio:
            a, b = np.log(b_lo), np.log(b_hi)
            pad = 0.06 * (b - a or 1.0)
            y0, y1 = float(np.exp(a - pad)), float(np.exp(b + pad))
        else:
            pad = 0.06 * (b_hi - b_lo or 1.0)
            y0, y1 = b_lo - pad, b_hi + pad
    else:
        y0, y1 = lim
    cut = False

    def clipped(yy, ll, hh):
        ll2 = np.where(np.isfinite(ll), np.clip(ll, y0, y1), yy)
        hh2 = np.where(np.isfinite(hh), np.clip(hh, y0, y1), yy)
        return ll2, hh2, np.isfinite(ll) & (ll < y0), np.isfinite(hh) & (hh > y1)

    styles = study_styles(ids)
    label_of = dict(zip(ids, study))
    n = len(styles)
    order = list(dict.fromkeys(ids))
    all_t = list(t[np.isfinite(t)])
    for i, s in enumerate(order):
        idx = [j for j, sj in enumerate(ids) if sj == s and np.isfinite(t[j]) and np.isfinite(y[j])]
        idx.sort(key=lambda j: t[j])
        if not idx:
            continue
        off = (i - (n - 1) / 2) * dodge
        tt = t[idx] * np.exp(off)
        color, marker = styles[s]
        yy = y[idx]
        ll, hh, below, above = clipped(yy, lo[idx], hi[idx])
        ax.errorbar(tt, yy, yerr=np.vstack([yy - ll, hh - yy]), color=color, marker=marker, ms=3.2,
                    lw=0.7, elinewidth=0.6, capsize=0, label=label_of[s], zorder=4)
        for tj, yj, v in ((tt[below], ll[below], "v"), (tt[above], hh[above], "^")):
            if len(tj):
                cut = True
                ax.plot(tj, yj, ls="none", marker=v, ms=3.2, color=color, zorder=4, clip_on=False)
    if pdf is not None:
        pt = as_float(pdf["time_days"])
        all_t += list(pt)
        pe = as_float(pdf["estimate"])
        ax.fill_between(pt, as_float(pdf["ci_lb"]), as_float(pdf["ci_ub"]), color="0.85", lw=0,
                        zorder=1, label="Pooled 95% CI (band joins the time points)")
        ll, hh, below, above = clipped(pe, as_float(pdf["ci_lb"]), as_float(pdf["ci_ub"]))
        ax.errorbar(pt, pe, yerr=np.vstack([pe - ll, hh - pe]), color="black", marker="D", ms=3.6,
                    lw=1.0, elinewidth=1.0, capsize=1.5, label="Pooled per time point (95% CI)",
                    zorder=5)
        for tj, yj, v in ((pt[below], ll[below], "v"), (pt[above], hh[above], "^")):
            if len(tj):
                cut = True
                ax.plot(tj, yj, ls="none", marker=v, ms=3.6, color="black", zorder=5, clip_on=False)
    if cdf is not None:
        ct = as_float(cdf["time_days"])
        all_t += list(ct)
        ax.fill_between(ct, as_float(cdf["ci_lb"]), as_float(cdf["ci_ub"]), color="0.8",
                        alpha=0.6, lw=0, zorder=1, label="Time-course model 95% CI")
        ax.plot(ct, as_float(cdf["pred"]), color="black", lw=1.1, zorder=3,
                label="Time-course model")
    ax.axhline(ref, color="0.3", lw=0.6, zorder=2, label=f"No effect ({fmt_tick(ref)})")
    all_t = [v for v in all_t if np.isfinite(v) and v > 0]
    tmin = min(all_t + [_DEFAULT_TICKS[0]])
    tmax = max(all_t + [14.0])
    if ticks is None:
        ticks = list(_DEFAULT_TICKS) + [e for e in _EXTRA_TICKS if e <= tmax * 1.05 and e > 14]
    ticks = sorted(float(v) for v in ticks)
    ax.set_xlim(min(tmin, ticks[0]) / 1.5, max(tmax, ticks[-1]) * 1.4)
    ax.set_ylim(y0, y1)
    if ratio:
        ratio_axis(ax, "y", y0, y1)
    else:
        ax.yaxis.set_major_formatter(FuncFormatter(fmt_tick))
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(_time_label))
    trans = blended_transform_factory(ax.transData, ax.transAxes)
    for m in marks:
        ax.axvline(m, color="0.45", lw=0.6, ls=(0, (3, 2)), zorder=1)
        ax.text(m, 0.99, f" day {m:g}", transform=trans, ha="left", va="top", fontsize=fs - 1,
                color="0.3")
    ax.set_xlabel(xlabel, fontsize=fs)
    ax.set_ylabel(ylabel, fontsize=fs)
    ax.tick_params(labelsize=fs - 0.5)
    handles, labs = ax.get_legend_handles_labels()
    if marks:
        handles.append(Line2D([], [], color="0.45", lw=0.6, ls=(0, (3, 2))))
        labs.append("Claimed window (days " + ", ".join(f"{m:g}" for m in marks) + ")")
    if cut:
        handles.append(Line2D([], [], ls="none", marker="^", ms=3.2, color="0.3"))
        labs.append("Interval continues beyond the axis")
    if handles:
        ncol = 2 if W < 4 else 3
        fig.legend(handles, labs, loc="outside lower center", ncol=ncol, handlelength=1.6,
                   columnspacing=1.0, borderaxespad=0.2, fontsize=fs - 0.5)
    return fig
