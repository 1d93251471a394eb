"""End-to-end runs of the Snakemake workflow in temporary directories.

* ``tiny``: a synthetic data set (tests/workflow/tiny.py) whose numbers are recomputed here
  independently: effect sizes by hand, pooled estimates with a dense-matrix REML written in this
  file, implied sample sizes by root finding on the t distribution.
* ``real``: the repository's own data/ and config/: every headline estimate in the tables is
  recomputed from results/effect_sizes/ without the workflow; the report renders in headless
  Chromium; a second run does nothing; an edited row reruns only what depends on it; a trial
  added by following data/README.md shows up in the outputs.
"""

from __future__ import annotations

import csv
import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats

from . import tiny

pytestmark = pytest.mark.workflow

ROOT = Path(__file__).resolve().parents[2]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def _copy_repo(dest: Path, with_data=True) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(ROOT / "Snakefile", dest / "Snakefile")
    for d in ("workflow", "config") + (("data",) if with_data else ()):
        shutil.copytree(ROOT / d, dest / d, ignore=shutil.ignore_patterns("__pycache__"))
    if with_data and (ROOT / "releases").is_dir():  # the committed versions of the living review
        shutil.copytree(ROOT / "releases", dest / "releases")
    return dest


def _snakemake(cwd: Path, *args, check=True) -> subprocess.CompletedProcess:
    proc = subprocess.run([SNAKEMAKE, "--cores", "2", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout[-4000:]}\n"
                             f"{proc.stderr[-6000:]}")
    return proc


def _jobs(dry_run_output: str) -> dict:
    """Job counts from the 'Job stats' block of a dry run."""
    counts = {}
    m = re.search(r"Job stats:\n(.*?)\n\n", dry_run_output, re.S)
    if not m:
        return counts
    for line in m.group(1).splitlines()[2:]:
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and parts[0] != "total":
            counts[parts[0]] = int(parts[1])
    return counts


def reml_knha(yi, vi, level=95):
    """Intercept-only REML (Fisher scoring to 1e-14) + Knapp-Hartung, dense matrices.

    Deliberately written from the textbook formulas (Viechtbauer 2005; Knapp & Hartung 2003)
    with k x k matrices, independent of ketameta's O(k) engine.
    """
    y, v = np.asarray(yi, float), np.asarray(vi, float)
    k = y.size
    X = np.ones((k, 1))
    t2 = max(0.0, (np.sum((y - y.mean()) ** 2) - np.sum(v) * (k - 1) / k) / (k - 1))
    for _ in range(10_000):
        W = np.diag(1 / (v + t2))
        P = W - W @ X @ np.linalg.inv(X.T @ W @ X) @ X.T @ W
        step = (y @ P @ P @ y - np.trace(P)) / np.trace(P @ P)
        while t2 + step < 0:
            step /= 2
        t2 += step
        if abs(step) < 1e-14:
            break
    W = np.diag(1 / (v + t2))
    b = float(np.linalg.solve(X.T @ W @ X, X.T @ W @ y)[0])
    w = 1 / (v + t2)
    s2 = float(np.sum(w * (y - b) ** 2) / (k - 1))
    se = math.sqrt(s2 / np.sum(w))
    crit = stats.t.isf((1 - level / 100) / 2, k - 1)
    return b, b - crit * se, b + crit * se, t2


# -- the tiny synthetic data set -------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    root = _copy_repo(tmp_path_factory.mktemp("tiny"), with_data=False)
    tiny.build(root / "data")
    _snakemake(root)
    return root


def _fit(root, aid):
    return json.loads((root / "results" / "fits" / f"{aid}.json").read_text())


def test_tiny_correlation_numbers(tiny_run):
    fit = _fit(tiny_run, "dissociation_correlation")
    acute = next(p for p in fit["pools"] if p["window"]["name"] == "acute")
    yi = [math.atanh(-r if s == "-1" else r) for _, r, s, _, _, _ in tiny.ACUTE_R]
    vi = [1 / (n - 3) for _, _, _, n, _, _ in tiny.ACUTE_R]
    b, lo, hi, t2 = reml_knha(yi, vi)
    assert acute["k"] == 3
    assert acute["estimate"] == pytest.approx(b, rel=1e-7)
    assert [acute["ci_lb"], acute["ci_ub"]] == pytest.approx([lo, hi], rel=1e-6)
    assert acute["estimate_bt"] == pytest.approx(math.tanh(b), rel=1e-7)
    # the table shows the back-transformed pooled r with the same numbers
    tab = pd.read_csv(tiny_run / "results" / "tables" / "dissociation_correlation.csv")
    pooled = tab[(tab["row"] == "pooled") & (tab["section"].str.startswith("acute"))].iloc[0]
    assert pooled["estimate"] == pytest.approx(math.tanh(b), rel=1e-7)
    assert pooled["k"] == 3 and pooled["estimator"] == "REML" and pooled["test"] == "knha"


