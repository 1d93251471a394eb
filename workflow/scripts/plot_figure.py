"""The figure of one analysis as PDF, SVG and PNG."""

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from ketameta.outputs.citations import Citations
from ketameta.outputs.figures import savefig_all
from ketameta.synthesis.files import read_effect_sizes, read_json
from ketameta.synthesis.pipeline import figure as figure_for

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(fit_path, es_path, bib, pdf_path, spec):
    fig = figure_for(read_json(fit_path), read_effect_sizes(es_path), spec, Citations(bib))
    savefig_all(fig, Path(pdf_path).with_suffix(""))


if __name__ == "__main__":
    logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)
    main(snakemake.input.fit, snakemake.input.effect_sizes, snakemake.input.bib,
         snakemake.output.pdf, snakemake.params.spec)
