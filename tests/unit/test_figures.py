"""Figures: journal sizes, deterministic bytes, embedded fonts, content of each plot type."""

from __future__ import annotations

import hashlib
import re
import struct

import numpy as np
import pandas as pd
import pytest
from matplotlib.font_manager import findfont
from matplotlib.patches import Polygon
from matplotlib.text import Text

from ketameta.outputs import figures as F

MM = 1 / 25.4
NBSP = "\u00a0"


# ---- data ----------------------------------------------------------------------------------


def forest_rows():
    return pd.DataFrame(
        {
            "label": [
                "Luckenbaugh et al. 2014",
                "Niciu et al. 2018",
                "$5 & <script> 50%_x",
                "$x^2$ trial",
            ],
            "yi": [0.35, 0.10, -0.05, 0.2],
            "ci_lb": [0.17, -0.20, -0.40, -0.1],
            "ci_ub": [0.51, 0.40, 0.30, 0.5],
            "weight": [35.0, 25.0, 20.0, 20.0],
        }
    )


POOLED = [
    {
        "label": "Random effects (REML)",
        "estimate": 0.22,
        "ci_lb": 0.08,
        "ci_ub": 0.36,
        "pi_lb": -0.10,
        "pi_ub": 0.55,
    }
]

PRISMA_COUNTS = dict(
    database_results={"PubMed": 500, "Embase": 320},
    register_results=40,
    duplicates=200,
    records_screened=660,
    records_excluded=570,
    dbr_sought_reports=90,
    dbr_notretrieved_reports=5,
    dbr_assessed=85,
    dbr_excluded={"Wrong population": 30, "No dissociation measure": 25},
    new_studies=18,
    new_reports=20,
)


def make_forest(width="single"):
    return F.forest(forest_rows(), POOLED, xlabel="Correlation (r)", width=width)


def make_forest_ratio(width="single"):
    rows = pd.DataFrame(
        {
            "label": ["A 2000", "B 2001", "C 2002"],
            "yi": np.log([1.5, 0.8, 2.0]),
            "ci_lb": np.log([1.1, 0.5, 1.1]),
            "ci_ub": np.log([2.1, 1.3, 3.6]),
        }
    )
    pooled = [
        {"label": "RE model", "estimate": np.log(1.4), "ci_lb": np.log(1.1), "ci_ub": np.log(1.8)}
    ]
    return F.forest(rows, pooled, xlabel="Risk ratio", transf=np.exp, width=width)


def make_bubble(width="single"):
    rng = np.random.default_rng(7)
    x = rng.uniform(5, 30, 10)
    yi = 0.02 * x + rng.normal(0, 0.1, 10)
    w = rng.uniform(5, 60, 10)
    px = np.linspace(5, 30, 40)
    return F.bubble(
        x,
        yi,
        w,
        px,
        0.02 * px,
        0.02 * px - 0.1,
        0.02 * px + 0.1,
        0.02 * px - 0.3,
        0.02 * px + 0.3,
        labels=[f"S{i}" for i in range(10)],
        xlabel="CADSS",
        ylabel="Improvement",
        width=width,
    )


def make_durability(width="single"):
    t = np.array([40 / 1440, 1, 3, 7, 40 / 1440, 1, 2, 7, 14, 28])
    study = ["Berman 2000"] * 4 + ["Zarate 2006"] * 6
    y = np.array([1.2, 0.9, 0.7, 0.3, 1.1, 1.3, 0.8, 0.4, 0.1, 0.0])
    pooled = pd.DataFrame(
        {
            "time_days": [40 / 1440, 1, 7],
            "estimate": [1.1, 1.0, 0.3],
            "ci_lb": [0.8, 0.7, 0.0],
            "ci_ub": [1.4, 1.3, 0.6],
        }
    )
    curve = {
        "time_days": np.geomspace(0.03, 28, 20),
        "pred": np.linspace(1.1, 0, 20),
        "ci_lb": np.linspace(0.8, -0.3, 20),
        "ci_ub": np.linspace(1.4, 0.3, 20),
    }
    return F.durability(
        t, y, y - 0.4, y + 0.4, study, pooled=pooled, curve=curve, ylabel="SMD", width=width
    )


def make_funnel(width="single"):
    rng = np.random.default_rng(3)
    sei = rng.uniform(0.05, 0.4, 15)
    return F.funnel(rng.normal(0.3, sei), sei, 0.3, xlabel="Fisher z", width=width)


