# Figures: PDF, SVG and PNG (300 dpi) at journal widths, deterministic bytes.


# One rule per figure (procedural rule definition): each writes exactly the formats its
# settings in config `figures` ask for, so `formats` can differ between figures.
for fig_analysis in FIGURE_ANALYSES:

    rule:
        """Draw the figure of one analysis (forest, subgroup forest, bubble, durability or effect-direction plot)."""
        name:
            f"plot_figure_{fig_analysis}"
        input:
            # the study labels (BibTeX, study sheet) and the risk-of-bias columns of forest plots
            **evidence_inputs(),
            fit=f"results/fits/{fig_analysis}.json",
            effect_sizes=f"results/effect_sizes/{fig_analysis}.csv",
            rows=f"results/evidence/rows/{fig_analysis}.json",
            # every specification of a multiverse (its specification curves)
            long=long_table_of(fig_analysis),
        output:
            **figure_outputs(fig_analysis, caption="../report/figure.rst"),
        log:
            f"results/logs/plot_figure/{fig_analysis}.log",
        params:
            spec=spec_of(fig_analysis),
            rob=config.get("rob_figures", {}),
            figure=figure_settings(fig_analysis),
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
        figure=figure_settings("prisma"),
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
        traffic=figure_settings("rob_traffic_light"),
        summary=figure_settings("rob_summary"),
    script:
        "../scripts/plot_rob.py"
