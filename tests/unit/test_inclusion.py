"""Inclusion you can see: the run summary, ``explain``, the data gaps' reasons, the filters table.

* the run summary counts k and the rows not used by reason, and names exactly the rows not used
  that the previous summary did not have (or had as used);
* ``explain`` gives a study's rows the reason strings of the exclusion frames;
* on the repository's evidence, a row that an analysis could not turn into an effect size has the
  same reason in the data gaps as in that analysis' exclusions, and the data gaps name the other
  filters that leave each gap's row out;
* the table of analysis filters in data/README.md is the one the configuration generates.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from ketameta.evidence import data_gaps, load_evidence
from ketameta.evidence.gaps import IRRELEVANT_FILTERS, NO_EFFECT_SIZE
from ketameta.synthesis import guide, pipeline
from ketameta.synthesis.inclusion import (
    explain_study,
    explain_text,
    run_summary,
    summary_markdown,
    summary_text,
)
from ketameta.synthesis.spec import flat_spec

ROOT = Path(__file__).resolve().parents[2]


def _frames():
    """Two analyses: 'pool' (2 rows used, 3 not) and 'sub' with two parts (subgroups)."""
    es = pd.DataFrame({"effect_id": ["a_1", "b_1"], "study_id": ["a", "b"]})
    exc = pd.DataFrame({"effect_id": ["c_1", "d_1", "d_2"], "study_id": ["c", "d", "d"],
                        "reason": ["dose_mg_kg not in [0.5]", "outcome not in [depression_severity]",
                                   "outcome not in [depression_severity]"],
                        "filter": ["select.dose_mg_kg", "select.outcome", "select.outcome"]})
    sub_es = pd.DataFrame({"effect_id": ["a_1"], "study_id": ["a"], "subgroup": ["unipolar"]})
    sub_exc = pd.DataFrame({"effect_id": ["a_1", "b_1"], "study_id": ["a", "b"],
                            "subgroup": ["bipolar", "unipolar"],
                            "reason": ["polarity not in [bipolar]", "polarity not in [unipolar]"],
                            "filter": ["select.polarity", "select.polarity"]})
    return {"pool": (es, exc), "sub": (sub_es, sub_exc)}


def test_summary_counts_k_and_reasons():
    s = run_summary(_frames())
    pool, sub = s["analyses"]["pool"], s["analyses"]["sub"]
    assert (pool["k"], pool["studies"]) == (2, 2)
    assert pool["not_used"] == {"c_1": "dose_mg_kg not in [0.5]",
                                "d_1": "outcome not in [depression_severity]",
                                "d_2": "outcome not in [depression_severity]"}
    assert pool["by_reason"] == [{"reason": "outcome not in [depression_severity]", "rows": 2},
                                 {"reason": "dose_mg_kg not in [0.5]", "rows": 1}]
    assert pool["by_filter"] == [{"filter": "outcome", "rows": 2}, {"filter": "dose_mg_kg", "rows": 1}]
    # a row used in one subgroup is used; a row used in none is not, with its (first) reason
    assert sub["used"] == ["a_1"] and sub["not_used"] == {"b_1": "polarity not in [unipolar]"}
    # first summary: nothing is called new
    assert s["previous"] is False and s["new_not_used"] == []
    assert "first summary" in summary_text(s)


def test_new_rows_not_used_are_named_with_their_reason():
    frames = _frames()
    before = run_summary(frames)
    assert run_summary(frames, previous=before)["new_not_used"] == []  # nothing changed
    # next run: study e is added (excluded by the dose filter) and a_1 no longer passes a filter
    es, exc = frames["pool"]
    es2 = es[es["effect_id"] != "a_1"]
    exc2 = pd.concat([exc, pd.DataFrame({
        "effect_id": ["e_1", "a_1"], "study_id": ["e", "a"],
        "reason": ["dose_mg_kg not in [0.5]", "grade C not admitted to the primary analysis (admitted: P, S)"],
        "filter": ["select.dose_mg_kg", "grades"]})], ignore_index=True)
    prev = json.loads(json.dumps(before))  # as read back from results/living/
    now = run_summary({**frames, "pool": (es2, exc2)}, previous=prev,
                      headlines=[{"analysis": "pool", "estimate_name": "day 1", "estimate": 0.25,
                                  "ci_lb": -0.5, "ci_ub": 1.0, "k": 1, "scale": "SMD", "status": "single study"},
                                 {"analysis": "pool", "estimate_name": "day 7", "estimate": None}],
                      report="results/report.html")
    assert now["new_not_used"] == [
        {"analysis": "pool", "key": "a_1", "study_id": "a", "was": "used in the previous run",
         "reason": "grade C not admitted to the primary analysis (admitted: P, S)"},
        {"analysis": "pool", "key": "e_1", "study_id": "e", "was": "new row",
         "reason": "dose_mg_kg not in [0.5]"}]
    assert now["analyses"]["pool"]["k"] == 1
    text, md = summary_text(now), summary_markdown(now)
    for out in (text, md):
        assert "pool: e_1 (e, new row): dose_mg_kg not in [0.5]" in out
        assert "pool, day 1: SMD 0.25 [-0.50, 1.00], k = 1 (single study)" in out
        assert "1 more not estimable with the current data" in out
        assert out.rstrip().endswith("Report: results/report.html")
    assert "- 2 x dose_mg_kg not in [0.5]" in md  # c_1 and the new e_1


def test_explain_names_every_row_with_its_reason():
    frames = _frames()
    effects = pd.DataFrame({"effect_id": ["a_1", "a_9"], "study_id": ["a", "a"]})
    t = explain_study("a", frames, effects)
    got = {(r["analysis"], r["part"], r["key"], r["status"], r["reason"]) for r in t.to_dict("records")}
    assert got == {("pool", "", "a_1", "used", ""), ("sub", "unipolar", "a_1", "used", ""),
                   ("sub", "bipolar", "a_1", "not used", "polarity not in [bipolar]"),
                   ("", "", "a_9", "read by no analysis",
                    "its question is not the question of any configured analysis")}
    text = explain_text(t, "a")
    assert "[bipolar] a_1: not used: polarity not in [bipolar] (filter select.polarity)" in text
    assert explain_study("zz", frames).empty


# ---------------------------------------------------------------- the repository's evidence

@pytest.fixture(scope="module")
def real():
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text(encoding="utf-8"))
    ev_cfg = {k: str(ROOT / v) for k, v in cfg["evidence"].items()}
    ev = load_evidence(ev_cfg["studies"], ev_cfg["effects"], ev_cfg["bib"],
                       **{k: ev_cfg[k] for k in ("rob", "screening", "search_log", "watch") if k in ev_cfg})
    frames = {a: pipeline.effect_sizes(ev, flat_spec(cfg, a)) for a in cfg["analyses"]}
    return cfg, ev, frames


def test_explain_reasons_are_those_of_the_exclusions(real):
    _, _, frames = real
    exc = frames["durability"][1]
    row = exc[exc["filter"].fillna("").str.startswith("select.")
              & ~exc["filter"].isin(IRRELEVANT_FILTERS)].iloc[0]
    t = explain_study(row["study_id"], frames)
    mine = t[(t["analysis"] == "durability") & (t["key"] == row["effect_id"])].iloc[0]
    assert (mine["status"], mine["reason"], mine["filter"]) == ("not used", row["reason"], row["filter"])
    # every row of the study in every analysis: its status there, and the exact exclusion reason
    for aid, (es, ex) in frames.items():
        if "effect_id" not in ex.columns:
            continue
        part = t[t["analysis"] == aid]
        expected = set(ex.loc[ex["study_id"] == row["study_id"], "reason"])
        assert set(part.loc[part["status"] == "not used", "reason"]) == expected, aid
        assert set(part.loc[part["status"] == "used", "key"]) == set(
            es.loc[es["study_id"] == row["study_id"], "effect_id"]), aid


def test_data_gaps_give_a_row_the_reason_of_its_exclusions(real):
    _, ev, frames = real
    exclusions = {a: ex for a, (_, ex) in frames.items()}
    gaps = data_gaps(ev, exclusions)
    by_row = gaps.dropna(subset=["effect_id"]).groupby("effect_id")["reason"].agg(set)
    checked = 0
    for aid, ex in exclusions.items():
        if "filter" not in ex.columns:
            continue
        for r in ex[ex["filter"] == NO_EFFECT_SIZE].to_dict("records"):
            # the same row, the same reason, in the data gaps and in the analysis' exclusions
            assert r["reason"] in by_row.get(r["effect_id"], set()), (aid, r["effect_id"])
            checked += 1
    assert checked > 0  # the repository has rows that pass the filters but give no effect size
    # the filters that still leave a gap's row out are named, with the analyses and their words
    named = 0
    for g in gaps[gaps["excluded_by"] != ""].to_dict("records"):
        for aid, ex in exclusions.items():
            if "filter" not in ex.columns:
                continue
            mine = ex[(ex["effect_id"] == g["effect_id"]) & ~ex["filter"].fillna("").isin(IRRELEVANT_FILTERS)]
            for reason in mine["reason"]:
                assert reason in g["excluded_by"] and aid in g["excluded_by"], (g["effect_id"], aid)
                named += 1
    assert named > 0
    # without the exclusions, the table is the evidence-only table it always was
    assert "excluded_by" not in data_gaps(ev).columns


# ---------------------------------------------------------------- the add-a-trial guide

def test_readme_filters_table_is_generated_from_the_config():
    """Fails when data/README.md's table of analysis filters differs from config/config.yaml:
    regenerate it with `make docs` (python -m ketameta.synthesis.guide)."""
    readme = ROOT / "data" / "README.md"
    assert guide.main(["--check", "--config", str(ROOT / "config" / "config.yaml"),
                       "--readme", str(readme)]) == 0, "run `make docs`"
    text = readme.read_text(encoding="utf-8")
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text(encoding="utf-8"))
    assert guide.update_readme(text, cfg) == text
    assert "`dose_mg_kg`: `0.5`" in text.split(guide.START)[1].split(guide.END)[0]
    # a changed filter changes the table (so the check can fail)
    edited = copy.deepcopy(cfg)
    edited["analyses"]["durability"]["select"]["dose_mg_kg"] = [0.5, 0.2]
    assert "`dose_mg_kg`: `0.5`, `0.2`" in guide.update_readme(text, edited)
    # every analysis of the config has its row
    for aid in cfg["analyses"]:
        assert f"| `{aid}` |" in text


def test_guide_check_fails_on_a_stale_table(tmp_path):
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text(encoding="utf-8"))
    cfg["analyses"]["durability"]["select"]["route"] = ["IV", "IM"]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    readme = tmp_path / "README.md"
    readme.write_text((ROOT / "data" / "README.md").read_text(encoding="utf-8"), encoding="utf-8")
    args = ["--config", str(tmp_path / "config.yaml"), "--readme", str(readme)]
    assert guide.main(["--check", *args]) == 1
    assert guide.main(args) == 0 and guide.main(["--check", *args]) == 0
    assert "`route`: `IV`, `IM`" in readme.read_text(encoding="utf-8")
