# In-text values for manuscripts and the single self-contained HTML report.


rule export_values:
    """Write one LaTeX macro (and one JSON entry) per headline number."""
    input:
        fits=all_fits,
        claims="results/tables/claims.csv",
    output:
        tex="results/values/values.tex",
        json="results/values/values.json",
    log:
        "results/logs/export_values/values.log",
    script:
        "../scripts/export_values.py"


rule build_report:
    """Assemble results/report.html: claims first, then every analysis, sensitivity, gaps."""
    input:
        **evidence_inputs([s for s in ("search_log", "watch") if s in REVIEW_SHEETS]),
        fits=all_fits,
        tables=all_tables,
        figures=all_figures,
        claims="results/tables/claims.html",
        sensitivity="results/tables/sensitivity.html",
        studies="results/tables/studies.html",
        gaps="results/tables/data_gaps.html",
        warnings="results/tables/input_warnings.csv",
        references="results/references.html",
        prisma="results/figures/prisma.svg",
        rob_traffic="results/figures/rob_traffic_light.svg",
        rob_summary="results/figures/rob_summary.svg",
        values="results/values/values.json",
        changes="results/changes.json",
        fingerprint=EVIDENCE_FINGERPRINT,
    output:
        html="results/report.html",
    log:
        "results/logs/build_report/report.log",
    params:
        analyses=config["analyses"],
        level=config["level"],
        sources=[config["evidence"][k] for k in ("studies", "effects", "bib")],
        living=config.get("living", {}),
    script:
        "../scripts/build_report.py"
