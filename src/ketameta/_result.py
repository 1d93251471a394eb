"""What every result object shares: JSON-safe numbers, ``to_dict``, tidy frames and printing.

Result classes subclass :class:`Result` and implement ``_record()`` (their fields as plain
Python values, metafor's names); :meth:`Result.to_dict` is the one serialiser. The helpers
:func:`num`, :func:`floats` and :func:`finite_list` are the one number cleaner.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

__all__ = ["Result", "num", "floats", "finite_list", "percent_level"]


def num(x):
    """A float, or None when missing or not finite (JSON has no NaN)."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def floats(a) -> list:
    """An array as a flat list of Python floats (NaN kept: the caller decides)."""
    return [float(x) for x in np.asarray(a).ravel()]


def finite_list(a) -> list:
    """An array as a (nested) list with non-finite floats as None."""
    a = np.asarray(a)
    if a.dtype.kind == "f":
        return np.where(np.isfinite(a), a, None).tolist()
    return a.tolist()


def percent_level(level) -> float:
    """A confidence level as a percentage: values in (0, 1) are proportions (0.95 -> 95), as in
    metafor; values in [1, 100) are percentages. Anything else raises :class:`ModelError`.
    """
    from .errors import ModelError

    try:
        lv = float(level)
    except (TypeError, ValueError):
        raise ModelError(f"level must be a number (95 or 0.95), got {level!r}.") from None
    if 0 < lv < 1:
        return 100.0 * lv
    if 1 <= lv < 100:
        return lv
    raise ModelError(f"level must be a percentage in (0, 100) or a proportion in (0, 1), got {level!r}.")


class Result:
    """Base of the result objects: ``to_dict()``, ``to_json()``, ``tidy()``, ``glance()``.

    ``tidy()`` is the coefficient table (one row per term, like broom's ``tidy``) when the
    result has one (``to_frame()``); ``glance()`` is one row of fit statistics.
    """

    def _record(self) -> dict:  # pragma: no cover - every subclass implements it
        raise NotImplementedError

    def to_dict(self) -> dict:
        """Plain-Python summary with metafor's names (JSON-serialisable)."""
        return self._record()

    def to_json(self, **kwargs) -> str:
        """The :meth:`to_dict` record as JSON (NaN never appears: missing values are null)."""
        return json.dumps(self.to_dict(), allow_nan=False, **kwargs)

    def tidy(self) -> pd.DataFrame:
        """One row per coefficient: ``term, estimate, se, statistic, p, ci_lb, ci_ub, df``.

        ``statistic`` is the z or t statistic of the model's test, ``p`` its two-sided p-value,
        ``df`` the degrees of freedom of a t test (NaN for a z test); the names follow broom's
        ``tidy`` and the issue's convention (statsmodels' ``summary_frame`` holds the same).
        """
        frame = self.to_frame()  # type: ignore[attr-defined]
        stat = "zval" if "zval" in frame.columns else "tval"
        df = frame["df"].to_numpy(dtype=float) if "df" in frame.columns else np.full(len(frame), np.nan)
        return pd.DataFrame({
            "term": [str(t) for t in frame.index], "estimate": frame["estimate"].to_numpy(),
            "se": frame["se"].to_numpy(), "statistic": frame[stat].to_numpy(),
            "p": frame["pval"].to_numpy(), "ci_lb": frame["ci_lb"].to_numpy(),
            "ci_ub": frame["ci_ub"].to_numpy(), "df": df})

    def glance(self) -> pd.DataFrame:
        """One row of fit statistics (the scalar entries of :meth:`to_dict`)."""
        rec = self.to_dict()
        return pd.DataFrame([{k: v for k, v in rec.items() if isinstance(v, (int, float, str)) or v is None}])
