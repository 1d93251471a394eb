"""The multiverse grid beyond the frequentist one-effect-per-trial pools: which combinations
apply, Bayesian and multilevel specifications checked against single ``km.bayesmeta`` and
``km.rma_mv`` fits of the same rows, filters dropped with ``null``, and chunks (one workflow job
each) that gather to the same long table as one pass.
"""

from __future__ import annotations

import copy
import itertools
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from ketameta import bayesmeta, rma, rma_mv
from ketameta.errors import InputError
from ketameta.synthesis import grid as G
from ketameta.synthesis import pipeline
from ketameta.synthesis.files import read_json, write_csv, write_json
from ketameta.synthesis.kinds.multiverse import specifications
from ketameta.synthesis.pools import window_rows
from ketameta.synthesis.spec import flat_spec
from ketameta.synthesis.workflow import chunked_analyses, load_and_validate
from tests.workflow import tiny

ROOT = Path(__file__).resolve().parents[2]

#: (REML, ML, DL) x (z, knha, adhoc, bayes) x (one, multilevel) x rho (0.3, 0.8) x dose x widen
DIMENSIONS = {
    "method": ["REML", "ML", "DL"],
    "test": ["z", "knha", "adhoc", "bayes"],
    "per_trial": ["one", "multilevel"],
    "time_rho": [0.3, 0.8],
    "dose_mg_kg": [{"label": "0.5 mg/kg", "value": [0.5]}, {"label": "any dose", "value": None}],
    "window_widen": [1, 3],          # x3: day 1 spans days 1 and 3, several rows per trial
}


def _applies(c):
    """The rule, written out: Bayesian -> one estimator; multilevel -> REML/ML with z/knha;
    time_rho only for multilevel."""
    method, test, per, rho = c[:4]
    if test == "bayes" and method != "REML":
        return False
    if per == "multilevel" and (method not in ("REML", "ML") or test in ("adhoc", "bayes")):
        return False
    if per == "one" and rho != 0.3:
        return False
    return True


@pytest.fixture(scope="module")
def mv(tmp_path_factory):
    data = tiny.build(tmp_path_factory.mktemp("tiny") / "data")
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text(encoding="utf-8"))
    for key in list(config["evidence"]):
        config["evidence"][key] = str(data / Path(config["evidence"][key]).name)
    config = copy.deepcopy(config)
    config["analyses"]["durability_multiverse"]["dimensions"] = DIMENSIONS
    config["analyses"]["durability_multiverse"]["chunk_size"] = 7
    ev = load_and_validate(config, config_path="config/config.yaml",
                           schema_path=ROOT / "workflow" / "schemas" / "config.schema.yaml")
    spec = flat_spec(config, "durability_multiverse")
    fit = pipeline.fit(ev, None, spec)
    return {"ev": ev, "config": config, "spec": spec, "fit": fit, "long": specifications(fit),
            "base": pipeline.as_spec(flat_spec(config, "durability"))}


def test_only_the_applicable_combinations_are_specifications(mv):
    fit, long = mv["fit"], mv["long"]
    full = list(itertools.product(*[[o["label"] if isinstance(o, dict) else o for o in v]
                                    for v in DIMENSIONS.values()]))
    kept = [i + 1 for i, c in enumerate(full) if _applies(c)]
    assert fit["n_combinations"] == len(full) == 192
    # one effect per trial: 3 x 3 + 1 Bayesian; multilevel: 2 x 2 x 2 rho; x dose 2 x widen 2
    assert fit["n_specifications"] == len(kept) == (10 + 8) * 4
    # the combinations removed as not applicable are counted by reason (repeats of a Bayesian
    # or a one-effect specification are not combinations that were tried)
    reasons = {"multilevel with an estimator other than REML or ML": 0,
               "multilevel with the ad hoc or the Bayesian test": 0}
    for method, test, per, rho, *_ in full:
        if (test == "bayes" and method != "REML") or (per == "one" and rho != 0.3):
            continue
        if per == "multilevel" and method not in ("REML", "ML"):
            reasons["multilevel with an estimator other than REML or ML"] += 1
        elif per == "multilevel" and test in ("adhoc", "bayes"):
            reasons["multilevel with the ad hoc or the Bayesian test"] += 1
    assert fit["not_applicable"] == reasons
    for s in fit["summary"]:
        sub = long[long["window"] == s["window"]]
        assert set(sub["specification"]) <= set(kept)
        assert len(sub) + s["no_study"] == len(kept)
    # the choices that do not apply are shown as n/a
    assert (long.loc[long["test"] == "bayes", "method"] == "n/a").all()
    assert (long.loc[long["per_trial"] == "one", "time_rho"] == "n/a").all()
    assert (long.loc[long["per_trial"] == "multilevel", "time_rho"] != "n/a").all()
    assert set(long.loc[long["per_trial"] == "multilevel", "method"]) == {"REML", "ML"}
    assert set(long.loc[long["per_trial"] == "multilevel", "test"]) == {"z", "knha"}
    # the number names the choices: position in the full product, in config order
    for _, r in long.drop_duplicates("specification").iterrows():
        c = full[int(r["specification"]) - 1]
        assert r["dose_mg_kg"] == c[4] and r["window_widen"] == f"{c[5]:g}"
        assert r["per_trial"] == c[2] and r["test"] == c[1]