def test_tiny_implied_n_is_derived_and_flagged(tiny_run):
    es = pd.read_csv(tiny_run / "results" / "effect_sizes" / "dissociation_correlation.csv")
    row = es[es["effect_id"] == "beta2021_r_day7"].iloc[0]
    _, r, p, _, _ = tiny.DAY7_R_P

    def pval(n):
        t = r * math.sqrt(n - 2) / math.sqrt(1 - r * r)
        return 2 * stats.t.sf(t, n - 2) - p

    n_exact = optimize.brentq(pval, 4, 10_000)
    assert row["n_total"] == round(n_exact)
    assert bool(row["n_derived"]) and "DERIVED" in row["derivation"]
    assert row["vi"] == pytest.approx(1 / (round(n_exact) - 3), rel=1e-12)


def test_tiny_durability_effect_sizes_and_pools(tiny_run):
    es = pd.read_csv(tiny_run / "results" / "effect_sizes" / "durability.csv")
    fit = _fit(tiny_run, "durability")
    for sid, rows in tiny.DURABILITY.items():
        if sid == "delta2023":  # 0.2 mg/kg: filtered out of the 0.5 mg/kg durability analysis
            assert sid not in set(es["study_id"])
            continue
        for t, u, m1, m2 in rows:
            g, v = tiny.expected_smd(m1, m2)
            r = es[es["effect_id"] == f"{sid}_madrs_{t}{u}"].iloc[0]
            assert r["yi"] == pytest.approx(g, rel=1e-10)
            assert r["vi"] == pytest.approx(v, rel=1e-10)
    day1 = next(p for p in fit["pools"] if p["label"] == "day 1")
    pairs = [tiny.expected_smd(m1, m2) for s, rows in tiny.DURABILITY.items() if s != "delta2023"
             for t, u, m1, m2 in rows if (t, u) == (1, "day")]
    b, lo, hi, _ = reml_knha([g for g, _ in pairs], [v for _, v in pairs])
    assert day1["k"] == 3 and day1["estimate"] == pytest.approx(b, rel=1e-7)
    assert [day1["ci_lb"], day1["ci_ub"]] == pytest.approx([lo, hi], rel=1e-6)
    tc = fit["time_course"]
    assert tc["k"] == len(es) and tc["n_studies"] == 3
    assert tc["slope_log_days"] < 0  # the synthetic benefit fades
    assert tc["robust"]["adjust"] == "CR2"


def test_tiny_metareg_and_dose(tiny_run):
    import ketameta as km

    fit = _fit(tiny_run, "dissociation_metareg")
    yi = [100 * (a1 / n1 - a2 / n2) for _, a1, n1, a2, n2, _, _ in tiny.METAREG]
    vi = [1e4 * (a1 / n1 * (1 - a1 / n1) / n1 + a2 / n2 * (1 - a2 / n2) / n2)
          for _, a1, n1, a2, n2, _, _ in tiny.METAREG]
    x = [100 * (d1 / n1 - d2 / n2) for _, _, n1, _, n2, d1, d2 in tiny.METAREG]
    # the workflow's effect sizes are the hand-computed ones; the slope is adjusted for dose
    # (it varies in the tiny data; drug is constant and dropped, as the fit says)
    es = pd.read_csv(tiny_run / "results" / "effect_sizes" / "dissociation_metareg.csv")
    order = [es.index[es["study_id"] == sid][0] for sid, *_ in tiny.METAREG]
    es = es.loc[order]
    assert es["yi"].to_numpy() == pytest.approx(yi, rel=1e-12)
    assert es["vi"].to_numpy() == pytest.approx(vi, rel=1e-9)
    assert es["dissociation_rd"].to_numpy() == pytest.approx(x, rel=1e-12)
    assert fit["covariates"] == ["dose"]
    res = km.rma(yi, vi, mods=pd.DataFrame({"dissociation_rd": x, "dose": es["dose"].to_numpy()}),
                 test="knha")
    assert fit["k"] == 4 and fit["exploratory"] is True
    assert fit["slope"] == pytest.approx(res.beta[1], rel=1e-9)
    assert fit["permutation"]["exact"] is True and fit["permutation"]["iter"] == 24
    dose = _fit(tiny_run, "dose_metareg")
    assert dose["status"] == "ok" and dose["k"] == 4  # alpha, beta, gamma at 0.5; delta at 0.2


