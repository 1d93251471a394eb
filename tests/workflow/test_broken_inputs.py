"""Bad input never passes silently and outputs are never half-written (workflow level).

Every case copies the real ``Snakefile``, ``workflow/``, ``config/`` and ``data/`` into a temporary
directory, breaks ONE thing in the copy (a data cell, a header, the BibTeX file, a config key) and
checks that the problem is reported with the file, the line (data) and the column or key, and
that nothing is written.

* ``test_load_and_validate_reports``: every case through
  :func:`ketameta.synthesis.workflow.load_and_validate` -- the function ``workflow/rules/common.smk``
  calls when Snakemake parses the workflow, so the same code path, without Snakemake's ~3 s
  start-up per case.
* ``test_snakemake_stops_before_any_job``: a representative subset through the real
  ``snakemake --cores 2`` command: non-zero exit, the message on stderr, no ``results/`` file,
  inputs unchanged.
* ``test_model_failure_is_reported_not_fatal`` (slow): an analysis that cannot be fitted does
  not stop the workflow; its fit JSON says ``failed`` with the reason and the report lists it.
* ``test_failed_job_leaves_no_output`` / ``test_kill_mid_run_leaves_only_complete_files`` (slow):
  a job that fails, or a run killed with SIGKILL, leaves no partial file.
* ``test_atomic_write_*``: :func:`ketameta.io.atomic_write` under an exception and under
  ``kill -9`` of the writing process.

Cases find their rows by content (the first row of a given form, ...), not by fixed line
numbers, so they keep working when the evidence base grows.
"""

from __future__ import annotations

import copy
import csv
import html
import io
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from ketameta.errors import InputError
from ketameta.io import atomic_write
from ketameta.synthesis.workflow import load_and_validate

from .conftest import (
    copy_project,
    read_config,
    run_workflow,
    stray_temporary_files,
    tree_digest,
    written_results,
)

pytestmark = pytest.mark.workflow

STUDIES, EFFECTS, BIB, CONFIG = ("data/studies.csv", "data/effects.csv", "data/references.bib",
                                 "config/config.yaml")
SCHEMA = "workflow/schemas/config.schema.yaml"
ANY_LINE = -1  # the line is reported, but depends on where the parser gave up


# --------------------------------------------------------------------------- editing helpers

class Sheet:
    """A CSV data sheet as header + records, edited in place and written back as CSV."""

    def __init__(self, text: str):
        rows = list(csv.reader(io.StringIO(text, newline="")))
        self.header, self.rows = rows[0], rows[1:]
        self.dirty = False

    def col(self, name: str) -> int:
        return self.header.index(name)

    def get(self, i: int, name: str) -> str:
        return self.rows[i][self.col(name)]

    def set(self, i: int, name: str, value: str) -> None:
        self.rows[i][self.col(name)] = value
        self.dirty = True

    def find(self, **criteria) -> int:
        """Index of the first row where every ``column=value`` holds (value ``True``: non-empty)."""
        for i, row in enumerate(self.rows):
            if all((row[self.col(c)] != "") if v is True else (row[self.col(c)] == v)
                   for c, v in criteria.items()):
                return i
        raise LookupError(f"no row with {criteria}")

    def line(self, i: int) -> int:
        """1-based line where row ``i`` starts in the written file (header = line 1)."""
        reader = csv.reader(io.StringIO(self.text(), newline=""))
        start = 1
        for n, _ in enumerate(reader):
            if n == i + 1:
                return start
            start = reader.line_num + 1
        raise IndexError(i)

    def drop_column(self, name: str) -> None:
        c = self.col(name)
        self.header.pop(c)
        for r in self.rows:
            r.pop(c)
        self.dirty = True

    def rename_column(self, old: str, new: str) -> None:
        self.header[self.col(old)] = new
        self.dirty = True

    def append(self, row: list[str]) -> int:
        self.rows.append(list(row))
        self.dirty = True
        return len(self.rows) - 1

    def text(self) -> str:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows([self.header] + self.rows)
        return buf.getvalue()


