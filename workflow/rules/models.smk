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
    params:
        spec=analysis_spec,
    script:
        "../scripts/fit_model.py"


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
