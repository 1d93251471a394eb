"""Effect sizes and their sampling variances from summary data (metafor's ``escalc``).

:func:`escalc` turns per-study summary statistics (means and SDs, 2x2 counts, single-group
counts, correlations, pre-post summaries) into effect sizes ``yi`` with sampling variances
``vi``, using metafor's measure codes, argument names and defaults (metafor 3.8; Viechtbauer
2010). Every formula is the one metafor uses; where metafor offers several variance types
(``vtype``) the same codes are accepted.

Conventions that matter (see ``../shared/reference/tools.md`` section 3):

* ``SMD`` is Hedges' g with the *exact* small-sample correction
  ``J(m) = exp(lgamma(m/2) - log(sqrt(m/2)) - lgamma((m-1)/2))``, ``m = n1i + n2i - 2``
  (Hedges 1981), not the approximation ``1 - 3/(4m - 1)`` used by RevMan and R's meta.
  Its default variance is metafor's ``vtype="LS"``: ``1/n1i + 1/n2i + yi^2 / (2 (n1i+n2i))``.
* Zero cells in 2x2 tables (``RR``, ``OR``, ``RD``) and single-group counts (``PR``, ``PLO``):
  ``add=1/2`` is added to every cell of the tables that have a zero cell (``to="only0"``).
  Studies with no events (or only events) in both arms are kept (``drop00=False``), as in
  metafor's ``escalc`` and ``rma.uni`` (``rma.mh``/``rma.peto`` drop them instead).
* Rows with a missing input give ``NaN`` in ``yi`` and ``vi``; values that come out infinite
  are set to ``NaN`` (with a logged warning), as metafor sets them to ``NA``.
* Impossible inputs (negative SDs, counts or sample sizes, events larger than the group size,
  ``|ri| > 1``) raise :class:`~ketameta.errors.ModelError` naming the argument and rows.

References
----------
Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package. J Stat Softw
    36(3):1-48. (measure codes, argument names, defaults)
Hedges LV (1981). Distribution theory for Glass's estimator of effect size and related
    estimators. J Educ Stat 6:107-128. (exact bias correction J)
Hedges LV (1982). Estimation of effect size from a series of independent experiments.
    Psychol Bull 92:490-499. (SMD large-sample variance, vtype "LS")
Hedges LV (1983). A random effects model for effect sizes. Psychol Bull 93:388-395.
    (SMD unbiased variance, vtype "UB")
Borenstein M, Hedges LV, Higgins JPT, Rothstein HR (2009). Introduction to Meta-Analysis.
    Wiley. (SMD variance eq. 4.24/12.17, vtype "LS2"; MD; RR, OR, RD; ch. 4-6)
Hedges LV, Gurevitch J, Curtis PS (1999). The meta-analysis of response ratios in
    experimental ecology. Ecology 80:1150-1156. (ROM)
Morris SB (2008). Estimating effect sizes from pretest-posttest-control group designs.
    Organ Res Methods 11:364-386. (SMCR)
Gibbons RD, Hedeker DR, Davis JM (1993). Estimation of effect size from a series of
    experiments involving paired comparisons. J Educ Stat 18:271-279. (SMCC)
Fisher RA (1921). On the "probable error" of a coefficient of correlation deduced from a
    small sample. Metron 1:3-32. (ZCOR)

Every measure is checked against metafor 3.8.1 fixtures (tests/reference/
test_metafor_escalc.py, relative 1e-8) or published values (tests/reference/
test_published_effect_sizes.py).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy.special import gammaln

from .errors import ModelError

__all__ = ["escalc", "hedges_correction", "MEASURES"]

log = logging.getLogger(__name__)

#: Arguments each measure needs (required) and may take (optional), and the vtypes it accepts.
_SPEC: dict[str, dict] = {
    "MD": {"req": ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i"), "vtype": ("LS", "UB", "HO")},
    "SMD": {"req": ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i"),
            "vtype": ("LS", "LS2", "UB", "AV")},
    "ROM": {"req": ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i"), "vtype": ("LS", "HO")},
    "MC": {"req": ("m1i", "m2i", "sd1i", "sd2i", "ni", "ri"), "vtype": ("LS",)},
    "SMCC": {"req": ("m1i", "m2i", "sd1i", "sd2i", "ni", "ri"), "vtype": ("LS",)},
    "SMCR": {"req": ("m1i", "m2i", "sd1i", "ni", "ri"), "vtype": ("LS",)},
    "RR": {"req": ("ai", "ci"), "vtype": ("LS",)},
    "OR": {"req": ("ai", "ci"), "vtype": ("LS",)},
    "RD": {"req": ("ai", "ci"), "vtype": ("LS", "UB", "AV")},
    "PR": {"req": ("xi",), "vtype": ("LS", "UB", "AV")},
    "PLO": {"req": ("xi",), "vtype": ("LS", "AV")},
    "COR": {"req": ("ri", "ni"), "vtype": ("LS", "AV")},
    "ZCOR": {"req": ("ri", "ni"), "vtype": ("LS",)},
}
_TWO_BY_TWO = ("RR", "OR", "RD")
_ONE_GROUP = ("PR", "PLO")
#: Optional arguments by measure (besides the required ones).
_OPTIONAL = {
    **{m: ("bi", "di", "n1i", "n2i") for m in _TWO_BY_TWO},
    **{m: ("mi", "ni") for m in _ONE_GROUP},
}
_ZERO_CELL_MEASURES = _TWO_BY_TWO + _ONE_GROUP
_TO = ("only0", "all", "if0all", "none")

#: Measure codes implemented by :func:`escalc` (metafor spelling).
MEASURES = tuple(_SPEC)

_ARGS = ("ai", "bi", "ci", "di", "n1i", "n2i", "m1i", "m2i", "sd1i", "sd2i", "ri", "ni", "xi",
         "mi")


def hedges_correction(m):
    """Exact small-sample bias correction of the standardised mean difference.

    ``J(m) = Gamma(m/2) / (sqrt(m/2) * Gamma((m-1)/2))``, computed on the log scale as
    ``exp(lgamma(m/2) - 0.5 log(m/2) - lgamma((m-1)/2))``.

    Parameters
    ----------
    m : float or array_like
        Degrees of freedom (``n1 + n2 - 2`` for two independent groups, ``n - 1`` for a
        single group / change scores).

    Returns
    -------
    float or numpy.ndarray
        ``J(m)``; ``NaN`` where ``m <= 1`` (undefined), as metafor's ``.cmicalc``.

    Notes
    -----
    Hedges (1981) eq. 6e. The common approximation ``1 - 3/(4m - 1)`` differs from the exact
    value by about 1e-4 at m = 10. Checked against metafor 3.8.1 ``escalc("SMD")`` fixtures.

    References
    ----------
    Hedges LV (1981). J Educ Stat 6:107-128.
    """
    m_arr = np.asarray(m, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        j = np.exp(gammaln(m_arr / 2) - 0.5 * np.log(m_arr / 2) - gammaln((m_arr - 1) / 2))
    j = np.where(m_arr > 1, j, np.nan)
    return float(j) if np.ndim(j) == 0 else j


# -- input handling --------------------------------------------------------------------------


def _to_float(name, x):
    """Turn a scalar / list / array / Series into a float array (missing -> NaN)."""
    if isinstance(x, pd.Series):
        return pd.to_numeric(x, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    try:
        if x is None or x is pd.NA or np.ndim(x) == 0:
            return np.asarray([np.nan if (x is None or x is pd.NA) else x], dtype=float)
        if isinstance(x, np.ndarray) and x.dtype.kind in "biuf":
            return x.astype(float).ravel() if x.ndim == 1 else _not_1d(name, x)
        return np.asarray([np.nan if (v is None or v is pd.NA) else v for v in x], dtype=float)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"escalc: argument '{name}' must be numeric ({exc}).") from None


def _not_1d(name, x):
    raise ModelError(f"escalc: argument '{name}' must be one-dimensional, got shape {x.shape}.")


def _collect(args: Mapping[str, object]) -> tuple[dict[str, np.ndarray], pd.Index]:
    """Broadcast the given arguments to a common length and pick the output index."""
    arrays = {k: _to_float(k, v) for k, v in args.items()}
    lengths = {k: len(a) for k, a in arrays.items() if np.ndim(args[k]) != 0}
    k = max(lengths.values(), default=1)
    bad = {name: n for name, n in lengths.items() if n not in (1, k)}
    if bad:
        raise ModelError(
            "escalc: the data vectors are not all of the same length "
            f"({', '.join(f'{a}: {n}' for a, n in {**lengths}.items())})."
        )
    out = {name: np.broadcast_to(a, (k,)).astype(float) for name, a in arrays.items()}
    index = None
    for v in args.values():
        if isinstance(v, pd.Series) and len(v) == k:
            index = v.index
            break
    return out, (index if index is not None else pd.RangeIndex(k))


def _rows(mask: np.ndarray, index: pd.Index, values: np.ndarray, limit: int = 5) -> str:
    """Describe the offending rows by index label, e.g. ``row 2 (value -1)``."""
    pos = np.flatnonzero(mask)
    parts = [f"row {index[p]!r} (value {values[p]:g})" for p in pos[:limit]]
    more = f" and {len(pos) - limit} more" if len(pos) > limit else ""
    return ", ".join(parts) + more


def _row_labels(mask: np.ndarray, index: pd.Index, limit: int = 10) -> str:
    """Index labels of the flagged rows for a log message, shortened after ``limit``."""
    pos = np.flatnonzero(mask)
    labels = ", ".join(repr(index[p]) for p in pos[:limit])
    return labels + (f" and {len(pos) - limit} more" if len(pos) > limit else "")


def _check(measure, cond, name, x, index, what, why=""):
    """Raise a ModelError when ``cond`` is true in any row (NaN rows are ignored)."""
    cond = np.asarray(cond, dtype=bool)
    if cond.any():
        raise ModelError(
            f"escalc(measure={measure!r}): argument '{name}' {what} in "
            f"{_rows(cond, index, x)}{'; ' + why if why else ''}."
        )


def _nonneg(measure, a, names, index, why):
    for nm in names:
        if nm in a:
            with np.errstate(invalid="ignore"):
                _check(measure, a[nm] < 0, nm, a[nm], index, "is negative", why)


def _positive_n(measure, a, names, index):
    for nm in names:
        if nm in a:
            with np.errstate(invalid="ignore"):
                _check(measure, a[nm] <= 0, nm, a[nm], index, "is not positive",
                       "a sample size must be > 0")


def _check_r(measure, a, index):
    with np.errstate(invalid="ignore"):
        _check(measure, np.abs(a["ri"]) > 1, "ri", a["ri"], index, "is outside [-1, 1]",
               "a correlation must satisfy |r| <= 1")


# -- measures ----------------------------------------------------------------------------------


def _means(measure, a, vtype, index):
    m1, m2, s1, s2, n1, n2 = (a[k] for k in ("m1i", "m2i", "sd1i", "sd2i", "n1i", "n2i"))
    _nonneg(measure, a, ("sd1i", "sd2i"), index, "a standard deviation cannot be negative")
    _positive_n(measure, a, ("n1i", "n2i"), index)
    n = n1 + n2
    m = n - 2
    with np.errstate(invalid="ignore", divide="ignore"):
        sdp = np.sqrt(((n1 - 1) * s1**2 + (n2 - 1) * s2**2) / m)
        if measure == "MD":
            yi = m1 - m2
            if vtype == "HO":
                vi = sdp**2 * (1 / n1 + 1 / n2)
            else:  # "LS" and "UB" are the same (unbiased, no homoscedasticity assumed)
                vi = s1**2 / n1 + s2**2 / n2
        elif measure == "SMD":
            d = (m1 - m2) / sdp
            j = np.asarray(hedges_correction(m), dtype=float)
            yi = j * d
            if vtype == "LS":
                vi = 1 / n1 + 1 / n2 + yi**2 / (2 * n)
            elif vtype == "LS2":
                vi = j**2 * (1 / n1 + 1 / n2 + d**2 / (2 * n))
            elif vtype == "UB":
                vi = 1 / n1 + 1 / n2 + (1 - (m - 2) / (m * j**2)) * yi**2
            else:  # "AV": sample-size weighted average of the yi in place of yi
                ok = ~np.isnan(yi) & ~np.isnan(n)
                ybar = np.sum(n[ok] * yi[ok]) / np.sum(n[ok]) if ok.any() else np.nan
                vi = 1 / n1 + 1 / n2 + ybar**2 / (2 * n)
        else:  # ROM
            for nm, mv in (("m1i", m1), ("m2i", m2)):
                _check(measure, mv <= 0, nm, mv, index, "is not positive",
                       "the ratio of means needs positive means")
            yi = np.log(m1 / m2)
            if vtype == "HO":
                vi = sdp**2 / (n1 * m1**2) + sdp**2 / (n2 * m2**2)
            else:
                vi = s1**2 / (n1 * m1**2) + s2**2 / (n2 * m2**2)
    return yi, vi, n


def _change(measure, a, index):
    m1, m2, s1, n, r = (a[k] for k in ("m1i", "m2i", "sd1i", "ni", "ri"))
    _nonneg(measure, a, ("sd1i", "sd2i"), index, "a standard deviation cannot be negative")
    _positive_n(measure, a, ("ni",), index)
    _check_r(measure, a, index)
    with np.errstate(invalid="ignore", divide="ignore"):
        if measure == "MC":
            s2 = a["sd2i"]
            yi = m1 - m2
            vi = (s1**2 + s2**2 - 2 * r * s1 * s2) / n
        elif measure == "SMCC":
            s2 = a["sd2i"]
            j = np.asarray(hedges_correction(n - 1), dtype=float)
            sdd = np.sqrt(s1**2 + s2**2 - 2 * r * s1 * s2)
            yi = j * (m1 - m2) / sdd
            vi = 1 / n + yi**2 / (2 * n)
        else:  # SMCR: standardised by sd1i (metafor: pass the pre-test SD as sd1i)
            j = np.asarray(hedges_correction(n - 1), dtype=float)
            yi = j * (m1 - m2) / s1
            vi = 2 * (1 - r) / n + yi**2 / (2 * n)
    return yi, vi, n


def _add_to_cells(cells, add, to, zero_rows):
    """Metafor's add/to rule applied to a list of cell arrays (in place on copies)."""
    cells = [c.copy() for c in cells]
    if to == "all":
        cells = [c + add for c in cells]
    elif to == "only0":
        for c in cells:
            c[zero_rows] += add
    elif to == "if0all" and zero_rows.any():
        cells = [c + add for c in cells]
    return cells