@dataclass
class Inputs:
    """The editable inputs of one copy (``raw`` replaces a file byte for byte)."""

    studies: Sheet
    effects: Sheet
    bib: str
    config: dict
    raw: dict

    @classmethod
    def read(cls, workdir: Path) -> Inputs:
        return cls(studies=Sheet((workdir / STUDIES).read_text(encoding="utf-8")),
                   effects=Sheet((workdir / EFFECTS).read_text(encoding="utf-8")),
                   bib=(workdir / BIB).read_text(encoding="utf-8"),
                   config=read_config(workdir), raw={})

    def data_files(self, original: Inputs) -> dict:
        """The ``data=`` argument of :func:`run_workflow` for what was changed."""
        out = {}
        if self.studies.dirty:
            out["studies.csv"] = self.studies.text()
        if self.effects.dirty:
            out["effects.csv"] = self.effects.text()
        if self.bib != original.bib:
            out["references.bib"] = self.bib
        out.update(self.raw)
        return out


@dataclass
class Expect:
    """What the report of a case must contain."""

    file: str
    column: str | None
    message: str
    line: int | None = None

    def pattern(self) -> str:
        """Regular expression of the location prefix ``file, line N, column 'c'``."""
        parts = [re.escape(self.file)]
        if self.line == ANY_LINE:
            parts.append(r"line \d+")
        elif self.line is not None:
            parts.append(f"line {self.line}")
        if self.column is not None:
            parts.append(re.escape(f"column '{self.column}'"))
        return ", ".join(parts) + ":"

    def check(self, text: str) -> str:
        """Assert that one line of ``text`` has the location and the message; return it."""
        loc = re.compile(self.pattern())
        hits = [ln for ln in text.splitlines() if loc.search(ln) and self.message in ln]
        assert hits, (f"expected a line matching {loc.pattern!r} with {self.message!r} in:\n"
                      + textwrap.indent(text[-6000:], "    "))
        return hits[0].strip().removeprefix("- ").strip()


# --------------------------------------------------------------------------- the cases
# Each case edits Inputs and returns what must be reported.

def _missing_column(inp):
    inp.studies.drop_column("n")
    return Expect(STUDIES, "n", "missing column", line=1)


def _misspelled_column(inp):
    inp.effects.rename_column("estimate", "estimat")
    return Expect(EFFECTS, "estimat", "unknown column; did you mean 'estimate'?", line=1)


def _non_numeric(inp):
    i = inp.effects.find(form="d_ci")
    inp.effects.set(i, "estimate", "0.52x")
    return Expect(EFFECTS, "estimate", "expected a number such as 0.52", line=inp.effects.line(i))


def _na_instead_of_empty(inp):
    i = inp.effects.find(n=True)
    inp.effects.set(i, "n", "NR")
    return Expect(EFFECTS, "n", "leave the cell empty when a number was not reported",
                  line=inp.effects.line(i))


def _comma_decimal(inp):
    i = inp.studies.find(dose_mg_kg="0.5")
    inp.studies.set(i, "dose_mg_kg", "0,5")
    return Expect(STUDIES, "dose_mg_kg", "use '.' as the decimal separator",
                  line=inp.studies.line(i))


def _missing_required_value(inp):
    i = inp.effects.find(form="d_ci")
    inp.effects.set(i, "ci_ub", "")
    return Expect(EFFECTS, "ci_ub", "needs a value in 'ci_ub'", line=inp.effects.line(i))


def _missing_required_study_value(inp):
    inp.studies.set(0, "role", "")
    return Expect(STUDIES, "role", "missing role", line=inp.studies.line(0))


def _missing_provenance(inp):
    i = inp.effects.find(form="d_ci")
    inp.effects.set(i, "passage", "")
    return Expect(EFFECTS, "passage", "need provenance", line=inp.effects.line(i))


def _sd_zero(inp):
    i = inp.effects.find(form="means_sds", sd1i=True)
    inp.effects.set(i, "sd1i", "0")
    return Expect(EFFECTS, "sd1i", "sd1i must be > 0", line=inp.effects.line(i))


