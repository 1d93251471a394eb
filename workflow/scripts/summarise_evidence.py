"""Study characteristics, data gaps and input warnings from the evidence base."""

import logging
from typing import TYPE_CHECKING

import pandas as pd

from ketameta.outputs.citations import Citations
from ketameta.evidence import data_gaps, load_evidence
from ketameta.synthesis.files import write_csv
from ketameta.synthesis.render import gaps_table, studies_table

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(studies, effects, bib, out):
    ev = load_evidence(studies=studies, effects=effects, bib=bib)
    cit = Citations(bib)
    studies_table(ev, cit).write(csv=out["studies_csv"], md=out["studies_md"],
                                 tex=out["studies_tex"], html=out["studies_html"])
    gaps_table(data_gaps(ev), cit).write(csv=out["gaps_csv"], md=out["gaps_md"],
                                         html=out["gaps_html"])
    write_csv(pd.DataFrame({"warning": list(ev.warnings)}), out["warnings"])


if __name__ == "__main__":
    logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)
    main(snakemake.input.studies, snakemake.input.effects, snakemake.input.bib, snakemake.output)
