"""Long table of one analysis (every specification x window of a multiverse) as CSV."""

import logging
from typing import TYPE_CHECKING

from ketameta.synthesis.files import read_json
from ketameta.synthesis.pipeline import long_table

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(fit_path, csv_path, spec):
    table = long_table(read_json(fit_path), spec)
    table.write(csv=csv_path)


if __name__ == "__main__":
    logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)
    main(snakemake.input.fit, snakemake.output.csv, snakemake.params.spec)
