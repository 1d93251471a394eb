"""Every analysis kind of the synthesis layer, end to end on the tiny synthetic data set.

For each analysis of config/config.yaml (so for every registered kind): rows -> effect sizes ->
fit -> table, sentences, values and findings, without Snakemake. Each kind's headline numbers
are recomputed here independently (by the library's fitting functions on the kind's own effect
sizes, or by counting rows), so a kind that selects the wrong rows, mixes windows or mislabels a
pool fails.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from ketameta import rma
from ketameta.outputs.citations import Citations
from ketameta.synthesis import pipeline
from ketameta.synthesis.certainty import rate
from ketameta.synthesis.pools import headline_pool
from ketameta.synthesis.registry import KINDS, kind_of
from ketameta.synthesis.spec import flat_spec
from ketameta.synthesis.workflow import load_and_validate
from tests.workflow import tiny

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Every analysis of the repository's config, fitted on the tiny data set in dependency order."""
    data = tiny.build(tmp_path_factory.mktemp("tiny") / "data")
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text(encoding="utf-8"))
    for key in list(config["evidence"]):
        config["evidence"][key] = str(data / Path(config["evidence"][key]).name)
    ev = load_and_validate(config, config_path="config/config.yaml",
                           schema_path=ROOT / "workflow" / "schemas" / "config.schema.yaml")
    cit = Citations(config["evidence"]["bib"])
    out, done = {}, {}
    pending = list(config["analyses"])
    while pending:
        for aid in list(pending):
            spec = flat_spec(config, aid)
            deps = kind_of(spec["type"]).depends_on(spec)
            if any(d not in done for d in deps):
                continue
            es, excluded = pipeline.effect_sizes(ev, spec)
            fit = pipeline.safe_fit(ev, es, spec, {"fits": {d: done[d] for d in deps}})
            done[aid] = fit
            out[aid] = {"spec": spec, "es": es, "excluded": excluded, "fit": fit,
                        "table": pipeline.table(fit, es, excluded, spec, cit)}
            pending.remove(aid)
    return {"ev": ev, "config": config, "cit": cit, "out": out}


def test_every_registered_kind_is_exercised(run):
    used = {o["spec"]["type"] for o in run["out"].values()}
    assert set(KINDS) <= used, f"kinds without a config entry to test: {set(KINDS) - used}"


def test_every_kind_renders_a_table_sentences_and_values(run):
    for aid, o in run["out"].items():
        fit, spec = o["fit"], o["spec"]
        assert fit["status"] in ("ok", "failed"), aid
        if fit["status"] == "failed":
            assert fit["reason"], aid  # a failed fit says why
            continue
        tab = o["table"]
        assert len(tab.data) > 0 and len(tab.cells()) > 1, aid
        assert tab.title, aid
        methods = pipeline.methods_sentence(fit, spec)
        assert isinstance(methods, str) and methods.endswith("."), (aid, methods)
        for p in pipeline.report_paragraphs(fit, spec):
            assert isinstance(p, str) and p.strip(), aid
        for name, val in kind_of(fit).values(aid, fit).items():
            assert re.fullmatch(r"[A-Za-z]+", name), (aid, name)  # a LaTeX macro name
            assert val is not None, (aid, name)
        for fd in kind_of(fit).findings(fit, pipeline.as_spec(spec)):
            assert fd["text"], aid


def test_tiny_data_fits_the_analyses_it_has_rows_for(run):
    status = {a: o["fit"]["status"] for a, o in run["out"].items()}
    for aid in ("dissociation_correlation", "dissociation_slopes", "dissociation_metareg", "durability",
                "durability_response", "effect_direction", "approaches", "summary_of_findings"):
        assert status[aid] == "ok", (aid, run["out"][aid]["fit"].get("reason"))
    # the tiny data set has no surgical-anaesthesia trial: that analysis is empty, not mixed in
    es = run["out"]["durability_anaesthesia"]["es"]
    assert es.empty


def _pooled_windows(o):
    return [p for p in o["fit"]["pools"] if p.get("k", 0) > 0 and p.get("estimate") is not None]


@pytest.mark.parametrize("aid", ["dissociation_correlation", "dissociation_slopes", "durability",
                                 "durability_response"])
