"""Fit one chunk of a chunked analysis: its part of the long table (CSV) and its counts (JSON)."""

import logging
from typing import TYPE_CHECKING

from ketameta.evidence.prepared import read_prepared
from ketameta.synthesis import pipeline
from ketameta.synthesis.files import write_csv, write_json

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(evidence, chunk, part_path, counts_path, spec):
    part, counts = pipeline.fit_chunk(read_prepared(evidence), spec, chunk)
    logging.info("%s chunk %d: %s", spec["id"], chunk, counts)
    write_csv(part, part_path)
    write_json(counts, counts_path)


if __name__ == "__main__":
    logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)
    main(snakemake.input, int(snakemake.wildcards.chunk), snakemake.output.part, snakemake.output.counts,
         snakemake.params.spec)
