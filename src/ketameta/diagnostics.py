"""Leave-one-out, influence and cumulative diagnostics for :func:`ketameta.rma` models.

metafor's ``leave1out``, ``influence`` and ``cumul`` refit the model k times. Here the k fits
share one data set, so they are computed together:

* every fit is a weighted least-squares problem on a subset of rows; its normal equations are
  sums ``T_n(t) = sum_j w_j(t)^n z_j z_j'`` with ``w_j(t) = 1/(v_j + t)``, ``n = 1, 2, 3`` and
  ``z_j = (1, x_j, e_j)`` (``e`` = residuals of the full fit, so the sums are well conditioned);
* for leave-one-out, the sums of fit ``i`` are the full sums minus row ``i``. Because each fit
  has its own tau^2, the full sums are needed at k different values of tau^2: they are
  expanded in a power series around the full-data estimate (the moments
  ``sum_j c_j^r z_j z_j'``, ``c_j = 1/(v_j + tau2_full)``, are computed once), which is exact to
  rounding whenever ``|tau2_i - tau2_full| <= 0.5 / max(c)`` -- the usual case, since deleting
  one study moves tau^2 by O(1/k). Other fits (and fits in which one study carries more than
  90% of a sum) are summed directly, in blocks of rows;
* for cumulative fits, the sums run over the first i rows: running sums of the same moments
  (no differences, so no cancellation), and direct sums over the first i rows for fits
  outside the series region;
* tau^2 of every fit is the root of the same estimating equation as in :func:`ketameta.rma`
  (REML, ML, PM/EB; closed forms for DL, HE, HS, SJ), found by a vectorised safeguarded
  Newton iteration run to rounding level over all fits at once, started at the full-data
  estimate. A fit that does not converge there is refitted with :func:`ketameta.rma`.
* coefficients are computed in the parametrisation ``x -> R^-T x`` (``sqrt(w) X = QR`` for
  the full fit), in which the sums are well conditioned whatever the moderators' scales.

Leave-one-out and influence therefore cost O(k p^2) time and memory (plus O(k) per directly
summed fit); cumulative fits cost O(k p^2 N) per iteration for N <= 64 series terms, plus
O(i) per directly summed fit of i rows (O(k^2) only in the worst case). No k x k matrix is
formed; direct sums are done in blocks of at most 2^21 elements.

References
----------
Viechtbauer W, Cheung MW-L (2010). Outlier and influence diagnostics for meta-analysis.
    Res Synth Methods 1:112-125.
Lau J, Antman EM, Jimenez-Silva J, et al. (1992). Cumulative meta-analysis of therapeutic
    trials for myocardial infarction. N Engl J Med 327:248-254.
Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package. J Stat Softw 36(3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ._deletion import (
    _Data,
    _LeaveOneOutSums,
    _PrefixSums,
    _subset_fits,
)
from ._dist import chi2_cdf
from ._linalg import WFit
from ._result import Result
from .errors import ModelError

__all__ = [
    "leave1out",
    "influence",
    "cumul",
    "Leave1outResult",
    "InfluenceResult",
    "CumulResult",
]

# =============================================================================================
# Results
# =============================================================================================


def _ids(res):
    """1-based row numbers in the data as given (rows with missing values skipped)."""
    om = set(res.omitted)
    return [i + 1 for i in range(res.k_all) if i not in om]


def _labels(res):
    return list(res.slab) if res.slab is not None else [str(i) for i in _ids(res)]


def _fmt_frame(df, digits=4):
    return df.to_string(float_format=lambda x: f"{x:.{digits}f}")


def _to_lists(df):
    out = {}
    for c in df.columns:
        col = df[c]
        if col.dtype == bool:
            out[c] = [bool(x) for x in col]
        else:
            out[c] = [None if not np.isfinite(x) else float(x) for x in col.to_numpy(float)]
    return out


def _coef_columns(name, arr, coef_names):
    """One column for an intercept-only model, one per coefficient otherwise."""
    if arr.ndim == 1:
        return {name: arr}
    if arr.shape[1] == 1:
        return {name: arr[:, 0]}
    return {f"{name}[{c}]": arr[:, j] for j, c in enumerate(coef_names)}


@dataclass(repr=False, eq=False)
class Leave1outResult(Result):
    """Leave-one-out estimates (metafor's ``leave1out``): row i is the fit without study i.

    ``estimate, se, zval, pval, ci_lb, ci_ub`` have shape (k,) for an intercept-only model and
    (k, p) otherwise (columns in the order of ``coef_names``); ``zval`` holds t statistics
    when ``test`` is ``"t"``, ``"knha"`` or ``"adhoc"``. ``Q, Qp, tau2, I2, H2`` have shape (k,).
    """

    estimate: np.ndarray
    se: np.ndarray
    zval: np.ndarray
    pval: np.ndarray
    ci_lb: np.ndarray
    ci_ub: np.ndarray
    Q: np.ndarray
    Qp: np.ndarray
    tau2: np.ndarray
    I2: np.ndarray
    H2: np.ndarray
    slab: list
    coef_names: list
    method: str
    test: str
    level: float

    def to_frame(self) -> pd.DataFrame:
        """One row per omitted study (indexed by its label), metafor's columns.

        With moderators, coefficient columns are named ``estimate[<coef>]`` etc. The ``tau2``
        column is left out for an equal-effects model, as in metafor.
        """
        stat = "zval" if self.test == "z" else "tval"
        cols = {}
        for name, arr in (("estimate", self.estimate), ("se", self.se), (stat, self.zval),
                          ("pval", self.pval), ("ci_lb", self.ci_lb), ("ci_ub", self.ci_ub)):
            cols.update(_coef_columns(name, arr, self.coef_names))
        cols.update(Q=self.Q, Qp=self.Qp)
        if self.method != "EE":
            cols["tau2"] = self.tau2
        cols.update(I2=self.I2, H2=self.H2)
        return pd.DataFrame(cols, index=pd.Index(self.slab, name="omitted"))

    def _record(self) -> dict:
        """JSON-serialisable: the columns of :meth:`to_frame` as lists, plus metadata."""
        return {"model": "leave1out", "method": self.method, "test": self.test,
                "level": self.level, "coef_names": list(self.coef_names),
                "slab": [str(s) for s in self.slab], **_to_lists(self.to_frame())}

    def __repr__(self) -> str:
        return ("Leave-one-out analysis (each row: model fitted without that study)\n\n"
                + _fmt_frame(self.to_frame()))


@dataclass(repr=False, eq=False)
class InfluenceResult(Result):
    """Case-deletion diagnostics (metafor's ``influence``), one row per study.

    Attributes ``rstudent, dffits, cook_d, cov_r, tau2_del, QE_del, hat, weight`` (k,),
    ``dfbetas`` (k, p) and the boolean flag ``inf`` (metafor's ``*``).
    """

    rstudent: np.ndarray
    dffits: np.ndarray
    cook_d: np.ndarray
    cov_r: np.ndarray
    tau2_del: np.ndarray
    QE_del: np.ndarray
    hat: np.ndarray
    weight: np.ndarray
    dfbetas: np.ndarray
    inf: np.ndarray
    slab: list
    coef_names: list
    tau2: float
    QE: float
    k: int
    p: int

    @property
    def is_infl(self) -> np.ndarray:
        """Alias of :attr:`inf` (metafor's ``is.infl``)."""
        return self.inf

    def to_frame(self) -> pd.DataFrame:
        """Table with metafor's columns (``cook.d`` -> ``cook_d`` etc.), the ``inf`` flag and
        one ``dfbetas[<coef>]`` column per coefficient.
        """
        cols = {"rstudent": self.rstudent, "dffits": self.dffits, "cook_d": self.cook_d,
                "cov_r": self.cov_r, "tau2_del": self.tau2_del, "QE_del": self.QE_del,
                "hat": self.hat, "weight": self.weight, "inf": self.inf.astype(bool)}
        for j, c in enumerate(self.coef_names):
            cols[f"dfbetas[{c}]"] = self.dfbetas[:, j]
        return pd.DataFrame(cols, index=pd.Index(self.slab, name="study"))

    def _record(self) -> dict:
        """JSON-serialisable: the columns of :meth:`to_frame` as lists, plus metadata."""
        return {"model": "influence", "k": int(self.k), "p": int(self.p),
                "coef_names": list(self.coef_names), "slab": [str(s) for s in self.slab],
                **_to_lists(self.to_frame())}

    def __repr__(self) -> str:
        df = self.to_frame()
        main = df.iloc[:, :9].copy()
        main["inf"] = np.where(self.inf, "*", "")
        dfb = df.iloc[:, 9:]
        dfb.columns = list(self.coef_names)
        return ("Influence diagnostics (* = influential, Viechtbauer & Cheung 2010)\n\n"
                + _fmt_frame(main) + "\n\nDFBETAS\n\n" + _fmt_frame(dfb))


@dataclass(repr=False, eq=False)
class CumulResult(Result):
    """Cumulative meta-analysis (metafor's ``cumul``): row i is the fit of the first i studies
    in the chosen order.
    """

    k: np.ndarray
    estimate: np.ndarray
    se: np.ndarray
    zval: np.ndarray
    pval: np.ndarray
    ci_lb: np.ndarray
    ci_ub: np.ndarray
    Q: np.ndarray
    Qp: np.ndarray
    tau2: np.ndarray
    I2: np.ndarray
    H2: np.ndarray
    slab: list
    order: np.ndarray
    method: str
    test: str
    level: float
    order_values: list = field(default_factory=list)

    def to_frame(self) -> pd.DataFrame:
        """One row per added study (indexed by its label), metafor's columns."""
        stat = "zval" if self.test == "z" else "tval"
        cols = {"k": self.k, "estimate": self.estimate, "se": self.se, stat: self.zval,
                "pval": self.pval, "ci_lb": self.ci_lb, "ci_ub": self.ci_ub, "Q": self.Q,
                "Qp": self.Qp}
        if self.method != "EE":
            cols["tau2"] = self.tau2
        cols.update(I2=self.I2, H2=self.H2)
        return pd.DataFrame(cols, index=pd.Index(self.slab, name="added"))

    def _record(self) -> dict:
        """JSON-serialisable: the columns of :meth:`to_frame` as lists, plus metadata."""
        d = _to_lists(self.to_frame())
        d["k"] = [int(x) for x in self.k]
        return {"model": "cumul", "method": self.method, "test": self.test,
                "level": self.level, "slab": [str(s) for s in self.slab],
                "order": [int(i) for i in self.order], **d}

    def __repr__(self) -> str:
        return ("Cumulative meta-analysis (each row: model fitted to the studies up to it)\n\n"
                + _fmt_frame(self.to_frame()))


# =============================================================================================
# Public functions
# =============================================================================================


def _check_model(res, what):
    from .rma import RMAResult

    if not isinstance(res, RMAResult):
        raise ModelError(
            f"{what} needs a model fitted with ketameta.rma; got {type(res).__name__}."
        )


def _deletion_inestimable(d):
    """Rows whose deletion leaves the design rank deficient (leverage 1 in X)."""
    if d.p == 1:
        return np.zeros(d.k, bool)
    ols = WFit(d.y, np.ones(d.k), d.X)
    return ols.h > 1 - 1e-10


def leave1out(res) -> Leave1outResult:
    """Leave-one-out analysis: the model refitted k times, each time without one study.

    Parameters
    ----------
    res : RMAResult
        A model fitted with :func:`ketameta.rma` (k >= 2). Models with moderators are
        allowed: then every coefficient is reported.

    Returns
    -------
    Leave1outResult
        ``estimate, se, zval, pval, ci_lb, ci_ub, Q, Qp, tau2, I2, H2`` per omitted study,
        computed exactly as :func:`ketameta.rma` would on the reduced data (same tau^2
        estimator, test and level; a fixed tau^2 stays fixed).

    Raises
    ------
    ModelError
        If ``k < 2``.

    Notes
    -----
    All k fits are computed together in O(k p^2) (see the module notes); the tau^2 of each
    fit is the root of the estimator's estimating equation, iterated to rounding level, so
    each row equals ``rma`` on the data without that study. A fit that cannot be computed
    (e.g. a coefficient that becomes inestimable without the study, or k - 1 = p > 1) is NaN,
    as metafor reports NA.

    metafor (3.8.1) restricts ``leave1out`` to models without moderators; the
    moderator case here is the same refit, checked against refits with :func:`ketameta.rma`.

    Verified against metafor 3.8.1 ``leave1out`` (estimate, se, tau2, I2) on dat.bcg,
    dat.normand1999 and dat.molloy2014 (REML) at relative 1e-6, and against the dat.bcg
    table printed in metafor's documentation; see ``tests/reference``.

    References
    ----------
    Viechtbauer W, Cheung MW-L (2010). Outlier and influence diagnostics for meta-analysis.
    Res Synth Methods 1:112-125.

    Examples
    --------
    >>> import ketameta as km
    >>> from ketameta.diagnostics import leave1out
    >>> res = km.rma([0.1, 0.3, 0.5, 0.2], [0.01, 0.02, 0.015, 0.03])
    >>> l1o = leave1out(res)
    >>> l1o.to_frame()[["estimate", "tau2"]].round(4).iloc[0].tolist()
    [0.3607, 0.0046]
    """
    _check_model(res, "leave1out")
    if res.k < 2:
        raise ModelError(f"leave1out needs at least 2 studies (k = {res.k}).")
    d = _Data(res)
    sums = _LeaveOneOutSums(d, d.tau2)
    fit = _subset_fits(d, sums, _deletion_inestimable(d))
    one = d.p == 1

    def sq(a):
        return a[:, 0] if one else a

    return Leave1outResult(
        estimate=sq(fit["beta"]), se=sq(fit["se"]), zval=sq(fit["zval"]), pval=sq(fit["pval"]),
        ci_lb=sq(fit["ci_lb"]), ci_ub=sq(fit["ci_ub"]), Q=fit["QE"], Qp=fit["QEp"],
        tau2=fit["tau2"], I2=fit["I2"], H2=fit["H2"], slab=_labels(res),
        coef_names=list(res.coef_names), method=res.method, test=res.test, level=res.level,
    )


def influence(res) -> InfluenceResult:
    """Outlier and influence diagnostics (Viechtbauer & Cheung 2010; metafor's ``influence``).

    Parameters
    ----------
    res : RMAResult
        A model fitted with :func:`ketameta.rma` (k >= 2), with or without moderators.

    Returns
    -------
    InfluenceResult
        Per study i, with ``(i)`` denoting the fit without study i:

        * ``rstudent``: ``(y_i - x_i' b_(i)) / sqrt(s2w_(i) (v_i + tau2_(i)) + x_i' V_(i) x_i)``
          (externally studentized deleted residual; ``s2w`` is the Knapp-Hartung factor,
          1 unless ``test="knha"`` or ``"adhoc"``);
        * ``dffits``: ``x_i'(b - b_(i)) / sqrt(s2w_(i) h_i (tau2_(i) + v_i))``;
        * ``cook_d``: ``(b - b_(i))' V^-1 (b - b_(i))`` (all coefficients);
        * ``cov_r``: ``det V_(i) / det V``;
        * ``tau2_del``, ``QE_del``: tau^2 and QE of the fit without study i;
        * ``hat``: leverage ``h_i = w_i x_i' (X'WX)^-1 x_i`` (they sum to p);
        * ``weight``: weight in percent;
        * ``dfbetas``: ``(b - b_(i)) / sqrt(s2w_(i) diag((X'W_(i)X)^-1))`` where ``W_(i)``
          uses all k studies with tau^2 = ``tau2_(i)``;
        * ``inf``: influential by metafor's rule -- any of ``|dffits| > 3 sqrt(p/(k-p))``,
          ``P(chi^2_p <= cook_d) > 0.5``, ``hat > 3p/k``, or any ``|dfbetas| > 1``.

        ``V`` is the full model's ``vb``, ``V_(i)`` the reduced fit's.

    Raises
    ------
    ModelError
        If ``k < 2``.

    Notes
    -----
    The k reduced fits are computed together (O(k p^2), see the module notes), each exactly
    as :func:`ketameta.rma` fits it. Definitions follow metafor's ``influence.rma.uni``
    (for the unweighted/user-weighted variants metafor offers, ketameta has no counterpart:
    models are always inverse-variance weighted).

    Verified against metafor 3.8.1 ``influence`` (rstudent, cook.d, hat) on dat.bcg,
    dat.normand1999 and dat.molloy2014 (REML) at relative 1e-6 and against the dat.bcg
    ``mods = ~ ablat + year`` table in metafor's documentation (every column, the dfbetas
    and the flag on study 4); see ``tests/reference``.

    References
    ----------
    Viechtbauer W, Cheung MW-L (2010). Outlier and influence diagnostics for meta-analysis.
    Res Synth Methods 1:112-125.
    Belsley DA, Kuh E, Welsch RE (1980). Regression Diagnostics. Wiley.
    Cook RD (1977). Detection of influential observation in linear regression.
    Technometrics 19:15-18.
    """
    _check_model(res, "influence")
    if res.k < 2:
        raise ModelError(f"influence needs at least 2 studies (k = {res.k}).")
    d = _Data(res)
    k, p = d.k, d.p
    sums = _LeaveOneOutSums(d, d.tau2)
    fit = _subset_fits(d, sums, _deletion_inestimable(d), want_full=True)

    w = 1.0 / (d.v + d.tau2)
    full = WFit(d.y, w, d.X)
    hat = full.h
    weight = 100.0 * w / w.sum()
    vb = np.asarray(res.vb, dtype=float)
    svb = np.linalg.inv(vb)
    X = d.X

    b_del, vb_del, t_del, s2w_del = fit["beta"], fit["vb"], fit["tau2"], fit["s2w"]
    delpred = np.einsum("ij,ij->i", X, b_del)
    vdelpred = np.einsum("ij,ijk,ik->i", X, vb_del, X)
    pred_full = X @ d.b_full
    resid = d.y - delpred
    resid = np.where(np.abs(resid) < 100 * np.finfo(float).eps, 0.0, resid)
    with np.errstate(divide="ignore", invalid="ignore"):
        rstudent = resid / np.sqrt(d.v * s2w_del + vdelpred + t_del * s2w_del)
        dffits = (pred_full - delpred) / np.sqrt(s2w_del * hat * (t_del + d.v))
        dfb = d.b_full[None, :] - b_del
        cook_d = np.einsum("ij,jk,ik->i", dfb, svb, dfb)
        cov_r = np.linalg.det(np.where(np.isfinite(vb_del), vb_del, 0.0)) / np.linalg.det(vb)
        cov_r = np.where(fit["ok"], cov_r, np.nan)
        diag_del = np.einsum("bii->bi", fit["vb_all"])
        dfbetas = dfb / np.sqrt(s2w_del[:, None] * diag_del)
        dfbetas[~fit["ok"]] = np.nan

        is_infl = (
            (np.abs(dffits) > 3 * math.sqrt(p / (k - p)) if k > p else np.zeros(k, bool))
            | (chi2_cdf(cook_d, p) > 0.5)
            | (hat > 3 * p / k)
            | np.any(np.abs(dfbetas) > 1, axis=1)
        )
    # NaN comparisons are False: a fit that could not be computed is flagged only by a
    # criterion that is defined (metafor: NA | TRUE is TRUE, NA | FALSE is not flagged)

    return InfluenceResult(
        rstudent=rstudent, dffits=dffits, cook_d=cook_d, cov_r=cov_r, tau2_del=t_del,
        QE_del=fit["QE"], hat=hat, weight=weight, dfbetas=dfbetas, inf=is_infl.astype(bool),
        slab=_labels(res), coef_names=list(res.coef_names), tau2=float(res.tau2),
        QE=float(res.QE), k=k, p=p,
    )


def cumul(res, order=None, decreasing=False) -> CumulResult:
    """Cumulative meta-analysis: the model fitted to the first 1, 2, ..., k studies.

    Parameters
    ----------
    res : RMAResult
        An intercept-only model fitted with :func:`ketameta.rma` (as in metafor, cumulative
        analyses are for models without moderators).
    order : array_like, optional
        Values to sort the studies by (e.g. publication year), one per row of the data given
        to :func:`rma` (``k_all`` values; rows omitted for missing values are skipped) or one
        per study used in the fit (``k`` values). Ties keep the data order; studies with a
        missing order value are left out. Default: data order.
    decreasing : bool
        Sort in decreasing order.

    Returns
    -------
    CumulResult
        ``k, estimate, se, zval, pval, ci_lb, ci_ub, Q, Qp, tau2, I2, H2`` per step, each row
        exactly :func:`ketameta.rma` on the studies added so far (same method, test, level; a
        fixed tau^2 stays fixed); ``order`` holds the positions (0-based, into ``res.yi``) of
        the added studies.

    Raises
    ------
    ModelError
        For a model with moderators or an ``order`` of the wrong length.

    Notes
    -----
    The k fits are computed together (see the module notes). The first fit has k = 1:
    tau^2 = 0 (unless fixed), Q = 0, Qp = 1 and, as in metafor, z-based inference whatever
    the model's test.

    Verified against metafor 3.8.1 ``cumul`` (estimate, se, tau2) on dat.bcg,
    dat.normand1999 and dat.molloy2014 (REML) at relative 1e-6; see ``tests/reference``.

    References
    ----------
    Lau J, Antman EM, Jimenez-Silva J, Kupelnick B, Mosteller F, Chalmers TC (1992).
    Cumulative meta-analysis of therapeutic trials for myocardial infarction.
    N Engl J Med 327:248-254.
    """
    _check_model(res, "cumul")
    if not res.int_only:
        raise ModelError("cumul is only available for models without moderators (as in metafor).")
    k = res.k
    if order is None:
        idx = np.arange(k)
        order_vals = list(range(1, k + 1))
    else:
        ov = pd.Series(np.asarray(order, dtype=object).ravel())
        if len(ov) == res.k_all and res.k_all != k:
            ov = ov.drop(index=res.omitted).reset_index(drop=True)
        elif len(ov) != k:
            raise ModelError(
                f"order has {len(ov)} values; it needs one per row of the data ({res.k_all}) "
                f"or one per study in the model ({k})."
            )
        try:
            ov = ov.astype(float)
        except (TypeError, ValueError):
            pass
        ov = ov[ov.notna()]
        ov = ov.sort_values(ascending=not decreasing, kind="stable")
        idx = ov.index.to_numpy(dtype=int)
        order_vals = ov.tolist()
        if idx.size == 0:
            raise ModelError("Every value of order is missing: nothing to accumulate.")

    from .rma import rma

    labels = _labels(res)
    sub = rma(res.yi[idx], res.vi[idx], method=res.method, test=res.test, level=res.level,
              tau2=res.tau2 if res.info.get("tau2_fixed") else None, r2=False)
    d = _Data(sub)
    sums = _PrefixSums(d, d.tau2)
    fit = _subset_fits(d, sums, np.zeros(d.k, bool))
    return CumulResult(
        k=np.arange(1, d.k + 1), estimate=fit["beta"][:, 0], se=fit["se"][:, 0],
        zval=fit["zval"][:, 0], pval=fit["pval"][:, 0], ci_lb=fit["ci_lb"][:, 0],
        ci_ub=fit["ci_ub"][:, 0], Q=fit["QE"], Qp=fit["QEp"], tau2=fit["tau2"], I2=fit["I2"],
        H2=fit["H2"], slab=[labels[i] for i in idx], order=idx, method=res.method,
        test=res.test, level=res.level, order_values=order_vals,
    )
