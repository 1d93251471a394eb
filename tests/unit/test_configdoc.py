"""The configuration reference is generated from the schema and covers every key in use."""

from __future__ import annotations

from pathlib import Path

import yaml

from ketameta.synthesis.configdoc import config_reference, main, undocumented_keys

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"


def test_docs_config_md_is_current():
    assert main(["--schema", str(SCHEMA), "--out", str(ROOT / "docs" / "config.md"), "--check"]) == 0, (
        "docs/config.md is out of date: run `make docs`")


def test_every_key_of_the_config_is_described_in_the_schema():
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text(encoding="utf-8"))
    assert undocumented_keys(config, yaml.safe_load(SCHEMA.read_text(encoding="utf-8"))) == []


def test_reference_lists_allowed_values_and_defaults():
    text = config_reference(yaml.safe_load(SCHEMA.read_text(encoding="utf-8")))
    # an enum, a default and each analysis type appear
    assert "`REML`" in text and "| 0.5 |" in text
    for kind in ("correlation", "slopes", "metareg", "durability", "coverage", "associations", "multiverse"):
        assert f"## Analysis type `{kind}`" in text


def test_undocumented_key_is_found():
    schema = {"properties": {"a": {"type": "object", "properties": {"b": {"type": "number"}},
                                   "description": "A."}}}
    assert undocumented_keys({"a": {"b": 1}}, schema) == ["a.b"]


def test_readmes_agree_on_what_make_test_runs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    data = (ROOT / "data" / "README.md").read_text(encoding="utf-8")
    assert "`make test` runs everything" in readme
    assert "`make test` runs the whole suite" in data
    assert "`make test` (runs `tests/data`" not in data