def make_effect_direction(width="single"):
    rows = pd.DataFrame(
        {
            "study": ["Berman 2000", "Berman 2000", "Zarate 2006", "Zarate 2006", "<b>$ 2019"],
            "outcome": ["Day 1", "Day 7", "Day 1", "Day 7", "Day 1"],
            "direction": ["benefit", "no difference", "+", "harm", "mixed"],
            "n": [7, 7, 18, 400, 120],
            "rob": ["low", "low", "some concerns", "some concerns", "high"],
        }
    )
    return F.effect_direction(rows, footer={"Day 1": "3/3 benefit"}, width=width)


def make_prisma(width="double"):
    return F.prisma(PRISMA_COUNTS, width=width)


BUILDERS = {
    "forest": make_forest,
    "forest_ratio": make_forest_ratio,
    "bubble": make_bubble,
    "durability": make_durability,
    "funnel": make_funnel,
    "effect_direction": make_effect_direction,
    "prisma": make_prisma,
}


def texts(fig):
    return [t.get_text() for t in fig.findobj(Text) if t.get_text()]


def _pdf_mediabox(data):
    m = re.search(rb"/MediaBox \[\s*0 0 ([0-9.]+) ([0-9.]+)\s*\]", data)
    return float(m.group(1)), float(m.group(2))


def _png_size(data):
    return struct.unpack(">II", data[16:24])


def _svg_size(data):
    m = re.search(rb'<svg[^>]*width="([0-9.]+)pt" height="([0-9.]+)pt"', data)
    return float(m.group(1)), float(m.group(2))


# ---- sizes, determinism, fonts ---------------------------------------------------------------


def test_widths():
    assert F.figure_width("single") == pytest.approx(89 * MM)
    assert F.figure_width("double") == pytest.approx(183 * MM)
    assert F.figure_width(5) == 5.0
    with pytest.raises(ValueError):
        F.figure_width("triple")
    with pytest.raises(ValueError):
        F.figure_width(100)


@pytest.mark.parametrize("name", sorted(BUILDERS))
@pytest.mark.parametrize("width", ["single", "double"])
def test_figure_width_matches_journal(name, width):
    fig = BUILDERS[name](width=width)
    w, h = fig.get_size_inches()
    assert w == pytest.approx(F.WIDTHS[width])
    assert 0.5 < h < 12


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_saved_files_deterministic_and_sized(name, tmp_path):
    hashes = []
    for run in ("a", "b"):
        fig = BUILDERS[name]()  # a fresh figure from the same inputs
        paths = F.savefig_all(fig, tmp_path / run / name)
        assert [p.suffix for p in paths] == [".pdf", ".svg", ".png"]
        hashes.append([hashlib.sha256(p.read_bytes()).hexdigest() for p in paths])
    assert hashes[0] == hashes[1], "same inputs must give byte-identical PDF, SVG and PNG"
    w_in, h_in = fig.get_size_inches()
    pdf = (tmp_path / "a" / f"{name}.pdf").read_bytes()
    svg = (tmp_path / "a" / f"{name}.svg").read_bytes()
    png = (tmp_path / "a" / f"{name}.png").read_bytes()
    assert _pdf_mediabox(pdf) == pytest.approx((w_in * 72, h_in * 72), abs=0.01)
    assert _svg_size(svg) == pytest.approx((w_in * 72, h_in * 72), abs=0.01)
    pw, ph = _png_size(png)  # Agg truncates the pixel size
    assert abs(pw - w_in * 300) < 1 and abs(ph - h_in * 300) < 1
    # no timestamps / software strings
    assert b"CreationDate" not in pdf and b"/Producer" not in pdf
    assert b"<dc:date>" not in svg
    assert b"Software" not in png and b"tIME" not in png
    # fonts: TrueType embedded in the PDF (no Type 3), DejaVu Sans; SVG text as paths
    assert b"/FontFile2" in pdf and b"/Type3" not in pdf
    assert set(re.findall(rb"/BaseFont /(?:[A-Z]{6}\+)?([A-Za-z-]+)", pdf)) <= {
        b"DejaVuSans",
        b"DejaVuSans-Bold",
        b"DejaVuSans-Oblique",
    }
    assert b"<text" not in svg
    assert not [p for p in (tmp_path / "a").iterdir() if p.name.startswith(".")]  # no temp files


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_all_text_in_dejavu_sans_and_literal(name):
    fig = BUILDERS[name]()
    for t in fig.findobj(Text):
        if t.get_text():
            assert findfont(t.get_fontproperties()).endswith(
                ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf")
            ), t.get_text()
            assert t.get_parse_math() is False, "data text must never be parsed as mathtext"


