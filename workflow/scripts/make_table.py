"""Results table of one analysis in CSV, Markdown, LaTeX and HTML."""

import logging
from typing import TYPE_CHECKING

import pandas as pd

from ketameta.synthesis.files import read_effect_sizes, read_json
from ketameta.synthesis.labels import study_citations
from ketameta.synthesis.pipeline import table as analysis_table

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(fit_path, es_path, excluded_path, bib, studies, out, spec):
    fit = read_json(fit_path)
    es = read_effect_sizes(es_path)
    try:
        excluded = pd.read_csv(excluded_path)
    except pd.errors.EmptyDataError:
        excluded = pd.DataFrame()
    table = analysis_table(fit, es, excluded, spec, study_citations(bib, pd.read_csv(studies, dtype=str, keep_default_na=False)))
    table.write(csv=out["csv"], md=out["md"], tex=out["tex"], html=out["html"])


if __name__ == "__main__":
    logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)
    main(snakemake.input.fit, snakemake.input.effect_sizes, snakemake.input.excluded,
         snakemake.input.bib, snakemake.input.studies, snakemake.output, snakemake.params.spec)
