"""Reading and (atomically) writing the workflow's intermediate files."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from ..io import atomic_write

__all__ = ["write_csv", "write_json", "read_json", "read_effect_sizes", "read_exclusions"]


def _clean(obj):
    """JSON-safe: numpy scalars to Python, NaN/inf to None."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [_clean(v) for v in obj.tolist()]
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        x = float(obj)
        return x if math.isfinite(x) else None
    if obj is pd.NA or obj is pd.NaT:
        return None
    return obj


def write_json(obj, path) -> None:
    """Write JSON atomically (sorted keys, NaN as null)."""
    with atomic_write(path) as fh:
        json.dump(_clean(obj), fh, indent=2, sort_keys=True, allow_nan=False)
        fh.write("\n")


def read_json(path):
    """Read a JSON file written by :func:`write_json`."""
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def write_csv(df: pd.DataFrame, path) -> None:
    """Write a CSV atomically (no index, full precision); a path ending in ``.gz`` is gzipped
    with a zero timestamp (same bytes for the same table).
    """
    if str(path).endswith(".gz"):
        import gzip
        import io

        with atomic_write(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0,
                                                             filename="") as gz:
            with io.TextIOWrapper(gz, encoding="utf-8", newline="\n") as fh:
                df.to_csv(fh, index=False, lineterminator="\n")
        return
    with atomic_write(path) as fh:
        df.to_csv(fh, index=False, lineterminator="\n")


def read_effect_sizes(path) -> pd.DataFrame:
    """Read an effect-size table written by :func:`write_csv` (ids stay strings)."""
    df = pd.read_csv(path, dtype={"effect_id": str, "study_id": str, "comparison_id": str,
                                  "citation_key": str})
    return df


def read_exclusions(path) -> pd.DataFrame:
    """Read an exclusions table (``<analysis>.excluded.csv``) as text; empty cells are ``""``."""
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:  # an analysis that left no row out
        return pd.DataFrame(columns=["effect_id", "reason", "filter"])
