"""The multiverse kind on the tiny synthetic data set: a small grid, every specification checked
against a single ``km.rma`` fit of the same rows, and the per-window summary recomputed by hand.
"""

from __future__ import annotations

import copy
import itertools
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from ketameta import rma
from ketameta.outputs.citations import Citations
from ketameta.synthesis import pipeline
from ketameta.synthesis.kinds.multiverse import specifications, variance_shares
from ketameta.synthesis.pools import window_rows
from ketameta.synthesis.spec import flat_spec
from ketameta.synthesis.workflow import load_and_validate
from tests.workflow import tiny

ROOT = Path(__file__).resolve().parents[2]

#: method x test x dose x control x value type x window edges = 3 x 2 x 3 x 2 x 2 x 2 = 144
DIMENSIONS = {
    "method": ["REML", "DL", "EE"],
    "test": ["z", "knha"],
    "dose_mg_kg": [[0.5], [0.2], [0.2, 0.5]],   # 0.2 mg/kg: one trial, at day 1 only
    "control": [{"label": "any", "value": ["saline", "midazolam"]},
                {"label": "saline only", "value": ["saline"]}],
    "value_type": [["change"], ["endpoint"]],   # tiny has change scores only: endpoint is empty
    "window_widen": [1, 3],
}
LABELS = {"dose_mg_kg": {"0.5": [0.5], "0.2": [0.2], "0.2/0.5": [0.2, 0.5]},
          "control": {"any": ["saline", "midazolam"], "saline only": ["saline"]},
          "value_type": {"change": ["change"], "endpoint": ["endpoint"]}}


@pytest.fixture(scope="module")
def mv(tmp_path_factory):
    data = tiny.build(tmp_path_factory.mktemp("tiny") / "data")
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text(encoding="utf-8"))
    for key in list(config["evidence"]):
        config["evidence"][key] = str(data / Path(config["evidence"][key]).name)
    config = copy.deepcopy(config)
    config["analyses"]["durability_multiverse"]["dimensions"] = DIMENSIONS
    ev = load_and_validate(config, config_path="config/config.yaml",
                           schema_path=ROOT / "workflow" / "schemas" / "config.schema.yaml")
    spec = flat_spec(config, "durability_multiverse")
    es, excluded = pipeline.effect_sizes(ev, spec)
    fit = pipeline.fit(ev, es, spec)
    return {"ev": ev, "config": config, "spec": spec, "es": es, "excluded": excluded, "fit": fit,
            "long": specifications(fit), "base": pipeline.as_spec(flat_spec(config, "durability"))}


def _rows(mv, r):
    """The rows of one specification x window, chosen independently of the kind."""
    base = mv["base"]
    select = {**base["select"], "dose_mg_kg": LABELS["dose_mg_kg"][r["dose_mg_kg"]],
              "control": LABELS["control"][r["control"]],
              "value_type": LABELS["value_type"][r["value_type"]]}
    es, _ = pipeline.effect_sizes(mv["ev"], base.replace(select=select), strict=False)
    w = next(w for w in base["time_points"] if w["label"] == r["window"])
    f = float(r["window_widen"])
    sub, _ = window_rows(es, w["from_days"] / f, w["to_days"] * f)
    return sub


def test_the_grid_is_the_cartesian_product(mv):
    fit, long = mv["fit"], mv["long"]
    assert fit["status"] == "ok"
    assert fit["n_specifications"] == 144
    assert [d["name"] for d in fit["dimensions"]] == list(DIMENSIONS)
    names = list(DIMENSIONS)
    options = [d["options"] for d in fit["dimensions"]]
    for s in fit["summary"]:
        sub = long[long["window"] == s["window"]]
        assert len(sub) + s["no_study"] == 144
        assert sub["specification"].is_unique
        # the specification number is the position of its choices in the product, in config order
        grid = list(itertools.product(*options))
        for _, r in sub.iterrows():
            assert tuple(r[n] for n in names) == grid[int(r["specification"]) - 1]
    # endpoint scores do not exist in the tiny data: no specification with them has a study
    assert not (long["value_type"] == "endpoint").any()
    # 12 row selections (dose x control x value type), each computed once
    assert fit["n_row_selections"] == 12


