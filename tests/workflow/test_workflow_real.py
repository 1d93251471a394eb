"""End-to-end runs of the Snakemake workflow on the repository's own data/ and config/: every
headline estimate in the tables is recomputed from results/effect_sizes/ without the workflow; the
report renders in headless Chromium; a second run does nothing; an edited row reruns only what
depends on it; a trial added by following data/README.md shows up in the outputs.
"""

from __future__ import annotations

import csv
import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest

from .runs import ROOT, _copy_repo, _fit, _jobs, _snakemake, assert_reads_like_a_report, reml_knha

pytestmark = pytest.mark.workflow

# -- the repository's own evidence base -------------------------------------------------------

@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    root = _copy_repo(tmp_path_factory.mktemp("real"))
    _snakemake(root)
    return root


def test_real_outputs_match_the_committed_digests(real_run):
    """Every output byte-identical to tests/workflow/output_digests.txt (`make digests` updates it
    in a commit that is meant to change results)."""
    from .digests import digests, read_committed

    now, committed = digests(real_run / "results"), read_committed()
    changed = sorted(k for k in committed.keys() & now.keys() if committed[k] != now[k])
    assert (changed, sorted(committed.keys() - now.keys()), sorted(now.keys() - committed.keys())) \
        == ([], [], []), "outputs changed: run `make digests` if the change is intended"


def test_real_headline_estimates_recomputed_from_effect_sizes(real_run):
    """Issue 6: every pooled headline number in the tables, recomputed without the workflow."""
    import yaml

    cfg = yaml.safe_load((real_run / "config" / "config.yaml").read_text())
    checked = 0
    for aid, spec in cfg["analyses"].items():
        fit = _fit(real_run, aid)
        if fit["status"] != "ok" or spec["type"] not in ("correlation", "slopes", "durability"):
            continue
        es = pd.read_csv(real_run / "results" / "effect_sizes" / f"{aid}.csv")
        tab = pd.read_csv(real_run / "results" / "tables" / f"{aid}.csv")
        for p in fit["pools"]:
            sub = es[es["effect_id"].isin(p["effect_ids"])]
            tr = {"ZCOR": np.tanh, "OR": np.exp}.get(spec.get("measure"), lambda z: z)
            if p["k"] == 1:  # a single study: its own estimate and z interval, not a pool
                row = tab[(tab["row"] == "pooled") & (tab["section"] == p["label"])].iloc[0]
                y, se = float(sub["yi"].iloc[0]), float(np.sqrt(sub["vi"].iloc[0]))
                assert row["estimate"] == pytest.approx(float(tr(y)), rel=1e-9), (aid, p["label"])
                assert row["ci_lb"] == pytest.approx(float(tr(y - 1.959963984540054 * se)), rel=1e-6)
                assert row["label"].startswith("Not pooled")
                checked += 1
                continue
            if p["k"] < 2 or spec["test"] != "knha" or spec["method"] != "REML":
                continue
            b, lo, hi, _ = reml_knha(sub["yi"], sub["vi"])
            tr = {"ZCOR": np.tanh, "OR": np.exp}.get(spec.get("measure"), lambda z: z)
            row = tab[(tab["row"] == "pooled") & (tab["section"] == p["label"])].iloc[0]
            assert row["estimate"] == pytest.approx(float(tr(b)), rel=1e-6), (aid, p["label"])
            assert row["ci_lb"] == pytest.approx(float(tr(lo)), rel=1e-5), (aid, p["label"])
            assert row["ci_ub"] == pytest.approx(float(tr(hi)), rel=1e-5), (aid, p["label"])
            assert row["k"] == len(sub)
            checked += 1
    import ketameta as km

    for aid, spec in cfg["analyses"].items():
        fit = _fit(real_run, aid)
        if spec["type"] != "metareg" or fit["status"] != "ok":
            continue
        es = pd.read_csv(real_run / "results" / "effect_sizes" / f"{aid}.csv")
        mod = spec["moderator"]["name"]
        cols = [mod] + [c for c in fit.get("covariates", []) if c in es.columns]
        res = km.rma(es["yi"], es["vi"], mods=es[cols], method=spec["method"],
                     test=spec["test"])
        assert fit["slope"] == pytest.approx(res.beta[1], rel=1e-8)
        tab = pd.read_csv(real_run / "results" / "tables" / f"{aid}.csv")
        slope_row = tab[tab["contrast"] == f"slope on {mod}"].iloc[0]
        assert slope_row["estimate"] == pytest.approx(res.beta[1], rel=1e-8)
        checked += 1
    # not vacuous: the real data have pooled windows and meta-regressions to check
    assert checked >= 3
    claims = pd.read_csv(real_run / "results" / "tables" / "claims.csv")
    assert set(claims["verdict"]) <= {"supported", "mixed", "not supported", "not supported (shorter)",
                                      "not supported (longer)", "insufficient data"}
    assert len(claims) == len(cfg["claims"])


