"""Reader-facing names for the internal names of columns and coded values.

The CSV files keep the internal names (``study_id``, ``ci_lb``, ``knha``,
``dissociation_improvement_association``) so that scripts can read them; every table a person
reads (Markdown, LaTeX, HTML, the report) shows the names below instead. :class:`~ketameta.
outputs.tables.Table` uses :func:`header` for every column that its ``rename`` does not name,
and :func:`value` for the cells of the columns listed in :data:`CODED_COLUMNS`.

The wording follows metafor's printed output (``print.rma``: "estimate", "se", "ci.lb" become
"Estimate", "SE", "95% CI") and the Cochrane Handbook's table conventions (ch. 14: "Study",
"Participants (studies)").
"""

from __future__ import annotations

import re

__all__ = ["HEADERS", "VALUES", "CODED_COLUMNS", "header", "value", "internal_token", "readable_text"]

#: internal column name -> column header
HEADERS = {
    "study_id": "Study",
    "study": "Study",
    "study_label": "Study",
    "citation_key": "Reference",
    "citekey": "Reference",
    "effect_id": "Row in data/effects.csv",
    "analysis": "Analysis",
    "analyses": "Analyses",
    "question": "Question",
    "item": "Missing number",
    "reason": "Reason",
    "kind": "Kind of gap",
    "role": "Role",
    "design": "Design",
    "population": "Population",
    "drug": "Drug",
    "route": "Route",
    "dose_mg_kg": "Dose (mg/kg)",
    "dose": "Dose (mg/kg)",
    "infusion_min": "Infusion (min)",
    "schedule": "Schedule",
    "setting": "Setting",
    "control": "Control",
    "psychotherapy": "Psychotherapy",
    "n": "n",
    "k": "k",
    "estimate": "Estimate",
    "se": "SE",
    "ci_lb": "95% CI (lower)",
    "ci_ub": "95% CI (upper)",
    "pval": "p",
    "zval": "z",
    "tval": "t",
    "estimator": "tau² estimator",
    "method": "tau² estimator",
    "test": "Test",
    "status": "Status",
    "outcome": "Outcome",
    "arm": "Arm",
    "scale": "Scale",
    "time": "Time",
    "time_text": "Time",
    "time_days": "Time (days)",
    "window": "Window",
    "grade": "Grade",
    "derived": "Derived",
    "weight": "Weight (%)",
    "headline": "Headline",
    "variant": "Variant",
    "detail": "Detail",
    "estimate_name": "Estimate of",
    "moderator": "Moderator",
    "contrast": "Contrast / coefficient",
    "dissociation_rd": "Dissociation (risk difference)",
    "dissociation_severity": "Dissociation severity",
    "locator": "Locator",
    "source": "Source",
    "year": "Year",
    "I2": "I² (%)",
    "excluded_by": "Filters that would still leave it out",
    "crossover_rho": "Crossover correlation",
    "value_type": "Value type",
    "window_widen": "Window widening",
    "per_trial": "Effects per trial",
    "time_rho": "Correlation between a trial's rows",
    "unknown_n": "n of a correlation reported without one",
    "inconsistent_n": "n inconsistent with r and p",
    "rows": "Rows",
    "tau2": "tau²",
}

#: coded values (vocabularies of the data sheets and the config) -> reader wording
VALUES = {
    # tests and estimators (metafor's names)
    "knha": "Knapp-Hartung",
    # outcomes (data/effects.csv, column outcome)
    "dissociation_improvement_association": "dissociation-improvement association",
    "dissociation_incidence": "incidence of dissociation",
    "dissociation_severity": "dissociation severity",
    "depression_severity": "depression severity",
    "suicidal_ideation": "suicidal ideation",
    # designs, drugs, settings (data/studies.csv)
    "parallel_rct": "parallel RCT",
    "crossover_rct": "crossover RCT",
    "single_arm": "single-arm trial",
    "pooled_secondary": "pooled secondary analysis",
    "case_series": "case series",
    "meta_analysis": "meta-analysis",
    "systematic_review": "systematic review",
    "racemic_ketamine": "racemic ketamine",
    "infusion_clinic": "infusion clinic",
    "surgical_anaesthesia": "surgical anaesthesia",
    "non_IV": "non-intravenous",
    # kinds of data gaps (ketameta.evidence.gaps)
    "not_found": "not found in the sources",
    "not_poolable": "not usable as an effect size",
    "time_not_reported": "time point not reported",
    "no_quantitative_row": "no quantitative result",
    "reference_incomplete": "reference incomplete",
    "model_based": "model-based",
    "dose_mg_kg": "dose (mg/kg)",
    # how correlations without an n are handled (config: unknown_n)
    "study_n": "the study's total n",
    "bound_low": "the smallest n consistent with r and p",
    "bound_high": "the largest n consistent with r and p",
    "implied": "the n implied by r and p",
    "reported": "the reported n",
    "value_type": "value type",
    "crossover_rho": "crossover correlation",
    "window_widen": "window widening",
    "per_trial": "effects per trial",
    "time_rho": "correlation between a trial's rows",
    "unknown_n": "n of a correlation reported without one",
    "inconsistent_n": "n inconsistent with r and p",
    "multilevel": "every row, nested in trials",
    "bayes": "Bayesian",
    "dissociation_rd": "dissociation (risk difference)",
}

#: columns whose cells are coded values (shown through :data:`VALUES`)
CODED_COLUMNS = frozenset({
    "design", "drug", "route", "setting", "control", "schedule", "psychotherapy", "outcome",
    "kind", "test", "estimator", "method", "role", "item", "question", "contrast",
})

_TOKEN = re.compile(r"\b[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)+\b")
_FILTER = re.compile(r"\b([A-Za-z][A-Za-z0-9_]*) (not )?in \[((?:'[^']*'(?:, )?)*)\]")
_WORD = re.compile(r"(?<![\w/.-])[A-Za-z][A-Za-z0-9_]*(?![\w/-])")


def header(name: str) -> str:
    """The column header a reader sees for an internal column name (itself if unknown)."""
    return HEADERS.get(name, name)


def internal_token(text: str) -> bool:
    """Whether ``text`` is written like an internal name (snake_case: ``dose_mg_kg``)."""
    return bool(_TOKEN.fullmatch(text))


def readable_text(text: str, extra: dict[str, str] | None = None) -> str:
    """``text`` with every coded token of :data:`VALUES` (and ``extra``) replaced by its wording.

    Parameters
    ----------
    text : str
        Plain text, e.g. a data-gaps item "dissociation_improvement_association; HDRS-17".
    extra : dict, optional
        Further token -> wording pairs (e.g. analysis id -> analysis title).

    Returns
    -------
    str
    """
    table = {**VALUES, **(extra or {})}

    def _filter(m: re.Match) -> str:  # a config filter "value_type in ['endpoint']"
        items = ", ".join(table.get(v, v) for v in re.findall(r"'([^']*)'", m.group(3)))
        name = HEADERS.get(m.group(1), table.get(m.group(1), m.group(1)))
        return f"{name}{' not' if m.group(2) else ''} in: {items}"

    text = _FILTER.sub(_filter, text)
    return _WORD.sub(lambda m: table.get(m.group(0), m.group(0)), text)


def value(text: str, extra: dict[str, str] | None = None) -> str:
    """The reader wording of one coded cell (whole-cell match first, then token by token)."""
    table = {**VALUES, **(extra or {})}
    if text in table:
        return table[text]
    return readable_text(text, extra)
