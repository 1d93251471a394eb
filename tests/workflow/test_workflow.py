"""End-to-end runs of the Snakemake workflow on the synthetic data set (tests/workflow/tiny.py),
whose numbers are recomputed here independently: effect sizes by hand, pooled estimates with a
dense-matrix REML, implied sample sizes by root finding on the t distribution. The runs on the
repository's own data are in test_workflow_real.py (a separate file, so the two can run side by
side).
"""

from __future__ import annotations

import csv
import json
import math
import re
import shutil
import subprocess
import sys

import pandas as pd
import pytest
from scipy import optimize, stats

from . import tiny
from .runs import _copy_repo, _fit, _snakemake, assert_reads_like_a_report, reml_knha

pytestmark = pytest.mark.workflow

# -- the tiny synthetic data set -------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    root = _copy_repo(tmp_path_factory.mktemp("tiny"), with_data=False)
    tiny.build(root / "data")
    _snakemake(root)
    return root


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