def test_real_tables_state_k_model_estimator_test(real_run):
    checked = set()
    for notes in (real_run / "results" / "tables").glob("*.notes.txt"):
        text = notes.read_text("utf-8")
        stem = notes.name.split(".")[0]
        if stem in ("dissociation_correlation", "dissociation_slopes", "durability",
                    "durability_response", "dissociation_metareg", "dose_metareg"):
            if "The analysis could not be fitted:" in text:
                continue  # a failed analysis says why instead (e.g. no awake-infusion response data)
            assert "k =" in text and "Estimator" in text or "estimator" in text, stem
            assert "Knapp-Hartung" in text or "knha" in text, stem
            checked.add(stem)
    assert {"dissociation_correlation", "dissociation_slopes", "durability"} <= checked


def test_real_c_grade_never_in_primary_analyses(real_run):
    for es_path in (real_run / "results" / "effect_sizes").glob("*.csv"):
        if es_path.name.endswith(".excluded.csv"):
            continue
        es = pd.read_csv(es_path)
        if "grade" in es.columns:
            assert "C" not in set(es["grade"].dropna()), es_path.name
    sens = json.loads((real_run / "results" / "fits" / "sensitivity.json").read_text())
    assert any(r["variant"] == "with C-grade sources" for r in sens["rows"])


def test_real_report_renders_in_browser(real_run):
    from tests.browser.conftest import check_rendered

    state = check_rendered(real_run / "results" / "report.html",
                           ["Claims of the source article",
                            "Acute dissociation and improvement: pooled within-study correlations",
                            "Benefit of one infusion vs. control over time (depression severity)",
                            "Effect direction of studies without usable numbers (and of all others)",
                            "IV infusion and ketamine-assisted psychotherapy side by side",
                            "Sensitivity analyses", "Data gaps", "References",
                            "Summary of findings: one IV infusion of ketamine vs control in depression",
                            "Next update: trials expected"])
    alts = " ".join(str(i["alt"]) for i in state["images"])
    # the risk-of-bias figures render beside the first summary of findings (and load: no broken image)
    assert "Risk of bias per trial (RoB 2; traffic-light plot)" in alts
    assert "Risk of bias per domain" in alts
    assert any(h["text"].startswith("What changed") for h in state["headings"])
    assert_reads_like_a_report(state, real_run)


def test_real_references_citable_or_listed_in_the_data_gaps(real_run):
    """Issue 18: every study an analysis used has a citable reference (authors, year, title,
    journal, volume, pages, DOI or PMID) or is listed in the data gaps with exactly the fields it
    lacks; the report's references link the DOI (else PMID) and never a copy of the paper."""
    from html.parser import HTMLParser

    from ketameta.outputs.citations import PRIMARY_HOSTS, Citations

    res = real_run / "results"
    used = set()
    for p in (res / "effect_sizes").glob("*.csv"):
        if p.name.endswith(".excluded.csv"):
            continue
        try:
            df = pd.read_csv(p)
        except pd.errors.EmptyDataError:
            continue
        if "study_id" in df:
            used.update(df["study_id"].dropna().astype(str))
    assert len(used) >= 10
    studies = pd.read_csv(real_run / "data" / "studies.csv").set_index("study_id")
    cit = Citations(real_run / "data" / "references.bib")
    gaps = pd.read_csv(res / "tables" / "data_gaps.csv")
    listed = {r.study_id: r.item for r in gaps[gaps["kind"] == "reference_incomplete"].itertuples()}
    incomplete = {}
    for sid in sorted(used & set(studies.index)):
        missing = cit.missing_fields(studies.loc[sid, "citation_key"])
        if missing:
            incomplete[sid] = "reference: " + ", ".join(missing)
    hidden = {s: m for s, m in incomplete.items() if listed.get(s) != m}
    assert not hidden, f"incomplete references not listed (or listed wrongly) in data_gaps: {hidden}"

    class Links(HTMLParser):
        def __init__(self):
            super().__init__()
            self.items, self.depth, self.texts = [], 0, []

        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if tag == "ul" and "km-references" in (a.get("class") or ""):
                self.depth = 1
            elif tag == "li" and self.depth:
                self.items.append([])
                self.texts.append("")
            elif tag == "a" and self.depth and self.items:
                self.items[-1].append(a.get("href", ""))

        def handle_endtag(self, tag):
            if tag == "ul":
                self.depth = 0

        def handle_data(self, data):
            if self.depth and self.texts:
                self.texts[-1] += data

    parser = Links()
    parser.feed((res / "report.html").read_text("utf-8"))
    assert len(parser.items) >= 30
    for hrefs in parser.items:
        hosts = [re.sub(r"^[a-z]+://", "", h).split("/")[0] for h in hrefs]
        assert all(any(x == h or x.endswith("." + h) for h in PRIMARY_HOSTS) for x in hosts), hrefs
        if any("doi.org/" in h for h in hrefs):
            assert len(hrefs) == 1, hrefs  # the DOI is the link
    # a detail that was not found is absent, never printed in its place
    said = [t for t in parser.texts if re.search(r"\bnot (shown|seen|recorded|found)\b", t, re.I)]
    assert not said, said[:3]


