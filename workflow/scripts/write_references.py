"""The complete reference list of every source cited in the data sheets."""

import logging
from typing import TYPE_CHECKING

from ketameta.evidence.prepared import read_prepared
from ketameta.outputs.citations import Citations
from ketameta.synthesis.workflow import cited_keys

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(evidence, out):
    ev = read_prepared(evidence)
    Citations(evidence["bib"]).write_references(cited_keys(ev), out["md"], out["html"], out["bib"])


if __name__ == "__main__":
    logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)
    main(snakemake.input, snakemake.output)
