"""The fingerprint of the evidence rows one analysis reads (or of the whole evidence base).

The job reruns only when its fingerprint (a parameter computed from the validated evidence when
the workflow is parsed) changes; the jobs that read the evidence copy depend on this file, so a
data edit reruns exactly the analyses whose rows changed.
"""

import json
import logging
from typing import TYPE_CHECKING

from ketameta.io import atomic_write

if TYPE_CHECKING:
    from snakemake.script import snakemake


if __name__ == "__main__":
    logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)
    with atomic_write(snakemake.output.fingerprint) as fh:
        json.dump({"scope": snakemake.params.scope, "digest": snakemake.params.digest}, fh, indent=2, sort_keys=True)
        fh.write("\n")