def test_savefig_all_formats(tmp_path):
    fig = make_funnel()
    assert F.savefig_all(fig, tmp_path / "f", formats=("png",)) == [tmp_path / "f.png"]
    with pytest.raises(ValueError):
        F.savefig_all(fig, tmp_path / "f", formats=("jpg",))
    # a dotted stem keeps its dots
    assert F.savefig_all(fig, tmp_path / "forest.acute", formats=("svg",)) == [
        tmp_path / "forest.acute.svg"
    ]


# ---- forest ----------------------------------------------------------------------------------


def test_forest_content():
    fig = make_forest()
    ax = fig.axes[0]
    tx = texts(fig)
    assert "Luckenbaugh et al. 2014" in tx
    assert "$5 & <script> 50%_x" in tx and "$x^2$ trial" in tx  # literal, not mathtext
    assert "0.35 [0.17, 0.51]" in tx and "\u22120.05 [\u22120.40, 0.30]" in tx
    assert "35.0%" in tx and "Weight" in tx
    assert "0.22 [0.08, 0.36]" in tx
    assert sum(isinstance(p, Polygon) for p in ax.patches) == 1  # one diamond
    assert ax.get_xscale() == "linear"
    assert "Correlation (r)" == ax.get_xlabel()


def test_forest_ratio_scale_is_natural_log_axis():
    fig = make_forest_ratio()
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert "1.50 [1.10, 2.10]" in texts(fig)  # back-transformed annotations
    lo, hi = ax.get_xlim()
    assert lo > 0 and lo < 0.5 < 1 < 3.6 < hi
    assert 1.0 in [
        line.get_xdata()[0] for line in ax.get_lines() if len(set(line.get_xdata())) == 1
    ]


def test_forest_long_labels_truncated_not_overlapping():
    rows = forest_rows()
    rows.loc[0, "label"] = "A very long study label that would run into the plot area 2021"
    fig = F.forest(rows, POOLED, width="single")
    shown = [t for t in texts(fig) if t.startswith("A very")]
    assert shown and shown[0].endswith("\u2026")
    wide = F.forest(rows, POOLED, width="double")
    assert rows.loc[0, "label"] in texts(wide)


def test_forest_without_weights_and_clipped_ci():
    rows = forest_rows().drop(columns="weight")
    fig = F.forest(rows, None, xlim=(-0.2, 0.45))
    assert "Weight" not in texts(fig)
    markers = [line.get_marker() for line in fig.axes[0].get_lines()]
    assert "<" in markers and ">" in markers  # CIs beyond the limits end in arrows


def test_forest_risk_of_bias_columns_at_the_right_edge():
    from matplotlib.colors import to_hex

    from ketameta.outputs.figures.rob import ROB_PALETTES

    rows = forest_rows()
    k = len(rows)
    rob = pd.DataFrame({"D1_randomisation": ["low"] + ["some_concerns"] * (k - 1),
                        "overall": ["high"] + [None] * (k - 1)})
    fig = F.forest(rows, POOLED, rob=rob, width="double")
    tx = texts(fig)
    assert "D1" in tx and "O" in tx and any(t.startswith("Risk of bias (RoB 2)") for t in tx)
    ax = fig.axes[0]
    colours = [to_hex(c.get_facecolor()[0]) for c in ax.collections if len(c.get_offsets()) == 1]
    colours = [c for c in colours if c != "#000000"]  # the study markers are black squares
    pal = {k: v.lower() for k, v in ROB_PALETTES["cochrane"].items()}
    # one circle per judgement given (k + 1 of them), in robvis colours; none for the blanks
    assert sorted(colours) == sorted([pal["low"], pal["high"]] + [pal["some_concerns"]] * (k - 1))
    # the circles sit right of the annotation column
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    ann_right = max(t.get_window_extent(r).x1 for t in fig.axes[0].texts if "[" in t.get_text())
    d1 = next(t for t in fig.axes[0].texts if t.get_text() == "D1")
    assert d1.get_window_extent(r).x0 > ann_right
    with pytest.raises(ValueError, match="rob has"):
        F.forest(rows, POOLED, rob=rob.iloc[:1])
    with pytest.raises(ValueError, match="unknown risk-of-bias"):
        F.forest(rows, POOLED, rob=rob.assign(overall="bad"), width="double")


def test_forest_errors():
    with pytest.raises(KeyError, match="ci_ub"):
        F.forest(pd.DataFrame({"label": ["a"], "yi": [1], "ci_lb": [0]}))
    with pytest.raises(ValueError):
        F.forest(pd.DataFrame(columns=["label", "yi", "ci_lb", "ci_ub"]))
    with pytest.raises(KeyError):
        F.forest(forest_rows(), [{"label": "x", "estimate": 1}])


# ---- bubble ----------------------------------------------------------------------------------


