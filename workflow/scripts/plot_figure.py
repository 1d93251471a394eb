"""The figure of one analysis in the formats its settings ask for (PDF, SVG, PNG)."""

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from ketameta.evidence.prepared import read_prepared
from ketameta.outputs.figures import savefig_all
from ketameta.synthesis.files import read_effect_sizes, read_json
from ketameta.synthesis.labels import study_citations
from ketameta.synthesis.pipeline import figure as figure_for
from ketameta.synthesis.pipeline import with_long_table
from ketameta.synthesis.robtable import rob_by_study

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(fit_path, es_path, evidence, outputs, spec, rob_cfg, settings):
    ev = read_prepared(evidence)
    rob = rob_by_study(ev, rob_cfg.get("outcome", "depression_severity"))
    fit = with_long_table(read_json(fit_path), evidence.get("long", []), spec)
    fig = figure_for(fit, read_effect_sizes(es_path), spec,
                     study_citations(evidence["bib"], ev.studies), rob=rob,
                     rob_palette=rob_cfg.get("palette", "cochrane"), opts=settings)
    stem = Path(outputs["svg"]).with_suffix("")
    savefig_all(fig, stem, formats=list(outputs), dpi=settings.get("dpi", 300))


if __name__ == "__main__":
    logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)
    outputs = {k: v for k, v in snakemake.output.items()}
    main(snakemake.input.fit, snakemake.input.effect_sizes, snakemake.input, outputs,
         snakemake.params.spec, snakemake.params.rob, snakemake.params.figure)