def _two_by_two(measure, a, vtype, add, to, drop00, index):
    ai, ci = a["ai"], a["ci"]
    bi = a.get("bi")
    di = a.get("di")
    n1i, n2i = a.get("n1i"), a.get("n2i")
    if bi is None and n1i is None:
        raise ModelError(f"escalc(measure={measure!r}) needs 'bi' or 'n1i' (with 'ai').")
    if di is None and n2i is None:
        raise ModelError(f"escalc(measure={measure!r}) needs 'di' or 'n2i' (with 'ci').")
    _nonneg(measure, a, ("ai", "bi", "ci", "di", "n1i", "n2i"), index,
            "a count cannot be negative")
    with np.errstate(invalid="ignore"):
        if n1i is not None:
            _check(measure, ai > n1i, "ai", ai, index, "is larger than n1i",
                   "events cannot exceed the group size")
        if n2i is not None:
            _check(measure, ci > n2i, "ci", ci, index, "is larger than n2i",
                   "events cannot exceed the group size")
        if bi is not None and n1i is not None:
            _check(measure, ~np.isclose(ai + bi, n1i) & ~np.isnan(ai + bi + n1i), "bi", bi,
                   index, "is not n1i - ai")
        if di is not None and n2i is not None:
            _check(measure, ~np.isclose(ci + di, n2i) & ~np.isnan(ci + di + n2i), "di", di,
                   index, "is not n2i - ci")
    bi = n1i - ai if bi is None else bi
    di = n2i - ci if di is None else di
    ni_total = ai + bi + ci + di
    if drop00:
        both = ((ai == 0) & (ci == 0)) | ((bi == 0) & (di == 0))
        ai, bi, ci, di = (np.where(both, np.nan, x) for x in (ai, bi, ci, di))
    zero = (ai == 0) | (bi == 0) | (ci == 0) | (di == 0)
    ai, bi, ci, di = _add_to_cells([ai, bi, ci, di], add, to, zero)
    n1, n2 = ai + bi, ci + di
    with np.errstate(invalid="ignore", divide="ignore"):
        p1, p2 = ai / n1, ci / n2
        if measure == "RR":
            yi = np.log(p1) - np.log(p2)
            vi = 1 / ai - 1 / n1 + 1 / ci - 1 / n2
        elif measure == "OR":
            yi = np.log(p1 / (1 - p1)) - np.log(p2 / (1 - p2))
            vi = 1 / ai + 1 / bi + 1 / ci + 1 / di
        else:  # RD
            yi = p1 - p2
            if vtype == "LS":
                vi = p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2
            elif vtype == "UB":
                vi = p1 * (1 - p1) / (n1 - 1) + p2 * (1 - p2) / (n2 - 1)
            else:  # AV: sample-size weighted average proportions
                ok1 = ~np.isnan(ai) & ~np.isnan(n1)
                ok2 = ~np.isnan(ci) & ~np.isnan(n2)
                q1 = np.sum(ai[ok1]) / np.sum(n1[ok1])
                q2 = np.sum(ci[ok2]) / np.sum(n2[ok2])
                vi = q1 * (1 - q1) / n1 + q2 * (1 - q2) / n2
    return yi, vi, ni_total


