"""The validated copy of the evidence base that a pipeline writes once and reads afterwards."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from ..io import atomic_write
from .load import Evidence, load_evidence

__all__ = ["write_prepared", "read_prepared", "read_copy", "SHEETS"]

#: the sheets copied (keys of the input/output mappings; the review sheets only when given)
SHEETS = ("studies", "effects", "bib", "rob", "screening", "search_log", "watch")


def _named(m) -> dict:
    """A plain dict of named paths (Snakemake's Namedlist or any mapping)."""
    return {k: str(v) for k, v in m.items()}


def write_prepared(inputs: Mapping[str, str], outputs: Mapping[str, str], warnings) -> dict:
    """Copy each validated sheet byte for byte, write the warnings and a digest of the inputs.

    ``inputs`` and ``outputs`` map ``studies``, ``effects``, ``bib`` to paths; ``outputs`` also
    has ``warnings`` (CSV, one column) and ``digest`` (JSON: SHA-256 of every input file and the
    ketameta version). Returns the digest record.
    """
    from .. import __version__

    inputs, outputs = _named(inputs), _named(outputs)
    record = {"ketameta": __version__, "files": {}}
    for key in SHEETS:
        if key not in inputs:
            continue
        data = Path(inputs[key]).read_bytes()
        record["files"][key] = {"source": str(inputs[key]),
                                "sha256": hashlib.sha256(data).hexdigest()}
        with atomic_write(outputs[key], mode="wb", encoding=None, newline=None) as fh:
            fh.write(data)
    with atomic_write(outputs["warnings"]) as fh:
        pd.DataFrame({"warning": list(warnings)}).to_csv(fh, index=False, lineterminator="\n")
    with atomic_write(outputs["digest"]) as fh:
        json.dump(record, fh, indent=2, sort_keys=True)
        fh.write("\n")
    return record


def read_prepared(paths: Mapping[str, str]) -> Evidence:
    """The evidence base from a validated copy (no second validation)."""
    paths = _named(paths)
    review = {k: paths[k] for k in ("rob", "screening", "search_log", "watch") if k in paths}
    return load_evidence(studies=paths["studies"], effects=paths["effects"], bib=paths["bib"],
                         validate=False, **review)


def read_copy(path) -> pd.DataFrame:
    """One sheet of the validated copy as text cells (no second validation; empty cells are "")."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)