def test_bubble_sizes_follow_weights():
    x, yi, w = [1, 2, 3], [0.1, 0.2, 0.3], [1.0, 10.0, 5.0]
    px = np.linspace(1, 3, 5)
    fig = F.bubble(x, yi, w, px, px / 10, px / 10 - 0.1, px / 10 + 0.1, xlabel="x", ylabel="y")
    ax = fig.axes[0]
    sizes = {tuple(c.get_offsets()[0]): c.get_sizes()[0] for c in ax.collections[1:]}  # [0]: CI band
    assert sizes[(1.0, 0.1)] < sizes[(3.0, 0.3)] < sizes[(2.0, 0.2)]
    with pytest.raises(ValueError):
        F.bubble([1, 2], [1], [1, 1], px, px, px, px)
    with pytest.raises(ValueError):
        F.bubble([1], [1], [-1], px, px, px, px)


# ---- durability ------------------------------------------------------------------------------


def test_durability_axis_and_marks():
    fig = make_durability()
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    ticks = [round(float(t), 6) for t in ax.get_xticks()]
    assert ticks == [round(40 / 1440, 6), 1, 2, 3, 7, 14, 28]
    labels = [ax.xaxis.get_major_formatter()(t) for t in ax.get_xticks()]
    assert labels == ["40 min", "1 d", "2 d", "3 d", "7 d", "14 d", "28 d"]
    tx = texts(fig)
    assert " day 3" in tx and " day 7" in tx
    assert {"Berman 2000", "Zarate 2006", "Pooled per time point (95% CI)",
            "Pooled 95% CI (band joins the time points)", "Time-course model",
            "Time-course model 95% CI", "No effect (0)", "Claimed window (days 3, 7)"} <= set(tx)
    vlines = [
        line.get_xdata()[0]
        for line in ax.get_lines()
        if len(set(np.atleast_1d(line.get_xdata()))) == 1
    ]
    assert 3 in vlines and 7 in vlines


def test_durability_errors():
    with pytest.raises(ValueError, match="positive"):
        F.durability([0, 1], [1, 1], [0, 0], [2, 2], ["a", "a"])
    with pytest.raises(ValueError, match="same length"):
        F.durability([1, 2], [1], [0], [2], ["a"])


# ---- funnel ----------------------------------------------------------------------------------


def test_funnel_contours_and_axis():
    fig = make_funnel()
    ax = fig.axes[0]
    lo, hi = ax.get_ylim()
    assert lo > hi == 0  # inverted: precise studies at the top
    assert sum(isinstance(p, Polygon) for p in ax.patches) == 3
    assert {"p > 0.10", "0.05 < p \u2264 0.10", "0.01 < p \u2264 0.05", "p \u2264 0.01"} <= set(
        texts(fig)
    )
    with pytest.raises(ValueError):
        F.funnel([0.1], [0.1], 0.1, contours=(0.99, 0.95))
    with pytest.raises(ValueError):
        F.funnel([0.1], [0.0], 0.1)


# ---- effect direction --------------------------------------------------------------------------


def test_effect_direction_content():
    fig = make_effect_direction()
    tx = texts(fig)
    assert {"Study", "Day 1", "Day 7", "Berman 2000", "<b>$ 2019", "3/3 benefit"} <= set(tx)
    assert {"Benefit", "Harm", "No difference / mixed", "Sample size:", "Risk of bias:"} <= set(tx)
    markers = [
        line.get_marker()
        for line in fig.axes[0].get_lines()
        if line.get_marker() not in (None, "None", "")
    ]
    # cells: 2x up, 1x down, 2x <> (2 markers each); legend: ^, v, <, >, 3 size arrows
    assert markers.count("^") == 2 + 1 + 3
    assert markers.count("v") == 1 + 1
    assert markers.count("<") == 2 + 1


def test_effect_direction_without_n_or_rob():
    rows = [{"study": "A", "outcome": "o", "direction": "benefit"}]
    tx = texts(F.effect_direction(rows))
    assert "Sample size:" not in tx and "Risk of bias:" not in tx


def test_effect_direction_errors():
    with pytest.raises(ValueError, match="unknown direction"):
        F.effect_direction([{"study": "A", "outcome": "o", "direction": "better?"}])
    with pytest.raises(ValueError, match="two rows"):
        F.effect_direction([{"study": "A", "outcome": "o", "direction": "+"}] * 2)
    with pytest.raises(ValueError, match="risk-of-bias"):
        F.effect_direction([{"study": "A", "outcome": "o", "direction": "+", "rob": "meh"}])


# ---- PRISMA ----------------------------------------------------------------------------------


def _flat(fig):
    return " ".join(texts(fig)).replace(NBSP, " ").replace("\n", " ")