def test_each_pooled_window_is_a_random_effects_fit_of_its_own_rows(run, aid):
    o = run["out"][aid]
    es = o["es"].set_index("effect_id")
    pools = _pooled_windows(o)
    assert pools, aid
    for p in pools:
        rows = es.loc[p["effect_ids"]]
        assert len(rows) == p["k"]
        # one metric per pool, each study once
        assert rows["measure"].nunique() == 1 if "measure" in rows else True
        assert rows["study_id"].is_unique, (aid, p["label"])
        if p["k"] == 1:
            assert p["estimate"] == pytest.approx(float(rows["yi"].iloc[0]), abs=1e-12)
            continue
        res = rma(rows["yi"].to_numpy(), rows["vi"].to_numpy(), method=p.get("method", "REML"),
                  test=p.get("test", "knha"))
        assert p["estimate"] == pytest.approx(float(res.beta[0]), abs=1e-9), (aid, p["label"])
        assert p["ci_lb"] == pytest.approx(float(res.ci_lb[0]), abs=1e-9)
        assert p["ci_ub"] == pytest.approx(float(res.ci_ub[0]), abs=1e-9)
        assert p["tau2"] == pytest.approx(float(res.tau2), abs=1e-9)


def test_durability_windows_do_not_mix_time_points(run):
    o = run["out"]["durability"]
    es = o["es"].set_index("effect_id")
    for p in _pooled_windows(o):
        times = es.loc[p["effect_ids"], "time_days"]
        assert times.max() - times.min() < 1.0 or len(times) == 1, (p["label"], list(times))


def test_correlation_pool_reports_r_as_the_back_transform(run):
    for p in _pooled_windows(run["out"]["dissociation_correlation"]):
        assert p["estimate_bt"] == pytest.approx(math.tanh(p["estimate"]), abs=1e-12)
        assert p["ci_lb_bt"] == pytest.approx(math.tanh(p["ci_lb"]), abs=1e-12)


def test_effect_direction_counts_rows(run):
    o = run["out"]["effect_direction"]
    fit = o["fit"]
    findings = kind_of(fit).findings(fit, pipeline.as_spec(o["spec"]))
    dom = [f for f in findings if f.get("domain") == "dissociation"]
    assert dom, findings
    d = dom[0]
    assert d["n_plus"] <= d["n_clear"]
    # the tiny data set's one direction-only dissociation row (delta2023) is null ("0")
    assert "delta2023" not in {s for s in d.get("positive", [])}


def test_summary_of_findings_rows_are_the_certainty_rules_applied_to_the_pools(run):
    o = run["out"]["summary_of_findings"]
    ev = run["ev"]
    cfg = run["config"].get("certainty", {})
    rows = [r for r in o["fit"]["rows"] if r.get("status") == "ok"]
    assert rows
    for r in rows:
        base = run["out"][r["analysis"]]
        pool = headline_pool(next(p for p in base["fit"]["pools"] if p["label"] == r["window"]))
        assert r["fit"] == ("Bayesian" if pool.get("headline") == "bayes" else pool["headline_fit"])
        sub = o["es"][o["es"]["analysis"] == r["analysis"]]
        again = rate(pool, sub, ev.studies, {}, base["fit"]["measure"], cfg)
        assert r["certainty"] == again["rating"]
        assert r["footnotes"] == again["footnotes"]
        assert r["what_happens"].endswith(f"({r['certainty']} certainty).")


def test_summary_of_findings_wording_follows_grade(run):
    from ketameta.synthesis.kinds.sof import grade_sentence

    forms = ["reduces depression severity", "reduce depression severity"]
    assert grade_sentence("day 1", "high", "one infusion", forms) == \
        "At day 1, one infusion reduces depression severity (high certainty)."
    assert grade_sentence("day 1", "moderate", "one infusion", forms) == \
        "At day 1, one infusion probably reduces depression severity (moderate certainty)."
    assert grade_sentence("day 1", "low", "one infusion", forms) == \
        "At day 1, one infusion may reduce depression severity (low certainty)."
    assert grade_sentence("day 1", "very low", "one infusion", forms) == (
        "At day 1, the evidence is very uncertain about whether one infusion reduces depression "
        "severity (very low certainty).")


