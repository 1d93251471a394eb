"""Long table of one analysis (every specification x window of a multiverse) as CSV."""

import logging
from typing import TYPE_CHECKING

from ketameta.synthesis import pipeline
from ketameta.synthesis.files import read_json

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(fit_path, long_paths, csv_path, spec):
    fit = pipeline.with_long_table(read_json(fit_path), long_paths, spec)
    pipeline.long_table(fit, spec).write(csv=csv_path)


if __name__ == "__main__":
    logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)
    main(snakemake.input.fit, snakemake.input.long, snakemake.output.csv, snakemake.params.spec)
