# Evidence base: validated once when the workflow is parsed (common.smk); prepare_evidence writes
# that validated copy to results/evidence/, and every later job reads the copy, never data/.


rule prepare_evidence:
    """Write the validated evidence base (sheets, BibTeX, warnings, digest) to results/evidence/."""
    input:
        **{s: config["evidence"][s] for s in EVIDENCE_SHEETS},
    output:
        **EVIDENCE_FILES,
    log:
        "results/logs/prepare_evidence/prepare_evidence.log",
    params:
        warnings=EVIDENCE.warnings,
    script:
        "../scripts/prepare_evidence.py"


rule summarise_evidence:
    """Write the study-characteristics table, the data-gaps table and the input warnings."""
    input:
        **evidence_inputs(),
        warnings=EVIDENCE_FILES["warnings"],
    output:
        studies_csv="results/tables/studies.csv",
        studies_md="results/tables/studies.md",
        studies_tex="results/tables/studies.tex",
        studies_html="results/tables/studies.html",
        gaps_csv="results/tables/data_gaps.csv",
        gaps_md="results/tables/data_gaps.md",
        gaps_html="results/tables/data_gaps.html",
        warnings="results/tables/input_warnings.csv",
    log:
        "results/logs/summarise_evidence/summarise_evidence.log",
    params:
        digest=evidence_digest,
    script:
        "../scripts/summarise_evidence.py"


rule write_references:
    """Write the complete reference list (Markdown, HTML, BibTeX subset of cited entries)."""
    input:
        **evidence_inputs(),
    output:
        md="results/references.md",
        html="results/references.html",
        bib="results/references.bib",
    log:
        "results/logs/write_references/write_references.log",
    params:
        digest=evidence_digest,
    script:
        "../scripts/write_references.py"
