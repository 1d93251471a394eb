"""Sensitivity analysis: refit the headline estimates under each configured variation."""

import logging
from typing import TYPE_CHECKING

from ketameta.evidence.prepared import read_prepared
from ketameta.synthesis.files import write_json
from ketameta.synthesis.sensitivity import run_sensitivity

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(evidence, fit_path, cfg):
    ev = read_prepared(evidence)
    table = run_sensitivity(ev, cfg["specs"], cfg["sensitivity"], cfg["grades"])
    logging.info("%d sensitivity rows", len(table))
    write_json({"status": "ok", "rows": table.to_dict(orient="records")}, fit_path)


if __name__ == "__main__":
    logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)
    main(snakemake.input, snakemake.output.fit, snakemake.params.config)
