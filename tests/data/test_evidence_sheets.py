"""The evidence base itself: provenance, citations, corrections, coverage and documentation.

These tests read data/studies.csv, data/effects.csv and data/references.bib as committed and fail
on any number that is not in its passage, any key that does not resolve, any UNVERIFIED value, and
any drift between data/README.md and the JSON schemas.
"""

from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from ketameta.evidence import (
    EFFECT_COLUMNS,
    FORMS,
    RESULT_NUMERIC,
    STUDY_COLUMNS,
    STUDY_NUMERIC,
    VOCABULARY,
    data_gaps,
    load_evidence,
    number_in_passage,
)

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data"
SCHEMAS = ROOT / "src" / "ketameta" / "evidence" / "schemas"
STUDIES = DATA / "studies.csv"
EFFECTS = DATA / "effects.csv"
BIB = DATA / "references.bib"
README = DATA / "README.md"
REVIEW = {s: DATA / f"{s}.csv" for s in ("rob", "screening", "search_log", "watch")}


def _rows(path):
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        return [(i + 2, row) for i, row in enumerate(reader)]


@pytest.fixture(scope="module")
def ev():
    return load_evidence(STUDIES, EFFECTS, BIB, **REVIEW)


@pytest.fixture(scope="module")
def effects():
    return pd.read_csv(EFFECTS, dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def studies():
    return pd.read_csv(STUDIES, dtype=str, keep_default_na=False)


# ---------------------------------------------------------------------------- (1) verbatim numbers

def test_every_effect_number_occurs_verbatim_in_its_passage():
    bad = []
    for line, row in _rows(EFFECTS):
        if row["form"] == "not_found":
            continue
        labels = (row["time_text"],) if row["time_text"] else ()
        for col in RESULT_NUMERIC:
            cell = row[col]
            if cell and not (number_in_passage(cell, row["passage"], labels=labels)
                             or number_in_passage(cell, row["passage2"], labels=labels)):
                bad.append(f"effects.csv line {line} {row['effect_id']}.{col} = {cell!r}")
        if row["time_value"] and not any(
                number_in_passage(row["time_value"], t, article=True)
                for t in (row["time_text"], row["passage"], row["passage2"])):
            bad.append(f"effects.csv line {line} {row['effect_id']}.time_value = {row['time_value']!r}")
    assert not bad, "numbers not found verbatim in their passages:\n" + "\n".join(bad)


def test_every_study_number_occurs_verbatim_in_its_passage():
    bad = []
    for line, row in _rows(STUDIES):
        for col, passage in (("n", "n_passage"), ("dose_mg_kg", "dose_passage"), ("infusion_min", "dose_passage")):
            if row[col] and not number_in_passage(row[col], row[passage]):
                bad.append(f"studies.csv line {line} {row['study_id']}.{col} = {row[col]!r}")
    assert not bad, "numbers not found verbatim in their passages:\n" + "\n".join(bad)


def test_every_number_has_provenance():
    bad = []
    for line, row in _rows(EFFECTS):
        present = [c for c in RESULT_NUMERIC if row[c]]
        if present and not all(row[c] for c in ("source", "grade", "locator", "passage")):
            bad.append(f"effects.csv line {line}: {present}")
    for line, row in _rows(STUDIES):
        if row["n"] and not all(row[f"n_{p}"] for p in ("source", "grade", "locator", "passage")):
            bad.append(f"studies.csv line {line}: n")
        if (row["dose_mg_kg"] or row["infusion_min"]) and not all(
                row[f"dose_{p}"] for p in ("source", "grade", "locator", "passage")):
            bad.append(f"studies.csv line {line}: dose")
    assert not bad, "\n".join(bad)


def test_verbatim_check_is_honest():
    """The check used above does catch a mismatching number (and accepts only exact copies)."""
    passage = "Pearson correlations showed ... HDRS at 230 min (r= −0.35, p=0.007) and Day 7 (r=−0.41, p=0.01)."
    assert number_in_passage("-0.35", passage)
    assert number_in_passage("0.007", passage)
    assert not number_in_passage("-0.53", passage)
    assert not number_in_passage("0.41", "r = 0.415")
    assert not number_in_passage("3.9", "95% CI 13.94")
    assert not number_in_passage("0.5", "0.50 mg/kg")


# ---------------------------------------------------------------------------- (2) citations resolve

def test_every_citation_key_resolves(ev):
    keys = set(ev.bib.entries.keys())
    used = set()
    for _, row in _rows(STUDIES):
        used |= {row["citation_key"], row["n_source"], row["dose_source"]}
    for _, row in _rows(EFFECTS):
        used |= {row["source"], row["source2"]}
    used = {k for k in used if k and not k.startswith("http")}
    assert not (used - keys), f"keys missing from references.bib: {sorted(used - keys)}"


def test_bibliography_renders_with_pybtex_and_names_are_correct(ev):
    from pybtex.plugin import find_plugin

    style = find_plugin("pybtex.style.formatting", "plain")()
    rendered = {e.key: e.text.render_as("text") for e in style.format_entries(ev.bib.entries.values())}
    assert len(rendered) == len(ev.bib.entries)
    assert "Włodarczyk" in rendered["wlodarczyk2021"]
    assert "Cubała" in rendered["wlodarczyk2021"]
    assert "Gonçalves" in rendered["goncalves2024"]
    assert "Lívia" in rendered["calimanfontes2025"]
    assert rendered["calimanfontes2025"].startswith("Ana Teresa Caliman-Fontes")
    assert rendered["dahan2024"].startswith("Jack D. C. Dahan")


# ---------------------------------------------------------------------------- (3) the seed article's references

SEED_DOIS = {
    "schenberg2018": "10.3389/fphar.2018.00733",
    "sanacora2017": "10.1001/jamapsychiatry.2017.0080",
    "mathai2020": "10.1016/j.jad.2019.12.023",
    "luckenbaugh2014": "10.1016/j.jad.2014.02.017",
    "dore2019": "10.1080/02791072.2019.1587556",
}


@pytest.mark.parametrize("key,doi", sorted(SEED_DOIS.items()))
def test_seed_references_carry_their_dois(ev, key, doi):
    assert ev.bib.entries[key].fields["doi"] == doi


def test_seed_reference_details(ev):
    e = ev.bib.entries
    assert (e["sanacora2017"].fields["volume"], e["sanacora2017"].fields["number"], e["sanacora2017"].fields["pages"]) == ("74", "4", "399--405")
    assert (e["mathai2020"].fields["volume"], e["mathai2020"].fields["pages"]) == ("264", "123--129")
    assert (e["luckenbaugh2014"].fields["volume"], e["luckenbaugh2014"].fields["pages"]) == ("159", "56--61")
    assert (e["dore2019"].fields["volume"], e["dore2019"].fields["number"], e["dore2019"].fields["pages"]) == ("51", "2", "189--198")
    assert (e["schenberg2018"].fields["volume"], e["schenberg2018"].fields["pages"]) == ("9", "733")


def test_seed_article_is_present(ev):
    entry = ev.bib.entries["montjoy2021"]
    assert entry.type.lower() in ("misc", "online")
    assert entry.fields["title"] == "Ketamine Therapy vs Therapeutic Ketamine Infusion"
    assert [str(p) for p in entry.persons["author"]] == ["Montjoy", "Kincaid"]
    assert entry.fields["year"] == "2021"
    assert "updated 2022" in entry.fields["note"].lower()
    assert "Psychedelic Support" in entry.fields["howpublished"]
    assert "url" not in {f.lower() for f in entry.fields}
    assert "montjoy2021" in set(ev.studies["citation_key"])


def test_sanacora_letters_are_separate_entries(ev):
    assert "sanacora2017reply" in ev.bib.entries and "rasmussen2017" in ev.bib.entries
    san = ev.studies.loc["sanacora2017"]
    assert san["dose_source"] == "sanacora2017reply" and san["dose_grade"] == "P"
    assert (san["dose_mg_kg"], san["infusion_min"]) == (0.5, 40)
    assert "standard dose" in san["dose_passage"]


# ---------------------------------------------------------------------------- (4) the sheets validate

def test_sheets_validate_without_errors(ev, studies, effects):
    # every row of both sheets is in the validated copy, in order, none dropped or added
    assert list(ev.effects["effect_id"]) == list(effects["effect_id"])
    assert list(ev.studies.index) == list(studies["study_id"])
    assert ev.effects["effect_id"].is_unique and ev.studies.index.is_unique
    # only expected kinds of warnings
    for w in ev.warnings:
        assert ("grade C" in w or "benefit_sign" in w or "implies p" in w or "has no year" in w
                or "crossover_data" in w), w


def test_sheets_validate_with_snakemake_against_the_schemas():
    from snakemake.utils import validate

    for name in ("studies", "effects"):
        validate(pd.read_csv(DATA / f"{name}.csv"), str(SCHEMAS / f"{name}.schema.yaml"))


def test_sheets_are_valid_utf8_csv_with_documented_headers():
    for path, cols in ((STUDIES, STUDY_COLUMNS), (EFFECTS, EFFECT_COLUMNS)):
        with open(path, encoding="utf-8", newline="") as fh:
            header = next(csv.reader(fh))
        assert tuple(header) == cols


def test_not_found_rows_hold_no_numbers_and_say_where(effects):
    nf = effects[effects["form"] == "not_found"]
    assert len(nf) >= 10
    assert (nf[list(RESULT_NUMERIC)] == "").all().all()
    assert (nf["notes"].str.len() > 20).all()


def test_no_zero_stands_in_for_missing(effects):
    # zeros are allowed only where a source printed a zero
    for col in RESULT_NUMERIC:
        zeros = effects[effects[col].isin(["0", "0.0"])]
        for _, row in zeros.iterrows():
            assert number_in_passage("0", row["passage"] + " " + row["passage2"]), (row["effect_id"], col)


def test_derived_from_text_is_empty(effects):
    assert (effects["derived_from_text"] == "").all()


def test_data_gaps_lists_the_known_gaps(ev):
    gaps = data_gaps(ev)
    assert list(gaps.columns[:5]) == ["study_id", "citation_key", "question", "item", "reason"]
    luck = gaps[gaps["study_id"] == "luckenbaugh2014"]
    assert {"not_found", "not_poolable"} <= set(luck["kind"])
    assert luck["item"].str.contains("40 min").any() and luck["item"].str.contains("Day 1").any()
    for sid in ("zarate2006", "murrough2013", "kishimoto2016", "niciu2018", "mathai2020", "dore2019"):
        assert sid in set(gaps["study_id"]), sid


# ---------------------------------------------------------------------------- (5) UNVERIFIED stays out

UNVERIFIED_NUMBERS = ("1.46", "2.18", "7.95", "0.91", "2.01", "12.71", "3.86", "6.77", "4.87", "9.10", "4.14")


def test_unverified_values_are_absent(effects, studies):
    for col in RESULT_NUMERIC + ("time_value",):
        found = effects[effects[col].isin(UNVERIFIED_NUMBERS)]
        assert found.empty, found[["effect_id", col]].to_string()
    text = EFFECTS.read_text(encoding="utf-8") + STUDIES.read_text(encoding="utf-8")
    for value in ("1.46", "2.18", "7.95", "12.71"):
        assert not re.search(rf"(?<![\d.]){re.escape(value)}(?!\d)", text), value
    # the recalled values never appear as results of the studies they were recalled for
    assert not ((effects["study_id"] == "zarate2006") & effects["form"].isin(["d_ci", "d_p", "d_only"])).any()
    assert not ((effects["study_id"] == "murrough2013") & effects["form"].isin(["or_ci", "md_ci", "or_only"])).any()
    assert not ((effects["study_id"] == "mcgirr2015") & effects["time_unit"].eq("day")
                & ~effects["form"].eq("not_found")).any()
    assert studies.loc[studies["study_id"] == "luckenbaugh2014", "dose_mg_kg"].item() == ""
    su = effects[effects["study_id"] == "su2017"]
    assert not su["pct1"].isin(["46", "39", "13"]).any()
    assert (su.loc[su["pct1"] != "", "grade"] == "C").all()


# ---------------------------------------------------------------------------- corrections

def test_corrections_override_the_first_pass(ev):
    text = (STUDIES.read_text(encoding="utf-8") + EFFECTS.read_text(encoding="utf-8")).lower()
    ids = set(ev.studies.index) | set(ev.bib.entries.keys())
    assert not any(k.startswith(("echegaray", "bostoen")) for k in ids)
    assert "calimanfontes2025" in ev.studies.index and "dahan2024" in ev.studies.index
    assert str(ev.bib.entries["calimanfontes2025"].persons["author"][0]).startswith("Caliman-Fontes")
    assert str(ev.bib.entries["dahan2024"].persons["author"][0]).startswith("Dahan, Jack")
    assert ev.studies.loc["murrough2013", "n"] == 73
    # "Echegaray" may appear only where a note explains the correction
    for line in text.splitlines():
        if "echegaray" in line:
            assert "caliman-fontes" in line, line


# ---------------------------------------------------------------------------- coverage of the required items

def _row(ev, effect_id):
    e = ev.effects.set_index("effect_id")
    assert effect_id in e.index, effect_id
    return e.loc[effect_id]


def test_required_dissociation_rows(ev):
    # 108 is the sample analysed, not the n of this correlation (r and p imply fewer): r with p
    r = _row(ev, "luckenbaugh2014_r_230min")
    assert (r["form"], r["estimate"], r["p"], r["benefit_sign"], r["direction"]) == ("r_p", -0.35, 0.007, -1, "+")
    assert pd.isna(r["n"])
    r = _row(ev, "luckenbaugh2014_r_7day")
    assert (r["form"], r["estimate"], r["p"]) == ("r_p", -0.41, 0.01) and pd.isna(r["n"])
    r = _row(ev, "calimanfontes2025_slope_24h")
    assert (r["estimate"], r["sd"], r["p"]) == (-0.5, 0.25, 0.04) and pd.isna(r["se"])
    r = _row(ev, "mathai2023_slope_day2")
    assert (r["estimate"], r["ci_lb"], r["ci_ub"], r["p"]) == (-0.04, -0.08, -0.002, 0.04)
    assert _row(ev, "mathai2023_lmm")["p"] == 0.7
    assert _row(ev, "ijnp2022_esk_rho_day2")["direction"] == "0"
    assert _row(ev, "aust2019_anxiety")["direction"] == "-"
    assert _row(ev, "delsant2022_assoc")["grade"] == "C"
    r = _row(ev, "transform1_56mg_response")
    assert (r["estimate"], r["ci_lb"], r["ci_ub"], r["comparison_id"]) == (15.2, 2.11, 28.22, "transform1_56mg_vs_placebo")
    assert _row(ev, "transform1_56mg_dissociation_ae")["comparison_id"] == "transform1_56mg_vs_placebo"
    r = _row(ev, "su2023_response")
    assert (r["ai"], r["n1i"], r["ci"], r["n2i"]) == (15, 42, 5, 42)
    assert _row(ev, "dahan2024_r_ketamine")["estimate"] == -0.31
    assert _row(ev, "dahan2024_r_ketamine")["grade"] == "C"
    assert _row(ev, "psychoactive_meta11_r_all")["estimate"] == 0.06


def test_required_durability_rows(ev):
    r = _row(ev, "diazgranados2010_d_40min")
    assert (r["estimate"], r["ci_lb"], r["ci_ub"], r["time_days"]) == (0.52, 0.28, 0.76, pytest.approx(40 / 1440))
    assert _row(ev, "diazgranados2010_d_2day")["estimate"] == 0.80
    assert _row(ev, "zarate2012_d_dep_40min")["estimate"] == 0.89
    assert _row(ev, "murrough2013_ket_change_24h")[["estimate", "t", "df"]].tolist() == [-16.5, -10.31, 46]
    assert _row(ev, "murrough2013_mid_change_24h")[["estimate", "t", "df"]].tolist() == [-8.8, -4.63, 24]
    assert _row(ev, "murrough2013_interaction_24h")[["estimate", "df"]].tolist() == [9.62, 70]
    assert _row(ev, "murrough2013_improved_24h_news")["grade"] == "C"
    r = _row(ev, "lapidus2014_md_24h")
    assert (r["estimate"], r["ci_lb"], r["ci_ub"], r["t"]) == (7.6, 3.9, 11.3, 4.39)
    assert _row(ev, "lapidus2014_response_24h")[["ai", "n1i", "ci", "n2i"]].tolist() == [8, 18, 1, 18]
    assert _row(ev, "grunebaum2018_ssi_d_day1")["estimate"] == 0.75
    assert _row(ev, "grunebaum2018_ssi_response_day1")[["estimate", "ci_lb", "ci_ub", "pct1", "pct2"]].tolist() == [2.85, 1.14, 7.15, 55, 30]
    lii = ev.effects[(ev.effects["study_id"] == "lii2023") & (ev.effects["form"] == "means_sds")
                     & (ev.effects["scale"] == "MADRS")]
    assert sorted(lii["time_value"]) == [1, 2, 3, 5, 7, 14]
    assert _row(ev, "fava2018_d_01mg_day1")[["estimate", "dose_mg_kg", "n1i", "n2i"]].tolist() == [-0.82, 0.1, 18, 19]
    assert _row(ev, "dore2019_bdi_change")["estimate"] == -11.24
    assert _row(ev, "dore2019_hama_change")["estimate"] == -5.5
    assert ev.studies.loc["dore2019", "route"] == "non_IV" and ev.studies.loc["dore2019", "n"] == 235
    assert ev.studies.loc["singh2016", "schedule"] == "repeated"
    sal = ev.effects[(ev.effects["study_id"] == "salloum2020") & (ev.effects["outcome"] == "relapse")]
    assert sorted(sal["pct1"]) == [30, 38, 50, 50, 80, 100]
    for sid in ("berman2000", "zarate2006", "su2017", "fan2017", "talati2019", "bmcpsychiatry2024", "sos2013_nel",
                "murrough2015", "kishimoto2016", "coylelaws2015", "newport2015", "mcgirr2015", "romeo2015", "han2016",
                "ijnp2016_meta", "cochrane2021", "wilkinson2019", "price2022", "conley2021", "matsingos2024",
                "parsaik2015", "tap2014_review", "schenberg2018", "montjoy2021", "ballard2020", "goncalves2024"):
        assert sid in ev.studies.index, sid


def test_roles(ev):
    roles = ev.studies["role"].value_counts()
    assert roles["primary"] >= 30 and roles["comparator"] >= 15 and roles["context"] >= 4
    comparators = ev.studies[ev.studies["role"] == "comparator"]
    assert comparators["design"].isin(["meta_analysis", "systematic_review"]).all()


# ---------------------------------------------------------------------------- (6) README <-> schema

def _readme_columns(section):
    text = README.read_text(encoding="utf-8")
    start = text.index(f"## `{section}` columns")
    end = text.index("\n#", start + 1)
    return re.findall(r"^\| `([a-z0-9_]+)` \|", text[start:end], flags=re.M)


@pytest.mark.parametrize("sheet,columns", [("studies", STUDY_COLUMNS), ("effects", EFFECT_COLUMNS)])
def test_readme_and_schema_document_the_same_columns(sheet, columns):
    schema = yaml.safe_load((SCHEMAS / f"{sheet}.schema.yaml").read_text(encoding="utf-8"))
    documented = _readme_columns(f"{sheet}.csv")
    assert documented == list(schema["properties"]), "README and schema list different columns"
    assert tuple(documented) == columns, "README/schema and ketameta.evidence disagree"
    for col, prop in schema["properties"].items():
        assert prop.get("description"), f"{sheet}.{col} has no description"
    assert schema["$schema"].endswith("2020-12/schema")
    assert set(schema["required"]) <= set(schema["properties"])


@pytest.mark.parametrize("sheet", ["studies", "effects"])
def test_schema_enums_match_the_loader_vocabulary(sheet):
    schema = yaml.safe_load((SCHEMAS / f"{sheet}.schema.yaml").read_text(encoding="utf-8"))
    for col, allowed in VOCABULARY[sheet].items():
        enum = [v for v in schema["properties"][col]["enum"] if not (col == "direction" and v == 0)]
        assert enum == list(allowed), col
    if sheet == "effects":
        assert schema["properties"]["form"]["enum"] == list(FORMS)
        readme = README.read_text(encoding="utf-8")
        for form in FORMS:
            assert f"| `{form}` |" in readme, f"form {form} not documented in the README"
    numeric = STUDY_NUMERIC if sheet == "studies" else RESULT_NUMERIC
    for col in numeric:
        assert schema["properties"][col]["type"] == "number", col


def test_readme_add_a_trial_example_is_valid(tmp_path):
    """The worked example in data/README.md passes the loader when appended to the sheets."""
    text = README.read_text(encoding="utf-8")
    csv_blocks = re.findall(r"```csv\n(.*?)\n```", text, flags=re.S)
    bib_block = re.findall(r"```bibtex\n(.*?)\n\s*```", text, flags=re.S)[0]
    assert len(csv_blocks) == 3
    data = tmp_path / "data"
    shutil.copytree(DATA, data)
    with open(data / "references.bib", "a", encoding="utf-8") as fh:
        fh.write("\n" + "\n".join(line[3:] if line.startswith("   ") else line for line in bib_block.splitlines()) + "\n")
    with open(data / "studies.csv", "a", encoding="utf-8") as fh:
        fh.write(csv_blocks[0] + "\n")
    with open(data / "effects.csv", "a", encoding="utf-8") as fh:
        fh.write(csv_blocks[1] + "\n" + csv_blocks[2] + "\n")
    ev = load_evidence(data / "studies.csv", data / "effects.csv", data / "references.bib")
    assert "smith2026" in ev.studies.index
    assert set(ev.effects.loc[ev.effects["study_id"] == "smith2026", "form"]) == {"events", "means_sds", "not_found"}
    gaps = data_gaps(ev)
    assert (gaps["study_id"] == "smith2026").any()