def test_metareg_slope_is_a_weighted_regression_of_the_rows(run):
    o = run["out"]["dissociation_metareg"]
    fit, es = o["fit"], o["es"]
    assert fit["status"] == "ok"
    # the moderator plus the configured covariates that vary (dose here; drug is constant)
    assert fit["covariates"] == ["dose"] and any(d.startswith("drug") for d in fit["covariates_dropped"])
    X = pd.DataFrame({"x": es[fit["moderator"]].to_numpy(float), "dose": es["dose"].to_numpy(float)})
    res = rma(es["yi"].to_numpy(float), es["vi"].to_numpy(float), mods=X,
              method=fit["method"], test=fit["test"])
    assert fit["slope"] == pytest.approx(float(res.beta[1]), abs=1e-9)
    assert fit["slope_se"] == pytest.approx(float(res.se[1]), abs=1e-9)
    assert fit["k"] == len(es)


def test_every_table_writes_every_format(run, tmp_path):
    for aid, o in run["out"].items():
        t = o["table"]
        paths = {ext: tmp_path / f"{aid}.{ext}" for ext in ("csv", "md", "tex", "html")}
        t.write(**{k: str(v) for k, v in paths.items()})
        for ext, p in paths.items():
            assert p.stat().st_size > 0, (aid, ext)


def test_bayesian_pools_beside_reml_and_the_headline_rule(run):
    from ketameta import bayesmeta

    cfg = run["config"]["bayes"]
    seen = 0
    for aid in ("dissociation_correlation", "durability", "durability_response"):
        o = run["out"][aid]
        es = o["es"].set_index("effect_id")
        for p in _pooled_windows(o):
            if p["k"] < 2:
                assert "bayes" not in p and p["headline"] == "frequentist"
                continue
            b = p["bayes"]
            rows = es.loc[p["effect_ids"]]
            prior = tuple(cfg["tau_prior"][o["fit"]["measure"]])
            res = bayesmeta(rows["yi"].to_numpy(float), rows["vi"].to_numpy(float), tau_prior=prior)
            assert b["estimate"] == pytest.approx(float(res.summary().loc["median", "mu"]), abs=1e-10)
            lo, hi = res.post_interval("mu", 0.95, "central")
            assert (b["ci_lb"], b["ci_ub"]) == pytest.approx((lo, hi), abs=1e-10)
            assert p["headline"] == ("bayes" if p["k"] < cfg["k_below"] else "frequentist")
            seen += 1
        # the table shows both intervals and says which one leads
        t = o["table"]
        header = t.cells()[0]
        assert any(h.startswith("Bayesian") for h in header) and "Headline" in header
        assert any("Headline" in n and "Bayesian fit when k < 5" in n for n in t.notes)
    assert seen >= 2
    # slopes are in scale points: no prior is configured for GEN, so no Bayesian pool
    assert all("bayes" not in p for p in run["out"]["dissociation_slopes"]["fit"]["pools"])


def test_filters_that_match_nothing_together_leave_an_empty_analysis_not_an_error(run, tmp_path):
    """Each filter value is legal, but no row has all of them: a gap, reported as such."""
    import copy

    config = copy.deepcopy(run["config"])
    config["analyses"]["durability"]["select"]["route"] = ["IN"]
    ev = load_and_validate(config, config_path="config/config.yaml",
                           schema_path=ROOT / "workflow" / "schemas" / "config.schema.yaml")
    spec = flat_spec(config, "durability")
    es, excluded = pipeline.effect_sizes(ev, spec)
    assert es.empty and len(excluded)
    fit = pipeline.safe_fit(ev, es, spec)
    assert fit["status"] == "failed" and "no effect size" in fit["reason"]


def test_cumulative_steps_end_at_the_pool_and_follow_publication_years(run):
    o = run["out"]["durability_cumulative"]
    base = {p["label"]: p for p in run["out"]["durability"]["fit"]["pools"]}
    steps = pd.DataFrame(o["fit"]["steps"])
    assert len(steps)
    for w, g in steps.groupby("window", sort=False):
        assert list(g["k"]) == list(range(1, len(g) + 1))
        assert g["year"].is_monotonic_increasing
        last = g.iloc[-1]
        assert last["estimate"] == pytest.approx(base[w]["estimate"], abs=1e-9)
        assert last["ci_lb"] == pytest.approx(base[w]["ci_lb"], abs=1e-9)
        if len(g) >= 2:  # each step is the model on the trials so far
            es = o["es"][o["es"]["effect_id"].isin(base[w]["effect_ids"])]
            first_two = es[es["study_id"].isin(g["study_id"].iloc[:2])]
            assert len(first_two) == 2
            res = rma(first_two["yi"].to_numpy(float), first_two["vi"].to_numpy(float),
                      method=o["fit"]["method"], test=o["fit"]["test"])
            assert g["estimate"].iloc[1] == pytest.approx(float(res.beta[0]), abs=1e-9)
    for w in o["fit"]["empty_windows"]:
        assert base.get(w, {"k": 0})["k"] == 0


