"""The model matrix of a meta-regression: moderators in, columns and their names out.

Numeric moderators enter as they are; a categorical moderator (text, category) is dummy coded
with its first level (sorted) as the reference (treatment coding, as R's ``model.matrix``); an
intercept column ``intrcpt`` comes first unless suppressed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import ModelError

__all__ = ["design_matrix", "align_inputs", "from_data"]


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


def align_inputs(yi, vi, mods=None):
    """Match pandas inputs by their index, as the user wrote them, not by position.

    When ``yi`` is a Series, a ``vi`` Series and a ``mods`` DataFrame/Series are reordered to
    ``yi``'s index when they hold the same labels, and rejected when they do not (a silent
    positional match would pair one study's effect with another's variance). Arrays and lists
    are taken in order, as before.
    """
    from .errors import ModelError

    if not isinstance(yi, pd.Series):
        return yi, vi, mods
    idx = yi.index
    if not idx.is_unique:
        raise ModelError("yi has duplicate index labels: cannot match vi and mods to it by label.")

    def _match(obj, name):
        if not isinstance(obj, (pd.Series, pd.DataFrame)) or obj.index.equals(idx):
            return obj
        if len(obj.index) == len(idx) and obj.index.is_unique and set(obj.index) == set(idx):
            return obj.reindex(idx)
        raise ModelError(f"{name} has a different index from yi (pandas inputs are matched by label); "
                         f"reindex it to yi's index or pass arrays.")

    return yi, _match(vi, "vi"), _match(mods, "mods")


def from_data(yi, vi, mods, data, intercept):
    """Resolve the formula and column-name forms of :func:`ketameta.rma` to arrays and a frame.

    * ``rma("yi ~ dose + bipolar", vi="vi", data=df)``: a model formula (formulaic, treatment
      coding for categorical terms, named coefficients such as ``bipolar[T.yes]``); ``- 1`` or
      ``+ 0`` drops the intercept;
    * ``rma(yi="yi", vi="vi", mods=["dose"], data=df)``: column names;
    * otherwise the arguments are returned unchanged (arrays, Series, DataFrames).

    Returns ``(yi, vi, mods, intercept)``.
    """
    from .errors import ModelError

    named = isinstance(yi, str) or isinstance(vi, str) or isinstance(mods, str) or (
        isinstance(mods, (list, tuple)) and mods and all(isinstance(m, str) for m in mods))
    if data is None:
        if named:
            raise ModelError("yi, vi or mods name columns (or a formula): pass the DataFrame as data=.")
        return yi, vi, mods, intercept
    if not isinstance(data, pd.DataFrame):
        raise ModelError(f"data must be a pandas DataFrame, got {type(data).__name__}.")

    def col(name, what):
        if name not in data.columns:
            raise ModelError(f"{what} names column {name!r}, which data does not have "
                             f"(columns: {', '.join(map(str, data.columns))}).")
        return data[name]

    if isinstance(yi, str) and "~" in yi:
        if mods is not None:
            raise ModelError("give the moderators either in the formula or as mods=, not both.")
        lhs, rhs = yi.split("~", 1)
        X, has_int = _rhs(rhs, data)
        return col(lhs.strip(), "the formula"), (col(vi, "vi") if isinstance(vi, str) else vi), X, has_int
    y = col(yi, "yi") if isinstance(yi, str) else yi
    v = col(vi, "vi") if isinstance(vi, str) else vi
    if isinstance(mods, str) and mods.strip().startswith("~"):
        X, has_int = _rhs(mods.strip()[1:], data)  # metafor's mods = ~ x1 + x2
        return y, v, X, has_int
    if isinstance(mods, str):
        mods = [mods]
    if isinstance(mods, (list, tuple)) and mods and all(isinstance(m, str) for m in mods):
        mods = pd.DataFrame({m: col(m, "mods") for m in mods}, index=data.index)
    return y, v, mods, intercept


def _rhs(rhs: str, data: pd.DataFrame):
    """The moderators of a formula's right-hand side (formulaic; treatment coding), intercept flag."""
    from formulaic import model_matrix

    mm = model_matrix("~" + rhs, data, na_action="ignore")
    X = pd.DataFrame(mm, index=data.index)
    has_int = "Intercept" in X.columns
    X = X.drop(columns=["Intercept"], errors="ignore")
    return (X if X.shape[1] else None), has_int
