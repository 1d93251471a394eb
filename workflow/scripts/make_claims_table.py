"""Claims table: each claim of the source article beside what the synthesized data say."""

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from ketameta.evidence.prepared import read_prepared
from ketameta.synthesis.claims import assess_claims
from ketameta.synthesis.files import read_json
from ketameta.synthesis.labels import study_citations
from ketameta.synthesis.summaries import claims_table

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(fit_paths, evidence, out, claims, grades, analyses):
    ev = read_prepared(evidence)
    fits = {Path(p).stem: read_json(p) for p in fit_paths}
    titles = {aid: spec.get("title", aid) for aid, spec in analyses.items()}
    table = claims_table(assess_claims(claims, fits, ev, grades, analyses),
                         study_citations(evidence["bib"], ev.studies), titles)
    table.write(csv=out["csv"], md=out["md"], tex=out["tex"], html=out["html"])


if __name__ == "__main__":
    logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)
    main(snakemake.input.fits, snakemake.input, snakemake.output, snakemake.params.claims,
         snakemake.params.grades, snakemake.params.analyses)
