"""``python -m ketameta.synthesis.explain <study_id>``: where one study's rows went (``make explain``).

For each analysis of the configuration, every row of the study: used, or the reason (the same
string as in ``<analysis>.excluded.csv``) and the configuration filter that left it out. It reads
the effect-size files a run wrote (``--effect-sizes``), so it shows what the last run did;
``make explain STUDY=<id>`` brings the run up to date first.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

import pandas as pd
import yaml

from .inclusion import explain_study, explain_text, read_frames

__all__ = ["main"]


def main(argv=None) -> int:
    """Print the rows of one study per analysis; return the exit status (1: unknown study)."""
    ap = argparse.ArgumentParser(prog="python -m ketameta.synthesis.explain", description=__doc__.splitlines()[0])
    ap.add_argument("study_id", help="the study_id of data/studies.csv")
    ap.add_argument("--effect-sizes", required=True, type=Path,
                    help="directory of <analysis>.csv and <analysis>.excluded.csv (a run's effect_sizes/)")
    ap.add_argument("--config", default="config/config.yaml", type=Path, help="the configuration")
    ap.add_argument("--effects", type=Path, default=None,
                    help="the effects sheet (lists the study's rows that no analysis reads)")
    args = ap.parse_args(argv)
    with open(args.config, encoding="utf-8") as fh:
        analyses = list(yaml.safe_load(fh)["analyses"])
    frames = read_frames(args.effect_sizes, analyses)
    effects = None
    if args.effects is not None and args.effects.exists():
        effects = pd.read_csv(args.effects, dtype=str, keep_default_na=False)
    table = explain_study(args.study_id, frames, effects)
    if table.empty:
        known = set()
        for es, exc in frames.values():
            for f in (es, exc):
                if "study_id" in f.columns:
                    known |= set(f["study_id"].dropna().astype(str))
        if effects is not None:
            known |= set(effects["study_id"])
        hint = difflib.get_close_matches(args.study_id, sorted(known), n=3)
        print(f"{args.study_id}: no row of this study in any analysis"
              + (f"; did you mean {', '.join(hint)}?" if hint else
                 " (is it in data/studies.csv and data/effects.csv, and has `make run` been run?)"),
              file=sys.stderr)
        return 1
    sys.stdout.write(explain_text(table, args.study_id))
    return 0


if __name__ == "__main__":  # pragma: no cover - exercised through the command line
    sys.exit(main())
