"""PRISMA 2020 flow diagram from the evidence base (and configured search counts, if any)."""

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from ketameta.evidence.prepared import read_prepared
from ketameta.outputs.figures import prisma, savefig_all
from ketameta.synthesis.files import read_json
from ketameta.synthesis.prisma import prisma_counts

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(evidence, fit_paths, pdf_path, cfg):
    ev = read_prepared(evidence)
    fits = {Path(p).stem: read_json(p) for p in fit_paths}
    counts = prisma_counts(ev, fits, cfg)["counts"]
    savefig_all(prisma(counts), Path(pdf_path).with_suffix(""))


if __name__ == "__main__":
    logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)
    main(snakemake.input, snakemake.input.fits, snakemake.output.pdf, snakemake.params.prisma)