def test_prisma_boxes():
    s = _flat(make_prisma())
    for needle in (
        "Identification of studies via databases and registers",
        "Databases (n = 820):",
        "PubMed (n = 500)",
        "Registers (n = 40)",
        "Duplicate records removed (n = 200)",
        "Records screened (n = 660)",
        "Records excluded (n = 570)",
        "Reports not retrieved (n = 5)",
        "Wrong population (n = 30)",
        "Reports excluded (n = 55):",
        "Studies included in review (n = 18)",
        "Reports of included studies (n = 20)",
        "Identification",
        "Screening",
        "Included",
    ):
        assert needle in s, needle
    assert "other methods" not in s and "Previous studies" not in s


def test_prisma_update_with_other_methods():
    counts = dict(
        PRISMA_COUNTS,
        previous_studies=9,
        previous_reports=11,
        total_studies=27,
        citations_results=30,
        other_sought_reports=30,
        other_assessed=28,
        other_excluded={"Duplicate data": 25},
    )
    s = _flat(F.prisma(counts))
    for needle in (
        "Previous studies",
        "Identification of new studies via other methods",
        "Citation searching (n = 30)",
        "New studies included in review (n = 18)",
        "Total studies included in review (n = 27)",
        "Reports of total included studies (n = not reported)",
        "Reports not retrieved (n = not reported)",
    ):
        assert needle in s, needle


def test_prisma_counts_never_break_across_lines():
    fig = F.prisma(PRISMA_COUNTS, width="single")
    for t in texts(fig):
        for line in t.split("\n"):
            assert not line.rstrip().endswith("(n ="), line


def test_prisma_validation():
    with pytest.raises(ValueError, match="unknown count"):
        F.prisma({"records_screend": 5})
    with pytest.raises(ValueError, match="non-negative"):
        F.prisma({"records_screened": -1})
    with pytest.raises(ValueError, match="integer"):
        F.prisma({"records_screened": 2.5})
    with pytest.raises(ValueError, match="single count"):
        F.prisma({"records_screened": {"a": 1}})
    assert "Records screened (n = 3)" in _flat(F.prisma({"records_screened": 3.0}))


# ---- journal requirements: ratio axes, clipping, stable study styles, sizes, legibility --------


def _hlines(ax):
    return [float(np.atleast_1d(ln.get_ydata())[0]) for ln in ax.get_lines()
            if len(set(np.atleast_1d(ln.get_ydata()))) == 1 and len(np.atleast_1d(ln.get_ydata())) == 2]


def _ratio_durability(**kw):
    t = np.array([1, 3, 7, 1, 7])
    orr = np.array([3.0, 2.0, 1.2, 4.0, 1.5])
    return F.durability(t, orr, orr / 2, orr * 2, ["A 2001"] * 3 + ["B 2002"] * 2,
                        study_ids=["a2001"] * 3 + ["b2002"] * 2, ratio=True, ylabel="Odds ratio", **kw)


def _ratio_bubble(**kw):
    px = np.linspace(0, 1, 5)
    return F.bubble([0, 0.5, 1], np.exp([0.2, 0.5, 0.9]), [1, 2, 3], px, np.exp(0.2 + 0.7 * px),
                    np.exp(0.7 * px), np.exp(0.4 + 0.7 * px), labels=["A 2001", "B 2002", "C 2003"],
                    ratio=True, ylabel="Odds ratio", **kw)


def test_ratio_measures_on_a_log_axis_with_the_null_line_at_one():
    fig = make_forest_ratio()
    assert fig.axes[0].get_xscale() == "log"
    dur = _ratio_durability().axes[0]
    assert dur.get_yscale() == "log" and 1.0 in _hlines(dur) and 0.0 not in _hlines(dur)
    assert [dur.yaxis.get_major_formatter()(t) for t in dur.get_yticks()][:2] != ["0", "1"]
    assert all(t > 0 for t in dur.get_yticks())
    bub = _ratio_bubble().axes[0]
    assert bub.get_yscale() == "log" and 1.0 in _hlines(bub)
    rng = np.random.default_rng(1)
    sei = rng.uniform(0.1, 0.5, 12)
    fun = F.funnel(rng.normal(0.4, sei), sei, 0.4, ratio=True, xlabel="Odds ratio").axes[0]
    assert fun.get_xscale() == "log"
    assert fun.get_lines()[-1].get_xdata()[0] == pytest.approx(np.exp(0.4))  # pooled line at OR
    lo, hi = fun.get_xlim()
    assert lo < 1 < hi
    with pytest.raises(ValueError, match="positive"):
        F.durability([1], [-0.5], [-1], [0.2], ["A"], ratio=True)


