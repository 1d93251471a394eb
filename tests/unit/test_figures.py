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
    (coll,) = ax.collections[1:]  # [0] is the CI band
    sizes = dict(zip(map(tuple, coll.get_offsets()), coll.get_sizes()))
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
    assert {"Berman 2000", "Zarate 2006", "Pooled", "Pooled 95% CI", "Time-course model"} <= set(tx)
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