def _sd_negative(inp):
    i = inp.effects.find(form="d_ci")
    inp.effects.set(i, "sd", "-2.5")
    return Expect(EFFECTS, "sd", "sd must be > 0", line=inp.effects.line(i))


def _se_zero(inp):
    i = inp.effects.find(form="d_ci")
    inp.effects.set(i, "se", "0")
    return Expect(EFFECTS, "se", "se must be > 0", line=inp.effects.line(i))


def _n_zero(inp):
    i = inp.effects.find(n=True)
    inp.effects.set(i, "n", "0")
    return Expect(EFFECTS, "n", "n must be a whole number >= 1", line=inp.effects.line(i))


def _study_n_negative(inp):
    i = inp.studies.find(n=True)
    inp.studies.set(i, "n", "-108")
    return Expect(STUDIES, "n", "n must be a whole number >= 1", line=inp.studies.line(i))


def _arm_n_zero(inp):
    i = inp.effects.find(form="events", n2i=True)
    inp.effects.set(i, "n2i", "0")
    return Expect(EFFECTS, "n2i", "n2i must be a whole number >= 1", line=inp.effects.line(i))


def _ci_excludes_estimate(inp):
    i = inp.effects.find(form="d_ci")
    inp.effects.set(i, "estimate", f"{float(inp.effects.get(i, 'ci_ub')) + 1:g}")
    return Expect(EFFECTS, "estimate", "does not contain the estimate", line=inp.effects.line(i))


def _ci_reversed(inp):
    i = inp.effects.find(form="d_ci")
    lb, ub = inp.effects.get(i, "ci_lb"), inp.effects.get(i, "ci_ub")
    inp.effects.set(i, "ci_lb", ub)
    inp.effects.set(i, "ci_ub", lb)
    return Expect(EFFECTS, "ci_lb", "ci_lb is above ci_ub", line=inp.effects.line(i))


def _ci_zero_width(inp):
    # the way a variance <= 0 can enter the sheets (there is no variance column: vi is derived)
    i = inp.effects.find(form="d_ci")
    inp.effects.set(i, "ci_lb", inp.effects.get(i, "estimate"))
    inp.effects.set(i, "ci_ub", inp.effects.get(i, "estimate"))
    return Expect(EFFECTS, "ci_ub", "zero width implies a variance of 0", line=inp.effects.line(i))


def _r_out_of_range(inp):
    i = inp.effects.find(form="r_p")
    inp.effects.set(i, "estimate", "1.35")
    return Expect(EFFECTS, "estimate", "a correlation must lie in [-1, 1]",
                  line=inp.effects.line(i))


def _events_exceed_n(inp):
    i = inp.effects.find(form="events", ai=True, n1i=True)
    inp.effects.set(i, "ai", str(int(inp.effects.get(i, "n1i")) + 1))
    return Expect(EFFECTS, "ai", "exceed the arm size", line=inp.effects.line(i))


def _time_without_unit(inp):
    i = inp.effects.find(time_value=True, time_unit=True)
    inp.effects.set(i, "time_unit", "")
    return Expect(EFFECTS, "time_unit", "time_value needs a time_unit", line=inp.effects.line(i))


def _time_unknown_unit(inp):
    i = inp.effects.find(time_value=True, time_unit=True)
    inp.effects.set(i, "time_unit", "fortnight")
    return Expect(EFFECTS, "time_unit", "unknown value; expected one of: min, h, day, week, month",
                  line=inp.effects.line(i))


def _duplicate_study_id(inp):
    j = inp.studies.append(inp.studies.rows[0])
    first = inp.studies.line(0)
    return Expect(STUDIES, "study_id", f"duplicated study_id (first used on line {first})",
                  line=inp.studies.line(j))


def _studies_sheet_emptied(inp):
    inp.studies.rows.clear()
    inp.studies.dirty = True
    return Expect(EFFECTS, "study_id", "study_id not found in studies.csv",
                  line=inp.effects.line(0))


