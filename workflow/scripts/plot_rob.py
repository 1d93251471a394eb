"""Risk-of-bias figures: traffic-light plot and weighted summary plot (robvis conventions)."""

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from ketameta.evidence.prepared import read_prepared
from ketameta.outputs.figures import savefig_all
from ketameta.outputs.figures.rob import rob_summary, rob_traffic_light
from ketameta.outputs.figures.style import message_figure
from ketameta.synthesis.figopts import figure_kwargs
from ketameta.synthesis.labels import study_citations
from ketameta.synthesis.robtable import rob_table

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(evidence, traffic_pdf, summary_pdf, cfg, traffic=None, summary=None):
    ev = read_prepared(evidence)
    table, weights = rob_table(ev, study_citations(evidence["bib"], ev.studies),
                               cfg.get("outcome", "depression_severity"), cfg.get("weight", "participants"))
    palette = cfg.get("palette", "cochrane")
    traffic, summary = traffic or {}, summary or {}
    if table.empty:
        fig = message_figure("no risk-of-bias assessments")
        savefig_all(fig, Path(traffic_pdf).with_suffix(""))
        savefig_all(fig, Path(summary_pdf).with_suffix(""))
        return
    only_width = {"clip": False, "height": False, "fontsize": False}
    savefig_all(rob_traffic_light(table, palette=palette, **figure_kwargs(traffic, **only_width)),
                Path(traffic_pdf).with_suffix(""), dpi=traffic.get("dpi", 300))
    savefig_all(rob_summary(table, weights=weights, palette=palette, **figure_kwargs(summary, **only_width)),
                Path(summary_pdf).with_suffix(""), dpi=summary.get("dpi", 300))


if __name__ == "__main__":
    logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)
    main(snakemake.input, snakemake.output.traffic_pdf, snakemake.output.summary_pdf, snakemake.params.cfg,
         snakemake.params.traffic, snakemake.params.summary)