def test_cumulative_and_subgroup_forests_of_odds_ratios_use_a_log_axis():
    from ketameta.synthesis.registry import kind_of

    cit = _cit_with_fallback()
    fit = {"measure": "OR", "steps": [
        {"window": "day 1", "citation_key": "nokey", "k": 1, "estimate": np.log(2.0),
         "ci_lb": np.log(1.2), "ci_ub": np.log(3.5)}]}
    ax = kind_of("cumulative").figure(fit, pd.DataFrame(), {"type": "cumulative"}, cit).axes[0]
    assert ax.get_xscale() == "log"
    xs = [ln.get_xdata()[0] for ln in ax.get_lines() if len(set(ln.get_xdata())) == 1]
    assert 1.0 in xs and 0.0 not in xs
    sub = {"measure": "OR", "level": 95, "pools": [
        {"window": "day 1", "subgroup": "bipolar", "k": 2, "estimate": np.log(1.8),
         "ci_lb": np.log(0.9), "ci_ub": np.log(3.6)},
        {"window": "day 1", "subgroup": "unipolar", "k": 0}]}
    ax = kind_of("subgroups").figure(sub, pd.DataFrame(), {"type": "subgroups"}, cit).axes[0]
    assert ax.get_xscale() == "log"
    xs = [ln.get_xdata()[0] for ln in ax.get_lines() if len(set(ln.get_xdata())) == 1]
    assert 1.0 in xs and 0.0 not in xs
    assert "day 1: bipolar (k = 2)" in texts(ax.figure) and "1.80 [0.90, 3.60]" in texts(ax.figure)


def test_huge_interval_is_clipped_with_arrows_not_squashing_the_axis():
    t = np.array([1, 1, 7])
    y = np.array([0.5, 0.6, 0.3])
    lo, hi = y - 0.3, y + 0.3
    lo[1], hi[1] = -7.0, 8.0  # one k = 2 interval
    fig = F.durability(t, y, lo, hi, ["A", "B", "C"])
    y0, y1 = fig.axes[0].get_ylim()
    assert -2 < y0 < 0 and 0.9 < y1 < 2  # the estimates' spread, not -7 to 8
    markers = [ln.get_marker() for ln in fig.axes[0].get_lines()]
    assert "^" in markers and "v" in markers
    assert "Interval continues beyond the axis" in texts(fig)
    # a configured range is used as is; "none" draws every interval whole
    fixed = F.durability(t, y, lo, hi, ["A", "B", "C"], clip=(-1, 2))
    assert fixed.axes[0].get_ylim() == pytest.approx((-1, 2))
    whole = F.durability(t, y, lo, hi, ["A", "B", "C"], clip="none")
    assert whole.axes[0].get_ylim()[0] < -7 and whole.axes[0].get_ylim()[1] > 8
    # forest: rows and pooled diamonds end in arrows at the automatic range
    rows = forest_rows()
    rows.loc[1, ["ci_lb", "ci_ub"]] = [-6.0, 7.0]
    pooled = [dict(POOLED[0], ci_lb=-5.0, ci_ub=6.0, pi_lb=-9.0, pi_ub=9.0)]
    ax = F.forest(rows, pooled).axes[0]
    x0, x1 = ax.get_xlim()
    assert -1.5 < x0 < 0 and 0.5 < x1 < 1.5
    assert [ln.get_marker() for ln in ax.get_lines()].count(">") >= 3  # row, PI and diamond
    assert F.forest(rows, pooled, clip=(-1, 1)).axes[0].get_xlim() == pytest.approx((-1, 1))
    with pytest.raises(ValueError, match="clip"):
        F.forest(rows, pooled, clip="tight")


def test_clip_range_from_the_estimates_spread():
    from ketameta.outputs.figures.style import clip_range

    assert clip_range([0.5, 1.0], 0.0) == pytest.approx((-1.0, 2.0))
    assert clip_range([0.5, 1.0], 0.0, bounds=[0.2, 1.3]) == pytest.approx((0.0, 1.3))
    lo, hi = clip_range([2.0, 4.0], 1.0, log=True)
    assert lo == pytest.approx(0.25) and hi == pytest.approx(16.0)