def _effects_header_only(inp):
    inp.effects.rows.clear()
    inp.effects.dirty = True
    return Expect(EFFECTS, None, "no data rows", line=2)


def _duplicate_effect_id(inp):
    inp.effects.set(3, "effect_id", inp.effects.get(0, "effect_id"))
    return Expect(EFFECTS, "effect_id", "duplicated effect_id", line=inp.effects.line(3))


def _unknown_study_in_effects(inp):
    inp.effects.set(0, "study_id", "nosuchstudy2099")
    return Expect(EFFECTS, "study_id", "study_id not found in studies.csv",
                  line=inp.effects.line(0))


def _citation_key_not_in_bib(inp):
    inp.studies.set(0, "citation_key", "nosuchkey2099")
    return Expect(STUDIES, "citation_key", "citation key not found in the BibTeX file",
                  line=inp.studies.line(0))


def _source_key_not_in_bib(inp):
    i = inp.effects.find(form="d_ci")
    inp.effects.set(i, "source", "nosuchkey2099")
    return Expect(EFFECTS, "source", "citation key not found in the BibTeX file",
                  line=inp.effects.line(i))


def _malformed_bibtex(inp):
    inp.bib += "\n@article{broken2020,\n  title = {An unclosed title\n"
    return Expect(BIB, None, "BibTeX syntax error", line=ANY_LINE)


def _duplicate_bibtex_key(inp):
    key = inp.studies.get(0, "citation_key")
    inp.bib += f"\n@misc{{{key},\n  title = {{A second entry with the same key}}\n}}\n"
    return Expect(BIB, key, "repeated bibliography entry", line=ANY_LINE)


def _not_utf8(inp):
    i = inp.effects.find(form="d_ci")
    eid = inp.effects.get(i, "effect_id").encode()
    # one Latin-1 byte (e-acute saved by a non-UTF-8 editor) in an otherwise UTF-8 file
    inp.raw["effects.csv"] = inp.effects.text().encode("utf-8").replace(eid, eid + b"\xe9", 1)
    return Expect(EFFECTS, None, "not valid UTF-8", line=inp.effects.line(i))


def _wrong_field_count(inp):
    i = inp.effects.find(form="d_ci")
    inp.effects.rows[i].append("extra")
    inp.effects.dirty = True
    return Expect(EFFECTS, None, f"fields but the header has {len(inp.effects.header)}",
                  line=inp.effects.line(i))


def _unknown_config_key(inp):
    inp.config["levle"] = 95
    return Expect(CONFIG, "levle", "unknown key 'levle' under (top level) (did you mean 'level'?)")


def _misspelled_analysis_key(inp):
    inp.config["analyses"]["durability"]["methd"] = "REML"
    return Expect(CONFIG, "analyses.durability.methd", "(did you mean 'method'?)")


def _wrong_config_type(inp):
    inp.config["level"] = "95%"
    return Expect(CONFIG, "level", "'95%' is not of type 'number'")


def _unknown_sensitivity_analysis(inp):
    inp.config["sensitivity"]["analyses"].append("durabilty")
    return Expect(CONFIG, "sensitivity.analyses", "names unknown analysis 'durabilty'")


def _unknown_claim_evidence(inp):
    claim = inp.config["claims"][0]
    claim["evidence"].append("dissociation_corr")
    return Expect(CONFIG, f"claims.{claim['id']}.evidence",
                  "names unknown analysis 'dissociation_corr'")


def _claim_source_not_in_bib(inp):
    claim = inp.config["claims"][0]
    claim["source"] = "nosuchkey2099"
    return Expect(CONFIG, f"claims.{claim['id']}.source",
                  "'nosuchkey2099' is not a key of data/references.bib")


def _unknown_analysis_type(inp):
    inp.config["analyses"]["durability"]["type"] = "metaregression"
    return Expect(CONFIG, "analyses.durability.type", "'metaregression' is not one of")


def _unknown_method(inp):
    inp.config["analyses"]["durability"]["method"] = "REMl"
    return Expect(CONFIG, "analyses.durability.method", "(did you mean 'REML'?)")


