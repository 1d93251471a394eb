"""PRISMA 2020 flow diagram from the evidence base (and configured search counts, if any)."""

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from ketameta.evidence.prepared import read_prepared
from ketameta.outputs.figures import prisma, savefig_all
from ketameta.synthesis.figopts import figure_kwargs
from ketameta.synthesis.files import read_json
from ketameta.synthesis.prisma import prisma_counts

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(evidence, fit_paths, pdf_path, cfg, settings=None):
    ev = read_prepared(evidence)
    fits = {Path(p).stem: read_json(p) for p in fit_paths}
    counts = prisma_counts(ev, fits, cfg)["counts"]
    settings = settings or {}
    kw = figure_kwargs(settings, clip=False, height=False, fontsize=False)
    savefig_all(prisma(counts, **kw), Path(pdf_path).with_suffix(""), dpi=settings.get("dpi", 300))


if __name__ == "__main__":
    logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)
    main(snakemake.input, snakemake.input.fits, snakemake.output.pdf, snakemake.params.prisma,
         snakemake.params.figure)
