"""The complete reference list of every source cited in the data sheets."""

import logging
from typing import TYPE_CHECKING

from ketameta.evidence.prepared import read_prepared
from ketameta.synthesis.labels import study_citations
from ketameta.synthesis.workflow import cited_keys

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(evidence, out):
    ev = read_prepared(evidence)
    study_citations(evidence["bib"], ev.studies).write_references(cited_keys(ev), out["md"], out["html"], out["bib"])


if __name__ == "__main__":
    logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)
    main(snakemake.input, snakemake.output)