def _filter_selects_nothing(inp):
    inp.config["analyses"]["durability"]["select"]["outcome"] = "depression_sevrity"
    return Expect(CONFIG, "analyses.durability.select.outcome", "matches none of the rows")


def _question_selects_nothing(inp):
    inp.config["analyses"]["dissociation_slopes"]["question"] = "dissociaton"
    return Expect(CONFIG, "analyses.dissociation_slopes.question",
                  "matches no row of the effects sheet")


def _missing_data_file(inp):
    inp.config["evidence"]["effects"] = "data/effect.csv"
    return Expect(CONFIG, "evidence.effects", "file not found: data/effect.csv")


CASES: dict[str, Callable[[Inputs], Expect]] = {
    "missing_column": _missing_column,
    "misspelled_column": _misspelled_column,
    "non_numeric": _non_numeric,
    "na_instead_of_empty": _na_instead_of_empty,
    "comma_decimal": _comma_decimal,
    "missing_required_value": _missing_required_value,
    "missing_required_study_value": _missing_required_study_value,
    "missing_provenance": _missing_provenance,
    "sd_zero": _sd_zero,
    "sd_negative": _sd_negative,
    "se_zero": _se_zero,
    "n_zero": _n_zero,
    "study_n_negative": _study_n_negative,
    "arm_n_zero": _arm_n_zero,
    "ci_excludes_estimate": _ci_excludes_estimate,
    "ci_reversed": _ci_reversed,
    "ci_zero_width": _ci_zero_width,
    "r_out_of_range": _r_out_of_range,
    "events_exceed_n": _events_exceed_n,
    "time_without_unit": _time_without_unit,
    "time_unknown_unit": _time_unknown_unit,
    "duplicate_study_id": _duplicate_study_id,
    "studies_sheet_emptied": _studies_sheet_emptied,
    "effects_header_only": _effects_header_only,
    "duplicate_effect_id": _duplicate_effect_id,
    "unknown_study_in_effects": _unknown_study_in_effects,
    "citation_key_not_in_bib": _citation_key_not_in_bib,
    "source_key_not_in_bib": _source_key_not_in_bib,
    "malformed_bibtex": _malformed_bibtex,
    "duplicate_bibtex_key": _duplicate_bibtex_key,
    "not_utf8": _not_utf8,
    "wrong_field_count": _wrong_field_count,
    "unknown_config_key": _unknown_config_key,
    "misspelled_analysis_key": _misspelled_analysis_key,
    "wrong_config_type": _wrong_config_type,
    "unknown_sensitivity_analysis": _unknown_sensitivity_analysis,
    "unknown_claim_evidence": _unknown_claim_evidence,
    "claim_source_not_in_bib": _claim_source_not_in_bib,
    "unknown_analysis_type": _unknown_analysis_type,
    "unknown_method": _unknown_method,
    "filter_selects_nothing": _filter_selects_nothing,
    "question_selects_nothing": _question_selects_nothing,
    "missing_data_file": _missing_data_file,
}

#: run through the real `snakemake --cores 2` (one per family of checks)
SNAKEMAKE_CASES = ("misspelled_column", "r_out_of_range", "events_exceed_n", "malformed_bibtex",
                   "unknown_config_key", "unknown_sensitivity_analysis", "filter_selects_nothing",
                   "effects_header_only")


def _prepare(workdir: Path, case: str) -> tuple[Expect, dict, Callable | None]:
    """Copy the project, apply one case; return (expected, data files, config edit)."""
    copy_project(workdir)
    original = Inputs.read(workdir)
    inp = Inputs.read(workdir)
    expect = CASES[case](inp)
    edit = None
    if inp.config != original.config:
        cfg = copy.deepcopy(inp.config)
        edit = lambda _old: cfg  # noqa: E731
    return expect, inp.data_files(original), edit


# --------------------------------------------------------------------------- parse-time checks