def _one_group(measure, a, vtype, add, to, index):
    xi = a["xi"]
    mi, ni = a.get("mi"), a.get("ni")
    if mi is None and ni is None:
        raise ModelError(f"escalc(measure={measure!r}) needs 'ni' or 'mi' (with 'xi').")
    _nonneg(measure, a, ("xi", "mi", "ni"), index, "a count cannot be negative")
    with np.errstate(invalid="ignore"):
        if ni is not None:
            _check(measure, xi > ni, "xi", xi, index, "is larger than ni",
                   "events cannot exceed the sample size")
        if mi is not None and ni is not None:
            _check(measure, ~np.isclose(xi + mi, ni) & ~np.isnan(xi + mi + ni), "mi", mi,
                   index, "is not ni - xi")
    mi = ni - xi if mi is None else mi
    n_u = xi + mi
    zero = (xi == 0) | (mi == 0)
    xi, mi = _add_to_cells([xi, mi], add, to, zero)
    n = xi + mi
    with np.errstate(invalid="ignore", divide="ignore"):
        p = xi / n
        if measure == "PR":
            yi = p
            if vtype == "LS":
                vi = p * (1 - p) / n
            elif vtype == "UB":
                vi = p * (1 - p) / (n - 1)
            else:
                ok = ~np.isnan(xi) & ~np.isnan(n)
                q = np.sum(xi[ok]) / np.sum(n[ok])
                vi = q * (1 - q) / n
        else:  # PLO
            yi = np.log(p / (1 - p))
            if vtype == "LS":
                vi = 1 / xi + 1 / mi
            else:
                ok = ~np.isnan(xi) & ~np.isnan(n)
                q = np.sum(xi[ok]) / np.sum(n[ok])
                vi = 1 / (q * n) + 1 / ((1 - q) * n)
    return yi, vi, n_u