def test_study_colour_and_marker_come_from_the_id_and_survive_an_added_study():
    from matplotlib.colors import to_hex

    from ketameta.outputs.figures.style import STUDY_COLOURS, study_style, study_styles

    ids = ["berman2000", "zarate2006", "diazgranados2010", "lii2023", "fava2018"]
    before = study_styles(ids)
    after = study_styles(ids + ["murrough2013"])
    assert {s: before[s][0] for s in ids} == {s: after[s][0] for s in ids}  # colours unchanged
    assert {s: before[s] for s in ids} == {s: after[s] for s in ids}
    assert study_style("berman2000") == before["berman2000"]
    assert len({study_style(f"s{i}")[0] for i in range(40)}) == len(STUDY_COLOURS)  # uses them all

    def styles(fig):  # legend label -> (colour, marker) of each study's error bar
        return {c.get_label(): (to_hex(c.lines[0].get_color()), c.lines[0].get_marker())
                for c in fig.axes[0].containers}

    t, y = [1.0, 2.0], [0.5, 0.4]
    fig1 = F.durability(t * 2, y * 2, [0.1] * 4, [0.9] * 4, ["Berman 2000"] * 2 + ["Zarate 2006"] * 2,
                        study_ids=["berman2000"] * 2 + ["zarate2006"] * 2)
    fig2 = F.durability(t * 3, y * 3, [0.1] * 6, [0.9] * 6,
                        ["Abdallah 2019"] * 2 + ["Berman 2000"] * 2 + ["Zarate 2006"] * 2,
                        study_ids=["abdallah2019"] * 2 + ["berman2000"] * 2 + ["zarate2006"] * 2)
    s1, s2 = styles(fig1), styles(fig2)
    assert s1["Berman 2000"] == s2["Berman 2000"] and s1["Zarate 2006"] == s2["Zarate 2006"]
    assert s1["Berman 2000"] == (before["berman2000"][0].lower(), before["berman2000"][1])
    assert {"Berman 2000", "Zarate 2006"} <= {t.get_text() for t in fig1.legends[0].get_texts()}


@pytest.mark.parametrize("width,mm", [("single", 89), ("onehalf", 120), ("double", 183)])
def test_configured_width_is_the_pdf_media_box(width, mm, tmp_path):
    from ketameta.synthesis.figopts import figure_kwargs, figure_options

    config = {"figures": {"defaults": {"width": "double", "height": 70},
                          "analyses": {"durability": {"width": width, "font_size": 8}}}}
    opts = figure_options(config, "durability")
    kw = figure_kwargs(opts)
    assert kw["fontsize"] == 8 and kw["height"] == pytest.approx(70 / 25.4)
    fig = make_durability_kw(**kw)
    pdf, = F.savefig_all(fig, tmp_path / "d", formats=("pdf",))
    w, h = _pdf_mediabox(pdf.read_bytes())
    assert w == pytest.approx(mm / 25.4 * 72, abs=0.05) and h == pytest.approx(70 / 25.4 * 72, abs=0.05)
    assert figure_kwargs(figure_options(config, "other"))["width"] == "double"
    assert figure_kwargs(figure_options({"figures": {"defaults": {"width": 100}}}, "x"))["width"] == \
        pytest.approx(100 / 25.4)


def test_figure_settings_formats_always_include_svg():
    from ketameta.synthesis.figopts import figure_formats, figure_options

    cfg = {"figures": {"analyses": {"a": {"formats": ["pdf"]}}}}
    assert figure_formats(figure_options(cfg, "a")) == ["pdf", "svg"]
    assert figure_formats(figure_options(cfg, "b")) == ["pdf", "svg", "png"]


def make_durability_kw(**kw):
    t = np.array([40 / 1440, 1, 3, 7, 40 / 1440, 1, 2, 7, 14, 28])
    study = ["Berman 2000"] * 4 + ["Zarate 2006"] * 6
    y = np.array([1.2, 0.9, 0.7, 0.3, 1.1, 1.3, 0.8, 0.4, 0.1, 0.0])
    return F.durability(t, y, y - 0.4, y + 0.4, study, ylabel="SMD", **kw)


SINGLE_COLUMN = {
    "forest": lambda: F.forest(forest_rows(), POOLED, xlabel="r", width="single"),
    "forest_ratio": lambda: make_forest_ratio("single"),
    "forest_clipped": lambda: F.forest(forest_rows().assign(ci_ub=[0.51, 9.0, 0.3, 0.5]), POOLED,
                                       width="single"),
    "bubble": lambda: make_bubble("single"),
    "bubble_ratio": lambda: _ratio_bubble(width="single"),
    "durability": lambda: make_durability("single"),
    "durability_ratio": lambda: _ratio_durability(width="single"),
    "funnel": lambda: make_funnel("single"),
    "funnel_ratio": lambda: F.funnel(np.log([0.8, 1.5, 2.5, 1.1]), [0.2, 0.3, 0.5, 0.1], 0.2,
                                     ratio=True, width="single"),
}