@pytest.mark.parametrize("case", list(CASES))
def test_load_and_validate_reports(case, tmp_path, monkeypatch):
    """The parse-time check names file, line and column/key, and writes nothing."""
    expect, data, edit = _prepare(tmp_path, case)
    copy_project(tmp_path, data=data, config_edit=edit)
    before = tree_digest(tmp_path)
    monkeypatch.chdir(tmp_path)
    config = read_config(tmp_path)
    with pytest.raises(InputError) as info:
        load_and_validate(config, config_path=CONFIG, schema_path=SCHEMA)
    expect.check(str(info.value))
    assert tree_digest(tmp_path) == before, "inputs were modified"
    assert not (tmp_path / "results").exists()


def test_unbroken_copy_passes(tmp_path, monkeypatch):
    """Control: the copy passes when nothing is broken, also after its sheets are written back
    by :class:`Sheet` unchanged -- so each case fails because of its edit and nothing else."""
    copy_project(tmp_path)
    original = Inputs.read(tmp_path)
    inp = Inputs.read(tmp_path)
    inp.effects.dirty = inp.studies.dirty = True
    copy_project(tmp_path, data=inp.data_files(original))
    monkeypatch.chdir(tmp_path)
    ev = load_and_validate(read_config(tmp_path), config_path=CONFIG,
                           schema_path=SCHEMA)
    assert len(ev.effects) == len(original.effects.rows)


@pytest.mark.parametrize("case", SNAKEMAKE_CASES)
def test_snakemake_stops_before_any_job(case, tmp_path):
    """The real command: non-zero exit, a located message, no result file, inputs unchanged."""
    expect, data, edit = _prepare(tmp_path, case)
    copy_project(tmp_path, data=data, config_edit=edit)
    before = tree_digest(tmp_path / "data"), tree_digest(tmp_path / "config")
    proc = run_workflow(tmp_path)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    line = expect.check(out)
    assert "Traceback" not in line
    assert "problem(s) in the input" in out
    assert written_results(tmp_path) == [], written_results(tmp_path)
    assert (tree_digest(tmp_path / "data"), tree_digest(tmp_path / "config")) == before
    # no Python traceback, not even Snakemake's short one ('File "...", line N, in ...')
    assert "Traceback" not in out and 'File "' not in out, out[-3000:]
    assert out.strip().endswith("and run again."), out[-3000:]


def test_header_only_effects_sheet_is_one_problem(tmp_path, monkeypatch):
    """A header line and no rows: one problem on data/effects.csv, not one per analysis."""
    expect, data, edit = _prepare(tmp_path, "effects_header_only")
    copy_project(tmp_path, data=data, config_edit=edit)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError) as info:
        load_and_validate(read_config(tmp_path), config_path=CONFIG, schema_path=SCHEMA)
    errors = getattr(info.value, "errors", [info.value])
    assert [(e.file, e.line) for e in errors] == [(EFFECTS, 2)]
    assert "no data rows" in errors[0].message
    assert "config" not in str(info.value)


# --------------------------------------------------------------------------- runs that write

def _failing_model_config(cfg):
    """Two analyses: dissociation_metareg restricted to the two rd_ci rows (k = 2 < 3: cannot
    be fitted) and dissociation_slopes (fits)."""
    keep = ("dissociation_metareg", "dissociation_slopes")
    cfg["analyses"] = {k: cfg["analyses"][k] for k in keep}
    cfg["analyses"]["dissociation_metareg"]["select"]["form"] = ["rd_ci"]
    for key in ("route", "schedule"):  # the two rd_ci rows are intranasal, repeated dosing
        cfg["analyses"]["dissociation_metareg"]["select"].pop(key, None)
    figs = cfg.get("figures", {}).get("analyses", {})
    for aid in [a for a in figs if a not in keep and a not in ("prisma", "rob_traffic_light", "rob_summary")]:
        del figs[aid]
    cfg["analyses"]["dissociation_metareg"]["permutations"] = 100
    cfg["sensitivity"]["analyses"] = list(keep)
    cfg["claims"] = [dict(cfg["claims"][0], evidence=list(keep), certainty_from=[])]
    return cfg


