"""Study characteristics, data gaps and input warnings from the evidence base."""

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from ketameta.evidence import data_gaps
from ketameta.evidence.prepared import read_prepared
from ketameta.synthesis.files import read_exclusions, write_csv
from ketameta.synthesis.labels import study_citations
from ketameta.synthesis.summaries import gaps_table, reference_gaps, studies_table

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(evidence, out):
    ev = read_prepared(evidence)
    cit = study_citations(evidence["bib"], ev.studies)
    studies_table(ev, cit).write(csv=out["studies_csv"], md=out["studies_md"],
                                 tex=out["studies_tex"], html=out["studies_html"])
    exclusions = {Path(p).name.removesuffix(".excluded.csv"): read_exclusions(p)
                  for p in evidence["excluded"]}
    gaps = pd.concat([data_gaps(ev, exclusions), reference_gaps(ev, cit)], ignore_index=True)
    gaps_table(gaps, cit).write(csv=out["gaps_csv"], md=out["gaps_md"],
                                         html=out["gaps_html"])
    # the warnings of the validation done when the workflow was parsed
    warnings = pd.read_csv(evidence["warnings"], dtype=str, keep_default_na=False)
    write_csv(warnings, out["warnings"])


if __name__ == "__main__":
    logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)
    main(snakemake.input, snakemake.output)