def _correlation(measure, a, vtype, index):
    r, n = a["ri"], a["ni"]
    _check_r(measure, a, index)
    _positive_n(measure, a, ("ni",), index)
    with np.errstate(invalid="ignore", divide="ignore"):
        if measure == "COR":
            yi = r.copy()
            if vtype == "LS":
                vi = (1 - yi**2) ** 2 / (n - 1)
            else:
                ok = ~np.isnan(yi) & ~np.isnan(n)
                rbar = np.sum(n[ok] * yi[ok]) / np.sum(n[ok])
                vi = (1 - rbar**2) ** 2 / (n - 1)
        else:  # ZCOR
            yi = np.arctanh(r)
            vi = 1 / (n - 3)
    small = n <= 4
    if small.any():
        log.warning("escalc(measure=%r): cannot estimate the sampling variance when ni <= 4 "
                    "(rows %s); vi set to NaN as in metafor 3.8.",
                    measure, _row_labels(small, index))
        vi = np.where(small, np.nan, vi)
    return yi, vi, n


# -- public ------------------------------------------------------------------------------------


def escalc(
    measure: str,
    *,
    ai=None,
    bi=None,
    ci=None,
    di=None,
    n1i=None,
    n2i=None,
    m1i=None,
    m2i=None,
    sd1i=None,
    sd2i=None,
    ri=None,
    ni=None,
    xi=None,
    mi=None,
    add: float = 0.5,
    to: str = "only0",
    drop00: bool = False,
    vtype: str = "LS",
) -> pd.DataFrame:
    """Compute effect sizes and sampling variances, as metafor's ``escalc``.

    Parameters
    ----------
    measure : {"MD", "SMD", "ROM", "MC", "SMCC", "SMCR", "RR", "OR", "RD", "PR", "PLO", \
"COR", "ZCOR"}
        Effect-size measure, with metafor's codes:

        * two independent groups, means/SDs/ns (``m1i, sd1i, n1i, m2i, sd2i, n2i``): ``MD``
          raw mean difference ``m1i - m2i``; ``SMD`` Hedges' g (exact bias correction);
          ``ROM`` log ratio of means ``log(m1i/m2i)``;
        * one group measured twice (``m1i, m2i, sd1i, sd2i, ni, ri``; ``m1i`` the later /
          post-test mean, ``m2i`` the earlier / pre-test mean, ``ri`` their correlation):
          ``MC`` raw mean change; ``SMCC`` standardised mean change using the SD of the change
          scores ``sqrt(sd1i^2 + sd2i^2 - 2 ri sd1i sd2i)``; ``SMCR`` standardised mean change
          using raw-score standardisation by ``sd1i`` (metafor's convention: pass the
          **pre-test SD as sd1i**; ``sd2i`` is not used);
        * 2x2 tables (``ai, bi, ci, di`` or ``ai, n1i, ci, n2i``; group 1 = ``ai`` events of
          ``n1i``): ``RR`` log risk ratio, ``OR`` log odds ratio, ``RD`` risk difference on the
          proportion scale;
        * one group's events (``xi`` of ``ni``, or ``xi`` and non-events ``mi``): ``PR`` raw
          proportion, ``PLO`` logit proportion;
        * correlations (``ri, ni``): ``COR`` raw r, ``ZCOR`` Fisher's z = atanh(r).
    ai, bi, ci, di, n1i, n2i, m1i, m2i, sd1i, sd2i, ri, ni, xi, mi : scalar or array_like
        Summary data with metafor's names. Scalars, lists, numpy arrays and pandas Series are
        accepted; scalars are broadcast. ``None``/``NaN``/``pd.NA`` entries make that row
        ``NaN``. When an argument is a Series, its index becomes the index of the result.
    add : float, default 0.5
        Value added to the cells of 2x2 tables / single-group counts (``RR``, ``OR``, ``RD``,
        ``PR``, ``PLO``) according to ``to``.
    to : {"only0", "all", "if0all", "none"}, default "only0"
        Which tables get ``add``: only those with a zero cell (metafor's default), all tables,
        all tables if any has a zero cell, or none.
    drop00 : bool, default False
        If true, 2x2 tables with no events (or only events) in both groups give ``NaN``
        (metafor's default in ``escalc`` and ``rma.uni`` is to keep them).
    vtype : str, default "LS"
        Sampling-variance type, as metafor: ``SMD`` {"LS", "LS2", "UB", "AV"}: LS is
        ``1/n1 + 1/n2 + yi^2/(2 N)`` (Hedges 1982), LS2 is ``J^2 (1/n1 + 1/n2 + d^2/(2 N))``
        (Borenstein et al. 2009 eq. 4.24 / 12.17), UB is the unbiased estimate (Hedges 1983),
        AV uses the sample-size weighted mean of the yi. ``MD`` {"LS", "UB", "HO"}: LS = UB =
        ``sd1^2/n1 + sd2^2/n2``; HO uses the pooled SD. ``ROM`` {"LS", "HO"}. ``RD`` and
        ``PR`` {"LS", "UB", "AV"}. ``PLO`` and ``COR`` {"LS", "AV"}. Others: "LS" only.

    Returns
    -------
    pandas.DataFrame
        Columns ``yi`` and ``vi`` (float), one row per study, and ``df.attrs`` with
        ``measure``, ``vtype``, ``add``, ``to``, ``drop00`` and ``ni`` (the unadjusted total
        sample size per row, as metafor's ``ni`` attribute).

    Raises
    ------
    ModelError
        Unknown ``measure``/``vtype``/``to``; a required argument missing or an argument the
        measure does not use; vectors of different lengths; impossible values (negative SD,
        count or sample size, events > group size, ``|ri| > 1``, non-positive means for
        ``ROM``), naming the argument and the rows (by the label of the result's index: the
        0-based position, or the index of a Series argument).

    Notes
    -----
    * A warning is logged when any ``|SMD| > 2``: such values are unusual and often mean that
      standard errors were entered in place of SDs (metafor issues the same warning).
    * Correlations with ``ni <= 4`` get ``vi = NaN`` (metafor 3.8.1 behaviour).
    * ``SMCR``'s variance ``2(1 - ri)/ni + yi^2/(2 ni)`` assumes equal pre and post SDs
      (Becker 1988; Morris 2008).

    Checked against metafor 3.8.1 ``escalc`` (RR, OR, RD on dat.bcg; MD, SMD on
    dat.normand1999; COR, ZCOR on dat.molloy2014) at relative 1e-8, and against published
    values: Borenstein et al. (2009) ch. 18 SMD example (yi, LS, LS2, UB), dat.bcg log risk
    ratios, Normand (1999) MD and RD tables, Morris (2008) SMCR/SMCC example.

    References
    ----------
    See the module docstring.

    Examples
    --------
    >>> from ketameta.escalc import escalc
    >>> es = escalc("SMD", m1i=94, sd1i=22, n1i=60, m2i=92, sd2i=20, n2i=60)
    >>> print(es.round(6).to_string())
             yi        vi
    0  0.094524  0.033371
    """
    if not isinstance(measure, str) or measure not in _SPEC:
        raise ModelError(
            f"escalc: unknown measure {measure!r}; implemented: {', '.join(MEASURES)}."
        )
    spec = _SPEC[measure]
    if vtype not in spec["vtype"]:
        raise ModelError(
            f"escalc(measure={measure!r}): vtype must be one of {spec['vtype']}, got {vtype!r}."
        )
    if to not in _TO:
        raise ModelError(f"escalc: 'to' must be one of {_TO}, got {to!r}.")
    given = {k: v for k, v in zip(_ARGS, (ai, bi, ci, di, n1i, n2i, m1i, m2i, sd1i, sd2i, ri,
                                           ni, xi, mi)) if v is not None}
    missing = [k for k in spec["req"] if k not in given]
    if missing:
        raise ModelError(
            f"escalc(measure={measure!r}) needs {', '.join(spec['req'])}; missing: "
            f"{', '.join(missing)}."
        )
    allowed = set(spec["req"]) | set(_OPTIONAL.get(measure, ()))
    if measure in ("MC", "SMCC"):
        allowed |= {"sd2i"}
    if measure == "SMCR":
        allowed |= {"sd2i"}  # accepted (metafor ignores it for SMCR) but unused
    unused = sorted(set(given) - allowed)
    if unused:
        raise ModelError(
            f"escalc(measure={measure!r}) does not use {', '.join(unused)}; "
            f"it takes {', '.join(sorted(allowed))}."
        )
    if measure in ("MC", "SMCC") and "sd2i" not in given:
        raise ModelError(f"escalc(measure={measure!r}) needs sd2i (SD at the pre-test).")
    if add is None or not np.isfinite(add) or add < 0:
        raise ModelError(f"escalc: 'add' must be a non-negative number, got {add!r}.")
    arrays, index = _collect(given)

    if measure in ("MD", "SMD", "ROM"):
        yi, vi, n_u = _means(measure, arrays, vtype, index)
    elif measure in ("MC", "SMCC", "SMCR"):
        yi, vi, n_u = _change(measure, arrays, index)
    elif measure in _TWO_BY_TWO:
        yi, vi, n_u = _two_by_two(measure, arrays, vtype, add, to, drop00, index)
    elif measure in _ONE_GROUP:
        yi, vi, n_u = _one_group(measure, arrays, vtype, add, to, index)
    else:
        yi, vi, n_u = _correlation(measure, arrays, vtype, index)

    yi = np.asarray(yi, dtype=float).copy()
    vi = np.asarray(vi, dtype=float).copy()
    inf = np.isinf(yi) | np.isinf(vi)
    if inf.any():
        log.warning("escalc(measure=%r): some yi and/or vi values are +-Inf (rows %s); "
                    "set to NaN.", measure, _row_labels(inf, index))
    bad = inf | np.isnan(yi) | np.isnan(vi)
    yi[bad] = np.nan
    vi[bad] = np.nan
    with np.errstate(invalid="ignore"):
        vi[vi < 0] = np.nan
        large = np.abs(yi) > 2
    if measure == "SMD" and large.any():
        log.warning("escalc(measure='SMD'): one or more SMD values are unusually large "
                    "(|yi| > 2; rows %s). Maybe SEs were used in place of SDs to compute them?",
                    _row_labels(large, index))

    out = pd.DataFrame({"yi": yi, "vi": vi}, index=index)
    out.attrs.update({"measure": measure, "vtype": vtype, "add": add, "to": to,
                      "drop00": drop00, "ni": np.asarray(n_u, dtype=float).tolist()})
    return out