def test_every_pooled_specification_is_a_single_rma_fit_of_its_rows(mv):
    long = mv["long"]
    pooled = long[long["k"] >= 2]
    singles = long[long["k"] == 1]
    assert len(pooled) >= 40 and len(singles) >= 1
    # the window edges and the filters change which rows enter
    assert pooled.groupby(["window", "method", "test"])["studies"].nunique().max() >= 2
    cache = {}
    for _, r in long.iterrows():
        key = (r["window"], r["dose_mg_kg"], r["control"], r["value_type"], r["window_widen"])
        if key not in cache:
            cache[key] = _rows(mv, r)
        rows = cache[key]
        assert len(rows) == r["k"]
        assert ";".join(rows["study_id"]) == r["studies"]
        if r["k"] == 1:
            y, se = float(rows["yi"].iloc[0]), float(rows["sei"].iloc[0])
            assert r["estimate"] == pytest.approx(y, abs=1e-12)
            assert (r["ci_lb"], r["ci_ub"]) == pytest.approx((y - 1.959963984540054 * se,
                                                             y + 1.959963984540054 * se), abs=1e-10)
            assert r["status"] == "single study"
            continue
        res = rma(rows["yi"].to_numpy(float), rows["vi"].to_numpy(float), method=r["method"],
                  test=r["test"])
        assert r["status"] == "pooled"
        assert r["estimate"] == pytest.approx(float(res.beta[0]), abs=1e-8)
        assert r["ci_lb"] == pytest.approx(float(res.ci_lb[0]), abs=1e-8)
        assert r["ci_ub"] == pytest.approx(float(res.ci_ub[0]), abs=1e-8)
        assert r["pval"] == pytest.approx(float(res.pval[0]), abs=1e-8)
        assert r["tau2"] == pytest.approx(float(res.tau2), abs=1e-8)


def test_the_multiverse_as_configured_contains_the_base_pools(mv):
    """The specification with the base analysis' choices reproduces its pools."""
    base = mv["base"]
    es, _ = pipeline.effect_sizes(mv["ev"], base)
    base_fit = pipeline.fit(mv["ev"], es, base.replace(time_course=None, curve=None, bayes=None))
    long = mv["long"]
    mine = long[(long["method"] == "REML") & (long["test"] == "knha") & (long["dose_mg_kg"] == "0.5")
                & (long["control"] == "any") & (long["value_type"] == "change")
                & (long["window_widen"] == "1")].set_index("window")
    seen = 0
    for p in base_fit["pools"]:
        if p["k"] == 0:
            assert p["label"] not in mine.index
            continue
        assert mine.loc[p["label"], "k"] == p["k"]
        assert mine.loc[p["label"], "estimate"] == pytest.approx(p["estimate"], abs=1e-8)
        assert mine.loc[p["label"], "ci_lb"] == pytest.approx(p["ci_lb"], abs=1e-8)
        seen += p["k"] >= 2
    assert seen >= 2


