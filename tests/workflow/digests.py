"""The committed fingerprints of every output of the real-data run (tests/workflow/output_digests.txt).

A refactor must leave every output byte-identical; a change that is meant to change numbers
updates the list in the same commit (`make digests`), so the diff of the list shows exactly
which outputs moved.

Usage: python -m tests.workflow.digests <results-dir>   (prints the list)
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

DIGESTS = Path(__file__).with_name("output_digests.txt")
SKIP_DIRS = ("logs",)
#: outputs that depend on the previous run as well as on the inputs (the run summary names the rows
#: not used that are new since the previous run): not fingerprinted
SKIP_FILES = ("run_summary.txt", "run_summary.md", "run_summary.json", "living/run_summary.previous.json")


def digests(results: Path) -> dict[str, str]:
    """``relative path -> sha256`` of every generated file under ``results``."""
    out = {}
    for p in sorted(results.rglob("*")):
        rel = p.relative_to(results)
        if not p.is_file() or rel.parts[0] in SKIP_DIRS or p.name == "README.md" \
                or rel.as_posix() in SKIP_FILES:
            continue
        out[rel.as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def read_committed() -> dict[str, str]:
    rows = [ln.split("  ", 1) for ln in DIGESTS.read_text("utf-8").splitlines() if ln.strip()]
    return {path: sha for sha, path in rows}


def format_digests(d: dict[str, str]) -> str:
    return "".join(f"{sha}  {path}\n" for path, sha in sorted(d.items()))


if __name__ == "__main__":
    sys.stdout.write(format_digests(digests(Path(sys.argv[1]))))
