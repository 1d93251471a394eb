"""What changed since the latest release, as results/changes.{md,html,json}."""

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from ketameta.io import atomic_write
from ketameta.outputs.report import Section, build_report
from ketameta.synthesis.files import write_json
from ketameta.synthesis.living import change_items, changes_markdown, compare

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(inp, out):
    previous = Path(inp["previous"]).parent if "previous" in inp.keys() else None
    current = {"headlines.json": inp["headlines"], "certainty.json": inp["certainty"],
               "claims.csv": inp["claims"], "data_gaps.csv": inp["gaps"], "config.yaml": inp["config"],
               **{Path(inp[k]).name: inp[k] for k in ("studies", "effects", "rob", "screening",
                                                        "search_log", "watch") if k in inp.keys()}}
    ch = compare(previous, current)
    write_json(ch, out["json"])
    with atomic_write(out["md"]) as fh:
        fh.write(changes_markdown(ch))
    title = f"What changed since version {ch['since']}" if ch.get("since") else "What changed"
    build_report([Section(title, paragraphs=[ch["summary"]], items=change_items(ch))], title, out["html"])


if __name__ == "__main__":
    logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)
    main(snakemake.input, snakemake.output)
