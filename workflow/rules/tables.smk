# Tables: CSV (machine), Markdown, LaTeX (booktabs) and HTML, with author-year citations.
# The CSV's title, notes and references go to the sidecar <stem>.notes.txt (declared as an
# output so that runs with a storage provider keep it too).


rule make_table:
    """Render the results table of one analysis in four formats."""
    input:
        fit="results/fits/{analysis}.json",
        effect_sizes="results/effect_sizes/{analysis}.csv",
        excluded="results/effect_sizes/{analysis}.excluded.csv",
        bib=ancient(EVIDENCE_FILES["bib"]),
        # labels of studies whose reference has no authors come from the study sheet
        studies=ancient(EVIDENCE_FILES["studies"]),
        rows=row_fingerprint,
    output:
        csv=report(
            "results/tables/{analysis}.csv",
            caption="../report/table.rst",
            category="Tables",
            subcategory="{analysis}",
        ),
        md="results/tables/{analysis}.md",
        tex="results/tables/{analysis}.tex",
        html="results/tables/{analysis}.html",
        notes="results/tables/{analysis}.notes.txt",
    log:
        "results/logs/make_table/{analysis}.log",
    params:
        spec=analysis_spec,
    script:
        "../scripts/make_table.py"


rule make_long_table:
    """Write the long table of one analysis (every specification x window of a multiverse) as CSV."""
    input:
        fit="results/fits/{analysis}.json",
        long=lambda wildcards: long_table_of(wildcards.analysis),
    output:
        csv="results/tables/{analysis}.specifications.csv",
        notes="results/tables/{analysis}.specifications.notes.txt",
    log:
        "results/logs/make_long_table/{analysis}.log",
    params:
        spec=analysis_spec,
    script:
        "../scripts/make_long_table.py"


rule make_claims_table:
    """Set each claim of the source article against what the synthesized data say."""
    input:
        **evidence_inputs(),
        fits=claims_inputs,
        fingerprint=EVIDENCE_FINGERPRINT,
    output:
        csv=report(
            "results/tables/claims.csv",
            caption="../report/claims.rst",
            category="Claims",
        ),
        md="results/tables/claims.md",
        tex="results/tables/claims.tex",
        html="results/tables/claims.html",
        notes="results/tables/claims.notes.txt",
    log:
        "results/logs/make_claims_table/claims.log",
    params:
        claims=config["claims"],
        grades=config["grades"],
        analyses=config["analyses"],
    script:
        "../scripts/make_claims_table.py"


rule make_sensitivity_table:
    """Show how each headline estimate moves under the sensitivity choices (one table)."""
    input:
        fit="results/fits/sensitivity.json",
    output:
        csv=report(
            "results/tables/sensitivity.csv",
            caption="../report/sensitivity.rst",
            category="Sensitivity",
        ),
        md="results/tables/sensitivity.md",
        tex="results/tables/sensitivity.tex",
        html="results/tables/sensitivity.html",
        notes="results/tables/sensitivity.notes.txt",
    log:
        "results/logs/make_sensitivity_table/sensitivity.log",
    params:
        analyses=config["analyses"],
    script:
        "../scripts/make_sensitivity_table.py"
