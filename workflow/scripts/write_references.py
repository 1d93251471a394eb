"""The complete reference list of every source cited in the data sheets."""

import logging
from typing import TYPE_CHECKING

from ketameta.outputs.citations import Citations
from ketameta.evidence import load_evidence
from ketameta.workflow_support import cited_keys

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(studies, effects, bib, out):
    ev = load_evidence(studies=studies, effects=effects, bib=bib, validate=False)
    Citations(bib).write_references(cited_keys(ev), out["md"], out["html"], out["bib"])


if __name__ == "__main__":
    logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)
    main(snakemake.input.studies, snakemake.input.effects, snakemake.input.bib, snakemake.output)
