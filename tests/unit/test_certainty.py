"""GRADE certainty rules and the summary-of-findings arithmetic, recomputed by hand."""

import math

import numpy as np
import pandas as pd
import pytest

from ketameta.synthesis.certainty import rate
from ketameta.synthesis.kinds.sof import absolute_effects, smd_size

STUDIES = pd.DataFrame({"n": [300, 300, 300], "control": ["midazolam", "midazolam", "saline"],
                        "setting": ["trial"] * 3, "age_group": ["adult"] * 3},
                       index=pd.Index(["a", "b", "c"], name="study_id"))


def _pool(**kw):
    base = {"k": 3, "estimate": 0.5, "ci_lb": 0.35, "ci_ub": 0.65, "pi_lb": 0.3, "pi_ub": 0.7, "I2": 10.0,
            "effect_ids": ["ea", "eb", "ec"], "weights": {"ea": 40.0, "eb": 40.0, "ec": 20.0}}
    base.update(kw)
    return base


ES = pd.DataFrame({"effect_id": ["ea", "eb", "ec"], "study_id": ["a", "b", "c"], "yi": [0.5, 0.5, 0.5],
                   "vi": [0.01, 0.01, 0.02], "n_total": [300.0, 300.0, 300.0]})
LOW = {"a": "low", "b": "low", "c": "low"}


def test_all_low_precise_consistent_direct_is_high():
    r = rate(_pool(), ES, STUDIES, LOW, "SMD")
    assert r["rating"] == "high" and r["downgrades"] == 0 and r["footnotes"] == []
    assert r["domains"]["publication_bias"]["footnote"].startswith("Publication bias: not assessed (k = 3 < 10")


def test_changing_one_rob_judgement_changes_rating_and_footnote():
    # trial a carries 40% of the weight: at high risk alone it does not reach the 50% cut-off ...
    r1 = rate(_pool(), ES, STUDIES, {**LOW, "a": "high"}, "SMD")
    assert r1["rating"] == "high"
    assert "40% of the weight from trials at high risk or with some concerns (40% at high risk)" in \
        r1["domains"]["risk_of_bias"]["footnote"]
    # ... with b at some concerns, 80% of the weight is of concern (down one), 40% high (not two)
    r2 = rate(_pool(), ES, STUDIES, {**LOW, "a": "high", "b": "some_concerns"}, "SMD")
    assert r2["rating"] == "moderate" and r2["domains"]["risk_of_bias"]["downgrade"] == 1
    assert "Risk of bias: serious -- 80% of the weight" in r2["footnotes"][0]
    # ... both at high risk: 80% of the weight at high risk: down two
    r3 = rate(_pool(), ES, STUDIES, {**LOW, "a": "high", "b": "high"}, "SMD")
    assert r3["rating"] == "low" and "very serious -- 80%" in r3["footnotes"][0]
    # a trial without an assessment counts as some concerns
    r4 = rate(_pool(), ES, STUDIES, {"c": "low"}, "SMD")
    assert r4["domains"]["risk_of_bias"]["downgrade"] == 1 and "2 trial(s) without a RoB 2 assessment" in \
        r4["footnotes"][0]


def test_inconsistency_imprecision_indirectness_rules():
    cfg = {"indirectness": [{"label": "inert placebo", "when": {"control": ["saline"]}, "share": 0.15}]}
    r = rate(_pool(I2=60.0, ci_lb=-0.1, ci_ub=1.1, pi_lb=-0.5, pi_ub=1.5), ES, STUDIES, LOW, "SMD", cfg)
    d = r["domains"]
    assert d["inconsistency"]["downgrade"] == 1 and "I^2 = 60%" in d["inconsistency"]["footnote"]
    assert "prediction interval -0.50 to 1.50 includes no effect" in d["inconsistency"]["footnote"]
    assert d["imprecision"]["downgrade"] == 1 and "includes no effect" in d["imprecision"]["footnote"]
    assert d["indirectness"]["downgrade"] == 1 and "inert placebo (20% of the weight)" in d["indirectness"]["footnote"]
    assert r["rating"] == "very low" and r["downgrades"] == 3
    # spanning both an important benefit and harm: down two; few participants: at least one
    r = rate(_pool(ci_lb=-0.5, ci_ub=0.9), ES, STUDIES, LOW, "SMD")
    assert r["domains"]["imprecision"]["downgrade"] == 2
    small = ES.assign(n_total=[30.0, 30.0, 30.0])
    r = rate(_pool(), small, STUDIES, LOW, "SMD")
    assert r["domains"]["imprecision"]["downgrade"] == 1 and "90 participants, below the optimal information size of 400" \
        in r["domains"]["imprecision"]["footnote"]
    single = rate(_pool(k=1, effect_ids=["ea"], weights=None), ES, STUDIES, LOW, "SMD")
    assert single["domains"]["inconsistency"]["footnote"] == "Inconsistency: not assessable with a single trial."


@pytest.mark.parametrize("acr,odds_ratio,lo,hi", [(0.10, 3.0, 1.5, 6.0), (0.35, 1.8, 0.9, 3.6)])
def test_absolute_effects_by_hand(acr, odds_ratio, lo, hi):
    a = absolute_effects(acr, math.log(odds_ratio), math.log(lo), math.log(hi))

    def risk(o):  # Cochrane Handbook 14.1.5.1, written out
        return acr * o / (1 - acr + acr * o)

    assert a["control_per_1000"] == pytest.approx(1000 * acr)
    assert a["intervention_per_1000"] == pytest.approx(1000 * risk(odds_ratio))
    assert a["difference_per_1000"] == pytest.approx(1000 * (risk(odds_ratio) - acr))
    assert (a["difference_lb"], a["difference_ub"]) == pytest.approx((1000 * (risk(lo) - acr), 1000 * (risk(hi) - acr)))
    # e.g. 100 per 1,000 with OR 3 -> 250 per 1,000 (+150)
    if acr == 0.10:
        assert round(a["intervention_per_1000"]) == 250 and round(a["difference_per_1000"]) == 150


def test_smd_sizes():
    assert [smd_size(x) for x in (0.1, -0.3, 0.6, 1.2)] == ["little or no difference", "a small", "a moderate",
                                                             "a large"]


def test_no_trial():
    assert rate(_pool(k=0), ES, STUDIES, LOW, "SMD")["rating"] is None
    assert np.isfinite(rate(_pool(), ES, STUDIES, LOW, "OR")["downgrades"])
