"""Living review: versions, the row-level and result-level comparison, and the update status."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest
import yaml

from ketameta.synthesis import living as L


def _write_run(folder, effects, headlines, claims, certainty, gaps, config):
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(effects).to_csv(folder / "effects.csv", index=False)
    pd.DataFrame({"study_id": sorted({e["study_id"] for e in effects})}).to_csv(folder / "studies.csv", index=False)
    (folder / "headlines.json").write_text(json.dumps(headlines))
    pd.DataFrame(claims).to_csv(folder / "claims.csv", index=False)
    (folder / "certainty.json").write_text(json.dumps(certainty))
    pd.DataFrame(gaps, columns=["study_id", "effect_id", "item"]).to_csv(folder / "data_gaps.csv", index=False)
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    return {"headlines.json": folder / "headlines.json", "claims.csv": folder / "claims.csv",
            "certainty.json": folder / "certainty.json", "data_gaps.csv": folder / "data_gaps.csv",
            "config.yaml": folder / "config.yaml", "effects.csv": folder / "effects.csv",
            "studies.csv": folder / "studies.csv"}


EFFECTS = [{"effect_id": "a_d1", "study_id": "a", "m1i": "-10", "notes": ""},
           {"effect_id": "b_d1", "study_id": "b", "m1i": "-8", "notes": ""}]
HEAD = [{"analysis": "durability", "estimate_name": "day 1", "estimate": 0.5, "ci_lb": -0.1, "ci_ub": 1.1,
         "k": 2, "participants": 60.0, "scale": "SMD", "status": "pooled"}]
CLAIMS = [{"id": "c1", "verdict": "insufficient data", "certainty": "very low (1 rated window)"}]
CERT = [{"table": "sof", "analysis": "durability", "window": "day 1", "certainty": "very low", "k": 2}]
CONFIG = {"level": 95, "analyses": {"durability": {"method": "REML"}}}


@pytest.fixture()
def released(tmp_path):
    files = _write_run(tmp_path / "old", EFFECTS, HEAD, CLAIMS, CERT, [("a", "a_d7", "MADRS day 7")], CONFIG)
    rec = {"version": "2026-01-01-aaaaaaaa", "released": "2026-01-01", "inputs_digest": "a" * 64}
    L.freeze_release(tmp_path / "releases" / rec["version"], rec,
                     {k: v for k, v in files.items() if not k.endswith(("effects.csv", "studies.csv"))},
                     {"effects": files["effects.csv"], "studies": files["studies.csv"]})
    return tmp_path, rec


def test_no_change_says_so(released):
    root, rec = released
    cur = _write_run(root / "same", EFFECTS, HEAD, CLAIMS, CERT, [("a", "a_d7", "MADRS day 7")], CONFIG)
    ch = L.compare(L.latest_release(root / "releases"), cur)
    assert ch["changed"] is False
    assert ch["summary"] == f"No change since version {rec['version']}: same data, methods and results."
    assert L.changes_markdown(ch).count("\n") == 3


def test_every_kind_of_change_is_named(released):
    root, rec = released
    effects = [dict(EFFECTS[0], m1i="-11"), EFFECTS[1], {"effect_id": "c_d1", "study_id": "c", "m1i": "-9",
                                                         "notes": ""}]
    head = [dict(HEAD[0], estimate=0.62, ci_lb=0.1, ci_ub=1.14, k=3, participants=90.0)]
    claims = [dict(CLAIMS[0], verdict="supported (low certainty)", certainty="low (1 rated window)")]
    cert = [dict(CERT[0], certainty="low")]
    config = {"level": 95, "analyses": {"durability": {"method": "PM"}}}
    cur = _write_run(root / "new", effects, head, claims, cert, [("c", "c_d7", "MADRS day 7")], config)
    ch = L.compare(L.latest_release(root / "releases"), cur)
    assert ch["changed"] and ch["since"] == rec["version"]
    assert ch["sheets"]["studies.csv"]["added"] == ["c"]
    eff = ch["sheets"]["effects.csv"]
    assert eff["added"] == ["c_d1"] and eff["removed"] == []
    assert eff["edited"] == [{"row": "a_d1", "cells": [{"column": "m1i", "before": "-10", "after": "-11"}]}]
    assert ch["methods"] == [{"key": "analyses.durability.method", "before": '"REML"', "after": '"PM"'}]
    (e,) = ch["estimates"]
    assert (e["before"]["estimate"], e["after"]["estimate"]) == (0.5, 0.62)
    assert e["delta_k"] == 1 and e["delta_participants"] == 30.0
    assert e["null"] == "now excludes no effect"
    assert ch["verdicts"] == [{"item": "c1", "before": "insufficient data", "after": "supported (low certainty)"}]
    assert ch["certainty"] == [{"item": "sof / durability / day 1", "before": "very low", "after": "low"}]
    assert ch["gaps_closed"] == ["a / a_d7 / MADRS day 7"] and ch["gaps_opened"] == ["c / c_d7 / MADRS day 7"]
    md = L.changes_markdown(ch)
    assert "0.50 [-0.10, 1.10] -> 0.62 [0.10, 1.14]; k 2 -> 3; participants 60 -> 90 (now excludes no effect)" in md
    assert any(i.startswith("Verdicts -- c1: insufficient data -> supported") for i in L.change_items(ch))


def test_first_version_and_release_lookup(released, tmp_path):
    root, rec = released
    assert L.compare(None, {})["summary"].startswith("First version")
    assert L.find_release(root / "releases", "a" * 64).name == rec["version"]
    assert L.find_release(root / "releases", "b" * 64) is None
    with pytest.raises(FileExistsError):
        L.freeze_release(root / "releases" / rec["version"], rec, {}, {})
    assert L.release_id("0123456789abcdef", "2026-12-04") == "2026-12-04-01234567"


def test_inputs_digest_moves_with_any_input(tmp_path):
    a, c = tmp_path / "a.csv", tmp_path / "config.yaml"
    a.write_text("x\n1\n")
    c.write_text("level: 95\n")
    d0 = L.inputs_digest({"effects": a}, c, "0.1.0")
    assert d0 == L.inputs_digest({"effects": a}, c, "0.1.0")
    a.write_text("x\n2\n")
    d1 = L.inputs_digest({"effects": a}, c, "0.1.0")
    assert d1 != d0 and L.inputs_digest({"effects": a}, c, "0.2.0") != d1


def test_update_status_warns_when_the_search_is_stale():
    log = pd.DataFrame({"search_id": ["S1", "S2"], "date": ["2026-06-01", "2026-12-04"]})
    watch = pd.DataFrame({"registry_id": ["NCT1"], "title": ["A trial"], "status": ["RECRUITING"],
                          "expected_completion": ["2027-12-31"]})
    fresh = L.update_status(log, watch, 180, today=dt.date(2027, 1, 1))
    assert fresh["last_search"] == "2026-12-04" and fresh["next_due"] == "2027-06-02"
    assert fresh["stale"] is False and fresh["warning"] is None
    assert fresh["expected"] == ["NCT1 -- A trial (status: RECRUITING, expected completion: 2027-12-31)"]
    stale = L.update_status(log, watch, 180, today=dt.date(2027, 6, 3))
    assert stale["stale"] and "more than 180 days ago" in stale["warning"]
    none = L.update_status(log.iloc[0:0], watch.iloc[0:0], 180)
    assert none["warning"].startswith("No search is recorded") and none["expected"] == []
