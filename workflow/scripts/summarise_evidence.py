"""Study characteristics, data gaps and input warnings from the evidence base."""

import logging
from typing import TYPE_CHECKING

import pandas as pd

from ketameta.evidence import data_gaps
from ketameta.evidence.prepared import read_prepared
from ketameta.outputs.citations import Citations
from ketameta.synthesis.files import write_csv
from ketameta.synthesis.summaries import gaps_table, reference_gaps, studies_table

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(evidence, out):
    ev = read_prepared(evidence)
    cit = Citations(evidence["bib"])
    studies_table(ev, cit).write(csv=out["studies_csv"], md=out["studies_md"],
                                 tex=out["studies_tex"], html=out["studies_html"])
    gaps = pd.concat([data_gaps(ev), reference_gaps(ev, cit)], ignore_index=True)
    gaps_table(gaps, cit).write(csv=out["gaps_csv"], md=out["gaps_md"],
                                         html=out["gaps_html"])
    # the warnings of the validation done when the workflow was parsed
    warnings = pd.read_csv(evidence["warnings"], dtype=str, keep_default_na=False)
    write_csv(warnings, out["warnings"])


if __name__ == "__main__":
    logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)
    main(snakemake.input, snakemake.output)
