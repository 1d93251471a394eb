"""Claims table: each claim of the source article beside what the synthesized data say."""

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from ketameta.outputs.citations import Citations
from ketameta.evidence import load_evidence
from ketameta.synthesis.claims import assess_claims
from ketameta.synthesis.files import read_json
from ketameta.synthesis.render import claims_table

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(fit_paths, studies, effects, bib, out, claims, grades, analyses):
    ev = load_evidence(studies=studies, effects=effects, bib=bib, validate=False)
    fits = {Path(p).stem: read_json(p) for p in fit_paths}
    table = claims_table(assess_claims(claims, fits, ev, grades, analyses), Citations(bib))
    table.write(csv=out["csv"], md=out["md"], tex=out["tex"], html=out["html"])


if __name__ == "__main__":
    logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)
    main(snakemake.input.fits, snakemake.input.studies, snakemake.input.effects,
         snakemake.input.bib, snakemake.output, snakemake.params.claims,
         snakemake.params.grades, snakemake.params.analyses)
