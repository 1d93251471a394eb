"""The validated evidence base, copied once to results/evidence/ with its warnings and digest.

The sheets were validated when the workflow was parsed (nothing runs on bad input); this job
writes that validated copy, which every later job reads instead of data/.
"""

import logging
from typing import TYPE_CHECKING

from ketameta.evidence.prepared import write_prepared

if TYPE_CHECKING:
    from snakemake.script import snakemake


if __name__ == "__main__":
    logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)
    write_prepared(snakemake.input, snakemake.output, snakemake.params.warnings)