def test_tiny_all_outputs_and_escaping(tiny_run):
    res = tiny_run / "results"
    for a in ("dissociation_correlation", "durability", "effect_direction", "approaches"):
        for ext in ("csv", "md", "tex", "html"):
            assert (res / "tables" / f"{a}.{ext}").stat().st_size > 0
    html = (res / "report.html").read_text("utf-8")
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    md = (res / "tables" / "data_gaps.md").read_text("utf-8")
    assert "R&D" in md or "R\\&D" in md
    tex = (res / "tables" / "studies.tex").read_text("utf-8")
    assert r"R\&D\_100\%" in tex  # the author-year label of delta2023, escaped for LaTeX
    vals = (res / "values" / "values.tex").read_text("utf-8").strip().splitlines()
    assert all(v.startswith(("%", r"\newcommand")) for v in vals)


_SNAKE = re.compile(r"(?<![\w/.\-])[a-z][a-z0-9]*(?:_[a-z0-9]+)+(?![\w/\-])")


def internal_names(root: Path) -> set[str]:
    """The names a reader must not meet in the report: the columns of every CSV the run wrote
    and of the data sheets, the config's analysis and claim ids, and the coded outcome values."""
    import yaml

    names = set()
    for p in [*(root / "results").rglob("*.csv"), *(root / "data").glob("*.csv")]:
        try:
            names.update(pd.read_csv(p, nrows=0).columns.astype(str))
        except pd.errors.EmptyDataError:
            continue
    cfg = yaml.safe_load((root / "config" / "config.yaml").read_text())
    names.update(cfg["analyses"])
    names.update(c["id"] for c in cfg.get("claims", []))
    names.update(pd.read_csv(root / "data" / "effects.csv", usecols=["outcome"])["outcome"]
                 .dropna().astype(str))
    return {n for n in names if "_" in n}


def assert_reads_like_a_report(state: dict, root: Path) -> None:
    """No sideways scrolling at 1280 px (page and every table) and no internal name outside
    the data-provenance cells (class km-prov: rows of data/effects.csv, input warnings)."""
    lay = state["layout"]
    assert lay["viewport"] == 1280
    page = lay["page"]
    assert page["scrollWidth"] <= page["clientWidth"], f"the page scrolls sideways: {page}"
    wide = [t for t in lay["tables"]
            if t["scrollWidth"] > t["clientWidth"] or t["right"] > page["clientWidth"]
            or t["containerScrollWidth"] > t["containerClientWidth"]]
    assert lay["tables"] and not wide, f"tables wider than the page: {wide}"
    forbidden = internal_names(root)
    seen = sorted({m for m in _SNAKE.findall(state["visible_text"]) if m in forbidden})
    assert not seen, f"internal names in the report text: {seen}"


def test_internal_names_check_can_fail(tmp_path):
    """The scan finds an internal name in reader text and ignores it in a provenance cell."""
    (tmp_path / "results").mkdir()
    (tmp_path / "data").mkdir()
    (tmp_path / "config").mkdir()
    pd.DataFrame({"study_id": [], "ci_lb": []}).to_csv(tmp_path / "results" / "t.csv", index=False)
    pd.DataFrame({"outcome": ["depression_severity"]}).to_csv(tmp_path / "data" / "effects.csv",
                                                               index=False)
    (tmp_path / "config" / "config.yaml").write_text("analyses: {dose_metareg: {}}\nclaims: []\n")
    ok = {"layout": {"viewport": 1280, "page": {"scrollWidth": 1280, "clientWidth": 1280},
                     "tables": [{"scrollWidth": 10, "clientWidth": 10, "right": 100,
                                 "containerScrollWidth": 10, "containerClientWidth": 10}]},
          "visible_text": "Study 95% CI Dose (mg/kg)"}
    assert_reads_like_a_report(ok, tmp_path)
    for text in ("the study_id column", "dose_metareg: failed", "depression_severity"):
        with pytest.raises(AssertionError, match="internal names"):
            assert_reads_like_a_report({**ok, "visible_text": text}, tmp_path)
    wide = {**ok, "layout": {**ok["layout"], "tables": [{**ok["layout"]["tables"][0],
                                                         "scrollWidth": 1400}]}}
    with pytest.raises(AssertionError, match="wider"):
        assert_reads_like_a_report(wide, tmp_path)
    scroll = {**ok, "layout": {**ok["layout"], "page": {"scrollWidth": 1500, "clientWidth": 1280}}}
    with pytest.raises(AssertionError, match="sideways"):
        assert_reads_like_a_report(scroll, tmp_path)


