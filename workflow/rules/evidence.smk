# Evidence base: study characteristics, data gaps and warnings, read straight from data/.


rule summarise_evidence:
    """Write the study-characteristics table, the data-gaps table and the input warnings."""
    input:
        studies=config["evidence"]["studies"],
        effects=config["evidence"]["effects"],
        bib=config["evidence"]["bib"],
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
    script:
        "../scripts/summarise_evidence.py"


rule write_references:
    """Write the complete reference list (Markdown, HTML, BibTeX subset of cited entries)."""
    input:
        studies=config["evidence"]["studies"],
        effects=config["evidence"]["effects"],
        bib=config["evidence"]["bib"],
    output:
        md="results/references.md",
        html="results/references.html",
        bib="results/references.bib",
    log:
        "results/logs/write_references/write_references.log",
    script:
        "../scripts/write_references.py"
