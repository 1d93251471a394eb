# Evidence base: validated once when the workflow is parsed (common.smk); prepare_evidence writes
# that validated copy to results/evidence/, and every later job reads the copy, never data/.


rule prepare_evidence:
    """Write the validated evidence base (sheets, BibTeX, warnings, digest) to results/evidence/."""
    input:
        **evidence_sources(),
    output:
        **EVIDENCE_FILES,
    log:
        "results/logs/prepare_evidence/prepare_evidence.log",
    params:
        warnings=EVIDENCE.warnings,
    script:
        "../scripts/prepare_evidence.py"


rule fingerprint_rows:
    """Record the fingerprint of the evidence rows one analysis reads (reruns only when they change)."""
    output:
        fingerprint="results/evidence/rows/{analysis}.json",
    log:
        "results/logs/fingerprint_rows/{analysis}.log",
    localrule: True
    params:
        scope="{analysis}",
        digest=analysis_digest,
    run:
        # in the Snakemake process: a one-line JSON needs no interpreter of its own
        write_fingerprint(
            output.fingerprint, params.scope, params.digest, log=log[0]
        )


rule fingerprint_evidence:
    """Record the fingerprint of the whole evidence base (for outputs that summarise all of it)."""
    output:
        fingerprint=EVIDENCE_FINGERPRINT,
    log:
        "results/logs/fingerprint_evidence/fingerprint_evidence.log",
    localrule: True
    params:
        scope="evidence",
        digest=evidence_digest,
    run:
        write_fingerprint(output.fingerprint, params.scope, params.digest, log=log[0])


rule summarise_evidence:
    """Write the study-characteristics table, the data-gaps table and the input warnings."""
    input:
        **evidence_inputs(),
        fingerprint=EVIDENCE_FINGERPRINT,
        warnings=EVIDENCE_FILES["warnings"],
    output:
        studies_csv="results/tables/studies.csv",
        studies_md="results/tables/studies.md",
        studies_tex="results/tables/studies.tex",
        studies_html="results/tables/studies.html",
        studies_notes="results/tables/studies.notes.txt",
        gaps_csv="results/tables/data_gaps.csv",
        gaps_md="results/tables/data_gaps.md",
        gaps_html="results/tables/data_gaps.html",
        gaps_notes="results/tables/data_gaps.notes.txt",
        warnings="results/tables/input_warnings.csv",
    log:
        "results/logs/summarise_evidence/summarise_evidence.log",
    script:
        "../scripts/summarise_evidence.py"


rule write_references:
    """Write the complete reference list (Markdown, HTML, BibTeX subset of cited entries)."""
    input:
        **evidence_inputs(),
        fingerprint=EVIDENCE_FINGERPRINT,
    output:
        md="results/references.md",
        html="results/references.html",
        bib="results/references.bib",
    log:
        "results/logs/write_references/write_references.log",
    script:
        "../scripts/write_references.py"
