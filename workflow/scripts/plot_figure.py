"""The figure of one analysis as PDF, SVG and PNG."""

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from ketameta.evidence.prepared import read_prepared
from ketameta.outputs.citations import Citations
from ketameta.outputs.figures import savefig_all
from ketameta.synthesis.files import read_effect_sizes, read_json
from ketameta.synthesis.pipeline import figure as figure_for
from ketameta.synthesis.robtable import rob_by_study

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(fit_path, es_path, evidence, pdf_path, spec, rob_cfg):
    rob = rob_by_study(read_prepared(evidence), rob_cfg.get("outcome", "depression_severity"))
    fig = figure_for(read_json(fit_path), read_effect_sizes(es_path), spec, Citations(evidence["bib"]),
                     rob=rob, rob_palette=rob_cfg.get("palette", "cochrane"))
    savefig_all(fig, Path(pdf_path).with_suffix(""))


if __name__ == "__main__":
    logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)
    main(snakemake.input.fit, snakemake.input.effect_sizes, snakemake.input, snakemake.output.pdf,
         snakemake.params.spec, snakemake.params.rob)
