"""The model matrix of a meta-regression: moderators in, columns and their names out.

Numeric moderators enter as they are; a categorical moderator (text, category) is dummy coded
with its first level (sorted) as the reference (treatment coding, as R's ``model.matrix``); an
intercept column ``intrcpt`` comes first unless suppressed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import ModelError

__all__ = ["design_matrix"]


def design_matrix(mods, k, intercept):
    """Build the model matrix and its column names from ``mods``."""
    names: list[str] = []
    cols: list[np.ndarray] = []
    if intercept:
        names.append("intrcpt")
        cols.append(np.ones(k))
    if mods is not None:
        if isinstance(mods, pd.Series):
            mods = mods.to_frame()
        if isinstance(mods, pd.DataFrame):
            if len(mods) != k:
                raise ModelError(f"mods has {len(mods)} rows but there are {k} effect sizes.")
            for c in mods.columns:
                col = mods[c]
                if pd.api.types.is_bool_dtype(col):
                    col = col.astype(float)
                if pd.api.types.is_numeric_dtype(col):
                    names.append(str(c))
                    cols.append(col.to_numpy(dtype=float, na_value=np.nan))
                else:
                    # categorical moderator: dummy coding, first level (sorted) as reference
                    levels = sorted(col.dropna().unique(), key=str)
                    if len(levels) < 2:
                        raise ModelError(
                            f"Categorical moderator {c!r} has fewer than two levels "
                            f"({levels}); it cannot be estimated."
                        )
                    miss = col.isna().to_numpy()
                    for lev in levels[1:]:
                        x = (col == lev).to_numpy(dtype=float)
                        x[miss] = np.nan
                        names.append(f"{c}[{lev}]")
                        cols.append(x)
        else:
            arr = np.asarray(mods, dtype=float)
            if arr.ndim == 1:
                arr = arr[:, None]
            if arr.ndim != 2 or arr.shape[0] != k:
                raise ModelError(
                    f"mods must be a DataFrame or an array with {k} rows; got shape {arr.shape}."
                )
            if arr.shape[1]:
                # numeric array: one copy into the model matrix
                m = arr.shape[1]
                X = np.empty((k, len(cols) + m))
                if cols:
                    X[:, 0] = 1.0
                X[:, len(cols):] = arr
                return X, names + [f"mod{j + 1}" for j in range(m)]
    if not cols:
        raise ModelError("The model has no coefficients: use intercept=True or give mods.")
    return np.column_stack(cols), names
