"""A tiny, SYNTHETIC evidence base for end-to-end workflow tests (not real studies).

Every analysis type of config/config.yaml gets enough rows to be fitted, with numbers chosen
here so the tests can recompute the expected results independently. The passages are written
to contain their numbers, as the loader requires; the sources are fictitious ("Example ...").
One source has characters that must be escaped in every output format.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
SPECIAL = "R&D_100% <script>alert(1)</script> {x}"

STUDY_COLS = None
EFFECT_COLS = None


def _columns(name):
    with open(ROOT / "data" / name, newline="", encoding="utf-8") as fh:
        return next(csv.reader(fh))


BIB = r"""
@article{alpha2020,
  author = {Alpha, A. and Beta, B. and Gamma, G.},
  title = {Example trial one of ketamine},
  journal = {Example Journal},
  year = {2020}
}
@article{beta2021,
  author = {Bravo, B. and Charlie, C.},
  title = {Example trial two of ketamine},
  journal = {Example Journal},
  year = {2021}
}
@article{gamma2022,
  author = {Golf, G.},
  title = {Example trial three of ketamine},
  journal = {Example Journal},
  year = {2022}
}
@article{delta2023,
  author = {{R\&D\_100\% Group}},
  title = {Example low-dose trial: 100\% \& more},
  journal = {Example Journal},
  year = {2023}
}
@article{epsilon2024,
  author = {Echo, E.},
  title = {Example ketamine-assisted psychotherapy series},
  journal = {Example Journal},
  year = {2024}
}
@misc{luckenbaugh2014,
  author = {Luckenbaugh, D. A. and others},
  title = {Placeholder entry required by config claims (test fixture)},
  year = {2014}
}
@misc{montjoy2021,
  author = {Montjoy, L. and Kincaid, J.},
  title = {Placeholder entry required by config claims (test fixture)},
  year = {2021}
}
@misc{sanacora2017,
  author = {Sanacora, G. and others},
  title = {Placeholder entry required by config claims (test fixture)},
  year = {2017}
}
"""


def _study(sid, role="primary", route="IV", dose="0.5", minutes="40", setting="trial",
           control="saline", psych="NR", n="60", design="parallel_rct", drug="racemic_ketamine",
           schedule="single"):
    dose_pass = (f"Patients received {dose} mg/kg over {minutes} minutes." if dose else "")
    return {
        "study_id": sid, "citation_key": sid, "role": role, "design": design,
        "population": "example patients", "diagnosis": "TRD MDD", "drug": drug, "route": route,
        "dose_mg_kg": dose, "dose_text": f"{dose} mg/kg" if dose else "not found",
        "infusion_min": minutes, "schedule": schedule, "setting": setting, "control": control,
        "psychotherapy": psych, "monitoring": "", "n": n, "n_note": "randomised",
        "n_source": sid, "n_grade": "P", "n_locator": "abstract",
        "n_passage": f"A total of {n} patients were randomised.",
        "dose_source": sid if dose else "", "dose_grade": "P" if dose else "",
        "dose_locator": "abstract" if dose else "", "dose_passage": dose_pass, "notes": "",
    }


def _fmt(x):
    return "" if x is None else (f"{x:g}" if isinstance(x, float) else str(x))


def _eff(eid, sid, question, outcome, form, time=None, unit=None, scale="MADRS", cid=None,
         benefit_sign="1", direction="+", significant="yes", passage_extra="", notes="",
         arm="ketamine vs control", dose="", control="saline", predictor="", **nums):
    row = {c: "" for c in EFFECT_COLS}
    row.update(effect_id=eid, study_id=sid, comparison_id=cid or f"{sid}_main",
               question=question, outcome=outcome, scale=scale, predictor=predictor, arm=arm,
               dose_mg_kg=dose, control=control, time_value=_fmt(time), time_unit=unit or "",
               time_text=(f"{_fmt(time)} {unit}" if time is not None else ""), form=form,
               benefit_sign=benefit_sign if form not in ("direction", "not_found") else "",
               direction=direction if form != "not_found" else "",
               significant=significant if form != "not_found" else "",
               source=sid if form != "not_found" else "",
               grade="P" if form != "not_found" else "",
               locator="Table 2" if form != "not_found" else "", notes=notes)
    if outcome in ("depression_severity", "suicidal_ideation", "anxiety") and form in (
            "means_sds", "means_ses", "md_ci", "md_se", "md_t", "d_ci", "d_p", "d_only", "change_t", "mean_change"):
        row["value_type"] = "change"  # synthetic: every continuous value is a change score
    for k, v in nums.items():
        row[k] = _fmt(v)
    if form == "p" or "p" in nums:
        row["p_op"] = "="
    if form not in ("not_found",):
        numbers = " ".join(f"{k} {_fmt(v)}" for k, v in nums.items())
        t = f" at {_fmt(time)} {unit}" if time is not None else ""
        row["passage"] = f"Reported{t}: {numbers}. {passage_extra}".strip()
    return row


# -- the synthetic numbers ----------------------------------------------------------------------

#: acute correlations (r as reported, benefit_sign, n, time, unit)
ACUTE_R = [("alpha2020", -0.30, "-1", 60, 230, "min"), ("beta2021", 0.20, "1", 80, 1, "day"),
           ("gamma2022", -0.45, "-1", 40, 40, "min")]
DAY7_R = [("alpha2020", -0.25, "-1", 58, 7, "day")]
DAY7_R_P = ("beta2021", 0.31, 0.01, 7, "day")  # r with p, n unknown (implied n is derived)
SLOPES = [("alpha2020", 0.30, 0.10, 0.50), ("beta2021", 0.10, None, None, 0.05),
          ("gamma2022", 0.25, 0.05, 0.45)]
#: response/dissociation-AE counts per contrast: (sid, ai, n1, ci, n2, diss_a, diss_c)
METAREG = [("alpha2020", 18, 30, 8, 30, 12, 2), ("beta2021", 20, 40, 12, 40, 20, 4),
           ("gamma2022", 9, 20, 6, 20, 4, 2), ("delta2023", 12, 25, 7, 25, 9, 3)]
#: durability means (ketamine, control), SDs and ns by time (days); lower MADRS = better
DURABILITY = {
    "alpha2020": [(40, "min", 20.0, 25.0), (1, "day", 15.0, 22.0), (3, "day", 17.0, 22.5),
                  (7, "day", 20.5, 22.8), (14, "day", 22.6, 23.0)],
    "beta2021": [(40, "min", 21.0, 24.0), (1, "day", 16.5, 23.0), (3, "day", 19.0, 23.0),
                 (7, "day", 21.8, 23.2)],
    "gamma2022": [(1, "day", 14.0, 21.0), (3, "day", 17.5, 21.5), (7, "day", 20.0, 21.4),
                  (14, "day", 21.2, 21.3)],
    "delta2023": [(1, "day", 19.0, 22.0)],
}
SD, N_ARM = 8.0, 30
#: response counts over time for durability_response: (sid, day, ai, ci)
RESPONSE_T = [("alpha2020", 1, 14, 5), ("alpha2020", 7, 8, 5), ("beta2021", 1, 16, 6),
              ("beta2021", 7, 9, 6), ("gamma2022", 1, 12, 4)]


def build(dest: Path) -> Path:
    """Write studies.csv, effects.csv and references.bib of the tiny data set into ``dest``."""
    global STUDY_COLS, EFFECT_COLS
    STUDY_COLS, EFFECT_COLS = _columns("studies.csv"), _columns("effects.csv")
    dest.mkdir(parents=True, exist_ok=True)
    studies = [
        _study("alpha2020"), _study("beta2021", control="midazolam", n="80"),
        _study("gamma2022", n="40"), _study("delta2023", dose="0.2", n="50"),
        _study("epsilon2024", route="SL", dose="", minutes="", setting="kap",
               psych="integrated", control="none", design="case_series", n="25"),
    ]
    effects = []
    for sid, r, sgn, n, t, u in ACUTE_R:
        effects.append(_eff(f"{sid}_r_acute", sid, "dissociation",
                            "dissociation_improvement_association", "r_n", t, u,
                            benefit_sign=sgn, predictor="CADSS at 40 min", estimate=r, n=n))
    for sid, r, sgn, n, t, u in DAY7_R:
        effects.append(_eff(f"{sid}_r_day7", sid, "dissociation",
                            "dissociation_improvement_association", "r_n", t, u,
                            benefit_sign=sgn, predictor="CADSS at 40 min", estimate=r, n=n))
    sid, r, p, t, u = DAY7_R_P
    effects.append(_eff(f"{sid}_r_day7", sid, "dissociation",
                        "dissociation_improvement_association", "r_p", t, u,
                        predictor="CADSS at 40 min", estimate=r, p=p))
    for sid, b, lo, hi, *se in SLOPES:
        if lo is None:
            effects.append(_eff(f"{sid}_slope", sid, "dissociation",
                                "dissociation_improvement_association", "slope_se", 1, "day",
                                estimate=b, se=se[0]))
        else:
            effects.append(_eff(f"{sid}_slope", sid, "dissociation",
                                "dissociation_improvement_association", "slope_ci", 1, "day",
                                estimate=b, ci_lb=lo, ci_ub=hi))
    for sid, a1, n1, a2, n2, d1, d2 in METAREG:
        cid = f"{sid}_ket_vs_ctl"
        effects.append(_eff(f"{sid}_response", sid, "dissociation", "response", "events", 1,
                            "day", cid=cid, ai=a1, n1i=n1, ci=a2, n2i=n2))
        effects.append(_eff(f"{sid}_diss_ae", sid, "dissociation", "dissociation_incidence",
                            "events", None, None, scale="AE report", cid=cid, benefit_sign="",
                            direction="", significant="NR", ai=d1, n1i=n1, ci=d2, n2i=n2))
    for sid, rows in DURABILITY.items():
        for t, u, m1, m2 in rows:
            effects.append(_eff(f"{sid}_madrs_{t}{u}", sid, "durability", "depression_severity",
                                "means_sds", t, u, benefit_sign="-1", m1i=m1, sd1i=SD,
                                n1i=N_ARM, m2i=m2, sd2i=SD, n2i=N_ARM))
    for sid, day, a1, a2 in RESPONSE_T:
        effects.append(_eff(f"{sid}_resp_day{day}", sid, "durability", "response", "events",
                            day, "day", ai=a1, n1i=N_ARM, ci=a2, n2i=N_ARM))
    effects += [
        _eff("alpha2020_relapse", "alpha2020", "relapse", "relapse", "pct", 14, "day",
             benefit_sign="-1", direction="0", significant="NR", pct1=50.0),
        _eff("delta2023_diss_dir", "delta2023", "dissociation",
             "dissociation_improvement_association", "direction", 1, "day", direction="0",
             significant="no"),
        _eff("delta2023_dur_dir", "delta2023", "durability", "depression_severity",
             "direction", 7, "day", direction="+", significant="no"),
        _eff("epsilon2024_bdi", "epsilon2024", "approach", "depression_severity",
             "mean_change", None, None, scale="BDI", benefit_sign="-1", direction="+",
             significant="yes", estimate=-11.0, control="none"),
        _eff("epsilon2024_dose_nf", "epsilon2024", "approach", "other", "not_found",
             notes=f"Dose in mg/kg not reported; searched the abstract ({SPECIAL})."),
    ]
    for name, cols, rows in (("studies.csv", STUDY_COLS, studies),
                             ("effects.csv", EFFECT_COLS, effects)):
        with open(dest / name, "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=cols, lineterminator="\n")
            w.writeheader()
            for r in rows:
                w.writerow({c: r.get(c, "") for c in cols})
    (dest / "references.bib").write_text(BIB.lstrip(), encoding="utf-8")
    for sheet in ("rob", "screening", "search_log", "watch"):  # the review's records: none
        (dest / f"{sheet}.csv").write_text(",".join(_columns(f"{sheet}.csv")) + "\n", encoding="utf-8")
    return dest


def expected_smd(m1, m2, sd=SD, n=N_ARM):
    """Hedges' g (benefit positive: control minus ketamine) and its variance, written out."""
    m = 2 * n - 2
    from math import exp, lgamma, log

    J = exp(lgamma(m / 2) - 0.5 * log(m / 2) - lgamma((m - 1) / 2))
    d = (m2 - m1) / sd
    g = J * d
    v = 1 / n + 1 / n + g * g / (2 * (n + n))
    return g, v


def as_arrays(pairs):
    a = np.asarray(pairs, dtype=float)
    return a[:, 0], a[:, 1]
