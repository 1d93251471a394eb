# Figures: PDF, SVG and PNG (300 dpi) at journal widths, deterministic bytes.


rule plot_figure:
    """Draw the figure of one analysis (forest, bubble, durability or effect-direction plot)."""
    input:
        # the study labels (BibTeX) and the risk-of-bias columns of forest plots
        **evidence_inputs(),
        fit="results/fits/{analysis}.json",
        effect_sizes="results/effect_sizes/{analysis}.csv",
        rows=row_fingerprint,
    output:
        pdf="results/figures/{analysis}.pdf",
        svg=report(
            "results/figures/{analysis}.svg",
            caption="../report/figure.rst",
            category="Figures",
            subcategory="{analysis}",
        ),
        png="results/figures/{analysis}.png",
    log:
        "results/logs/plot_figure/{analysis}.log",
    params:
        spec=analysis_spec,
        rob=config.get("rob_figures", {}),
    script:
        "../scripts/plot_figure.py"


rule plot_prisma:
    """Draw the PRISMA 2020 flow diagram from the evidence base and the configured counts."""
    input:
        **evidence_inputs(),
        fits=all_fits,
        fingerprint=EVIDENCE_FINGERPRINT,
    output:
        pdf="results/figures/prisma.pdf",
        svg=report(
            "results/figures/prisma.svg",
            caption="../report/prisma.rst",
            category="Figures",
        ),
        png="results/figures/prisma.png",
    log:
        "results/logs/plot_prisma/prisma.log",
    params:
        prisma=config.get("prisma", {}),
    script:
        "../scripts/plot_prisma.py"


rule plot_rob:
    """Draw the risk-of-bias traffic-light and weighted summary plots (robvis conventions)."""
    input:
        **evidence_inputs(),
        fingerprint=EVIDENCE_FINGERPRINT,
    output:
        traffic_pdf="results/figures/rob_traffic_light.pdf",
        traffic_svg="results/figures/rob_traffic_light.svg",
        traffic_png="results/figures/rob_traffic_light.png",
        summary_pdf="results/figures/rob_summary.pdf",
        summary_svg="results/figures/rob_summary.svg",
        summary_png="results/figures/rob_summary.png",
    log:
        "results/logs/plot_rob/plot_rob.log",
    params:
        cfg=config.get("rob_figures", {}),
    script:
        "../scripts/plot_rob.py"
