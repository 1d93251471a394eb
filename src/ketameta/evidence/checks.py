"""Checks that need more than one cell: ids across rows, keys in the BibTeX file, provenance.

Per-cell rules (types, vocabularies, ranges, required cells, what each ``form`` needs) are in
the JSON schemas and checked by :func:`ketameta.evidence.schema.check_rows`. This module keeps
only what a schema cannot say: unique ids, references to other sheets and files, numbers
occurring verbatim in their passages, a CI containing its estimate, events not exceeding the arm
size, and the warnings for suspicious but legal values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .._dist import t_sf
from ..errors import InputError
from .provenance import ID_RE, key_error, number_in_passage, suggest
from .schema import numeric_columns, parse_number

__all__ = ["validate_studies", "validate_effects", "FormSpec", "FORMS", "KNOWN_SCALES",
           "MODERATOR_OUTCOMES", "RESULT_NUMERIC", "GRADES"]

GRADES = ("P", "S", "C")

#: numbers that are results read from a source: they need provenance and must occur verbatim
RESULT_NUMERIC = tuple(c for c in numeric_columns("effects") if c not in ("time_value", "benefit_sign"))

#: outcome scales seen so far; anything else is legal but produces a warning (catches typos)
KNOWN_SCALES = (
    "MADRS", "HDRS", "HDRS-17", "HDRS-21", "HDRS-25", "HAM-D", "HAM-D-6", "HAM-D-17", "IDS-C", "BDI",
    "HAM-A", "SSI", "BSI", "MADRS-SI", "C-SSRS-ISS", "CADSS", "5D-ASC", "AE report", "BPRS", "POMS-D",
    "QIDS-SI", "SI composite", "HADS", "HDRS-6", "QIDS-SR", "CADSS-6", "DSS",
)

#: outcomes that describe dissociation itself (moderators), not benefit
MODERATOR_OUTCOMES = ("dissociation_incidence", "dissociation_severity")


@dataclass(frozen=True)
class FormSpec:
    """What a reporting form means (its required columns are in the effects schema)."""

    description: str
    ratio: bool = False
    correlation: bool = False


FORMS = {
    "r_n": FormSpec("correlation r with its n", correlation=True),
    "r_p": FormSpec("correlation r with p; n not reported", correlation=True),
    "r_ci": FormSpec("(pooled) correlation r with CI", correlation=True),
    "r_only": FormSpec("correlation r with no n, p or CI", correlation=True),
    "d_ci": FormSpec("standardized mean difference (d or g) with CI"),
    "d_p": FormSpec("standardized mean difference with p only"),
    "d_only": FormSpec("standardized mean difference with no CI, SE, p or n"),
    "md_ci": FormSpec("mean difference (scale points) with CI"),
    "md_se": FormSpec("mean difference with SE"),
    "md_t": FormSpec("mean difference with t and df (or arm ns)"),
    "f_df": FormSpec("F statistic with 1 numerator df: estimate = F, df = denominator df"),
    "means_sds": FormSpec("per-arm means/SDs/ns (arm 1 = ketamine; arm 2 = control)"),
    "means_ses": FormSpec("per-arm means with standard errors and ns"),
    "change_t": FormSpec("within-arm mean change with t and df"),
    "events": FormSpec("per-arm event counts (ai/n1i ketamine; ci/n2i control)"),
    "pct": FormSpec("percentages as reported (pct1 ketamine, pct2 control)"),
    "rd_ci": FormSpec("risk difference with CI"),
    "or_ci": FormSpec("odds ratio (natural scale) with CI", ratio=True),
    "or_only": FormSpec("odds ratio with no CI or p", ratio=True),
    "rr_ci": FormSpec("risk ratio (natural scale) with CI", ratio=True),
    "slope_ci": FormSpec("regression slope with CI"),
    "slope_se": FormSpec("regression slope with SE"),
    "slope_p": FormSpec("regression slope with p (a dispersion printed as SD goes in `sd`)"),
    "mean_change": FormSpec("single-arm mean change (optionally sd/se/n/CI)"),
    "mean_only": FormSpec("a single mean (e.g. time to relapse in days) with no dispersion"),
    "direction": FormSpec("only a direction/significance was reported"),
    "not_found": FormSpec("searched for and not found: no numbers; `notes` says where it was searched"),
}


def _n(value):
    return parse_number(value)[0]


def _unique(frame, col, file, errors, what):
    seen = {}
    for _, row in frame.iterrows():
        v = row[col].strip()
        if not v or not ID_RE.match(v):
            continue
        if v in seen:
            errors.append(InputError(f"duplicated {what} (first used on line {seen[v]})", file=file,
                                     line=int(row["line"]), column=col, value=v))
        else:
            seen[v] = int(row["line"])


def validate_studies(frame, file="data/studies.csv", bib_keys=None, warnings=None):
    """Cross-cell checks of a raw studies frame; return a list of InputError (warnings appended)."""
    errors = []
    warn = warnings if warnings is not None else []
    _unique(frame, "study_id", file, errors, "study_id")
    for _, row in frame.iterrows():
        line = int(row["line"])
        key = row["citation_key"].strip()
        if key:
            e = key_error(key, bib_keys, file, line, "citation_key")
            if e:
                errors.append(e)
        n, dose = _n(row["n"]), _n(row["dose_mg_kg"])
        if n is not None and n > 100000:
            warn.append(f"{file}, line {line}, column 'n': n = {row['n']} is unusually large; check it")
        if dose is not None and dose > 5:
            warn.append(f"{file}, line {line}, column 'dose_mg_kg': {row['dose_mg_kg']} mg/kg is far above subanaesthetic doses; check it")
        for prefix, cols in (("n", ("n",)), ("dose", ("dose_mg_kg", "infusion_min"))):
            present = [c for c in cols if _n(row[c]) is not None]
            passage = row[f"{prefix}_passage"].strip()
            if present and passage:
                for c in present:
                    if not number_in_passage(row[c], passage):
                        errors.append(InputError(
                            f"the value does not occur verbatim in {prefix}_passage; copy the number exactly as printed",
                            file=file, line=line, column=c, value=row[c]))
            if row[f"{prefix}_grade"].strip() == "C" and present:
                warn.append(f"{file}, line {line}, column '{prefix}_grade': grade C (third-party copy) for {', '.join(present)}")
            source = row[f"{prefix}_source"].strip()
            if source:
                e = key_error(source, bib_keys, file, line, f"{prefix}_source")
                if e:
                    errors.append(e)
    return errors


def _p_from_r(r, n):

    if n <= 3 or abs(r) >= 1:
        return None
    t = r * math.sqrt((n - 2) / (1 - r * r))
    return float(2 * t_sf(abs(t), n - 2))


def validate_effects(frame, file="data/effects.csv", study_ids=None, bib_keys=None, warnings=None, design=None):
    """Cross-cell checks of a raw effects frame; return a list of InputError (warnings appended).

    ``design`` (study_id -> design) enables the crossover check: a result of a crossover trial
    should say which data it is (``crossover_data``), so that no patient is counted twice.
    """
    errors = []
    warn = warnings if warnings is not None else []
    _unique(frame, "effect_id", file, errors, "effect_id")
    numeric = numeric_columns("effects")
    for _, row in frame.iterrows():
        line = int(row["line"])
        get = {c: row[c].strip() if isinstance(row[c], str) else "" for c in frame.columns if c != "line"}
        nums = {c: _n(get[c]) for c in numeric}

        def err(msg, col, value=None):
            errors.append(InputError(msg, file=file, line=line, column=col, value=value))

        sid = get["study_id"]
        if sid and study_ids is not None and sid not in study_ids:
            hint = suggest(sid, study_ids)
            err("study_id not found in studies.csv" + (f"; did you mean '{hint}'?" if hint else "; add the study row first"), "study_id", sid)
        form = get["form"]
        spec = FORMS.get(form)
        present = [c for c in RESULT_NUMERIC if nums[c] is not None]
        if form == "md_t" and nums["df"] is None and (nums["n1i"] is None or nums["n2i"] is None):
            err("form 'md_t' needs df, or both n1i and n2i", "df")
        if nums["time_value"] is not None and get["time_text"] and not (
                number_in_passage(get["time_value"], get["time_text"], article=True)
                or number_in_passage(get["time_value"], get["passage"], article=True)
                or number_in_passage(get["time_value"], get["passage2"], article=True)):
            err("time_value does not occur in time_text or the passages; copy the time wording verbatim into time_text",
                "time_value", row["time_value"])
        for a, n in (("ai", "n1i"), ("ci", "n2i")):
            if nums[a] is not None and nums[n] is not None and nums[a] > nums[n]:
                err(f"events ({a} = {row[a]}) exceed the arm size ({n} = {row[n]})", a, row[a])
        est, lb, ub = nums["estimate"], nums["ci_lb"], nums["ci_ub"]
        if lb is not None and ub is not None:
            if lb > ub:
                err("ci_lb is above ci_ub; put the lower bound in ci_lb", "ci_lb", row["ci_lb"])
            elif lb == ub:
                err("ci_lb equals ci_ub: a confidence interval of zero width implies a variance of 0; "
                    "check the numbers", "ci_ub", row["ci_ub"])
            elif est is not None and not lb <= est <= ub:
                err(f"the CI [{row['ci_lb']}, {row['ci_ub']}] does not contain the estimate {row['estimate']}"
                    + (" (ratios must be on the natural scale)" if spec is not None and spec.ratio else ""), "estimate", row["estimate"])
        if present and get["passage"] and form != "not_found":
            labels = (get["time_text"],) if get["time_text"] else ()
            for col in present:
                if not (number_in_passage(get[col], get["passage"], labels=labels)
                        or number_in_passage(get[col], get["passage2"], labels=labels)):
                    err("the value does not occur verbatim in passage or passage2; copy the number exactly as printed", col, row[col])
        for col in ("source", "source2"):
            if get[col]:
                e = key_error(get[col], bib_keys, file, line, col)
                if e:
                    errors.append(e)
        # ---- warnings: suspicious but legal
        eid = get["effect_id"]
        if (design is not None and design.get(sid) == "crossover_rct" and not get.get("crossover_data")
                and form not in ("not_found", "direction") and get["outcome"] not in MODERATOR_OUTCOMES):
            warn.append(f"{file}, line {line}, column 'crossover_data': empty for a result of the crossover trial {sid}; "
                        "it is treated as both periods entered as two arms (the same patients in both)")
        if get["grade"] == "C" or get["grade2"] == "C":
            warn.append(f"{file}, line {line}, column '{'grade' if get['grade'] == 'C' else 'grade2'}': grade C (third-party copy) "
                        f"- {eid} is used only in sensitivity analyses")
        for c in ("n", "n1i", "n2i"):
            if nums[c] is not None and nums[c] > 100000:
                warn.append(f"{file}, line {line}, column '{c}': {row[c]} is unusually large; check it")
        if form in ("d_ci", "d_p", "d_only") and est is not None and abs(est) > 5:
            warn.append(f"{file}, line {line}, column 'estimate': |d| = {abs(est)} > 5 is implausible for a standardized mean difference; check it")
        if form == "r_n" and est is not None and nums["n"] is not None and nums["p"] is not None and get["p_op"] == "=":
            p_calc = _p_from_r(est, nums["n"])
            if p_calc is not None and not (nums["p"] / 5 <= p_calc <= nums["p"] * 5):
                warn.append(f"{file}, line {line}, column 'n': r = {row['estimate']} with n = {row['n']} implies p = {p_calc:.2g}, "
                            f"not the reported p = {row['p']}; is n the n of this correlation?")
        if get["scale"] and get["scale"] not in KNOWN_SCALES:
            warn.append(f"{file}, line {line}, column 'scale': '{get['scale']}' is not a known scale name ({', '.join(KNOWN_SCALES)}); check the spelling")
        vote_count = get["outcome"] == "dissociation_improvement_association" and form in ("events", "pct")
        if (spec is not None and form not in ("direction", "not_found", "f_df") and not vote_count
                and get["outcome"] not in MODERATOR_OUTCOMES and get["outcome"] != "other" and not get["benefit_sign"]):
            warn.append(f"{file}, line {line}, column 'benefit_sign': empty for a {form} row on {get['outcome']}; the sign convention "
                        "of this result is unknown, so it cannot be harmonised")
    return errors
