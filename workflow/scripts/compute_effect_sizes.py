"""Effect sizes of one analysis: the data sheets in, the effect-size table and exclusions out."""

import logging
from typing import TYPE_CHECKING

from ketameta.evidence.prepared import read_prepared
from ketameta.synthesis import pipeline
from ketameta.synthesis.files import write_csv

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(evidence, effect_sizes_path, excluded_path, spec):
    ev = read_prepared(evidence)
    es, excluded = pipeline.effect_sizes(ev, spec)
    logging.info("%s: %d effect sizes, %d rows not used", spec["id"], len(es), len(excluded))
    write_csv(es, effect_sizes_path)
    write_csv(excluded, excluded_path)


if __name__ == "__main__":
    logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)
    main(snakemake.input, snakemake.output.effect_sizes, snakemake.output.excluded, snakemake.params.spec)
