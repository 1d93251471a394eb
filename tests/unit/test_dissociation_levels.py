"""Within- and between-trial dissociation evidence kept apart (Riley et al. 2008; Fisher et al. 2017).

* regression slopes are pooled only within a route; the all-routes pool is a sensitivity variant;
  both pooled slopes are recomputed here by hand (REML by direct maximisation of the restricted
  likelihood, Knapp-Hartung by its formula), not by the library;
* a slope's dispersion printed as "SD" is read as an SE or an SD only when the reported p agrees;
* the claims verdict rests on the within-trial pools; the ecological regression and effect
  directions never decide it;
* the coverage table lists, per contrast, which of the two arm-level numbers is missing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import optimize, stats

from ketameta.synthesis import pipeline
from ketameta.synthesis.claims import _association
from ketameta.synthesis.effects import RowSkip, _slope
from ketameta.synthesis.kinds.coverage import coverage_rows
from ketameta.synthesis.sensitivity import run_sensitivity
from ketameta.synthesis.spec import flat_spec
from ketameta.synthesis.workflow import load_and_validate

ROOT = Path(__file__).resolve().parents[2]


def _reml_knha(y, v, level=95):
    """Random-effects mean by REML (maximised directly) with the Knapp-Hartung interval."""
    y, v = np.asarray(y, float), np.asarray(v, float)
    k = len(y)

    def nll(t2):
        w = 1 / (v + t2)
        mu = np.sum(w * y) / np.sum(w)
        return 0.5 * (np.sum(np.log(v + t2)) + np.log(np.sum(w)) + np.sum(w * (y - mu) ** 2))

    res = optimize.minimize_scalar(nll, bounds=(0, 100 * (np.var(y) + v.max())), method="bounded",
                                   options={"xatol": 1e-12})
    t2 = res.x if nll(res.x) < nll(0.0) else 0.0
    w = 1 / (v + t2)
    mu = np.sum(w * y) / np.sum(w)
    q = np.sum(w * (y - mu) ** 2) / (k - 1)
    se = np.sqrt(q / np.sum(w))
    crit = stats.t.ppf(0.5 + level / 200, k - 1)
    return mu, mu - crit * se, mu + crit * se, t2


@pytest.fixture(scope="module")
def real():
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text(encoding="utf-8"))
    for key in list(config["evidence"]):
        config["evidence"][key] = str(ROOT / config["evidence"][key])
    ev = load_and_validate(config, config_path=str(ROOT / "config" / "config.yaml"),
                           schema_path=ROOT / "workflow" / "schemas" / "config.schema.yaml")
    return config, ev


def test_slopes_are_pooled_within_route_only(real):
    config, ev = real
    spec = flat_spec(config, "dissociation_slopes")
    assert spec["pool_by"] == "route"
    es, _ = pipeline.effect_sizes(ev, spec)
    fit = pipeline.fit(ev, es, spec)
    routes = ev.studies["route"]
    for p in fit["pools"]:
        members = es[es["effect_id"].isin(p["effect_ids"])]
        assert set(routes.reindex(members["study_id"])) == {p["group"]["value"]}, p["label"]
        y, v = members["yi"].to_numpy(), members["vi"].to_numpy()
        if p["k"] == 1:  # a single study: its own estimate, nothing pooled
            assert p["estimate"] == pytest.approx(y[0], rel=1e-12)
            assert p["ci_lb"] == pytest.approx(y[0] - stats.norm.ppf(0.975) * np.sqrt(v[0]), rel=1e-9)
        else:
            mu, lo, hi, _ = _reml_knha(y, v)
            assert (p["estimate"], p["ci_lb"], p["ci_ub"]) == pytest.approx((mu, lo, hi), rel=1e-6)
    # intravenous and intranasal slopes exist and sit in different pools
    iv = [p for p in fit["pools"] if p["group"]["value"] == "IV"]
    inn = [p for p in fit["pools"] if p["group"]["value"] == "IN"]
    assert iv and inn and not set(iv[0]["studies"]) & set(inn[0]["studies"])


def test_all_routes_pool_is_only_a_sensitivity_row_and_matches_a_hand_fit(real):
    config, ev = real
    spec = flat_spec(config, "dissociation_slopes")
    es, _ = pipeline.effect_sizes(ev, spec)
    settings = {**config["sensitivity"], "leave1out": False, "estimators": [], "tests": [],
                "add_c_grade": False, "crossover_rho": [], "subsets": []}
    tab = run_sensitivity(ev, {"dissociation_slopes": dict(config["analyses"]["dissociation_slopes"])},
                          settings, config["grades"])
    row = tab[tab["variant"].str.startswith("slopes of every route")]
    assert len(row) == 1
    mu, lo, hi, _ = _reml_knha(es["yi"], es["vi"])
    assert (row["estimate"].iloc[0], row["ci_lb"].iloc[0], row["ci_ub"].iloc[0]) == pytest.approx(
        (mu, lo, hi), rel=1e-6)
    assert row["k"].iloc[0] == len(es) >= 2
    # the configured analysis itself never pools across routes
    base = tab[tab["variant"] == "as configured"]
    n_routes = ev.studies["route"].reindex(es["study_id"]).nunique()
    assert n_routes >= 2 and len(base) == n_routes and base["k"].sum() == len(es)


def _row(**kw):
    base = {"form": "slope_p", "estimate": np.nan, "se": np.nan, "sd": np.nan, "p": np.nan,
            "n": np.nan, "study_n": np.nan, "benefit_sign": 1.0, "ci_lb": np.nan, "ci_ub": np.nan,
            "level": np.nan}
    return pd.Series({**base, **kw})


def test_slope_sd_is_read_as_se_only_when_p_agrees():
    # Caliman-Fontes 2025: b = -0.5, "SD = 0.25", p = 0.04, 61 analysed -> an SE (z = 2)
    yi, vi, der = _slope(_row(estimate=-0.5, sd=0.25, p=0.04, study_n=61))
    assert vi == pytest.approx(0.25 ** 2) and "SE reading is used" in der
    assert "n = (z(p/2) x SD / |b|)^2 = 1.1" in der  # the SD reading would need about one patient
    # a real SD: b = 0.5, SD = 2, n = 64 -> SE = 0.25, p = 0.046; the SE reading gives p = 0.80
    yi, vi, der = _slope(_row(estimate=0.5, sd=2.0, p=0.046, n=64))
    assert vi == pytest.approx((2.0 / 8) ** 2) and "read as an SD" in der
    # neither reading fits, or no p to check: skipped with the reason
    with pytest.raises(RowSkip, match="neither the SE reading"):
        _slope(_row(estimate=0.5, sd=2.0, p=0.046, n=500))
    with pytest.raises(RowSkip, match="without a p-value"):
        _slope(_row(estimate=0.5, sd=0.25, form="slope_se"))


def _fits(within, between=None, direction=None):
    fits, specs = {}, {}
    fits["corr"] = {"status": "ok", "type": "correlation", "measure": "ZCOR", "method": "REML",
                    "test": "knha", "level": 95, "pools": within}
    specs["corr"] = {"type": "correlation", "windows": []}
    if between is not None:
        fits["meta"] = {"status": "ok", "type": "metareg", "moderator": "d", "k": 8,
                        "studies": ["x1", "x2"], "slope": between[0], "slope_ci_lb": between[1],
                        "slope_ci_ub": between[2], "slope_pval_perm": 0.01, "exploratory": True}
        specs["meta"] = {"type": "metareg", "ecological": True}
    return fits, specs


def _pool(est, lo, hi, k, studies):
    return {"label": "acute", "k": k, "studies": studies, "estimate_bt": est, "ci_lb_bt": lo,
            "ci_ub_bt": hi}


CLAIM = {"id": "c", "rule": "association", "source": "src", "direction_domain": "dissociation"}


def test_verdict_rests_on_within_trial_pools_not_on_the_ecological_regression():
    # within-trial pool of two studies excluding zero; the ecological slope points the other way
    fits, specs = _fits([_pool(0.3, 0.1, 0.5, 2, ["a", "b"])], between=(-2.0, -3.0, -1.0))
    verdict, parts, k = _association({**CLAIM, "evidence": ["corr", "meta"]}, fits, specs)
    assert verdict == "supported" and k == 2
    assert any(p.startswith("context, not the basis of the verdict: ecological") for p in parts)
    # the same ecological slope with no within-trial pool of two studies decides nothing
    fits, specs = _fits([_pool(0.3, 0.1, 0.5, 1, ["src"])], between=(2.0, 1.0, 3.0))
    verdict, parts, _ = _association({**CLAIM, "evidence": ["corr", "meta"]}, fits, specs)
    assert verdict == "insufficient data"
    assert "the only one is the claim's own source" in parts[0]
    # a within-trial pool whose interval includes zero: not supported
    fits, specs = _fits([_pool(0.1, -0.1, 0.3, 3, ["a", "b", "c"])])
    assert _association({**CLAIM, "evidence": ["corr"]}, fits, specs)[0] == "not supported"


def test_real_claim_verdict_and_ecological_metareg_is_single_route(real):
    config, ev = real
    spec = flat_spec(config, "dissociation_metareg")
    assert spec["ecological"] is True
    es, _ = pipeline.effect_sizes(ev, spec)
    assert set(ev.studies["route"].reindex(es["study_id"])) <= {"IV"}
    assert set(ev.studies["schedule"].reindex(es["study_id"])) <= {"single"}


def test_coverage_lists_each_contrast_with_what_is_missing(real):
    config, ev = real
    spec = flat_spec(config, "dissociation_arms")
    cov = coverage_rows(ev, spec)
    assert cov["contrast"].is_unique and len(cov) >= 15
    # every contrast without both numbers says why for the missing one(s)
    for _, r in cov[~cov["both"]].iterrows():
        for tag in ("first", "second"):
            if r[f"{tag}_status"] != "reported":
                assert r[f"{tag}_reason"], (r["contrast"], tag)
    # a contrast reported with both: Su 2023 (derealization events and response events)
    su = cov.set_index("contrast").loc["su2023_ket_vs_mid"]
    assert su["both"] and "su2023_derealization" in su["first_rows"]
    # a searched, not-found CADSS carries the extraction's note as its reason
    mur = cov.set_index("contrast").loc["murrough2013_ket_vs_mid"]
    assert mur["first_status"] == "not found" and "murrough2013_cadss_nf" in mur["first_rows"]


def test_association_definitions_list_every_row_and_the_pool_that_uses_it(real):
    config, ev = real
    fits = {}
    for aid in ("dissociation_correlation", "dissociation_slopes"):
        spec = flat_spec(config, aid)
        fits[aid] = pipeline.fit(ev, pipeline.effect_sizes(ev, spec)[0], spec)
    spec = flat_spec(config, "dissociation_associations")
    es, excluded = pipeline.effect_sizes(ev, spec)
    fit = pipeline.fit(ev, es, spec, {"fits": fits})
    rows = pd.DataFrame(fit["rows"])
    eff = ev.effects
    primary = ev.studies.index[ev.studies["role"] == "primary"]
    want = eff[(eff["question"] == "dissociation") & eff["study_id"].isin(primary)
               & (eff["outcome"] == "dissociation_improvement_association")]
    admitted = want["grade"].isin(config["grades"]) | (want["form"] == "not_found")
    assert set(rows["effect_id"]) == set(want.loc[admitted, "effect_id"])
    # third-party copies are not hidden: they are in the exclusions with their grade
    assert set(excluded["effect_id"]) == set(want.loc[~admitted, "effect_id"])
    assert excluded["reason"].str.startswith("grade C not admitted").all()
    pooled = {e for f in fits.values() for p in f["pools"] for e in p["effect_ids"]}
    assert set(rows.loc[rows["used"], "effect_id"]) == pooled
    assert rows.loc[~rows["used"], "use"].str.match(r"(not found|not poolable)").all()
    assert fit["k_used"] == len({s for f in fits.values() for p in f["pools"] for s in p["studies"]})


def _metareg_spec(**kw):
    return {"id": "m", "type": "metareg", "title": "m", "level": 95, "seed": 1, "measure": "RD",
            "method": "REML", "test": "knha", "permutations": 0, "exploratory_k": 10,
            "moderator": {"name": "dis", "label": "dissociation"}, **kw}


def _metareg_rows(seed=3, trials=6):
    rng = np.random.default_rng(seed)
    rows = []
    for t in range(trials):
        for a in range(1 + (t % 2)):  # every other trial has two active arms
            dis = rng.uniform(0, 40)
            rows.append({"study_id": f"t{t}", "effect_id": f"t{t}a{a}", "comparison_id": f"t{t}a{a}",
                         "dis": dis, "dose": [0.2, 0.5][a], "yi": 5 + 0.3 * dis + rng.normal(0, 4),
                         "vi": rng.uniform(8, 30), "n_total": 40.0})
    es = pd.DataFrame(rows)
    es["sei"] = np.sqrt(es["vi"])
    return es


class _Ev:
    def __init__(self, es):
        self.studies = pd.DataFrame({"drug": "racemic_ketamine", "route": "IV"},
                                    index=sorted(es["study_id"].unique()))


def test_across_arm_regression_adjusts_for_covariates_and_nests_arms_in_trials():
    from ketameta import rma, rma_mv, robust
    from ketameta.synthesis.kinds.metareg import Metareg

    es = _metareg_rows()
    ev = _Ev(es)
    # covariates: dose varies (kept), drug is constant (dropped and named)
    fit = Metareg().fit(ev, es, _metareg_spec(covariates=["dose", "drug"]))
    ref = rma(es["yi"].to_numpy(), es["vi"].to_numpy(), mods=es[["dis", "dose"]].reset_index(drop=True),
              method="REML", test="knha")
    assert fit["slope"] == pytest.approx(float(ref.beta[1]), rel=1e-10)
    assert fit["slope_ci_lb"] == pytest.approx(float(ref.ci_lb[1]), rel=1e-10)
    assert fit["covariates"] == ["dose"] and fit["covariates_dropped"][0].startswith("drug (a single value")
    # multilevel: arms nested in trials, CR2 with >= 4 trials
    fit = Metareg().fit(ev, es, _metareg_spec(multilevel=True))
    mv = rma_mv(es["yi"].to_numpy(), es["vi"].to_numpy(), cluster=es["study_id"].to_numpy(),
                mods=es[["dis"]].reset_index(drop=True), method="REML", test="t")
    with pytest.warns(UserWarning, match="Satterthwaite df below 4"):
        cr2 = robust(mv, cluster=es["study_id"].to_numpy(), adjust="CR2")
    assert fit["multilevel"] and "CR2" in fit["inference"]
    assert any("Satterthwaite df below 4" in c for c in fit["cautions"])  # kept in the notes
    assert (fit["slope"], fit["slope_ci_lb"], fit["slope_ci_ub"]) == pytest.approx(
        (float(cr2.beta[1]), float(cr2.ci_lb[1]), float(cr2.ci_ub[1])), rel=1e-10)
    assert fit["coefficients"]["ci_lb"][1] == pytest.approx(float(cr2.ci_lb[1]), rel=1e-10)
    # too few trials for CR2: model-based t interval, said so
    few = es[es["study_id"].isin(["t0", "t1", "t2"])]
    fit = Metareg().fit(ev, few, _metareg_spec(multilevel=True))
    assert fit["inference"].startswith("model-based")
    # more coefficients than effect sizes: an error naming the covariates
    from ketameta.errors import ModelError

    with pytest.raises(ModelError, match="coefficients"):
        Metareg().fit(ev, es.iloc[:3], _metareg_spec(covariates=["dose"]))


def test_each_dissociation_section_opens_with_its_level(real):
    config, _ = real
    first = {}
    for aid in ("summary_of_findings_dissociation", "dissociation_correlation", "dissociation_slopes",
                "dissociation_metareg"):
        spec = flat_spec(config, aid)
        # the lead is said whatever the fit (also when the model could not be fitted)
        paras = pipeline.report_paragraphs({"status": "failed", "type": spec["type"]}, spec)
        first[aid] = paras[0]
    assert first["summary_of_findings_dissociation"].startswith("These ratings concern within-trial")
    assert first["dissociation_correlation"].startswith("Within-trial association:")
    assert first["dissociation_slopes"].startswith("Within-trial association:")
    assert first["dissociation_metareg"].startswith("Ecological (between-trial) association:")
