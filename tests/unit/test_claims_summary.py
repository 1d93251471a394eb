"""The claims table for readers: one sentence per claim with its key number, details beneath."""

from __future__ import annotations

import pandas as pd
from pybtex.database import parse_string

from ketameta.outputs.citations import Citations
from ketameta.synthesis.claims import claim_summary, headline_finding
from ketameta.synthesis.summaries import claims_table


def _fit(est, lo, hi, k, label):
    return {"status": "ok", "type": "correlation", "level": 95, "title": "Correlation",
            "measure": "ZCOR",
            "pools": [{"label": label, "k": k, "estimate_bt": est, "ci_lb_bt": lo, "ci_ub_bt": hi,
                       "model": "REML", "effect_ids": [], "studies": []}]}


def test_summary_sentence_has_verdict_number_interval_and_certainty():
    rec = {"verdict": "mixed", "k": 3, "certainty": "very low to low (3 rated windows)"}
    s = claim_summary(rec, "pooled r (day 7): r = 0.41 [0.11, 0.64], k = 1 (single study)")
    assert s == ("Mixed: pooled r (day 7): r = 0.41 [0.11, 0.64], k = 1 (single study); "
                 "GRADE certainty very low to low (3 rated windows).")
    assert s.count(".") - s.count("0.") - s.count("1.") <= 1  # one sentence
    rec = {"verdict": "supported", "k": 27,
           "certainty": "not rated (a count of study characteristics, not an effect estimate)"}
    assert claim_summary(rec, "26 of 27 studies used 0.5 mg/kg") == (
        "Supported: 26 of 27 studies used 0.5 mg/kg; certainty not rated (not an effect estimate).")


def test_headline_of_a_duration_claim_is_the_window_probability():
    parts = ["40 min: 0.70 [0.02, 1.38] (k = 2)",
             "probability that the benefit falls below 0.2 before day 3: 0.03; between days 3 "
             "and 7: 0.00; after day 7: 0.97", "the curve would be extrapolated: no verdict"]
    assert headline_finding({"rule": "duration"}, parts, {}).startswith("probability that")
    assert headline_finding({"rule": "dose"}, ["26 of 27", "doses: ..."], {}) == "26 of 27"
    assert headline_finding({"rule": "duration"}, [], {}) == ""


def test_headline_of_an_association_is_the_estimate_with_most_studies():
    from ketameta.synthesis import kinds  # noqa: F401  (registers the kinds)

    fits = {"a": _fit(0.35, 0.1, 0.56, 1, "acute"), "b": _fit(0.2, -0.1, 0.45, 4, "day 7")}
    fits["a"]["pools"][0]["studies"] = ["s1"]
    fits["b"]["pools"][0]["studies"] = ["s1", "s2", "s3", "s4"]
    h = headline_finding({"rule": "association", "evidence": ["a", "b"]}, [], fits)
    assert h == "pooled within-trial r (day 7), k = 4: r = 0.20 [-0.10, 0.45]"
    # with single studies only, the headline says that no pool decides
    h = headline_finding({"rule": "association", "evidence": ["a"]}, [], fits)
    assert h.startswith("no within-trial pool of two or more studies (e.g. within-trial r (acute")


def test_claims_table_sentence_in_the_row_evidence_beneath():
    claims = [{"id": "c1", "claim": "Dissociation predicts response", "source": None,
               "evidence": "meta-regression slope on dissociation_rd: 0.31; "
                           "durability_response: not estimable",
               "k": 3, "verdict": "mixed", "certainty": "low (1 rated window)",
               "analyses": "dose_metareg, durability_response",
               "summary": "Mixed: r = 0.41 [0.11, 0.64]; GRADE certainty low (1 rated window)."}]
    t = claims_table(claims, Citations(parse_string("@misc{x, title={T}}", "bibtex")), {"dose_metareg": "Dose and response",
                                    "durability_response": "Response over time"})
    header, rows, _ = t.cells()
    assert header == ["Claim", "Source", "What the synthesized data say", "k"]
    assert rows[0][2].startswith("Mixed: r = 0.41 [0.11, 0.64]")
    html = t.to_html()
    assert "<details>" in html and "Dose and response, Response over time" in html
    assert "dissociation (risk difference)" in html and "Response over time: not estimable" in html
    for name in ("dose_metareg", "durability_response", "dissociation_rd"):
        assert name not in html and name not in t.to_markdown()
    assert "durability_response" in pd.DataFrame(claims)["analyses"][0]  # the CSV keeps ids
