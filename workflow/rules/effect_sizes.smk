# Effect sizes: select the rows of one analysis, harmonise signs, compute yi/vi (with every
# derivation named), and list the rows left out with their reasons.


rule compute_effect_sizes:
    """Compute yi, vi (and moderators) for one analysis, with provenance and exclusions."""
    input:
        **evidence_inputs(),
        rows=row_fingerprint,
    output:
        effect_sizes="results/effect_sizes/{analysis}.csv",
        excluded="results/effect_sizes/{analysis}.excluded.csv",
    log:
        "results/logs/compute_effect_sizes/{analysis}.log",
    params:
        spec=analysis_spec,
    script:
        "../scripts/compute_effect_sizes.py"