def _rows(mv, r):
    base = mv["base"]
    select = dict(base["select"])
    if r["dose_mg_kg"] == "any dose":
        select.pop("dose_mg_kg")
    es, _ = pipeline.effect_sizes(mv["ev"], base.replace(select=select), strict=False)
    w = next(w for w in base["time_points"] if w["label"] == r["window"])
    f = float(r["window_widen"])
    t = es["time_days"].astype(float)
    every = es[(t >= w["from_days"] / f) & (t <= w["to_days"] * f)]
    one, _ = window_rows(es, w["from_days"] / f, w["to_days"] * f)
    return every, one


def test_bayesian_specifications_are_single_bayesmeta_fits(mv):
    rows = mv["long"][(mv["long"]["test"] == "bayes") & (mv["long"]["k"] >= 2)]
    assert len(rows) >= 4
    for _, r in rows.drop_duplicates(["window", "dose_mg_kg", "window_widen"]).iterrows():
        _, one = _rows(mv, r)
        assert ";".join(one["study_id"]) == r["studies"]
        res = bayesmeta(one["yi"].to_numpy(float), one["vi"].to_numpy(float), tau_prior=("halfnormal", 0.5),
                        interval="central")
        lo, hi = res.post_interval("mu", 0.95, "central")
        assert r["estimate"] == pytest.approx(float(res.summary().loc["median", "mu"]), abs=1e-10)
        assert (r["ci_lb"], r["ci_ub"]) == pytest.approx((lo, hi), abs=1e-10)
        assert r["status"] == "pooled (Bayesian)" and math.isnan(r["pval"])


def test_multilevel_specifications_are_single_rma_mv_fits(mv):
    long = mv["long"]
    rows = long[(long["per_trial"] == "multilevel") & (long["k"] >= 2)]
    several = rows[rows["rows"] > rows["k"]]
    assert len(several) >= 8, "the widened day-1 window holds days 1 and 3 of each trial"
    checked_rma = 0
    for _, r in rows.iterrows():
        every, one = _rows(mv, r)
        assert r["rows"] == len(every) and r["k"] == every["study_id"].nunique()
        one_row = len(every) == every["study_id"].nunique()
        res = rma_mv(every["yi"].to_numpy(float), every["vi"].to_numpy(float), cluster=every["study_id"].to_numpy(),
                     method=r["method"], test={"z": "z", "knha": "t"}[r["test"]], rho=float(r["time_rho"]),
                     sigma2=[None, 0.0] if one_row else None)
        assert r["estimate"] == pytest.approx(float(res.beta[0]), abs=1e-8)
        assert (r["ci_lb"], r["ci_ub"]) == pytest.approx((float(res.ci_lb[0]), float(res.ci_ub[0])), abs=1e-8)
        assert r["pval"] == pytest.approx(float(res.pval[0]), abs=1e-8)
        if one_row and r["test"] == "z":
            # one effect per trial: the multilevel model is rma's random-effects model
            uni = rma(every["yi"].to_numpy(float), every["vi"].to_numpy(float), method=r["method"], test="z")
            assert r["estimate"] == pytest.approx(float(uni.beta[0]), abs=1e-8)
            assert r["tau2"] == pytest.approx(float(uni.tau2), abs=1e-8)
            checked_rma += 1
    assert checked_rma >= 4
    # the assumed correlation matters when a trial has several rows
    a = several[several["time_rho"] == "0.3"].set_index(["window", "method", "test", "dose_mg_kg"])["se"]
    b = several[several["time_rho"] == "0.8"].set_index(["window", "method", "test", "dose_mg_kg"])["se"]
    assert (a.sub(b, fill_value=np.nan).dropna().abs() > 1e-6).any()