def test_real_latex_tables_fit_a_page(real_run):
    """Issue 18: a compact LaTeX column set (the durability table had 13 columns), no empty
    pools, tabularx for wrapping text, a sideways float when there are many columns."""
    from ketameta.outputs.tables import LATEX_LANDSCAPE_COLUMNS, LATEX_TABULARX_COLUMNS

    def columns(tex):
        m = re.search(r"\\begin\{tabularx?\}(?:\{\\linewidth\})?\{@\{\}(.+?)@\{\}\}\n", tex)
        spec = re.sub(r">\{\\raggedright\\arraybackslash\}X", "X", m.group(1))
        assert re.fullmatch(r"[lrcX]+", spec), spec
        return len(spec)

    counts = {}
    for p in sorted((real_run / "results" / "tables").glob("*.tex")):
        tex = p.read_text("utf-8")
        n = counts[p.stem] = columns(tex)
        if n > LATEX_LANDSCAPE_COLUMNS:
            assert "\\begin{sidewaystable}" in tex, p.name
        if n > LATEX_TABULARX_COLUMNS:
            assert "\\begin{tabularx}{\\linewidth}" in tex, p.name
    assert counts["durability"] <= 8
    assert "k = 0)" not in (real_run / "results" / "tables" / "durability.tex").read_text("utf-8")
    assert "k = 0)" not in (real_run / "results" / "tables" / "durability.html").read_text("utf-8")


def test_real_second_run_does_nothing_and_edit_reruns_only_dependents(real_run):
    out = _snakemake(real_run, "-n").stdout
    assert "Nothing to be done" in out
    # edit one durability row (Berman 2000's locator text): only analyses reading it rerun
    path = real_run / "data" / "effects.csv"
    original = path.read_text("utf-8")
    rows = list(csv.DictReader(original.splitlines()))
    for r in rows:
        if r["effect_id"] == "berman2000_change_72h":
            r["notes"] = r["notes"] + " (edited in a test)"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    try:
        dry = _snakemake(real_run, "-n").stdout
        jobs = _jobs(dry)
        # the row belongs to question 'durability': durability-type analyses rerun ...
        assert jobs.get("compute_effect_sizes", 0) >= 1
        # ... the dissociation analyses do not
        assert "dissociation_correlation" not in re.findall(r"analysis=(\w+)", dry)
        assert "wildcards: analysis=dissociation_slopes" not in dry
    finally:
        path.write_text(original, "utf-8")