@pytest.fixture(scope="module")
def failing_model_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("model_failure")
    copy_project(root, config_edit=_failing_model_config)
    before = tree_digest(root / "data"), tree_digest(root / "config")
    proc = run_workflow(root)
    return root, proc, before


@pytest.mark.slow
def test_model_failure_is_reported_not_fatal(failing_model_run):
    root, proc, before = failing_model_run
    assert proc.returncode == 0, proc.stderr[-6000:]
    fit = json.loads((root / "results/fits/dissociation_metareg.json").read_text())
    assert fit["status"] == "failed"
    assert "needs at least 3 effect sizes" in fit["reason"]
    assert fit["error"] == "ModelError"
    other = json.loads((root / "results/fits/dissociation_slopes.json").read_text())
    assert other["status"] == "ok"
    for name in ("dissociation_metareg", "dissociation_slopes"):
        for ext in ("csv", "md", "tex", "html"):
            assert (root / f"results/tables/{name}.{ext}").stat().st_size > 0
    report = html.unescape((root / "results/report.html").read_text(encoding="utf-8"))
    assert "1 analysis failed" in report
    assert fit["reason"] in report
    assert other["title"] in report
    assert (tree_digest(root / "data"), tree_digest(root / "config")) == before, "inputs modified"
    assert stray_temporary_files(root) == []


def _complete(path: Path) -> bool:
    """Is this output file complete (not cut off)?"""
    data = path.read_bytes()
    suffix = path.suffix
    if suffix == ".json":
        json.loads(data)
        return True
    if suffix == ".csv":
        rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
        return len({len(r) for r in rows if r}) <= 1 and data.endswith(b"\n")
    if suffix == ".png":
        return data.startswith(b"\x89PNG") and data.endswith(b"IEND\xaeB`\x82")
    if suffix == ".pdf":
        return data.startswith(b"%PDF") and data.rstrip().endswith(b"%%EOF")
    if suffix == ".svg":
        return data.rstrip().endswith(b"</svg>")
    if suffix == ".html":  # whole documents and fragments
        return data.rstrip().endswith((b"</html>", b"</div>"))
    if suffix in (".tex", ".bib"):
        return data.rstrip().endswith(b"}")
    return len(data) > 0


def _assert_all_complete(root: Path, skip=()) -> None:
    for rel in written_results(root):
        p = root / rel
        if "/logs/" in rel or p.name.startswith(".") or rel in skip:
            continue
        assert _complete(p), f"{rel} is incomplete"


@pytest.mark.slow
def test_failed_job_leaves_no_output(failing_model_run):
    """A job that fails half-way (its input, a fitted model, is corrupt): the run fails, the
    failed job's outputs are absent (Snakemake removes them; atomic writes never leave a partial
    file), finished outputs stay complete, and the inputs are untouched."""
    import time

    root, _, _ = failing_model_run
    fit = root / "results/fits/dissociation_slopes.json"
    tables = [root / f"results/tables/dissociation_slopes.{e}" for e in ("csv", "md", "tex", "html")]
    assert all(p.exists() for p in tables)
    good = fit.read_bytes()
    before = tree_digest(root / "data")
    fit.write_text('{"status": "ok", "type": "slopes", "pools": [', encoding="utf-8")  # cut off
    later = time.time() + 5
    os.utime(fit, (later, later))
    # --keep-going: every job reading the corrupt fit runs and fails (not only the first)
    proc = run_workflow(root, "--keep-going")
    try:
        out = proc.stdout + proc.stderr
        assert proc.returncode != 0
        assert "Error in rule make_table" in out or "Error in rule" in out
        assert not any(p.exists() for p in tables), "a failed job left output behind"
        assert stray_temporary_files(root) == []
        _assert_all_complete(root, skip={"results/fits/dissociation_slopes.json"})
        assert tree_digest(root / "data") == before
    finally:
        fit.write_bytes(good)
        run_workflow(root)


