"""The run summary: per analysis k, the rows not used by reason, and the new rows not used.

The summary of the previous run is kept in ``params.state`` (not an output: Snakemake removes a
job's outputs before it runs, so the previous results/run_summary.json is gone by then); this job
reads it, compares, and then replaces it with the summary it wrote.
"""

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from ketameta.io import atomic_write
from ketameta.synthesis.files import read_json, write_json
from ketameta.synthesis.inclusion import read_frames, run_summary, summary_markdown, summary_text

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(inp, out, analyses, titles, state):
    frames = read_frames(Path(inp["effect_sizes"][0]).parent, analyses)
    state = Path(state)
    previous = read_json(state) if state.exists() else None
    summary = run_summary(frames, previous=previous, titles=titles,
                          headlines=read_json(inp["headlines"]), report=inp["report"])
    logging.info("%d analyses; %d rows not used are new since the previous run",
                 len(summary["analyses"]), len(summary["new_not_used"]))
    write_json(summary, out["json"])
    with atomic_write(out["md"]) as fh:
        fh.write(summary_markdown(summary))
    with atomic_write(out["txt"]) as fh:
        fh.write(summary_text(summary))
    write_json(summary, state)  # what the next run compares with


if __name__ == "__main__":
    logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)
    main(snakemake.input, snakemake.output, snakemake.params.analyses, snakemake.params.titles,
         snakemake.params.state)
