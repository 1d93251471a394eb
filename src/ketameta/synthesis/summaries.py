"""The tables that summarise across analyses: claims, sensitivity, studies, data gaps."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..outputs.tables import Table
from .effects import SIGN_CONVENTION

__all__ = ["claims_table", "sensitivity_table", "studies_table", "gaps_table", "reference_gaps",
           "used_studies"]


def claims_table(claims: list[dict], cit, titles: dict[str, str] | None = None) -> Table:
    """The claims table: per claim one sentence with the verdict and its key number; the
    evidence behind it beneath (HTML: a collapsed details row; Markdown/LaTeX: notes).

    ``titles`` (analysis id -> title) names the analyses in reader terms.
    """
    df = pd.DataFrame(claims)
    if "summary" not in df:
        df["summary"] = df["verdict"]
    return Table(df, title="Claims of the source article set against the synthesized data",
                 notes=["Verdicts follow fixed rules (see ketameta.synthesis.claims): supported / "
                        "mixed / not supported / insufficient data.",
                        "k = number of studies (or time points for durability) behind the "
                        "quantitative evidence.",
                        "Certainty: the GRADE ratings (summary of findings) of the windows of the "
                        "claim's analyses, lowest to highest; a verdict is not a certainty rating, and "
                        "a verdict resting on low or very low certainty says so."],
                 label="tab:claims", citations=cit, citekeys="source", study_column="Source",
                 columns=["claim", "Source", "summary", "k"],
                 details=["evidence", "certainty", "analyses"],
                 coded=["summary", "evidence", "analyses"], value_labels=dict(titles or {}),
                 rename={"claim": "Claim", "summary": "What the synthesized data say",
                         "evidence": "Findings behind the verdict",
                         "certainty": "Certainty (GRADE)", "analyses": "Analyses"},
                 formats={"k": "int"})


def sensitivity_table(df: pd.DataFrame, titles: dict[str, str] | None = None) -> Table:
    """How each headline estimate moves under the sensitivity variants (``titles``: analysis id
    -> title, so the table names analyses in reader terms).
    """
    df = df.copy()
    for c in ("estimate", "ci_lb", "ci_ub", "pval", "k"):
        if c not in df:
            df[c] = np.nan
    return Table(df, title="Sensitivity of the headline estimates",
                 notes=["Each row refits one headline estimate under one change: tau^2 "
                        "estimator (REML/DL/PM), test (z vs Knapp-Hartung), adding C-grade "
                        "sources, handling of unknown n, or leaving one study out.",
                        f"Sign: {SIGN_CONVENTION}."],
                 label="tab:sensitivity",
                 columns=["analysis", "estimate_name", "variant", "detail", "k", "Estimate",
                          "pval", "scale", "status"],
                 ci={"Estimate": ("estimate", "ci_lb", "ci_ub")},
                 rename={"analysis": "Analysis", "estimate_name": "Estimate of",
                         "variant": "Variant", "detail": "Detail", "pval": "p",
                         "scale": "Scale", "status": "Status", "Estimate": "Estimate [95% CI]"},
                 formats={"estimate": 3, "pval": "p", "k": "int"},
                 coded=["analysis", "detail", "variant", "status", "estimate_name"],
                 value_labels=dict(titles or {}))


def studies_table(ev, cit) -> Table:
    """Characteristics of every study and source."""
    st = ev.studies.reset_index()
    cols = ["study_id", "citation_key", "role", "design", "population", "drug", "route",
            "dose_mg_kg", "infusion_min", "schedule", "setting", "control", "psychotherapy", "n"]
    cols = [c for c in cols if c in st.columns]
    df = st[cols].sort_values(["role", "study_id"])
    return Table(df, title="Characteristics of the studies and sources", label="tab:studies",
                 notes=["From data/studies.csv; every number has its source, grade, locator and "
                        "verbatim passage there. Empty = not reported in the sources examined."],
                 citations=cit, citekeys="citation_key",
                 columns=["Study"] + [c for c in cols if c not in ("study_id", "citation_key")],
                 formats={"n": "int", "dose_mg_kg": "{:g}", "infusion_min": "{:g}"})


def gaps_table(gaps: pd.DataFrame, cit) -> Table:
    """The data-gaps table."""
    df = gaps.copy()
    key = "citation_key" if "citation_key" in df.columns else None
    shown = [c for c in df.columns if c not in ("study_id", "citation_key", "role")]
    return Table(df, title="Data gaps: numbers an analysis needs that the sources do not give",
                 notes=["A reader with full-text access can fill these in data/effects.csv "
                        "(see data/README.md, 'Add a new trial'); the last column names the row, "
                        "and incomplete references are completed in data/references.bib."],
                 label="tab:gaps", citations=cit if key else None, citekeys=key,
                 columns=(["Study"] if key else ["study_id"]) + shown,
                 provenance=["effect_id", "excluded_by"])


def used_studies(ev) -> list[str]:
    """Study ids an analysis can use: those with a result row in ``effects.csv`` (any form but
    ``not_found``: pooled, tabulated or counted by direction) and the primary studies and
    context sources whose characteristics the side-by-side comparison of approaches tabulates.
    """
    eff, st = ev.effects, ev.studies
    used = set(eff.loc[eff["form"] != "not_found", "study_id"].dropna().astype(str))
    used |= set(st.index[st["role"].isin(["primary", "context"])].astype(str))
    return sorted(used & set(st.index.astype(str)))


def reference_gaps(ev, cit) -> pd.DataFrame:
    """Data-gaps rows for the used studies whose reference is not citable yet.

    One row per study whose entry in ``data/references.bib`` lacks any of
    :data:`ketameta.outputs.citations.CITABLE_FIELDS` (authors, year, title, journal, volume,
    pages, DOI or PMID), with the missing fields in ``item``; same columns as
    :func:`ketameta.evidence.data_gaps`, ``question`` "reference", ``kind``
    "reference_incomplete". Nothing is filled in: a field is added to the bibliography only
    from a source that shows it.
    """
    rows = []
    for sid in used_studies(ev):
        key = ev.studies.loc[sid, "citation_key"]
        if pd.isna(key) or str(key) not in cit:
            continue
        missing = cit.missing_fields(str(key))
        if missing:
            rows.append(dict(study_id=sid, citation_key=key, question="reference",
                             item="reference: " + ", ".join(missing),
                             reason="not shown in the sources read (data/references.bib)",
                             role=ev.studies.loc[sid, "role"], effect_id=np.nan,
                             kind="reference_incomplete"))
    cols = ["study_id", "citation_key", "question", "item", "reason", "role", "effect_id", "kind"]
    return pd.DataFrame(rows, columns=cols)