@pytest.mark.slow
def test_kill_mid_run_leaves_only_complete_files(failing_model_run):
    """SIGKILL to Snakemake and its jobs half-way: every result file present is complete, and
    the next run knows which outputs to redo."""
    root, _, _ = failing_model_run
    env = dict(os.environ, MPLBACKEND="Agg")
    snakemake = Path(sys.executable).parent / "snakemake"
    proc = subprocess.Popen([str(snakemake), "--cores", "2", "--forcerun", "fit_model"],
                            cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        fits = root / "results/fits/dissociation_slopes.json"
        mtime = fits.stat().st_mtime_ns
        # wait until at least one forced job has rewritten its output, then kill mid-run
        while time.monotonic() < deadline and proc.poll() is None:
            if fits.exists() and fits.stat().st_mtime_ns != mtime:
                break
            time.sleep(0.05)
    finally:
        killed = proc.poll() is None
        if killed:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert killed, "the forced run finished before it could be interrupted"
    _assert_all_complete(root)
    # a kill -9 cannot clean up: any leftover is a hidden temporary file, never an output name
    for rel in stray_temporary_files(root):
        assert Path(rel).name.startswith(".") and rel.endswith(".tmp")
    # the next run does not trust outputs of the killed jobs: it plans to redo them, or (when a
    # killed job had already written its output) refuses until told --rerun-incomplete
    dry = run_workflow(root, "-n")
    out = dry.stdout + dry.stderr
    if dry.returncode != 0:
        assert "IncompleteFilesException" in out and "--rerun-incomplete" in out, out[-3000:]
        dry = run_workflow(root, "-n", "--rerun-incomplete")
        out = dry.stdout + dry.stderr
    assert dry.returncode == 0, out[-3000:]
    assert "Job stats:" in out


# --------------------------------------------------------------------------- atomic_write

def test_atomic_write_exception_leaves_old_file(tmp_path):
    target = tmp_path / "out" / "table.csv"
    target.parent.mkdir()
    target.write_text("old,complete\n")
    with pytest.raises(RuntimeError), atomic_write(target) as fh:
        fh.write("new,partial\n")
        raise RuntimeError("the writer failed half-way")
    assert target.read_text() == "old,complete\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["table.csv"]


def test_atomic_write_exception_creates_nothing(tmp_path):
    target = tmp_path / "new" / "figure.png"
    with pytest.raises(KeyboardInterrupt), atomic_write(target, "wb") as fh:
        fh.write(b"\x89PNG partial")
        raise KeyboardInterrupt
    assert not target.exists()
    assert list(target.parent.iterdir()) == []


def test_atomic_write_success_replaces_whole_file(tmp_path):
    target = tmp_path / "values.json"
    target.write_text('{"old": 1}')
    with atomic_write(target) as fh:
        json.dump({"new": 2}, fh)
    assert json.loads(target.read_text()) == {"new": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["values.json"]


_WRITER = textwrap.dedent("""
    import sys, time
    from ketameta.io import atomic_write
    with atomic_write(sys.argv[1]) as fh:
        fh.write("partial " * 100000)
        fh.flush()
        print("writing", flush=True)
        time.sleep(60)
        fh.write("end")
""")


@pytest.mark.parametrize("existing", [True, False], ids=["replace", "create"])
def test_atomic_write_survives_kill_9(tmp_path, existing):
    """kill -9 of a process in the middle of a write: the target is the old file (or absent),
    never a partial one; the only trace is a hidden temporary file."""
    target = tmp_path / "report.html"
    if existing:
        target.write_text("<html>old, complete</html>\n")
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(target)], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout.readline().strip() == "writing"
        temps = [p for p in tmp_path.iterdir() if p.name.startswith(".report.html.")]
        assert temps and temps[0].stat().st_size > 0, "the write should be under way"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    if existing:
        assert target.read_text() == "<html>old, complete</html>\n"
    else:
        assert not target.exists()
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "report.html"]
    assert all(n.startswith(".report.html.") and n.endswith(".tmp") for n in leftovers)
