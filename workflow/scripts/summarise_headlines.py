"""Every headline estimate and GRADE rating of the run (what a release keeps and compares)."""

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from ketameta.synthesis.files import read_json, write_json
from ketameta.synthesis.living import certainty_rows, headline_rows

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(fit_paths, headlines_path, certainty_path):
    fits = {Path(p).stem: read_json(p) for p in fit_paths}
    write_json(headline_rows(fits), headlines_path)
    write_json(certainty_rows(fits), certainty_path)


if __name__ == "__main__":
    logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)
    main(snakemake.input.fits, snakemake.output.headlines, snakemake.output.certainty)
