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
        record=lambda wc: fingerprint_record(wc.analysis),
    # a one-line file: no Python interpreter of its own (the digest is computed when parsing)
    shell:
        "printf '%s\\n' {params.record:q} > {output.fingerprint} 2> {log}"


rule fingerprint_evidence:
    """Record the fingerprint of the whole evidence base (for outputs that summarise all of it)."""
    output:
        fingerprint=EVIDENCE_FINGERPRINT,
    log:
        "results/logs/fingerprint_evidence/fingerprint_evidence.log",
    localrule: True
    params:
        record=lambda wc: fingerprint_record(None),
    shell:
        "printf '%s\\n' {params.record:q} > {output.fingerprint} 2> {log}"


rule summarise_evidence:
    """Write the study-characteristics table, the data-gaps table and the input warnings."""
    input:
        **evidence_inputs(),
        warnings=EVIDENCE_FILES["warnings"],
        fingerprint=EVIDENCE_FINGERPRINT,
        # the data gaps give a row the reason its analyses' exclusions give
        excluded=expand("results/effect_sizes/{a}.excluded.csv", a=ANALYSES),
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