def test_summary_share_median_and_variance_decomposition_by_hand(mv):
    long = mv["long"]
    names = list(DIMENSIONS)
    checked = 0
    for s in mv["fit"]["summary"]:
        sub = long[long["window"] == s["window"]]
        if not len(sub):
            assert s["specifications"] == 0 and s["share_benefit"] is None
            continue
        est = [float(x) for x in sub["estimate"]]
        lows = [float(x) for x in sub["ci_lb"]]
        assert s["specifications"] == len(est)
        assert s["pooled"] == int((sub["k"] >= 2).sum())
        assert s["share_benefit"] == pytest.approx(sum(lo > 0 for lo in lows) / len(lows), abs=1e-12)
        srt = sorted(est)
        n = len(srt)
        med = srt[n // 2] if n % 2 else (srt[n // 2 - 1] + srt[n // 2]) / 2
        assert s["median"] == pytest.approx(med, abs=1e-12)
        assert (s["min"], s["max"]) == (srt[0], srt[-1])
        mean = sum(est) / n
        total = sum((x - mean) ** 2 for x in est)
        for d in names:
            groups = {}
            for opt, x in zip(sub[d], est):
                groups.setdefault(opt, []).append(x)
            between = sum(len(g) * (sum(g) / len(g) - mean) ** 2 for g in groups.values())
            got = s["variance_shares"][d]
            if max(est) - min(est) <= 1e-10 * max(1.0, max(abs(x) for x in est)):
                assert got is None
            else:
                assert got == pytest.approx(between / total, abs=1e-10), (s["window"], d)
                checked += 1
        top = {d: v for d, v in s["variance_shares"].items() if v is not None}
        if top:
            assert s["top_dimension"] == max(top, key=top.get)
    assert checked >= 6


def test_variance_shares_of_a_balanced_additive_grid():
    """Two crossed factors with additive effects: the shares are the effects' sums of squares."""
    a, b = np.repeat([0.0, 1.0], 3), np.tile([0.0, 0.5, 1.0], 2)
    frame = pd.DataFrame({"A": list("xxxyyy"), "B": list("pqrpqr"), "estimate": 2 * a + b})
    sh = variance_shares(frame, ["A", "B"])
    total = float(((frame["estimate"] - frame["estimate"].mean()) ** 2).sum())
    assert sh["A"] == pytest.approx(6 * 1.0 / total)        # 6 * (±1)^2
    assert sh["B"] == pytest.approx(2 * (0.25 + 0 + 0.25) / total)
    assert sh["A"] + sh["B"] == pytest.approx(1.0)
    assert variance_shares(frame.assign(estimate=1.0), ["A"]) == {"A": None}


def test_table_figure_sentences_and_report_position(mv, tmp_path):
    from ketameta.outputs.figures import savefig_all
    from ketameta.synthesis.registry import kind_of

    fit, spec = mv["fit"], mv["spec"]
    cit = Citations(mv["config"]["evidence"]["bib"])
    t = pipeline.table(fit, mv["es"], mv["excluded"], spec, cit)
    header, body, _ = t.cells()
    assert header[0] == "Window" and "Benefit, CI excludes 0" in header
    assert len(body) == len(fit["summary"])
    day1 = next(s for s in fit["summary"] if s["window"] == "day 1")
    row = next(r for r in body if r[0] == "day 1")
    assert row[header.index("Benefit, CI excludes 0")] == f"{100 * day1['share_benefit']:.0f}%"
    assert any("144 specifications per window" in n for n in t.notes)
    fig = pipeline.figure(fit, mv["es"], spec, cit)
    paths = savefig_all(fig, tmp_path / "mv", formats=("png",))
    assert paths[0].stat().st_size > 10_000
    assert len(fig.axes) == 2 * sum(s["pooled"] > 0 for s in fit["summary"])
    # every specification takes one option of every dimension in the choice matrix (the matrix
    # finds each dimension under its reader name, e.g. "estimator" for method)
    from matplotlib.collections import PathCollection

    shown = [s for s in fit["summary"] if s["pooled"] > 0]
    for s, matrix in zip(shown, fig.axes[1::2]):
        dots = [c for c in matrix.collections if isinstance(c, PathCollection)][0].get_offsets()
        assert len(dots) == s["specifications"] * len(DIMENSIONS)
        labels = [t.get_text() for t in matrix.get_yticklabels()]
        assert "estimator = REML" in labels and "test = Knapp-Hartung" in labels
        rows_used = {int(round(y)) for _, y in dots.tolist()}
        assert len(rows_used) >= len(DIMENSIONS)
    paras = pipeline.report_paragraphs(fit, spec)
    assert any(p.startswith("day 1:") and f"{day1['specifications']} specifications" in p for p in paras)
    assert kind_of(spec).after_sensitivity and not kind_of("durability").after_sensitivity
    vals = kind_of(fit).values("durability_multiverse", fit)
    assert any(math.isclose(v[0], day1["median"]) for v in vals.values() if isinstance(v, tuple))
    # the workflow writes the fit record with sorted keys: the columns keep their order
    from ketameta.synthesis.files import read_json, write_json

    write_json(fit, tmp_path / "fit.json")
    fit = read_json(tmp_path / "fit.json")
    long = pipeline.long_table(fit, spec)
    long.write(csv=str(tmp_path / "mv.specifications.csv"))
    back = pd.read_csv(tmp_path / "mv.specifications.csv")
    assert len(back) == len(mv["long"])
    assert list(back.columns) == ["specification", "window", *DIMENSIONS, "k", "rows", "estimate", "se", "ci_lb",
                                  "ci_ub", "pval", "tau2", "status", "studies"]
    assert back["estimate"].to_numpy() == pytest.approx(mv["long"]["estimate"].to_numpy(), abs=1e-12)


@pytest.mark.parametrize("n", [40, 600])
def test_specification_curve_orders_estimates_and_marks_every_choice(n, tmp_path):
    """Bars and dots for a few specifications, one path and an image for many; same bytes twice."""
    from matplotlib.collections import PathCollection
    from matplotlib.image import AxesImage

    from ketameta.outputs.figures import savefig_all
    from ketameta.outputs.figures.specification_curve import specification_curve

    rng = np.random.default_rng(3)
    est = rng.normal(0.3, 0.3, n)
    rows = pd.DataFrame({"estimate": est, "ci_lb": est - 0.4, "ci_ub": est + 0.4, "k": 3,
                         "method": rng.choice(["REML", "DL"], n), "test": rng.choice(["z", "knha", "adhoc"], n)})
    dims = [("method", ["REML", "DL"]), ("test", ["z", "knha", "adhoc"])]
    fig = specification_curve([{"title": "day 1", "rows": rows}], dims, ylabel="SMD")
    curve, matrix = fig.axes
    assert [t.get_text() for t in matrix.get_yticklabels()] == [
        "method = REML", "method = DL", "test = z", "test = knha", "test = adhoc"]
    assert curve.get_title(loc="left").startswith(f"day 1: {n} specifications; CI above 0 in "
                                                  f"{np.mean(est - 0.4 > 0):.0%}")
    order = np.argsort(est, kind="stable")
    if n <= 200:
        dots = [c for c in matrix.collections if isinstance(c, PathCollection)][0].get_offsets()
        # one dot per specification and dimension, at the specification's rank
        assert len(dots) == 2 * n
        rank = {int(i): r + 1 for r, i in enumerate(order)}
        for spec_i in (order[0], order[-1]):
            row = 0 if rows["method"].iloc[spec_i] == "REML" else 1
            assert [rank[int(spec_i)], row] in dots.tolist()
    else:
        img = [a for a in matrix.get_children() if isinstance(a, AxesImage)][0].get_array()
        assert img.shape == (15, n)          # 5 options, each a strip of 3 rows
        taken = np.asarray(img[1::3])
        assert (taken.sum(axis=0) == 2).all()        # every specification: one option per dimension
        assert (taken[0] == (rows["method"].to_numpy()[order] == "REML")).all()
        line = curve.get_lines()[0].get_ydata()
        assert np.all(np.diff(line) >= 0) and np.allclose(line, np.sort(est))
    a = savefig_all(fig, tmp_path / "a", formats=("svg",))[0].read_bytes()
    b = savefig_all(fig, tmp_path / "b", formats=("svg",))[0].read_bytes()
    assert a == b
