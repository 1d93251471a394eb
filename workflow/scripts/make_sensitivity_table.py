"""Sensitivity table: how each headline estimate moves (one table, four formats)."""

import logging
from typing import TYPE_CHECKING

import pandas as pd

from ketameta.synthesis.files import read_json
from ketameta.synthesis.summaries import sensitivity_table

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(fit_path, out, analyses):
    titles = {aid: spec.get("title", aid) for aid, spec in analyses.items()}
    table = sensitivity_table(pd.DataFrame(read_json(fit_path)["rows"]), titles)
    table.write(csv=out["csv"], md=out["md"], tex=out["tex"], html=out["html"])


if __name__ == "__main__":
    logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)
    main(snakemake.input.fit, snakemake.output, snakemake.params.analyses)
