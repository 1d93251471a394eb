"""Join the chunks of a chunked analysis: the fit record (JSON) and the long table (CSV)."""

import logging
from typing import TYPE_CHECKING

from ketameta.synthesis import pipeline
from ketameta.synthesis.files import read_json, write_csv, write_json

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(part_paths, count_paths, fit_path, long_path, spec):
    parts = [pipeline.read_part(p, spec) for p in part_paths]
    fit, long = pipeline.gather(parts, [read_json(p) for p in count_paths], spec)
    if fit["status"] != "ok":
        logging.warning("%s could not be fitted: %s", spec["id"], fit["reason"])
    write_json(fit, fit_path)
    write_csv(long, long_path)


if __name__ == "__main__":
    logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)
    main(snakemake.input.parts, snakemake.input.counts, snakemake.output.fit, snakemake.output.long,
         snakemake.params.spec)