def test_a_null_option_drops_the_filter(mv):
    long = mv["long"]
    for label in ("0.5 mg/kg", "any dose"):
        r = long[(long["dose_mg_kg"] == label) & (long["test"] == "z") & (long["per_trial"] == "one")
                 & (long["method"] == "REML") & (long["window_widen"] == "1") & (long["window"] == "day 1")].iloc[0]
        _, one = _rows(mv, r)
        assert r["studies"] == ";".join(one["study_id"])


def test_chunks_gather_to_the_single_pass_through_files(mv, tmp_path):
    spec = mv["spec"]
    n = pipeline.n_chunks(spec)
    assert n == math.ceil(72 / 7) == mv["fit"]["n_chunks"]
    parts, counts = [], []
    for i in range(n):
        part, c = pipeline.fit_chunk(mv["ev"], spec, i)
        assert c["specifications"] == min(7, 72 - 7 * i)
        write_csv(part, tmp_path / f"part-{i}.csv.gz")
        write_json(c, tmp_path / f"part-{i}.json")
        parts.append(pipeline.read_part(tmp_path / f"part-{i}.csv.gz", spec))
        counts.append(read_json(tmp_path / f"part-{i}.json"))
    fit, long = pipeline.gather(parts, counts, spec)
    pd.testing.assert_frame_equal(long.reset_index(drop=True), mv["long"].reset_index(drop=True),
                                  check_dtype=False, rtol=0, atol=0)
    assert fit["summary"] == mv["fit"]["summary"]
    # the gathered file is read back exactly, and attached for the figure and the long table
    write_csv(long, tmp_path / "long.csv.gz")
    again = pipeline.with_long_table(fit, [str(tmp_path / "long.csv.gz")], spec)
    pd.testing.assert_frame_equal(specifications(again), mv["long"], check_dtype=False, rtol=0, atol=0)
    # same bytes for the same table (gzip without a timestamp)
    write_csv(long, tmp_path / "again.csv.gz")
    assert (tmp_path / "again.csv.gz").read_bytes() == (tmp_path / "long.csv.gz").read_bytes()
    with pytest.raises(InputError, match="not a chunk"):
        pipeline.fit_chunk(mv["ev"], spec, n)
    assert chunked_analyses(mv["config"])["durability_multiverse"] == n


@pytest.mark.parametrize("dims, match", [
    ({"time_rho": [0.5]}, "time_rho applies to multilevel"),
    ({"per_trial": ["one", "nested"]}, "per_trial: options are"),
    ({"method": ["REML", "REML"]}, "repeats an option"),
])
def test_grid_errors_name_the_dimension(mv, dims, match):
    spec = {**mv["spec"], "dimensions": dims}
    with pytest.raises(InputError, match=match):
        G.grid(spec, mv["base"])


def test_bayes_needs_a_prior_for_the_measure(mv):
    spec = {**mv["spec"], "dimensions": {"test": ["z", "bayes"]}, "bayes": {"tau_prior": {"OR": [
        "halfnormal", 0.5]}}}
    with pytest.raises(InputError, match="needs a tau prior for SMD"):
        G.grid(spec, mv["base"])


def test_a_chunk_that_cannot_be_fitted_makes_a_failed_record(mv, tmp_path):
    """A base without windows: each chunk writes an empty part and the reason; the gathered
    record says failed, with the reason, so the other analyses still run."""
    spec = {**mv["spec"], "base_spec": {k: v for k, v in mv["spec"]["base_spec"].items() if k != "time_points"}}
    part, counts = pipeline.fit_chunk(mv["ev"], spec, 0)
    assert part.empty and "has no windows" in counts["error"]
    write_csv(part, tmp_path / "part-0.csv.gz")
    back = pipeline.read_part(tmp_path / "part-0.csv.gz", spec)
    assert back.empty and "specification" in back.columns
    fit, long = pipeline.gather([back], [counts], spec)
    assert fit["status"] == "failed" and "has no windows" in fit["reason"] and long.empty
