"""Fit one analysis: its effect-size table in, the fitted model(s) as JSON out.

A model that cannot be fitted is written as {"status": "failed", "reason": ...} so the other
analyses still run and the report says which failed and why.
"""

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from ketameta.evidence.prepared import read_prepared
from ketameta.synthesis import pipeline
from ketameta.synthesis.files import read_effect_sizes, read_json, write_json
from ketameta.synthesis.registry import kind_of

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(effect_sizes_path, evidence, fit_paths, fit_path, spec):
    # descriptive kinds summarise the study sheet; the models use the effect sizes alone
    ev = read_prepared(evidence) if kind_of(spec["type"]).needs_evidence else None
    es = read_effect_sizes(effect_sizes_path)
    context = {"fits": {Path(p).stem: read_json(p) for p in fit_paths}}
    fit = pipeline.safe_fit(ev, es, spec, context)
    if fit["status"] != "ok":
        logging.warning("%s could not be fitted: %s", spec["id"], fit["reason"])
    write_json(fit, fit_path)


if __name__ == "__main__":
    logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)
    main(snakemake.input.effect_sizes, snakemake.input, snakemake.input.fits, snakemake.output.fit,
         snakemake.params.spec)