def test_real_adding_a_trial_by_the_data_readme(real_run, tmp_path):
    """Issue 5: follow data/README.md 'Add a new trial' literally, rerun, find the trial."""
    guide = (ROOT / "data" / "README.md").read_text("utf-8")
    section = guide[guide.index("## Add a new trial"):]
    bib = re.search(r"```bibtex\n(.*?)```", section, re.S).group(1)
    blocks = re.findall(r"```csv\n(.*?)```", section, re.S)
    study_lines = blocks[0].strip().splitlines()
    effect_lines = [ln for b in blocks[1:] for ln in b.strip().splitlines()]
    root = _copy_repo(tmp_path / "repo")
    # reuse the real run's results so only the affected jobs run
    shutil.copytree(real_run / "results", root / "results", dirs_exist_ok=True)
    shutil.copytree(real_run / ".snakemake", root / ".snakemake", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("conda", "singularity", "log"))
    # living review: release this version; a second `release` makes no second version; a run
    # without a data change says so
    shutil.rmtree(root / "releases", ignore_errors=True)
    _snakemake(root, "release")
    _snakemake(root, "release")
    versions = sorted((root / "releases").glob("*/release.json"))
    assert len(versions) == 1
    version = json.loads(versions[0].read_text())["version"]
    _snakemake(root)
    ch = json.loads((root / "results" / "changes.json").read_text())
    assert ch["changed"] is False and ch["summary"].startswith(f"No change since version {version}")
    with open(root / "data" / "references.bib", "a", encoding="utf-8") as fh:
        fh.write("\n" + bib)
    for name, lines in (("studies.csv", study_lines), ("effects.csv", effect_lines)):
        with open(root / "data" / name, "a", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")
    _snakemake(root)
    res = root / "results"
    studies = (res / "tables" / "studies.md").read_text("utf-8")
    assert "Smith et al. 2026" in studies
    gaps = pd.read_csv(res / "tables" / "data_gaps.csv")
    assert "smith2026" in set(gaps["study_id"])
    refs = (res / "references.md").read_text("utf-8")
    assert "Smith" in refs
    excluded = pd.concat(pd.read_csv(p) for p in (res / "effect_sizes").glob("*.excluded.csv"))
    used = pd.concat(pd.read_csv(p) for p in (res / "effect_sizes").glob("*.csv")
                     if not p.name.endswith(".excluded.csv"))
    ids = set(excluded.get("effect_id", pd.Series(dtype=str))) | set(
        used.get("effect_id", pd.Series(dtype=str)))
    assert {"smith2026_response_24h", "smith2026_cadss_40min"} <= ids
    report = (res / "report.html").read_text("utf-8")
    assert "Smith et al. 2026" in report
    # the run summary names every new row an analysis did not use, with its exclusion's reason
    summary = json.loads((res / "run_summary.json").read_text())
    named = {(r["analysis"], r["key"]): r["reason"] for r in summary["new_not_used"]}
    expected = {}
    for p in (res / "effect_sizes").glob("*.excluded.csv"):
        aid = p.name.removesuffix(".excluded.csv")
        ex = pd.read_csv(p, dtype=str)
        if "effect_id" not in ex.columns:  # study-level kinds (approaches)
            continue
        used = set(pd.read_csv(res / "effect_sizes" / f"{aid}.csv", dtype=str).get("effect_id", []))
        for r in ex[ex.get("study_id", pd.Series(dtype=str)) == "smith2026"].to_dict("records"):
            if r["effect_id"] not in used:
                expected.setdefault((aid, r["effect_id"]), r["reason"])
    assert expected and named == expected
    # what changed since the release: the new study and rows, and every estimate that moved
    ch = json.loads((res / "changes.json").read_text())
    assert ch["changed"] and ch["since"] == version
    assert f"What changed since version {version}" in report
    assert "smith2026" in ch["sheets"]["studies.csv"]["added"]
    assert {"smith2026_response_24h", "smith2026_cadss_40min", "smith2026_madrs_change_24h"} <= set(
        ch["sheets"]["effects.csv"]["added"])
    before = {(r["analysis"], r["estimate_name"]): r
              for r in json.loads((versions[0].parent / "headlines.json").read_text())}
    after = {(r["analysis"], r["estimate_name"]): r
             for r in json.loads((res / "living" / "headlines.json").read_text())}

    def differs(a, b):
        keys = ("estimate", "ci_lb", "ci_ub", "k", "participants")
        return any((a.get(f) is None) != (b.get(f) is None) or
                   (a.get(f) is not None and abs(float(a[f]) - float(b[f])) > 1e-9 * max(1, abs(float(a[f]))))
                   for f in keys)

    moved = {k for k in set(before) | set(after) if differs(before.get(k, {}), after.get(k, {}))}
    listed = {(e["analysis"], e["estimate_name"]): e for e in ch["estimates"]}
    assert moved and set(listed) == moved
    for k, e in listed.items():
        assert e["before"]["estimate"] == before.get(k, {}).get("estimate")
        assert e["after"]["estimate"] == after.get(k, {}).get("estimate")
        assert e["delta_k"] == (after.get(k, {}).get("k") or 0) - (before.get(k, {}).get("k") or 0)
    # the guide's MADRS change row opens the day-1 pool: Hedges' g of the change scores, recomputed
    import ketameta as km

    g = km.escalc("SMD", m1i=[-15.1], sd1i=[9.8], n1i=[30], m2i=[-8.2], sd2i=[9.5], n2i=[30])
    day1 = listed[("durability", "day 1")]
    assert day1["after"]["estimate"] == pytest.approx(-float(g["yi"].iloc[0]), rel=1e-10)
    assert day1["before"]["k"] == 0 and day1["after"]["k"] == 1 and day1["delta_k"] == 1
    claims_before = pd.read_csv(versions[0].parent / "claims.csv").set_index("id")["verdict"]
    claims_after = pd.read_csv(res / "tables" / "claims.csv").set_index("id")["verdict"]
    flipped = {c for c in claims_after.index if claims_before.get(c) != claims_after[c]}
    assert flipped == {c["item"] for c in ch["verdicts"]}
