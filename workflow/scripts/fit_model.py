"""Fit one analysis: its effect-size table in, the fitted model(s) as JSON out.

A model that cannot be fitted is written as {"status": "failed", "reason": ...} so the other
analyses still run and the report says which failed and why.
"""

import logging
from typing import TYPE_CHECKING

from ketameta.evidence import load_evidence
from ketameta.synthesis import pipeline
from ketameta.synthesis.files import read_effect_sizes, write_json

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(effect_sizes_path, studies, effects, bib, fit_path, spec):
    # only the descriptive 'approaches' summary reads the study sheet; the models use es alone
    ev = (load_evidence(studies=studies, effects=effects, bib=bib, validate=False)
          if spec["type"] == "approaches" else None)
    es = read_effect_sizes(effect_sizes_path)
    fit = pipeline.safe_fit(ev, es, spec, spec["grades"])
    if fit["status"] != "ok":
        logging.warning("%s could not be fitted: %s", spec["id"], fit["reason"])
    write_json(fit, fit_path)


if __name__ == "__main__":
    logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)
    main(snakemake.input.effect_sizes, snakemake.input.studies, snakemake.input.effects,
         snakemake.input.bib, snakemake.output.fit, snakemake.params.spec)