def test_tiny_report_renders_in_browser(tiny_run):
    from tests.browser.conftest import check_rendered

    state = check_rendered(tiny_run / "results" / "report.html",
                           ["Claims of the source article", "Sensitivity analyses", "Data gaps",
                            "References"])
    assert_reads_like_a_report(state, tiny_run)


def test_tiny_trial_outside_a_filter_is_named_in_summary_and_explain(tiny_run, tmp_path):
    """Issue 18: a trial added at a dose the durability filter leaves out (0.25 mg/kg) is named,
    with the exclusion's reason, in the run summary and by `explain`."""
    first = json.loads((tiny_run / "results" / "run_summary.json").read_text())
    assert first["previous"] is False and first["new_not_used"] == []
    assert (tiny_run / "results" / "run_summary.txt").read_text("utf-8").rstrip().endswith(
        "Report: results/report.html")
    root = tmp_path / "tiny"
    shutil.copytree(tiny_run, root, ignore=shutil.ignore_patterns("conda", "singularity", "log"))
    study = tiny._study("zeta2025", dose="0.25", n="60")
    row = tiny._eff("zeta2025_madrs_1day", "zeta2025", "durability", "depression_severity",
                    "means_sds", 1, "day", benefit_sign="-1", m1i=16.0, sd1i=tiny.SD, n1i=30,
                    m2i=22.0, sd2i=tiny.SD, n2i=30)
    for name, cols, rec in (("studies.csv", tiny.STUDY_COLS, study), ("effects.csv", tiny.EFFECT_COLS, row)):
        with open(root / "data" / name, "a", newline="", encoding="utf-8") as fh:
            csv.DictWriter(fh, fieldnames=cols, lineterminator="\n").writerow({c: rec.get(c, "") for c in cols})
    with open(root / "data" / "references.bib", "a", encoding="utf-8") as fh:
        fh.write("@article{zeta2025,\n  author = {Zulu, Z.},\n  title = {Example low-dose trial two},\n"
                 "  journal = {Example Journal},\n  year = {2025}\n}\n")
    _snakemake(root)
    res = root / "results"
    excluded = pd.read_csv(res / "effect_sizes" / "durability.excluded.csv", dtype=str)
    reason = excluded.set_index("effect_id").loc["zeta2025_madrs_1day", "reason"]
    assert reason == "dose_mg_kg not in [0.5]"
    summary = json.loads((res / "run_summary.json").read_text())
    assert summary["previous"] is True
    new = [r for r in summary["new_not_used"] if r["analysis"] == "durability"]
    assert new == [{"analysis": "durability", "key": "zeta2025_madrs_1day", "study_id": "zeta2025",
                    "reason": reason, "was": "new row"}]
    # the row enters the dose meta-regression (no dose filter there): not listed as not used
    assert not any(r["analysis"] == "dose_metareg" for r in summary["new_not_used"])
    text = (res / "run_summary.txt").read_text("utf-8")
    assert f"durability: zeta2025_madrs_1day (zeta2025, new row): {reason}" in text
    assert f"durability: zeta2025_madrs_1day (zeta2025, new row): {reason}" in (
        res / "run_summary.md").read_text("utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "ketameta.synthesis.explain", "zeta2025", "--effect-sizes",
         str(res / "effect_sizes"), "--effects", str(res / "evidence" / "effects.csv"),
         "--config", str(root / "config" / "config.yaml")], capture_output=True, text=True, check=True)
    blocks = dict(re.findall(r"^(\w+): \d+ of \d+ rows used\n((?:  .*\n)+)", proc.stdout, re.M))
    assert f"zeta2025_madrs_1day: not used: {reason} (filter select.dose_mg_kg)" in blocks["durability"]
    assert "zeta2025_madrs_1day: used" in blocks["dose_metareg"]


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