@pytest.mark.parametrize("name", sorted(SINGLE_COLUMN))
def test_tick_labels_do_not_overlap_at_single_column_width(name):
    fig = SINGLE_COLUMN[name]()
    assert fig.get_size_inches()[0] == pytest.approx(89 / 25.4)
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            boxes = [t.get_window_extent(r) for t in axis.get_ticklabels()
                     if t.get_visible() and t.get_text()]
            for i, a in enumerate(boxes):
                for b in boxes[i + 1:]:
                    assert not a.overlaps(b), (name, [t.get_text() for t in axis.get_ticklabels()])


# ---- labels: author-year, never a journal or a title -------------------------------------------

BIB = r"""
@article{withauthors, author = {Berman, R. M. and Cappiello, A. and Anand, A.}, year = {2000},
  title = {Antidepressant effects of ketamine in depressed patients}, journal = {Biol Psychiatry}}
@misc{transformkey, title = {Efficacy of esketamine nasal spray}, journal = {Int J Neuropsychopharmacol},
  howpublished = {Int J Neuropsychopharmacol 22(10):616--630}, year = {2019}}
@misc{noname, title = {Relationship Between Dissociation and Antidepressant Effects},
  journal = {Int J Neuropsychopharmacol}, year = {2022}}
@misc{nokey, howpublished = {J Affect Disord}, year = {2018}}
@misc{withreg, title = {A registered trial}, journal = {BMC Psychiatry}, year = {2021}}
"""

STUDIES = pd.DataFrame({
    "study_id": ["berman2000", "transform1_2019", "ijnp2022_esk", "jad2018", "bmc2021"],
    "citation_key": ["withauthors", "transformkey", "noname", "nokey", "withreg"],
    "drug": ["racemic_ketamine", "esketamine", "esketamine", "racemic_ketamine", "esketamine"],
    "design": ["crossover_rct", "parallel_rct", "pooled_secondary", "observational", "parallel_rct"],
    "registry_id": [None, None, None, None, "NCT01234567"],
    "notes": ["", "Trial identity (TRANSFORM-1) inferred; HAMD-17 used.", "Scale HAMD-17.", "", ""],
})


def _cit_with_fallback():
    from pybtex.database import parse_string

    from ketameta.synthesis.labels import study_citations

    return study_citations(parse_string(BIB, "bibtex"), STUDIES)


def test_study_labels_are_author_year_or_trial_names_never_journal_or_title():
    cit = _cit_with_fallback()
    labels = {k: cit.label(k) for k in STUDIES["citation_key"]}
    assert labels == {
        "withauthors": "Berman et al. 2000",
        "transformkey": "TRANSFORM-1 2019",
        "noname": "Esketamine secondary analysis 2022",
        "nokey": "Ketamine observational study 2018",
        "withreg": "NCT01234567 2021",
    }
    # without the study sheet: the key (its year taken out), never the venue or the title
    from pybtex.database import parse_string

    from ketameta.outputs.citations import Citations

    bare = Citations(parse_string(BIB, "bibtex"))
    assert bare.label("noname") == "noname 2022"
    for c in (cit, bare):
        for k, e in c.data.entries.items():
            lab = c.label(k)
            venue = {e.fields.get("journal", ""), e.fields.get("howpublished", "")} - {""}
            assert not any(v in lab for v in venue), lab
            who = _norm(re.sub(r"\s(\d{4}|n\.d\.)[a-z]?$", "", lab)).rstrip("\u2026")
            assert not _norm(e.fields.get("title", "-")).startswith(who), lab


def test_every_label_drawn_in_a_real_figure_is_no_journal_and_no_title():
    """The labels of the project's own study sheet and bibliography (the figures' labels)."""
    from pathlib import Path

    from ketameta.outputs.citations import Citations
    from ketameta.synthesis.labels import study_citations

    root = Path(__file__).resolve().parents[2]
    studies = pd.read_csv(root / "data" / "studies.csv", dtype=str, keep_default_na=False)
    cit = study_citations(root / "data" / "references.bib", studies)
    raw = Citations(root / "data" / "references.bib")
    journals = {_norm(e.fields[f]) for e in raw.data.entries.values()
                for f in ("journal", "howpublished") if e.fields.get(f)}
    titles = {_norm(e.fields["title"]) for e in raw.data.entries.values() if e.fields.get("title")}
    for key in studies["citation_key"]:
        lab = cit.label(key)
        who = _norm(re.sub(r"\s(\d{4}|n\.d\.)[a-z]?$", "", lab))
        assert who not in journals, (key, lab)
        assert not any(t.startswith(who) for t in titles if len(who) > 12), (key, lab)
        assert "\u2026" not in lab, (key, lab)  # no truncated titles


def _norm(s):
    return re.sub(r"[{}\\]", "", str(s)).strip().casefold()
