"""ketameta.evidence: every input check, on small deliberately broken files.

Each test writes a valid miniature evidence base into tmp_path, breaks one thing, and asserts that
the InputError names the right file, 1-based line (header = line 1) and column.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pandas as pd
import pytest

from ketameta.errors import InputError, InputErrors
from ketameta.evidence import (
    EFFECT_COLUMNS,
    STUDY_COLUMNS,
    data_gaps,
    load_evidence,
    number_in_passage,
    read_sheet,
    time_in_days,
)

ROOT = Path(__file__).resolve().parents[2]
from ketameta.evidence.schema import check_rows

SCHEMAS = ROOT / "src" / "ketameta" / "evidence" / "schemas"

BIB = """% test bibliography
@article{smith2020,
  author  = {Smith, Anna and W{\\l}odarczyk, B.},
  title   = {A trial},
  journal = {J Test},
  year    = {2020}
}

@misc{copy2021,
  title        = {A copy of the abstract},
  howpublished = {aggregator page},
  url          = {https://example.org/copy}
}
"""

PASS_N = "Forty patients received ketamine 0.5 mg/kg over 40 minutes or saline."
STUDY = dict(study_id="smith2020", citation_key="smith2020", role="primary", design="parallel_rct",
             population="adults with TRD", diagnosis="TRD MDD", drug="racemic_ketamine", route="IV",
             dose_mg_kg="0.5", dose_text="0.5 mg/kg over 40 min", infusion_min="40", schedule="single",
             setting="trial", control="saline", psychotherapy="NR", n="40", n_note="randomised",
             n_source="smith2020", n_grade="P", n_locator="abstract", n_passage=PASS_N,
             dose_source="smith2020", dose_grade="P", dose_locator="abstract", dose_passage=PASS_N)

COMMON = dict(study_id="smith2020", comparison_id="smith2020_ket_vs_saline", control="saline",
              source="smith2020", grade="P", locator="abstract")
EFFECTS = [
    # line 2
    dict(COMMON, effect_id="e_r", question="dissociation", outcome="dissociation_improvement_association",
         scale="MADRS", predictor="CADSS at 40 min", arm="ketamine", time_value="24", time_unit="h",
         time_text="at 24 hours", form="r_n", estimate="-0.35", n="40", p="0.03", p_op="=", benefit_sign="-1",
         direction="+", significant="yes", passage="At 24 hours, r = -0.35 (n = 40, p = 0.03)."),
    # line 3
    dict(COMMON, effect_id="e_events", question="durability", outcome="response", scale="MADRS",
         arm="ketamine vs saline", time_value="24", time_unit="h", time_text="at 24 hours", form="events",
         ai="12", n1i="20", ci="5", n2i="20", benefit_sign="1", direction="+", significant="NR",
         passage="12 of 20 vs 5 of 20 responded at 24 hours."),
    # line 4
    dict(COMMON, effect_id="e_or", question="durability", outcome="response", arm="ketamine vs saline",
         time_value="1", time_unit="day", time_text="at day 1", form="or_ci", estimate="2.85", ci_lb="1.14",
         ci_ub="7.15", level="95", benefit_sign="1", direction="+", significant="NR",
         passage="odds ratio=2.85, 95% CI=1.14, 7.15 at day 1"),
    # line 5
    dict(COMMON, effect_id="e_means", question="durability", outcome="depression_severity", scale="MADRS",
         arm="ketamine vs saline", time_value="1", time_unit="day", time_text="Day 1", form="means_sds", value_type="endpoint",
         m1i="12.7", sd1i="7.6", n1i="20", m2i="16.4", sd2i="10.0", n2i="19", benefit_sign="-1", direction="+",
         significant="NR", passage="Day 1 | 12.7 | 7.6 | 20 | 16.4 | 10.0 | 19 |"),
    # line 6
    dict(COMMON, effect_id="e_pct", question="durability", outcome="response", arm="ketamine vs saline",
         time_text="at some point during the trial", form="pct", pct1="55", pct2="30", benefit_sign="1",
         direction="+", significant="NR", passage="55% for the ketamine group and 30% for the saline group"),
    # line 7
    dict(COMMON, effect_id="e_d", question="durability", outcome="depression_severity", scale="MADRS",
         arm="ketamine vs saline", time_value="40", time_unit="min", time_text="Within 40 minutes", form="d_ci", value_type="model_based",
         estimate="0.52", ci_lb="0.28", ci_ub="0.76", level="95", benefit_sign="1", direction="+",
         significant="yes", passage="Within 40 minutes ... (d=0.52, 95% confidence interval [CI], 0.28-0.76)"),
    # line 8
    dict(COMMON, effect_id="e_dir", question="durability", outcome="depression_severity", arm="ketamine vs saline",
         time_value="3", time_unit="day", time_text="through day 3", form="direction", direction="+",
         significant="yes", passage="this improvement remained significant through day 3"),
    # line 9
    dict(study_id="smith2020", comparison_id="smith2020_ket_vs_saline", effect_id="e_nf", question="dissociation",
         outcome="dissociation_improvement_association", arm="ketamine", control="saline", time_value="7",
         time_unit="day", time_text="Day 7", form="not_found", notes="r at day 7 not found: searched abstract and tables."),
]
LINE = {e["effect_id"]: i + 2 for i, e in enumerate(EFFECTS)}


def _write_csv(path, columns, rows, header=None):
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header or columns)
        for row in rows:
            w.writerow([row.get(c, "") for c in columns])


def make_case(tmp_path, studies=None, effects=None, bib=BIB, studies_header=None, effects_header=None):
    """Write a miniature evidence base; return the three paths."""
    s = tmp_path / "studies.csv"
    e = tmp_path / "effects.csv"
    b = tmp_path / "references.bib"
    _write_csv(s, STUDY_COLUMNS, studies if studies is not None else [STUDY], studies_header)
    _write_csv(e, EFFECT_COLUMNS, effects if effects is not None else EFFECTS, effects_header)
    b.write_text(bib, encoding="utf-8")
    return s, e, b


def load(paths):
    return load_evidence(*paths)


def problems(paths):
    with pytest.raises(InputErrors) as info:
        load(paths)
    errs = info.value.errors
    assert all(isinstance(x, InputError) for x in errs)
    return errs


def edit(effect_id, **changes):
    rows = [dict(e) for e in EFFECTS]
    for r in rows:
        if r["effect_id"] == effect_id:
            r.update(changes)
    return rows


def find(errs, file, line, column, text=None):
    hits = [x for x in errs if str(x.file).endswith(file) and x.line == line and x.column == column
            and (text is None or text in x.message)]
    assert hits, f"no error at {file}:{line}:{column} ({text!r}); got:\n" + "\n".join(map(str, errs))
    return hits[0]


# ---------------------------------------------------------------------------- the valid case

def test_valid_case_loads_and_is_typed(tmp_path):
    paths = make_case(tmp_path)
    before = [p.read_bytes() for p in paths]
    ev = load(paths)
    assert [p.read_bytes() for p in paths] == before, "input files must never be modified"
    assert ev.studies.index.name == "study_id" and ev.studies.loc["smith2020", "n"] == 40.0
    assert ev.studies["dose_mg_kg"].dtype == float
    eff = ev.effects.set_index("effect_id")
    assert eff.loc["e_r", "estimate"] == -0.35 and math.isnan(eff.loc["e_pct", "time_value"])
    assert eff.loc["e_r", "time_days"] == pytest.approx(1.0)
    assert eff.loc["e_d", "time_days"] == pytest.approx(40 / 1440)
    assert eff.loc["e_dir", "time_days"] == pytest.approx(3.0)
    assert math.isnan(eff.loc["e_pct", "time_days"])
    assert eff["line"].tolist() == list(range(2, 2 + len(EFFECTS)))
    assert pd.isna(eff.loc["e_r", "ci_lb"])  # empty -> NaN, never 0
    assert [str(p) for p in ev.bib.entries["smith2020"].persons["author"]][1] == "W{\\l}odarczyk, B."


def test_time_in_days():
    assert time_in_days(40, "min") == pytest.approx(40 / 1440)
    assert time_in_days(24, "h") == 1
    assert time_in_days(2, "week") == 14
    assert math.isnan(time_in_days(None, None)) and math.isnan(time_in_days(3, "fortnight"))


# ---------------------------------------------------------------------------- header / structure

def test_misspelled_column_is_named_with_a_suggestion(tmp_path):
    header = [("estimat" if c == "estimate" else c) for c in EFFECT_COLUMNS]
    errs = problems(make_case(tmp_path, effects_header=header))
    e = find(errs, "effects.csv", 1, "estimat", "unknown column")
    assert "did you mean 'estimate'" in e.message
    find(errs, "effects.csv", 1, "estimate", "missing column")


def test_missing_column(tmp_path):
    cols = [c for c in STUDY_COLUMNS if c != "route"]
    s, e, b = make_case(tmp_path)
    _write_csv(s, cols, [STUDY])
    errs = problems((s, e, b))
    find(errs, "studies.csv", 1, "route", "missing column")


def test_unknown_extra_column(tmp_path):
    s, e, b = make_case(tmp_path)
    _write_csv(e, list(EFFECT_COLUMNS) + ["comment"], EFFECTS)
    errs = problems((s, e, b))
    find(errs, "effects.csv", 1, "comment", "unknown column")


def test_row_with_wrong_number_of_fields(tmp_path):
    s, e, b = make_case(tmp_path)
    with open(e, "a", encoding="utf-8") as fh:
        fh.write("e_bad,smith2020,too,few\n")
    errs = problems((s, e, b))
    assert any(x.line == len(EFFECTS) + 2 and "fields" in x.message for x in errs)


def test_all_problems_are_collected_across_files(tmp_path):
    studies = [dict(STUDY, role="primery")]
    effects = edit("e_r", estimate="abc")
    errs = problems(make_case(tmp_path, studies=studies, effects=effects))
    find(errs, "studies.csv", 2, "role", "did you mean 'primary'")
    find(errs, "effects.csv", LINE["e_r"], "estimate", "expected a number")
    assert len(errs) >= 2


# ---------------------------------------------------------------------------- numbers

def test_non_numeric_value(tmp_path):
    errs = problems(make_case(tmp_path, effects=edit("e_r", estimate="abc")))
    find(errs, "effects.csv", LINE["e_r"], "estimate", "expected a number")


def test_unicode_minus_and_na_and_percent(tmp_path):
    effects = edit("e_r", estimate="\u22120.35")
    effects = [dict(r, pct1="55%") if r["effect_id"] == "e_pct" else r for r in effects]
    studies = [dict(STUDY, n="NA")]
    errs = problems(make_case(tmp_path, studies=studies, effects=effects))
    find(errs, "effects.csv", LINE["e_r"], "estimate", "ASCII hyphen-minus")
    find(errs, "effects.csv", LINE["e_pct"], "pct1", "without '%'")
    find(errs, "studies.csv", 2, "n", "leave the cell empty")


def test_missing_value_required_by_form(tmp_path):
    errs = problems(make_case(tmp_path, effects=edit("e_r", n="")))
    e = find(errs, "effects.csv", LINE["e_r"], "n", "form 'r_n'")
    assert "correlation r with its n" in e.message


def test_sd_se_and_n_must_be_positive(tmp_path):
    effects = edit("e_means", sd1i="0", passage="Day 1 | 12.7 | 0 | 20 | 16.4 | 10.0 | 19 |")
    effects = [dict(r, se="-1.2", passage=r["passage"] + " SE -1.2") if r["effect_id"] == "e_d" else r for r in effects]
    studies = [dict(STUDY, n="0", n_passage="0 patients")]
    errs = problems(make_case(tmp_path, studies=studies, effects=effects))
    find(errs, "effects.csv", LINE["e_means"], "sd1i", "must be > 0")
    find(errs, "effects.csv", LINE["e_d"], "se", "must be > 0")
    find(errs, "studies.csv", 2, "n", ">= 1")


def test_ci_must_contain_the_estimate(tmp_path):
    effects = edit("e_d", ci_ub="0.50", passage="(d=0.52, 95% CI 0.28-0.50)")
    errs = problems(make_case(tmp_path, effects=effects))
    find(errs, "effects.csv", LINE["e_d"], "estimate", "does not contain the estimate")


def test_ratio_on_log_scale_is_caught(tmp_path):
    effects = edit("e_or", estimate="1.05", ci_lb="-0.13", ci_ub="1.97", passage="log OR 1.05 (-0.13, 1.97)")
    errs = problems(make_case(tmp_path, effects=effects))
    find(errs, "effects.csv", LINE["e_or"], "ci_lb", "natural scale")


def test_reversed_ci(tmp_path):
    effects = edit("e_or", ci_lb="7.15", ci_ub="1.14")
    errs = problems(make_case(tmp_path, effects=effects))
    find(errs, "effects.csv", LINE["e_or"], "ci_lb", "above ci_ub")


def test_r_outside_minus_one_one(tmp_path):
    effects = edit("e_r", estimate="-1.35", passage="At 24 hours, r = -1.35 (n = 40, p = 0.03).")
    errs = problems(make_case(tmp_path, effects=effects))
    find(errs, "effects.csv", LINE["e_r"], "estimate", "[-1, 1]")


def test_events_exceeding_n(tmp_path):
    effects = edit("e_events", ai="25", passage="25 of 20 vs 5 of 20 responded at 24 hours.")
    errs = problems(make_case(tmp_path, effects=effects))
    find(errs, "effects.csv", LINE["e_events"], "ai", "exceed the arm size")


def test_pct_outside_range(tmp_path):
    effects = edit("e_pct", pct1="120", passage="120% for the ketamine group and 30% for the saline group")
    errs = problems(make_case(tmp_path, effects=effects))
    find(errs, "effects.csv", LINE["e_pct"], "pct1", "[0, 100]")


def test_p_outside_range(tmp_path):
    effects = edit("e_r", p="1.3", passage="At 24 hours, r = -0.35 (n = 40, p = 1.3).")
    errs = problems(make_case(tmp_path, effects=effects))
    find(errs, "effects.csv", LINE["e_r"], "p", "[0, 1]")


def test_p_without_operator(tmp_path):
    errs = problems(make_case(tmp_path, effects=edit("e_r", p_op="")))
    find(errs, "effects.csv", LINE["e_r"], "p_op", "'=' for an exact p")


# ---------------------------------------------------------------------------- time

def test_time_value_without_unit(tmp_path):
    errs = problems(make_case(tmp_path, effects=edit("e_events", time_unit="")))
    find(errs, "effects.csv", LINE["e_events"], "time_unit", "needs a time_unit")


def test_unknown_time_unit(tmp_path):
    errs = problems(make_case(tmp_path, effects=edit("e_events", time_unit="hours")))
    e = find(errs, "effects.csv", LINE["e_events"], "time_unit", "unknown value")
    assert "min, h, day, week" in e.message


def test_time_value_must_match_its_wording(tmp_path):
    errs = problems(make_case(tmp_path, effects=edit("e_dir", time_value="7")))
    find(errs, "effects.csv", LINE["e_dir"], "time_value", "time_text")


# ---------------------------------------------------------------------------- ids and cross-references

def test_duplicated_study_id(tmp_path):
    errs = problems(make_case(tmp_path, studies=[STUDY, dict(STUDY)]))
    e = find(errs, "studies.csv", 3, "study_id", "duplicated study_id")
    assert "line 2" in e.message


def test_duplicated_effect_id(tmp_path):
    effects = [dict(e) for e in EFFECTS]
    effects[1]["effect_id"] = "e_r"
    errs = problems(make_case(tmp_path, effects=effects))
    find(errs, "effects.csv", 3, "effect_id", "duplicated effect_id")


def test_bad_id_pattern(tmp_path):
    errs = problems(make_case(tmp_path, studies=[dict(STUDY, study_id="Smith 2020")], effects=[]))
    find(errs, "studies.csv", 2, "study_id", "^[a-z][a-z0-9_]*$")


def test_effect_row_with_unknown_study(tmp_path):
    errs = problems(make_case(tmp_path, effects=edit("e_d", study_id="smith2021")))
    e = find(errs, "effects.csv", LINE["e_d"], "study_id", "not found in studies.csv")
    assert "smith2020" in e.message


def test_citation_key_not_in_bib(tmp_path):
    errs = problems(make_case(tmp_path, studies=[dict(STUDY, citation_key="smith2021")]))
    e = find(errs, "studies.csv", 2, "citation_key", "not found in the BibTeX file")
    assert "did you mean 'smith2020'" in e.message


def test_source_key_not_in_bib(tmp_path):
    effects = edit("e_pct", source="jones1999")
    effects = [dict(r, n_source="x") for r in effects]  # ignored column in effects, harmless
    errs = problems(make_case(tmp_path, effects=edit("e_pct", source="jones1999"),
                              studies=[dict(STUDY, dose_source="jones1999")]))
    find(errs, "effects.csv", LINE["e_pct"], "source", "not found in the BibTeX file")
    find(errs, "studies.csv", 2, "dose_source", "not found in the BibTeX file")


def test_source_may_be_a_url(tmp_path):
    ev = load(make_case(tmp_path, effects=edit("e_pct", source="https://example.org/abstract", grade="C")))
    assert any("grade C" in w for w in ev.warnings)


# ---------------------------------------------------------------------------- BibTeX

def test_malformed_bibtex_is_mapped_to_its_line(tmp_path):
    bad = BIB + "\n@article{broken,\n  author = {Doe, J.},\n  title {missing equals sign},\n  year = {2020}\n}\n"
    errs = problems(make_case(tmp_path, bib=bad))
    e = [x for x in errs if str(x.file).endswith("references.bib")][0]
    assert e.line == BIB.count("\n") + 4  # the 'title {' line
    assert "syntax error" in e.message and "'=' expected" in e.message


def test_duplicated_bibtex_key(tmp_path):
    bad = BIB + "\n@misc{copy2021,\n  title = {again}\n}\n"
    errs = problems(make_case(tmp_path, bib=bad))
    e = [x for x in errs if str(x.file).endswith("references.bib")][0]
    assert e.column == "copy2021" and e.line == BIB.count("\n") + 2


def test_article_without_title_is_rejected(tmp_path):
    bad = BIB + "\n@article{jones2021,\n  author = {Jones, C.},\n  journal = {J},\n  year = {2021}\n}\n"
    errs = problems(make_case(tmp_path, bib=bad))
    e = find(errs, "references.bib", BIB.count("\n") + 2, "jones2021", "@article needs title")
    assert "@misc" in e.message


# ---------------------------------------------------------------------------- provenance

def test_grade_must_be_p_s_or_c(tmp_path):
    errs = problems(make_case(tmp_path, effects=edit("e_d", grade="A"), studies=[dict(STUDY, n_grade="B")]))
    find(errs, "effects.csv", LINE["e_d"], "grade", "unknown value")
    find(errs, "studies.csv", 2, "n_grade", "P (the paper itself)")


def test_number_without_provenance(tmp_path):
    errs = problems(make_case(tmp_path, effects=edit("e_d", passage="", locator=""),
                              studies=[dict(STUDY, n_source="")]))
    find(errs, "effects.csv", LINE["e_d"], "passage", "need provenance")
    find(errs, "effects.csv", LINE["e_d"], "locator", "need provenance")
    find(errs, "studies.csv", 2, "n_source", "without provenance")


def test_number_not_verbatim_in_passage(tmp_path):
    errs = problems(make_case(tmp_path, effects=edit("e_d", estimate="0.25"), studies=[dict(STUDY, infusion_min="45")]))
    find(errs, "effects.csv", LINE["e_d"], "estimate", "verbatim")
    find(errs, "studies.csv", 2, "infusion_min", "verbatim")


def test_incomplete_second_passage(tmp_path):
    errs = problems(make_case(tmp_path, effects=edit("e_d", passage2="(n = 20)")))
    find(errs, "effects.csv", LINE["e_d"], "source2", "second passage")


def test_not_found_row_must_not_hold_numbers(tmp_path):
    errs = problems(make_case(tmp_path, effects=edit("e_nf", estimate="0")))
    find(errs, "effects.csv", LINE["e_nf"], "estimate", "holds no numbers")


def test_not_found_row_needs_notes(tmp_path):
    errs = problems(make_case(tmp_path, effects=edit("e_nf", notes="")))
    find(errs, "effects.csv", LINE["e_nf"], "notes", "not_found")


# ---------------------------------------------------------------------------- JSON schema

def test_schema_errors_are_mapped_to_line_and_column(tmp_path):
    s, e, b = make_case(tmp_path, effects=edit("e_d", form="d_x"))
    frame, errs = read_sheet(e, EFFECT_COLUMNS)
    assert not errs
    schema_errs = check_rows(frame, "effects", str(e))
    hit = find(schema_errs, "effects.csv", LINE["e_d"], "form")
    assert "unknown value" in hit.message and "d_ci" in hit.message


def test_schema_requires_provenance_for_numbers(tmp_path):
    s, e, b = make_case(tmp_path, effects=edit("e_d", source=""))
    frame, _ = read_sheet(e, EFFECT_COLUMNS)
    schema_errs = check_rows(frame, "effects", str(e))
    find(schema_errs, "effects.csv", LINE["e_d"], "source", "provenance")


def test_snakemake_validate_rejects_a_broken_row(tmp_path):
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    s, e, b = make_case(tmp_path, effects=edit("e_pct", pct1="120"))
    with pytest.raises(WorkflowError):
        validate(pd.read_csv(e), str(SCHEMAS / "effects.schema.yaml"))
    s, e, b = make_case(tmp_path)
    validate(pd.read_csv(e), str(SCHEMAS / "effects.schema.yaml"))
    validate(pd.read_csv(s), str(SCHEMAS / "studies.schema.yaml"))


# ---------------------------------------------------------------------------- warnings

def test_warnings_for_suspicious_but_legal_values(tmp_path):
    effects = edit("e_d", estimate="5.2", ci_lb="0.28", ci_ub="7.6", passage="(d=5.2, 95% CI 0.28-7.6)")
    effects = [dict(r, grade="C") if r["effect_id"] == "e_pct" else r for r in effects]
    effects = [dict(r, n="108", passage="r = -0.35 (n = 108, p = 0.03) at 24 hours") if r["effect_id"] == "e_r" else r
               for r in effects]
    studies = [dict(STUDY, n="200000", n_passage="200000 patients")]
    ev = load(make_case(tmp_path, studies=studies, effects=effects))
    w = "\n".join(ev.warnings)
    assert f"line {LINE['e_d']}, column 'estimate': |d|" in w
    assert f"line {LINE['e_pct']}, column 'grade': grade C" in w
    assert "studies.csv, line 2, column 'n'" in w
    assert f"line {LINE['e_r']}, column 'n': r = -0.35 with n = 108 implies p" in w


# ---------------------------------------------------------------------------- data gaps

def test_data_gaps(tmp_path):
    ev = load(make_case(tmp_path))
    gaps = data_gaps(ev)
    assert list(gaps.columns[:5]) == ["study_id", "citation_key", "question", "item", "reason"]
    by_id = gaps.set_index("effect_id")
    assert by_id.loc["e_nf", "kind"] == "not_found" and "searched abstract" in by_id.loc["e_nf", "reason"]
    assert by_id.loc["e_dir", "kind"] == "not_poolable"
    assert by_id.loc["e_pct", "kind"] == "not_poolable" and "without arm n" in by_id.loc["e_pct", "reason"]
    assert "e_events" not in by_id.index and "e_r" not in by_id.index
    assert (gaps["citation_key"] == "smith2020").all()


def test_data_gaps_flags_primary_study_without_quantitative_rows(tmp_path):
    effects = [e for e in EFFECTS if e["effect_id"] in ("e_dir", "e_nf")]
    ev = load(make_case(tmp_path, effects=effects))
    gaps = data_gaps(ev)
    kinds = gaps.loc[gaps["kind"] == "no_quantitative_row", "question"].tolist()
    assert set(kinds) == {"durability", "dissociation"}


# ---------------------------------------------------------------------------- the verbatim check

@pytest.mark.parametrize("cell,passage", [
    ("-0.35", "(r= −0.35, p=0.007)"),
    ("0.35", "r = .35"),
    ("0.89", "(d = .89, 95% confidence interval = .61-1.16"),
    ("50", "50.0%"),
    ("60.0", "12/20 | 60 |"),
    ("0.001", "p < .001"),
    ("18", "Eighteen subjects with DSM-IV bipolar depression"),
    ("61", "Sixty-one patients were included in the analysis."),
    ("1100", "1,100 participants"),
    ("14", "Day 214 (33.3)"),  # with the label split off, below
])
def test_number_in_passage_accepts_exact_copies(cell, passage):
    labels = ("Day 2",) if passage.startswith("Day 2") else ()
    assert number_in_passage(cell, passage, labels=labels)


@pytest.mark.parametrize("cell,passage", [
    ("0.53", "(r= −0.35, p=0.007)"),     # transposed digits
    ("3.9", "(95% CI 13.94)"),            # a number inside another number
    ("0.5", "0.50 mg/kg"),                # a different printed precision
    ("0.35", "r = 0.355"),
    ("1", "Sixty-one patients"),          # 'one' inside 'Sixty-one'
    ("14", "Day 214 (33.3)"),             # glued digits without the label
    ("7", ""),
])
def test_number_in_passage_rejects_mismatches(cell, passage):
    assert not number_in_passage(cell, passage)


def test_number_words_only_for_times_with_article():
    assert not number_in_passage("1", "persisted for a week")
    assert number_in_passage("1", "persisted for a week", article=True)
