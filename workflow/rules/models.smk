# Models: fit each configured analysis; a model that cannot be fitted is recorded as failed
# (with its reason) so that the other analyses still run and the report can say why.


rule fit_model:
    """Fit the configured model(s) of one analysis and write their summaries as JSON."""
    input:
        # descriptive kinds (approaches) also read the study sheet
        **evidence_inputs(),
        effect_sizes="results/effect_sizes/{analysis}.csv",
        # kinds that summarise other analyses (summary of findings) read their fits
        fits=dependency_fits,
        rows=row_fingerprint,
    output:
        fit="results/fits/{analysis}.json",
    log:
        "results/logs/fit_model/{analysis}.log",
    wildcard_constraints:
        # chunked analyses (a multiverse's grid) are fitted by fit_chunk + gather_chunks
        analysis=one_of(WHOLE_ANALYSES),
    params:
        spec=analysis_spec,
    script:
        "../scripts/fit_model.py"


rule fit_chunk:
    """Fit one chunk of a chunked analysis (chunk_size specifications of a multiverse's grid)."""
    input:
        **evidence_inputs(),
        rows=row_fingerprint,
    output:
        part="results/fits/{analysis}/part-{chunk}.csv.gz",
        counts="results/fits/{analysis}/part-{chunk}.json",
    log:
        "results/logs/fit_chunk/{analysis}-{chunk}.log",
    wildcard_constraints:
        analysis=one_of(CHUNKS),
        chunk=r"\d+",
    params:
        spec=analysis_spec,
    script:
        "../scripts/fit_chunk.py"


rule gather_chunks:
    """Join the chunks of a chunked analysis: its fit record and its long table."""
    input:
        unpack(chunk_parts),
        rows=row_fingerprint,
    output:
        fit="results/fits/{analysis}.json",
        long="results/fits/{analysis}.specifications.csv.gz",
    log:
        "results/logs/gather_chunks/{analysis}.log",
    wildcard_constraints:
        analysis=one_of(CHUNKS),
    params:
        spec=analysis_spec,
    script:
        "../scripts/gather_chunks.py"


rule run_sensitivity:
    """Refit the headline estimates under other estimators, tests, leave-one-out and grades."""
    input:
        # every variant recomputes its effect sizes from the evidence (other grades, other n, ...)
        **evidence_inputs(),
        fingerprint=EVIDENCE_FINGERPRINT,
    output:
        fit="results/fits/sensitivity.json",
    log:
        "results/logs/run_sensitivity/sensitivity.log",
    params:
        config=sensitivity_config,
    script:
        "../scripts/run_sensitivity.py"
