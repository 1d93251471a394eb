"""Freeze the current results as one version under releases/ (`make release`)."""

import datetime
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from ketameta import __version__
from ketameta.synthesis.living import freeze_release

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(inp, out_dir, version, digest):
    files = {"headlines.json": inp["headlines"], "certainty.json": inp["certainty"],
             "claims.csv": inp["claims"], "data_gaps.csv": inp["gaps"], "values.json": inp["values"],
             "config.yaml": inp["config"]}
    evidence = {k: inp[k] for k in ("studies", "effects", "bib", "rob", "screening", "search_log", "watch")
                if k in inp.keys()}
    record = {"version": version, "released": datetime.date.today().isoformat(), "inputs_digest": digest,
              "ketameta": __version__, "files": sorted(files) + ["evidence/"],
              "evidence": {k: Path(v).name for k, v in evidence.items()}}
    freeze_release(out_dir, record, files, evidence)
    logging.info("released %s in %s", version, out_dir)


if __name__ == "__main__":
    logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)
    main(snakemake.input, snakemake.output.release, snakemake.wildcards.version, snakemake.params.digest)
