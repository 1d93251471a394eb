"""Risk-of-bias figures in robvis's conventions: traffic-light plot and weighted summary plot.

McGuinness LA, Higgins JPT (2021). Risk-of-bias VISualization (robvis): an R package and Shiny web
app for visualizing risk-of-bias assessments. Res Synth Methods 12:55-61. The colours are
robvis's ``"cochrane"`` and ``"colourblind"`` palettes; symbols as in robvis (+ low, - some
concerns, x high, ? no information). RoB 2 domains D1-D5, and DS (period and carry-over
effects) for crossover trials.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from .style import figure_width, new_figure, styled, text_width

__all__ = ["rob_traffic_light", "rob_summary", "ROB_PALETTES", "ROB_LEVELS", "ROB_SYMBOLS", "ROB_DOMAIN_LABELS"]

#: robvis palettes (low, some concerns, high, no information)
ROB_PALETTES = {
    "cochrane": {"low": "#02C100", "some_concerns": "#E2DF07", "high": "#BF0000", "no_information": "#4EA1F7"},
    "colourblind": {"low": "#fed98e", "some_concerns": "#fe9929", "high": "#d95f0e", "no_information": "#ffffff"},
}
ROB_LEVELS = ("low", "some_concerns", "high", "no_information")
ROB_SYMBOLS = {"low": "+", "some_concerns": "-", "high": "x", "no_information": "?"}
_SYMBOL = ROB_SYMBOLS
_WORDS = {"low": "Low", "some_concerns": "Some concerns", "high": "High", "no_information": "No information"}
ROB_DOMAIN_LABELS = {
    "D1_randomisation": "D1: Bias arising from the randomisation process",
    "D2_deviations": "D2: Bias due to deviations from intended interventions",
    "D3_missing_data": "D3: Bias due to missing outcome data",
    "D4_measurement": "D4: Bias in measurement of the outcome",
    "D5_selection": "D5: Bias in selection of the reported result",
    "DS_period_carryover": "DS: Bias arising from period and carry-over effects (crossover)",
    "overall": "Overall risk of bias",
}


def _check(table: pd.DataFrame, domains: Sequence[str]):
    bad = {v for d in domains for v in table[d].dropna().unique() if v not in ROB_LEVELS}
    if bad:
        raise ValueError(f"unknown risk-of-bias judgement(s) {sorted(bad)}; expected {ROB_LEVELS}")


@styled
def rob_traffic_light(table: pd.DataFrame, *, palette: str = "cochrane", study_column: str = "study",
                      domains: Sequence[str] | None = None, width: str | float = "double") -> Figure:
    """Traffic-light plot: one row per trial, one column per domain and the overall judgement.

    ``table`` has a study label column and one column per domain (judgements ``low``,
    ``some_concerns``, ``high``, ``no_information``; empty = domain not applicable, drawn blank),
    and ``overall``.
    """
    cols = list(domains or [c for c in ROB_DOMAIN_LABELS if c in table.columns])
    _check(table, cols)
    pal = ROB_PALETTES[palette]
    studies = table[study_column].astype(str).tolist()
    W = figure_width(width)
    rh = 0.19
    probe = new_figure(W, 1)
    label_w = min(max([text_width(probe, s, 6.5) for s in studies] + [0.5]) + 0.15, 0.45 * W)
    n, m = len(studies), len(cols)
    legend_h = 0.22 * (len(cols) + 2) * 0.55 + 0.35
    H = 0.45 + n * rh + legend_h
    fig = new_figure(W, H)
    grid_w = min(W - label_w - 0.2, 0.42 * m)
    ax = fig.add_axes((label_w / W, legend_h / H, grid_w / W, (n * rh) / H))
    ax.set_xlim(-0.5, m - 0.5)
    ax.set_ylim(n - 0.5, -0.5)
    ax.axis("off")
    for i, s in enumerate(studies):
        ax.text(-0.65, i, s, ha="right", va="center", fontsize=6.5)
        for j, c in enumerate(cols):
            v = table[c].iloc[i]
            if not isinstance(v, str):
                continue
            ax.scatter([j], [i], s=95, color=pal[v], edgecolors="#333333", linewidths=0.4, zorder=2)
            ax.text(j, i, _SYMBOL[v], ha="center", va="center", fontsize=6.5, fontweight="bold",
                    color="black", zorder=3)
    for j, c in enumerate(cols):
        ax.text(j, -0.75, c.split("_")[0] if c != "overall" else "Overall", ha="center", va="bottom",
                fontsize=6.5, fontweight="bold")
    lines = [ROB_DOMAIN_LABELS.get(c, c) for c in cols if c != "overall"]
    fig.text(0.02, (legend_h - 0.12) / H, "Domains:\n" + "\n".join(lines), ha="left", va="top", fontsize=5.8)
    handles = [Line2D([0], [0], marker="o", linestyle="", markerfacecolor=pal[k], markeredgecolor="#333333",
                      markersize=6, label=f"{_SYMBOL[k]}  {_WORDS[k]}") for k in ROB_LEVELS]
    fig.legend(handles=handles, loc="lower right", bbox_to_anchor=(0.99, 0.02), fontsize=5.8, title="Judgement",
               title_fontsize=6.0, frameon=False)
    return fig


@styled
def rob_summary(table: pd.DataFrame, *, weights: Mapping[str, float] | None = None, palette: str = "cochrane",
                study_column: str = "study", domains: Sequence[str] | None = None,
                width: str | float = "double") -> Figure:
    """Summary bar plot: per domain, the share of trials (or of the weight) at each judgement.

    With ``weights`` (study label -> weight), bars show the share of the analysis' weight, as
    robvis's ``weighted = TRUE``; otherwise the share of trials. Trials where a domain does not
    apply (e.g. DS for a parallel trial) are left out of that domain's bar.
    """
    cols = list(domains or [c for c in ROB_DOMAIN_LABELS if c in table.columns])
    _check(table, cols)
    pal = ROB_PALETTES[palette]
    W = figure_width(width)
    H = 0.45 + 0.24 * len(cols) + 0.45
    fig = new_figure(W, H, layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    w_all = (np.array([float(weights.get(s, 0.0)) for s in table[study_column].astype(str)]) if weights
             else np.ones(len(table)))
    for i, c in enumerate(reversed(cols)):
        vals = table[c]
        ok = vals.notna().to_numpy()
        tot = w_all[ok].sum()
        left = 0.0
        for level in ROB_LEVELS:
            share = float(w_all[(vals == level).to_numpy()].sum() / tot) if tot > 0 else 0.0
            if share > 0:
                ax.barh(i, 100 * share, left=100 * left, color=pal[level], edgecolor="#333333", linewidth=0.4,
                        height=0.7)
            left += share
    ax.set_yticks(range(len(cols)), [ROB_DOMAIN_LABELS.get(c, c) for c in reversed(cols)], fontsize=6)
    ax.set_xlim(0, 100)
    ax.set_xlabel("Share of the weight (%)" if weights else "Share of trials (%)")
    ax.legend(handles=[Patch(facecolor=pal[k], edgecolor="#333333", label=_WORDS[k]) for k in ROB_LEVELS],
              loc="upper center", bbox_to_anchor=(0.5, -0.35), ncol=4, fontsize=6, frameon=False)
    return fig
