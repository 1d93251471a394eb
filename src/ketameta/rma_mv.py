"""Three-level meta-analytic models for dependent effect sizes (metafor's ``rma.mv``).

The model is metafor's ``rma.mv(yi, V, mods, random = ~ 1 | cluster/effect)``::

    y_ij = x_ij' beta + u_i + w_ij + e_ij,
    u_i ~ N(0, sigma^2_1)    (one random effect per cluster, e.g. study or district),
    w_ij ~ N(0, sigma^2_2)   (one random effect per row within its cluster),
    e_i ~ N(0, V_i)          (known sampling (co)variances of the rows of cluster i),

so the marginal covariance is block diagonal with one block per cluster,
``M_i = V_i + sigma^2_1 J + sigma^2_2 I`` (Konstantopoulos 2011; Van den Noortgate et al. 2013;
Cheung 2014). ``V_i`` is ``diag(v_ij)`` unless a within-cluster sampling covariance is given.

Computation
-----------
Nothing of size k x k is formed. Each cluster block is handled in the eigenbasis of its sampling
covariance ``V_i = Q_i diag(lambda) Q_i'`` (``Q_i = I`` when ``V_i`` is diagonal), where
``M_i = Q_i (diag(lambda + sigma^2_2) + sigma^2_1 u u') Q_i'`` with ``u = Q_i' 1``: a diagonal
plus a rank-one matrix. The Sherman-Morrison formula then gives ``M_i^-1`` and
``log det M_i`` in O(n_i) per cluster, and every quantity of the (restricted) likelihood, its
gradient and its expected information in O(k p^2) per evaluation. The one-off eigen
decompositions cost O(sum n_i^3) and are skipped when ``V`` is diagonal.

References
----------
Konstantopoulos S (2011). Fixed effects and variance components estimation in three-level
    meta-analysis. Res Synth Methods 2:61-76.
Van den Noortgate W, Lopez-Lopez JA, Marin-Martinez F, Sanchez-Meca J (2013). Three-level
    meta-analysis of dependent effect sizes. Behav Res Methods 45:576-594.
Cheung MW-L (2014). Modeling dependent effect sizes with three-level meta-analyses: a structural
    equation modeling approach. Psychol Methods 19:211-229.
Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package. J Stat Softw 36(3).
Harville DA (1977). Maximum likelihood approaches to variance component estimation and to
    related problems. JASA 72:320-338. (REML, Fisher scoring)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize

from ._design import align_inputs, from_data
from ._design import design_matrix as _design
from ._dist import chi2_ppf, chi2_sf, f_sf, norm_isf, norm_sf, t_isf, t_sf
from ._linalg import check_full_rank
from ._mv_structure import (
    _codes,
    _name,
    _optimise,
    _rows_of,
    _Structure,
    _v_blocks,
    log,
)
from ._result import Result, floats, num, percent_level
from .confint import confint
from .errors import ModelError
from .predict import newmods_matrix, predict, prediction_frame

__all__ = ["rma_mv", "RMAMVResult", "confint_rma_mv", "RMAMVConfint", "METHODS_MV", "TESTS_MV"]


#: Estimators of the variance components.
METHODS_MV = ("REML", "ML")
#: Inference for the fixed effects: Wald-type z/chi^2, or t/F with k - p df (metafor's
#: ``test="t"`` with ``dfs="residual"``).
TESTS_MV = ("z", "t")




def _column(data, name, what):
    """``data[name]`` when ``name`` is a column name of ``data``, else ``name`` unchanged."""
    if not isinstance(name, str):
        return name
    if not isinstance(data, pd.DataFrame) or name not in data.columns:
        raise ModelError(f"{what} names column {name!r}, which data does not have.")
    return data[name]


# ------------------------------------------------------------------------------------------
# result
# ------------------------------------------------------------------------------------------
@dataclass(repr=False, eq=False)
class RMAMVResult(Result):
    """A fitted :func:`rma_mv` model.

    Attributes use metafor's names: ``beta, se, zval, pval, ci_lb, ci_ub, vb`` for the fixed
    effects, ``sigma2`` (``[cluster level, row level]``) with ``s_names`` and ``s_nlevels`` for
    the variance components, ``QE, QEp`` (residual heterogeneity, from the sampling covariance
    alone), ``QM, QMp`` (omnibus test of the coefficients ``btt``), ``logLik, AIC, BIC, AICc``
    (restricted likelihood for REML), ``k, p, n_clusters``. ``zval`` holds t statistics when
    ``test="t"`` (then ``dfs = k - p`` and ``QM`` is an F statistic).
    """

    beta: np.ndarray
    se: np.ndarray
    zval: np.ndarray
    pval: np.ndarray
    ci_lb: np.ndarray
    ci_ub: np.ndarray
    vb: np.ndarray
    sigma2: np.ndarray
    sigma2_fixed: list
    s_names: list
    s_nlevels: list
    k: int
    p: int
    n_clusters: int
    QE: float
    QEp: float
    QM: float
    QMp: float
    QMdf: tuple
    dfs: float | None
    fit_stats: dict
    method: str
    test: str
    level: float
    coef_names: list
    btt: list
    yi: np.ndarray
    vi: np.ndarray
    X: np.ndarray
    cluster: np.ndarray
    intercept: bool
    k_all: int
    vstruct: str
    omitted: list = field(default_factory=list)
    info: dict = field(default_factory=dict)
    _struct: _Structure | None = None

    # -- derived ------------------------------------------------------------------------
    def _fs(self):
        return self.fit_stats["REML" if self.method == "REML" else "ML"]

    @property
    def logLik(self) -> float:  # noqa: N802 (metafor name)
        """Log-likelihood: restricted for REML, full for ML (metafor's convention)."""
        return self._fs()["ll"]

    @property
    def AIC(self) -> float:  # noqa: N802
        """Akaike information criterion on the same likelihood as :attr:`logLik`."""
        return self._fs()["AIC"]

    @property
    def BIC(self) -> float:  # noqa: N802
        """Bayesian information criterion on the same likelihood as :attr:`logLik`."""
        return self._fs()["BIC"]

    @property
    def AICc(self) -> float:  # noqa: N802
        """Small-sample corrected AIC."""
        return self._fs()["AICc"]

    @property
    def sigma(self) -> np.ndarray:
        """Square roots of :attr:`sigma2`."""
        return np.sqrt(self.sigma2)

    @property
    def int_only(self) -> bool:
        """True for an intercept-only model."""
        return self.intercept and self.p == 1

    @property
    def residuals(self) -> np.ndarray:
        """``yi - X beta`` in the row order of the input (omitted rows excluded)."""
        return self.yi - self.X @ self.beta

    # -- views ----------------------------------------------------------------------------
    def _record(self) -> dict:
        """Plain-Python summary with metafor's names (JSON-serialisable).

        The keys shared with :meth:`ketameta.rma.RMAResult.to_dict` mean the same;
        ``sigma2``/``s_names``/``s_nlevels`` list the variance components, ``n_clusters`` the
        number of clusters, and ``model`` is ``"rma.mv"``.
        """
        return {
            "model": "rma.mv",
            "method": self.method,
            "test": self.test,
            "level": self.level,
            "k": int(self.k),
            "k_all": int(self.k_all),
            "omitted": list(self.omitted),
            "p": int(self.p),
            "n_clusters": int(self.n_clusters),
            "coef_names": list(self.coef_names),
            "beta": floats(self.beta),
            "se": floats(self.se),
            "zval": floats(self.zval),
            "pval": floats(self.pval),
            "ci_lb": floats(self.ci_lb),
            "ci_ub": floats(self.ci_ub),
            "vb": [floats(r) for r in self.vb],
            "sigma2": floats(self.sigma2),
            "sigma2_fixed": [bool(b) for b in self.sigma2_fixed],
            "s_names": list(self.s_names),
            "s_nlevels": [int(n) for n in self.s_nlevels],
            "V": self.vstruct,
            "QE": num(self.QE),
            "QEp": num(self.QEp),
            "QM": num(self.QM),
            "QMp": num(self.QMp),
            "QMdf": [None if d is None else int(d) for d in self.QMdf],
            "btt": [int(b) for b in self.btt],
            "dfs": None if self.dfs is None else num(self.dfs),
            "logLik": num(self.logLik),
            "AIC": num(self.AIC),
            "BIC": num(self.BIC),
            "AICc": num(self.AICc),
        }

    def to_frame(self) -> pd.DataFrame:
        """Coefficient table: ``estimate, se, zval|tval, [df,] pval, ci_lb, ci_ub`` by name."""
        stat = "zval" if self.dfs is None else "tval"
        df = pd.DataFrame(
            {"estimate": self.beta, "se": self.se, stat: self.zval, "pval": self.pval,
             "ci_lb": self.ci_lb, "ci_ub": self.ci_ub},
            index=pd.Index(self.coef_names, name="coef"),
        )
        if self.dfs is not None:
            df.insert(3, "df", self.dfs)
        return df

    def glance(self) -> pd.DataFrame:
        """One row of fit statistics, with the variance components as ``sigma2_1, sigma2_2``."""
        out = super().glance()
        for i, s2 in enumerate(self.sigma2, 1):
            out[f"sigma2_{i}"] = float(s2)
        return out

    def variance_components(self) -> pd.DataFrame:
        """Table of the variance components (``estim, sqrt, nlvls, fixed, factor``)."""
        return pd.DataFrame(
            {"estim": self.sigma2, "sqrt": self.sigma, "nlvls": self.s_nlevels,
             "fixed": ["yes" if f else "no" for f in self.sigma2_fixed],
             "factor": self.s_names},
            index=pd.Index(["sigma^2.1", "sigma^2.2"]),
        )

    def summary(self, digits: int = 4) -> str:
        """Text summary laid out like metafor's ``print.rma.mv`` (variance components,
        heterogeneity, test of moderators, coefficient table); ``print(res)`` shows it.
        """
        from ._print import rma_text

        return rma_text(self, digits=digits)

    def __repr__(self) -> str:
        return self.summary()

    def confint(self, level=None):
        """Profile-likelihood CIs for the variance components; see :func:`confint_rma_mv`."""
        return confint_rma_mv(self, level=level)


# ------------------------------------------------------------------------------------------
# the model
# ------------------------------------------------------------------------------------------
def rma_mv(
    yi,
    vi,
    cluster,
    mods=None,
    method="REML",
    test="z",
    level=95,
    intercept=True,
    V=None,
    rho=None,
    time=None,
    id=None,  # noqa: A002 (metafor's vocabulary)
    btt=None,
    sigma2=None,
    na_action="omit",
    data=None,
):
    """Fit a three-level meta-analytic model (metafor's ``rma.mv`` with ``~ 1 | cluster/effect``).

    Parameters
    ----------
    yi : array_like of shape (k,)
        Observed effect sizes.
    vi : array_like of shape (k,) or None
        Sampling variances (> 0). May be ``None`` when ``V`` is given (then ``diag(V)``).
    cluster : array_like of shape (k,)
        Cluster of each row (e.g. study). Rows of a cluster share the cluster-level random
        effect (variance ``sigma2[0]``); every row also has its own random effect
        (``sigma2[1]``). A named :class:`pandas.Series` names the component.
    mods : DataFrame, Series or array_like of shape (k, m), optional
        Moderators, as in :func:`ketameta.rma` (DataFrame names kept; non-numeric columns
        dummy coded; an intercept is added unless ``intercept=False``).
    method : {"REML", "ML"}
        Estimator of the variance components.
    test : {"z", "t"}
        ``"z"``: Wald z tests and a chi^2 omnibus test; ``"t"``: t and F tests with ``k - p``
        df (metafor's ``dfs="residual"``).
    level : float
        Confidence level in percent (95), or as a proportion (0.95), as metafor reads it.
    intercept : bool
        Add an intercept column.
    V : dict, list of 2-D arrays, or 2-D array, optional
        Known sampling covariance of the rows within each cluster (block diagonal by cluster):
        a dict ``{cluster label: n_c x n_c array}``, a list of blocks in order of first
        appearance of the clusters, or a full k x k array (for small k; entries between
        clusters must be 0). Rows of a block follow the order of the cluster's rows in the data.
    rho : float, optional
        Build ``V`` from an assumed correlation between the sampling errors of rows of the same
        cluster, ``cov_ij = rho sqrt(v_i v_j)`` (metafor's ``vcalc(vi, cluster, rho=)``,
        clubSandwich's ``impute_covariance_matrix``).
    time : array_like of shape (k,), optional
        With ``rho``: AR(1)-type decay, ``cov_ij = rho**|t_i - t_j| sqrt(v_i v_j)`` (metafor's
        ``vcalc(..., time1=, phi=)``); ``rho`` is then the correlation one time unit apart.
    id : array_like of shape (k,), optional
        Row identifier within cluster (e.g. school within district). Must be unique within each
        cluster: the row-level random effect is one per row. A named Series names the component
        (``"cluster/id"``).
    btt : sequence of int, optional
        Coefficients (0-based) tested by ``QM``. Default: all but the intercept.
    sigma2 : sequence of two (float or None), optional
        Fix a variance component at the given value; ``None`` entries are estimated
        (metafor's ``sigma2=c(NA, 0)`` style).
    na_action : {"omit", "fail"}
        Rows with missing ``yi``, ``vi``, moderator or cluster values are dropped with a logged
        warning (listed in ``result.omitted``), or raise.
    data : DataFrame, optional
        Where column names are looked up: ``yi`` (or a formula ``"yi ~ dose + bipolar"``,
        treatment coding for categorical terms), ``vi``, ``mods`` (column names or ``"~ ..."``),
        ``cluster`` and ``id``, as in :func:`ketameta.rma`. A named column names its variance
        component.

    Returns
    -------
    RMAMVResult
        ``to_dict()`` gives beta, se, zval, pval, ci_lb, ci_ub, vb, sigma2, s_names,
        n_clusters, QE, QEp, QM, QMp, logLik, AIC, BIC, AICc, k, p, ``model="rma.mv"``.

    Raises
    ------
    ModelError
        Fewer than two clusters, non-positive ``vi``, collinear moderators, a ``V`` that is not
        positive definite, ``k <= p``, or an optimiser that did not converge (the message lists
        what was tried).

    Notes
    -----
    *Estimation.* The (restricted) log-likelihood is maximised over ``sigma2 >= 0`` by
    Newton-Raphson with the analytic observed information (Fisher scoring where that is not
    positive definite), step halving and an active set for components at the boundary (an
    estimate of 0 is a result, not an error), to a relative step below 1e-10; L-BFGS-B with
    the analytic score is the fallback. The surface can have a second local maximum with one
    component at 0, so the optima reached from both boundary solutions are compared and the
    highest is kept (``result.info`` records the iterations and how many distinct maxima were
    found). The REML log-likelihood includes ``+ 1/2 log det(X'X)`` as
    in metafor, so ``logLik``, ``AIC``, ``BIC`` and ``AICc`` are comparable with metafor's.

    *Identification.* With one row per cluster the two components are not separately
    identified (only their sum is, and it equals ``rma``'s tau^2); the fit then splits the sum
    equally and logs a warning.

    *Heterogeneity test.* ``QE`` is the weighted residual sum of squares of the model fitted
    with the sampling covariance alone (``W = V^-1``), df ``k - p``, as in metafor.

    *Cost.* O(k p^2) per likelihood evaluation plus O(sum n_c^3) once when ``V`` is not
    diagonal; no k x k matrix is formed.

    Verified against metafor 3.8.1 ``rma.mv(yi, vi, random = ~ 1 | district/school)`` on
    dat.konstantopoulos2011 (fixture, relative 1e-6), against the published analysis
    (Konstantopoulos 2011, Table 4/5 as reproduced by metafor), against ``rma`` (one row per
    cluster) and against a dense k x k implementation (unit tests, 1e-10); see
    ``tests/reference/test_metafor_multilevel.py`` and ``tests/unit/test_rma_mv.py``.

    References
    ----------
    Konstantopoulos S (2011). Res Synth Methods 2:61-76. Van den Noortgate W et al. (2013).
    Behav Res Methods 45:576-594. Cheung MW-L (2014). Psychol Methods 19:211-229.

    Examples
    --------
    >>> from ketameta.rma_mv import rma_mv
    >>> fit = rma_mv([0.1, 0.3, 0.2, 0.5, 0.4, 0.0],
    ...              [0.02, 0.03, 0.02, 0.04, 0.03, 0.02],
    ...              cluster=["a", "a", "b", "b", "c", "c"])
    >>> fit.to_dict()["s_names"]
    ['cluster', 'cluster/effect']
    """
    method = str(method).upper()
    if method not in METHODS_MV:
        raise ModelError(f"Unknown method {method!r} for rma_mv; use one of {METHODS_MV}.")
    test = str(test).lower()
    if test not in TESTS_MV:
        raise ModelError(f"Unknown test {test!r} for rma_mv; use one of {TESTS_MV}.")
    level = percent_level(level)
    if na_action not in ("omit", "fail"):
        raise ModelError(f"na_action must be 'omit' or 'fail', got {na_action!r}.")
    if data is not None:
        cluster, id = (_column(data, c, n) for c, n in ((cluster, "cluster"), (id, "id")))
    yi, vi, mods, intercept = from_data(yi, vi, mods, data, intercept)
    yi, vi, mods = align_inputs(yi, vi, mods)

    y = np.asarray(yi, dtype=float).ravel()
    k_all = y.size
    if k_all == 0:
        raise ModelError("No effect sizes were given (k = 0).")
    codes_all, labels_all, cmiss = _codes(cluster, k_all)
    if vi is None:
        if V is None:
            raise ModelError("Give vi (sampling variances) or V (sampling covariance blocks).")
        v = np.full(k_all, np.nan)
    else:
        v = np.asarray(vi, dtype=float).ravel()
        if v.size != k_all:
            raise ModelError(f"yi has {k_all} values but vi has {v.size}.")
    X, names = _design(mods, k_all, intercept)

    # within-cluster sampling covariance (built on all rows; missing cluster rows excluded)
    blocks_all = None
    if V is None and rho is None and time is not None:
        raise ModelError("time needs rho (the correlation between rows one time unit apart).")
    if V is not None or rho is not None:
        if cmiss.any():
            raise ModelError(
                f"cluster has missing values in row(s) {np.flatnonzero(cmiss)[:10].tolist()}; "
                "V and rho need the cluster of every row."
            )
        blocks_all = _v_blocks(V, rho, time, v, codes_all, labels_all, k_all)
        if V is not None:
            dv = np.empty(k_all)
            for r_, b in zip(_rows_of(codes_all, len(labels_all)), blocks_all):
                dv[r_] = np.diag(b)
            if vi is None:
                v = dv
            else:
                okd = np.isfinite(v)
                if np.any(np.abs(dv[okd] - v[okd]) > 1e-10 * np.abs(v[okd])):
                    bad = np.flatnonzero(okd & (np.abs(dv - v) > 1e-10 * np.abs(v)))
                    raise ModelError(
                        f"diag(V) differs from vi in row(s) {bad[:10].tolist()}; give "
                        "vi=None to use diag(V)."
                    )

    ok = np.isfinite(y) & np.isfinite(v) & np.all(np.isfinite(X), axis=1) & ~cmiss
    if time is not None:
        ok &= np.isfinite(np.asarray(time, dtype=float).ravel())
    omitted = [int(i) for i in np.flatnonzero(~ok)]
    if omitted:
        if na_action == "fail":
            raise ModelError(
                f"Missing (or non-finite) yi, vi, moderator, cluster or time values in row(s) "
                f"{omitted}; fill them in or use na_action='omit'."
            )
        log.warning("%d row(s) with missing values omitted from model fitting: %s",
                    len(omitted), omitted)
    keep = np.flatnonzero(ok)
    y, v, X = y[keep], v[keep], X[keep]
    k, p = X.shape
    if k == 0:
        raise ModelError("Every row has a missing value: nothing left to fit.")
    bad = np.flatnonzero(v <= 0)
    if bad.size:
        raise ModelError(
            f"Sampling variances must be positive; vi <= 0 in row(s) {keep[bad].tolist()} "
            f"(values {v[bad].tolist()})."
        )
    codes, labels = pd.factorize(pd.Series(codes_all[keep]), sort=False)
    codes = np.asarray(codes)
    cl_labels = np.array([labels_all[c] for c in labels], dtype=object)
    J = len(labels)
    if J < 2:
        raise ModelError(
            f"Only {J} cluster: the cluster-level variance needs at least two clusters."
        )
    if k <= p:
        raise ModelError(
            f"Too few effect sizes: k = {k} but p = {p} coefficients ({', '.join(names)})."
        )
    check_full_rank(X, names)
    blocks = None
    if blocks_all is not None:
        rows_all = _rows_of(codes_all, len(labels_all))
        blocks = []
        for c_old in labels:
            sel = ok[rows_all[c_old]]
            b = blocks_all[c_old]
            blocks.append(b if sel.all() else b[np.ix_(sel, sel)])

    # ids
    cname = _name(cluster, "cluster")
    s_names = [cname, f"{cname}/{_name(id, 'effect')}" if id is not None else f"{cname}/effect"]
    if id is not None:
        ida = np.asarray(id.to_numpy() if isinstance(id, pd.Series) else id, dtype=object)
        ida = ida.ravel()
        if ida.size != k_all:
            raise ModelError(f"id has {ida.size} values but there are {k_all} effect sizes.")
        pairs = pd.DataFrame({"c": codes, "i": ida[keep]})
        dup = pairs.duplicated()
        if dup.any():
            raise ModelError(
                "id is not unique within cluster (rows "
                f"{keep[np.flatnonzero(dup.to_numpy())][:10].tolist()}): the row-level random "
                "effect is one per row; a shared level-2 effect is not supported."
            )

    if btt is None:
        btt = list(range(1, p)) if (intercept and p > 1) else list(range(p))
    else:
        btt = sorted({int(b) for b in np.atleast_1d(btt)})
        if not btt or min(btt) < 0 or max(btt) >= p:
            raise ModelError(f"btt must index coefficients 0..{p - 1}; got {btt}.")

    if sigma2 is None:
        fixed = [None, None]
    else:
        fixed = list(sigma2)
        if len(fixed) != 2:
            raise ModelError("sigma2 must have two entries (cluster level, row level).")
        for f_ in fixed:
            if f_ is not None and (not np.isfinite(f_) or f_ < 0):
                raise ModelError(f"A fixed sigma2 must be a finite value >= 0; got {f_}.")
        fixed = [None if f_ is None else float(f_) for f_ in fixed]

    struct = _Structure(codes, y, v, X, blocks)
    reml = method == "REML"

    sizes = struct.sizes
    if np.all(sizes == 1) and fixed == [None, None]:
        log.warning(
            "Every cluster has one row: sigma2 (cluster) and sigma2 (row) are not separately "
            "identified; only their sum is (it equals rma's tau^2). The sum is split equally."
        )

    # start: moment-type total heterogeneity split equally
    ev0 = struct.evaluate(0.0, 0.0, reml=reml, order=0)
    QE = max(0.0, ev0["rss"])
    r_ols = y - X @ np.linalg.lstsq(X, y, rcond=None)[0]
    tot = max(float(np.var(r_ols)) - float(np.mean(v)), 0.1 * float(np.mean(v)))
    start = [tot / 2, tot / 2]
    if all(f_ is not None for f_ in fixed):
        s2hat = np.array(fixed, dtype=float)
        opt = {"optimiser": "none (sigma2 fixed)", "iterations": 0, "converged": True}
    else:
        s2hat, opt = _optimise(struct, reml, fixed, start)
    ev = struct.evaluate(*s2hat, reml=reml, order=0)
    return _finish(struct, ev, s2hat, fixed, QE, method, test, level, names, btt, y, v, X,
                   cl_labels[codes], intercept, k_all, omitted, s_names, J, opt, blocks, rho,
                   time, V)


def _finish(struct, ev, s2hat, fixed, QE, method, test, level, names, btt, y, v, X, cl, intercept,
            k_all, omitted, s_names, J, opt, blocks, rho, time, V):
    k, p = X.shape
    beta, vb = ev["beta"], ev["vb"]
    se = np.sqrt(np.diag(vb))
    with np.errstate(divide="ignore", invalid="ignore"):
        zval = beta / se
    a = 1 - level / 100
    m = len(btt)
    bt = beta[btt]
    try:
        QM = float(bt @ np.linalg.solve(vb[np.ix_(btt, btt)], bt))
    except np.linalg.LinAlgError:
        QM = float("nan")
    dfs = None if test == "z" else float(k - p)
    if dfs is None:
        pval = 2 * norm_sf(np.abs(zval))
        crit = norm_isf(a / 2)
        QMp = float(chi2_sf(QM, m))
        QMdf = (m, None)
    else:
        pval = 2 * t_sf(np.abs(zval), dfs)
        crit = t_isf(a / 2, dfs)
        QM = QM / m
        QMp = float(f_sf(QM, m, dfs))
        QMdf = (m, int(dfs))
    QEp = float(chi2_sf(QE, k - p))

    parms = p + sum(1 for f_ in fixed if f_ is None)

    def stats_for(ll, n):
        aicc_n = max(n, parms + 2)
        return {"ll": ll, "dev": -2 * ll, "AIC": -2 * ll + 2 * parms,
                "BIC": -2 * ll + parms * math.log(n) if n > 0 else float("nan"),
                "AICc": -2 * ll + 2 * parms * aicc_n / (aicc_n - parms - 1)}

    fit_stats = {"ML": stats_for(ev["ll_ml"], k), "REML": stats_for(ev["ll_reml"], k - p)}
    if V is not None:
        vstruct = "given"
    elif rho is not None:
        vstruct = f"rho={float(rho):g}" + (" (AR(1) in time)" if time is not None else "")
    else:
        vstruct = "diagonal"
    return RMAMVResult(
        beta=beta, se=se, zval=zval, pval=np.asarray(pval, dtype=float),
        ci_lb=beta - crit * se, ci_ub=beta + crit * se, vb=vb,
        sigma2=np.asarray(s2hat, dtype=float), sigma2_fixed=[f_ is not None for f_ in fixed],
        s_names=s_names, s_nlevels=[J, k], k=k, p=p, n_clusters=J, QE=float(QE),
        QEp=QEp, QM=float(QM), QMp=float(QMp), QMdf=QMdf, dfs=dfs, fit_stats=fit_stats,
        method=method, test=test, level=float(level), coef_names=list(names), btt=list(btt),
        yi=y, vi=v, X=X, cluster=cl, intercept=bool(intercept), k_all=k_all, vstruct=vstruct,
        omitted=omitted, info=opt, _struct=struct,
    )


# ------------------------------------------------------------------------------------------
# profile-likelihood confidence intervals
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RMAMVConfint(Result):
    """Profile-likelihood CIs for the variance components of an :func:`rma_mv` fit.

    ``random`` is indexed by ``sigma^2.1, sigma.1, sigma^2.2, sigma.2`` with columns
    ``estimate, ci_lb, ci_ub``; ``fixed`` holds the Wald-type CIs of the coefficients;
    ``notes`` lists bounds that hit the search limits.
    """

    random: pd.DataFrame
    fixed: pd.DataFrame
    level: float
    method: str
    notes: tuple

    def _record(self) -> dict:
        """Plain-Python form: ``sigma2 = [..]``, ``sigma2_ci = [[lb, ub], [lb, ub]]``."""
        r = self.random

        def f(x):
            return None if not np.isfinite(x) else float(x)

        return {
            "level": self.level,
            "method": self.method,
            "sigma2": [f(r.loc["sigma^2.1", "estimate"]), f(r.loc["sigma^2.2", "estimate"])],
            "sigma2_ci": [[f(r.loc[n, "ci_lb"]), f(r.loc[n, "ci_ub"])]
                          for n in ("sigma^2.1", "sigma^2.2")],
            "sigma_ci": [[f(r.loc[n, "ci_lb"]), f(r.loc[n, "ci_ub"])]
                         for n in ("sigma.1", "sigma.2")],
            "notes": list(self.notes),
        }

    def __repr__(self) -> str:
        return (f"{self.random.to_string(float_format='{:.4f}'.format)}\n\n"
                f"({self.level:g}% CI, {self.method})")


@confint.register
def confint_rma_mv(fit: RMAMVResult, level=None) -> RMAMVConfint:
    """Profile-likelihood confidence intervals for the variance components of :func:`rma_mv`.

    For each component the other one is re-estimated at every trial value (profiled out) and
    the bounds are the values where ``2 (logLik_max - logLik_profile)`` equals the
    ``level`` quantile of chi^2 with 1 df (metafor's ``confint.rma.mv``, ``type="PL"``). The
    search runs over ``[0, max(10, 100 * estimate)]`` as in metafor; a lower bound of 0 means
    the profile stays inside the region down to 0, and a bound at the search limit is noted.
    Roots are found by Brent's method to a relative 1e-10 (metafor's default ``uniroot``
    tolerance is ~1.2e-4, so its printed bounds can differ in the 4th decimal).

    Parameters
    ----------
    fit : RMAMVResult
        A fitted model (with both components estimated).
    level : float, optional
        Confidence level in percent, or as a proportion (default: the fit's).

    Returns
    -------
    RMAMVConfint

    Notes
    -----
    Verified against the published profile CIs for dat.konstantopoulos2011 (metafor's
    ``confint.rma`` documentation; Konstantopoulos 2011): sigma^2.1 0.0222-0.2072, sigma^2.2
    0.0163-0.0628.
    """
    level = fit.level if level is None else percent_level(level)
    if not (0 < level < 100):
        raise ModelError(f"level must be a percentage between 0 and 100, got {level!r}.")
    struct = fit._struct
    reml = fit.method == "REML"
    key = "ll_reml" if reml else "ll_ml"
    ll_max = struct.evaluate(*fit.sigma2, reml=reml)[key]
    crit = float(chi2_ppf(level / 100, 1))
    notes = []
    rows = {}
    for a in range(2):
        est = float(fit.sigma2[a])
        if fit.sigma2_fixed[a]:
            rows[a] = (est, np.nan, np.nan)
            notes.append(f"sigma^2.{a + 1} was fixed: no CI.")
            continue
        other = 1 - a
        other_fixed = float(fit.sigma2[other]) if fit.sigma2_fixed[other] else None

        def prof(val, a=a, other=other, other_fixed=other_fixed):
            fx = [None, None]
            fx[a] = float(val)
            fx[other] = other_fixed
            if other_fixed is None:
                st = [0.0, 0.0]
                st[other] = max(float(fit.sigma2[other]), 1e-4 * max(np.median(fit.vi), 1e-12))
                th, _ = _optimise(struct, reml, fx, st)
            else:
                th = np.array([fx[0], fx[1]], dtype=float)
            ll = struct.evaluate(*th, reml=reml)[key]
            return 2 * (ll_max - ll) - crit

        scale = max(est, 1e-8)
        if est <= 0 or prof(0.0) <= 0:
            lb = 0.0
        else:
            lb = optimize.brentq(prof, 0.0, est, xtol=1e-12 * scale, rtol=1e-10, maxiter=500)
        vmax = max(10.0, 100 * est)
        if prof(vmax) < 0:
            ub = vmax
            notes.append(f"Upper bound of sigma^2.{a + 1} is above the search limit {vmax:g}.")
        else:
            ub = optimize.brentq(prof, est, vmax, xtol=1e-12 * scale, rtol=1e-10, maxiter=500)
        rows[a] = (est, lb, ub)

    idx, vals = [], []
    for a in range(2):
        est, lb, ub = rows[a]
        idx += [f"sigma^2.{a + 1}", f"sigma.{a + 1}"]
        vals += [(est, lb, ub), (math.sqrt(est), math.sqrt(lb) if np.isfinite(lb) else np.nan,
                                 math.sqrt(ub) if np.isfinite(ub) else np.nan)]
    random = pd.DataFrame(vals, index=pd.Index(idx), columns=["estimate", "ci_lb", "ci_ub"])
    fixed = pd.DataFrame({"estimate": fit.beta, "ci_lb": fit.ci_lb, "ci_ub": fit.ci_ub},
                         index=pd.Index(fit.coef_names, name="coef"))
    if level != fit.level:
        a_ = 1 - level / 100
        crit_b = norm_isf(a_ / 2) if fit.dfs is None else t_isf(a_ / 2, fit.dfs)
        fixed["ci_lb"] = fit.beta - crit_b * fit.se
        fixed["ci_ub"] = fit.beta + crit_b * fit.se
    return RMAMVConfint(random=random, fixed=fixed, level=level,
                        method="profile likelihood", notes=tuple(notes))


@predict.register
def predict_rma_mv(res: RMAMVResult, newmods=None, level=None, transf=None):
    """Predicted values of a multilevel model (metafor's ``predict.rma.mv``).

    ``pred = x' b`` with ``se = sqrt(x' vb x)``; the CI uses z (or t with ``k - p`` df for
    ``test="t"``); the prediction interval for a new cluster adds both variance components:
    ``pred +/- crit sqrt(se^2 + sigma2_1 + sigma2_2)``. Verified against metafor 3.8.1
    (``tests/reference``: dat.konstantopoulos2011 with and without a moderator).
    """
    Xn = newmods_matrix(res, newmods)
    lvl = res.level if level is None else float(level)
    a = 1 - lvl / 100
    crit = norm_isf(a / 2) if res.dfs is None else t_isf(a / 2, res.dfs)
    pred = Xn @ res.beta
    se = np.sqrt(np.einsum("ij,jk,ik->i", Xn, res.vb, Xn))
    return prediction_frame(pred, se, crit, float(np.sum(res.sigma2)), transf)