@pytest.mark.parametrize("aid", ["summary_of_findings", "summary_of_findings_dissociation", "durability_cumulative",
                                 "durability"])
def test_latex_structure_of_the_new_tables(run, aid):
    """The SoF, cumulative and pooled (with Bayesian columns) tables are well-formed LaTeX."""
    from tests.unit.test_tables import check_latex_structure

    t = run["out"][aid]["table"]
    ncol = len(t.latex_column_names())  # the compact set, without columns empty in every row
    assert 0 < ncol <= len(t.cells()[0])
    check_latex_structure(t.to_latex(), ncol=ncol)
    check_latex_structure(t.to_latex(standalone=True), ncol=ncol)


def test_a_shared_control_arm_is_split_among_its_contrasts():
    """Cochrane Handbook 23.3.4: two active arms against one control count its patients once."""
    from ketameta.synthesis.effects import split_shared_controls

    base = {"study_id": "t", "outcome": "depression_severity", "scale": "MADRS", "time_value": 1.0,
            "time_unit": "day", "control": "saline", "form": "means_sds", "n2i": 30.0, "ci": None}
    rows = pd.DataFrame([{**base, "effect_id": "t_a", "comparison_id": "t_a_vs_pbo"},
                         {**base, "effect_id": "t_b", "comparison_id": "t_b_vs_pbo"},
                         {**base, "effect_id": "u_a", "study_id": "u", "comparison_id": "u_a"},
                         {**base, "effect_id": "t_ev", "form": "events", "outcome": "response", "ci": 6.0,
                          "comparison_id": "t_a_vs_pbo"},
                         {**base, "effect_id": "t_ev2", "form": "events", "outcome": "response", "ci": 6.0,
                          "comparison_id": "t_b_vs_pbo"}])
    out, notes = split_shared_controls(rows)
    got = out.set_index("effect_id")
    assert list(got.loc[["t_a", "t_b", "u_a"], "n2i"]) == [15.0, 15.0, 30.0]
    assert list(got.loc[["t_ev", "t_ev2"], "ci"]) == [3.0, 3.0]
    assert set(notes) == {"t_a", "t_b", "t_ev", "t_ev2"}
    assert "shared by 2 contrasts" in notes["t_a"] and "23.3.4" in notes["t_a"]
    assert rows["n2i"].tolist() == [30.0] * 5  # the input is not modified


def test_figure_settings_of_an_unknown_figure_and_a_bad_width_are_config_errors(run):
    import copy

    from ketameta.errors import InputErrors

    schema = ROOT / "workflow" / "schemas" / "config.schema.yaml"
    config = copy.deepcopy(run["config"])
    config["figures"] = {"analyses": {"durabilty": {"width": "single"}}}
    with pytest.raises(InputErrors, match="durabilty"):
        load_and_validate(config, config_path="config/config.yaml", schema_path=schema)
    config["figures"] = {"defaults": {"width": "triple"}}
    with pytest.raises(Exception, match="width|triple"):
        load_and_validate(config, config_path="config/config.yaml", schema_path=schema)


def test_every_figure_of_the_config_draws_with_its_settings(run):
    from ketameta.synthesis.figopts import figure_options

    drawn = []
    for aid, o in run["out"].items():
        spec, fit = o["spec"], o["fit"]
        if not kind_of(spec["type"]).has_figure:
            continue
        opts = dict(figure_options(run["config"], aid), width="single", height=60, font_size=6)
        fig = pipeline.figure(fit, o["es"], spec, run["cit"], opts=opts)
        w, h = fig.get_size_inches()
        assert w == pytest.approx(89 / 25.4), aid
        fig.canvas.draw()  # at one column, no two tick labels of an axis overlap
        r = fig.canvas.get_renderer()
        for ax in fig.axes:
            for axis in (ax.xaxis, ax.yaxis):
                boxes = [t.get_window_extent(r) for t in axis.get_ticklabels() if t.get_visible() and t.get_text()]
                assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:]), aid
        # the effect-direction plot and the specification curve take their height from their
        # rows (a choice-matrix row must stay legible), as documented in config/config.yaml
        if fit["status"] == "ok" and spec["type"] not in ("direction", "multiverse"):
            assert h == pytest.approx(60 / 25.4), aid
            drawn.append(aid)
    assert drawn
