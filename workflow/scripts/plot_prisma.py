"""PRISMA 2020 flow diagram from the evidence base (and configured search counts, if any)."""

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from ketameta.evidence import load_evidence
from ketameta.outputs.figures import prisma, savefig_all
from ketameta.synthesis.files import read_json
from ketameta.synthesis.plots import prisma_counts

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(studies, effects, bib, fit_paths, pdf_path, cfg):
    ev = load_evidence(studies=studies, effects=effects, bib=bib, validate=False)
    fits = {Path(p).stem: read_json(p) for p in fit_paths}
    counts = prisma_counts(ev, fits, cfg)["counts"]
    savefig_all(prisma(counts), Path(pdf_path).with_suffix(""))


if __name__ == "__main__":
    logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)
    main(snakemake.input.studies, snakemake.input.effects, snakemake.input.bib,
         snakemake.input.fits, snakemake.output.pdf, snakemake.params.prisma)
