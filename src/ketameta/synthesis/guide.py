"""The table of every analysis' row filters in the add-a-trial guide, generated from the config.

``python -m ketameta.synthesis.guide`` (``make docs``) rewrites the table between the markers
:data:`START` and :data:`END` of ``data/README.md`` from ``config/config.yaml``, so the guide
names every filter a new row must pass and never drifts from the configuration;
``--check`` only says whether the table is current (a test runs it).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path

import yaml

from .select import STUDY_FILTER_COLUMNS, as_list

__all__ = ["START", "END", "filters_markdown", "update_readme", "main"]

START = "<!-- analysis-filters:start (generated from config/config.yaml by `make docs`; do not edit) -->"
END = "<!-- analysis-filters:end -->"


def _values(v) -> str:
    return ", ".join(f"`{x}`" for x in as_list(v))


def _select(sel: Mapping | None) -> list[str]:
    """``key: values`` of a ``select`` block (days as bounds)."""
    out = []
    for key, val in (sel or {}).items():
        if key == "min_days":
            out.append(f"time ≥ day {val:g}")
        elif key == "max_days":
            out.append(f"time ≤ day {val:g}")
        else:
            out.append(f"`{key}`: {_values(val)}")
    return out


def _rows_of(entry: Mapping, grades) -> tuple[str, str]:
    """(which rows, which filters) of one analysis entry, from the keys it has."""
    if "select" in entry:
        filters = _select(entry["select"]) + [f"`grade`: {_values(grades)}", "`role`: `primary`"]
        return f"question {_values(entry.get('question'))}", "; ".join(filters)
    if "base" in entry and "by" in entry:
        parts = [f"{str(b.get('label', '')).replace('|', '/')}: " + "; ".join(_select(b.get("select"))) for b in entry["by"]]
        return f"the rows of `{entry['base']}`", "each subgroup adds — " + " / ".join(parts)
    if "base" in entry:
        return f"the rows of `{entry['base']}`", f"as `{entry['base']}`"
    if "outcomes" in entry:
        names = [o["analysis"] for o in entry["outcomes"]]
        return "the rows of " + ", ".join(f"`{n}`" for n in names), "as those analyses"
    if "domains" in entry:
        parts = []
        for d in entry["domains"]:
            extra = [f"time ≥ day {d['min_days']:g}"] if "min_days" in d else []
            parts.append(f"{d['name']}: question `{d['question']}`, `outcome`: {_values(d['outcomes'])}"
                         + "".join(f", {e}" for e in extra))
        return "rows with a `direction`", " / ".join(parts) + f"; `grade`: {_values(grades)}; `role`: `primary`"
    if "question" in entry:
        return f"question {_values(entry['question'])}", f"`grade`: {_values(grades)}"
    return "the study sheet", "every study (by route and setting)"


def filters_markdown(config: Mapping) -> str:
    """A Markdown table: every analysis, its type, which rows it reads and every filter.

    Parameters
    ----------
    config : mapping
        The configuration (``config/config.yaml``): ``analyses`` and ``grades``.
    """
    grades = config.get("grades", [])
    lines = ["| analysis | type | reads | a row enters only with |", "| --- | --- | --- | --- |"]
    for aid, entry in config["analyses"].items():
        rows, filters = _rows_of(entry, grades)
        lines.append(f"| `{aid}` | {entry.get('type', '')} | {rows} | {filters} |")
    lines += ["", "Filters on " + ", ".join(f"`{c}`" for c in STUDY_FILTER_COLUMNS) + " read the study's "
              "row of `studies.csv`; `dose_mg_kg` reads the effect row's dose, else the study's; every "
              "other filter reads the effect row. `role`: `primary` means the study's role in `studies.csv`."]
    return "\n".join(lines) + "\n"


def update_readme(text: str, config: Mapping) -> str:
    """``text`` with the table between :data:`START` and :data:`END` regenerated."""
    if START not in text or END not in text:
        raise ValueError(f"the markers {START!r} and {END!r} are missing")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{filters_markdown(config)}{END}{tail}"


def main(argv=None) -> int:
    """Rewrite (or with ``--check`` compare) the table of ``--readme``; 1 when out of date."""
    ap = argparse.ArgumentParser(prog="python -m ketameta.synthesis.guide", description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="config/config.yaml", type=Path)
    ap.add_argument("--readme", default="data/README.md", type=Path)
    ap.add_argument("--check", action="store_true", help="only report whether the table is current")
    args = ap.parse_args(argv)
    with open(args.config, encoding="utf-8") as fh:
        config = yaml.safe_load(fh)
    text = args.readme.read_text(encoding="utf-8")
    new = update_readme(text, config)
    if args.check:
        if new != text:
            print(f"{args.readme}: the table of analysis filters differs from {args.config}; "
                  "regenerate it with `make docs`", file=sys.stderr)
            return 1
        return 0
    if new != text:
        args.readme.write_text(new, encoding="utf-8")
        print(f"{args.readme}: table of analysis filters regenerated from {args.config}")
    return 0


if __name__ == "__main__":  # pragma: no cover - exercised through the command line
    sys.exit(main())
