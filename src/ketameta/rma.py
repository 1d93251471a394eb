"""Equal-, random- and mixed-effects models for independent effect sizes (metafor's ``rma``).

The model is ``y_i = x_i' beta + u_i + e_i`` with ``u_i ~ N(0, tau^2)`` and ``e_i ~ N(0, v_i)``,
``v_i`` known (Hedges & Olkin 1985; Raudenbush 2009). :func:`rma` estimates tau^2 with one of
metafor's estimators, then ``beta`` by weighted least squares with weights ``1/(v_i + tau^2)``.

References
----------
Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package. J Stat Softw 36(3).
DerSimonian R, Laird N (1986). Meta-analysis in clinical trials. Control Clin Trials 7:177-188.
Hedges LV, Olkin I (1985). Statistical Methods for Meta-Analysis. Academic Press. (HE)
Hunter JE, Schmidt FL (2004). Methods of Meta-Analysis, 2nd ed. Sage. (HS)
Sidik K, Jonkman JN (2005). Simple heterogeneity variance estimation for meta-analysis.
    J R Stat Soc C 54:367-384. (SJ)
Paule RC, Mandel J (1982). Consensus values and weighting factors. J Res Natl Bur Stand 87:377-385.
Morris CN (1983). Parametric empirical Bayes inference. JASA 78:47-55. (EB)
Viechtbauer W (2005). Bias and efficiency of meta-analytic variance estimators in the
    random-effects model. J Educ Behav Stat 30:261-293. (ML, REML)
Knapp G, Hartung J (2003). Improved tests for a random effects meta-regression with a single
    covariate. Stat Med 22:2693-2710. (test="knha"; test="adhoc": the scale factor truncated
    at 1)
Röver C, Knapp G, Friede T (2015). Hartung-Knapp-Sidik-Jonkman approach and its modification
    for random-effects meta-analysis with few studies. BMC Med Res Methodol 15:99. (test="adhoc")
Higgins JPT, Thompson SG (2002). Quantifying heterogeneity in a meta-analysis. Stat Med
    21:1539-1558. (I^2, H^2)
Raudenbush SW (2009). Analyzing effect sizes: random-effects models. In: Cooper H et al. (eds),
    The Handbook of Research Synthesis and Meta-Analysis, 2nd ed., 295-315. (R^2)
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import special

from . import _tau2
from ._design import align_inputs, from_data
from ._design import design_matrix as _design
from ._dist import norm_isf, t_isf
from ._linalg import Moments, check_full_rank, quad_inv
from ._result import Result, floats, num, percent_level
from ._stable import DENSE_MAX, RATIO_MIN, DenseMoments, use_stable
from .errors import ModelError

__all__ = ["rma", "RMAResult", "METHODS", "TESTS", "T_TESTS"]

log = logging.getLogger(__name__)

METHODS = _tau2.METHODS
#: Inference for the fixed effects: Wald-type z/chi^2 tests, t/F with k-p df, Knapp-Hartung, or
#: Knapp-Hartung with the scale factor truncated at 1 ("adhoc").
TESTS = ("z", "t", "knha", "adhoc")
#: Tests with t/F reference distributions on k - p df.
T_TESTS = ("t", "knha", "adhoc")
_TEST_ALIASES = {"hksj": "knha"}
_LOG_2PI = math.log(2 * math.pi)
_EPS = float(np.finfo(float).eps)


@dataclass(repr=False, eq=False)
class RMAResult(Result):
    """A fitted :func:`rma` model.

    Attributes use metafor's names (``beta``, ``se``, ``zval``, ``pval``, ``ci_lb``, ``ci_ub``,
    ``tau2``, ``se_tau2``, ``QE``, ``QEp``, ``QM``, ``QMp``, ``I2``, ``H2``, ``R2``, ``logLik``,
    ``AIC``, ``BIC``). ``zval`` holds t statistics when ``test`` is ``"t"``, ``"knha"`` or
    ``"adhoc"`` (then ``dfs = k - p``); ``s2w`` is the Knapp-Hartung scale factor (1 for
    ``"z"``/``"t"``; at least 1 for ``"adhoc"``). ``QM`` is a chi^2 statistic for ``test="z"`` and an F statistic
    (``QMdf = (m, k - p)``) otherwise, as in metafor.
    """

    beta: np.ndarray
    se: np.ndarray
    zval: np.ndarray
    pval: np.ndarray
    ci_lb: np.ndarray
    ci_ub: np.ndarray
    vb: np.ndarray
    tau2: float
    se_tau2: float
    k: int
    p: int
    QE: float
    QEp: float
    QM: float
    QMp: float
    QMdf: tuple
    I2: float
    H2: float
    R2: float | None
    vt: float
    dfs: float | None
    s2w: float
    fit_stats: dict
    method: str
    test: str
    level: float
    coef_names: list
    btt: list
    yi: np.ndarray
    vi: np.ndarray
    X: np.ndarray
    intercept: bool
    k_all: int
    omitted: list = field(default_factory=list)
    slab: list | None = None
    info: dict = field(default_factory=dict)

    # -- derived -----------------------------------------------------------------------------
    @property
    def logLik(self) -> float:  # noqa: N802 (metafor name)
        """Log-likelihood: restricted for REML, full (ML) otherwise (metafor's convention)."""
        return self.fit_stats["REML" if self.method == "REML" else "ML"]["ll"]

    @property
    def AIC(self) -> float:  # noqa: N802
        """Akaike information criterion on the same likelihood as :attr:`logLik`."""
        return self.fit_stats["REML" if self.method == "REML" else "ML"]["AIC"]

    @property
    def BIC(self) -> float:  # noqa: N802
        """Bayesian information criterion on the same likelihood as :attr:`logLik`."""
        return self.fit_stats["REML" if self.method == "REML" else "ML"]["BIC"]

    @property
    def AICc(self) -> float:  # noqa: N802
        """Small-sample corrected AIC."""
        return self.fit_stats["REML" if self.method == "REML" else "ML"]["AICc"]

    @property
    def tau(self) -> float:
        """Square root of tau^2."""
        return math.sqrt(self.tau2)

    @property
    def int_only(self) -> bool:
        """True for an intercept-only (random- or equal-effects) model."""
        return self.intercept and self.p == 1

    @property
    def crit(self) -> float:
        """Critical value for the (1 - level) confidence intervals."""
        a = 1 - self.level / 100
        if self.dfs is None:
            return float(norm_isf(a / 2))
        return float(t_isf(a / 2, self.dfs)) if self.dfs > 0 else float("nan")

    @property
    def weights(self) -> np.ndarray:
        """Model weights in percent (``100 w_i / sum(w)``, ``w_i = 1/(v_i + tau^2)``)."""
        w = 1.0 / (self.vi + self.tau2)
        return 100.0 * w / w.sum()

    @property
    def model_label(self) -> str:
        """Metafor's model heading, e.g. 'Random-Effects Model'."""
        if self.method == "EE":
            return "Equal-Effects Model" if self.int_only else "Fixed-Effects with Moderators Model"
        return "Random-Effects Model" if self.int_only else "Mixed-Effects Model"

    # -- views -------------------------------------------------------------------------------
    def _record(self) -> dict:
        """Plain-Python summary with metafor's names (JSON-serialisable).

        Coefficient-level entries (``beta``, ``se``, ``zval``, ``pval``, ``ci_lb``, ``ci_ub``)
        are lists in the order of ``coef_names``; ``dfs`` is ``None`` for a z-test.
        """
        return {
            "model": "rma.uni",
            "method": self.method,
            "test": self.test,
            "level": self.level,
            "k": int(self.k),
            "k_all": int(self.k_all),
            "omitted": list(self.omitted),
            "p": int(self.p),
            "coef_names": list(self.coef_names),
            "beta": floats(self.beta),
            "se": floats(self.se),
            "zval": floats(self.zval),
            "pval": floats(self.pval),
            "ci_lb": floats(self.ci_lb),
            "ci_ub": floats(self.ci_ub),
            "vb": [floats(r) for r in self.vb],
            "tau2": num(self.tau2),
            "se_tau2": num(self.se_tau2),
            "QE": num(self.QE),
            "QEp": num(self.QEp),
            "QM": num(self.QM),
            "QMp": num(self.QMp),
            "QMdf": [None if d is None else int(d) for d in self.QMdf],
            "btt": [int(b) for b in self.btt],
            "I2": num(self.I2),
            "H2": num(self.H2),
            "R2": num(self.R2),
            "vt": num(self.vt),
            "dfs": None if self.dfs is None else num(self.dfs),
            "s2w": num(self.s2w),
            "logLik": num(self.logLik),
            "AIC": num(self.AIC),
            "BIC": num(self.BIC),
            "AICc": num(self.AICc),
        }

    def to_frame(self) -> pd.DataFrame:
        """Coefficient table: one row per coefficient (``estimate, se, zval|tval, pval, ci_lb,
        ci_ub``), indexed by coefficient name.
        """
        stat = "zval" if self.dfs is None else "tval"
        df = pd.DataFrame(
            {
                "estimate": self.beta,
                "se": self.se,
                stat: self.zval,
                "pval": self.pval,
                "ci_lb": self.ci_lb,
                "ci_ub": self.ci_ub,
            },
            index=pd.Index(self.coef_names, name="coef"),
        )
        if self.dfs is not None:
            df.insert(3, "df", self.dfs)
        return df

    def summary(self, digits: int = 4) -> str:
        """Text summary laid out like metafor's ``print.rma.uni`` (heterogeneity, test of
        moderators, coefficient table with significance stars); ``print(res)`` shows it.
        """
        from ._print import rma_text

        return rma_text(self, digits=digits)

    def __repr__(self) -> str:
        return self.summary()

    # convenience wrappers (metafor generics) --------------------------------------------------
    def predict(self, newmods=None, level=None, transf=None):
        """See :func:`ketameta.predict`."""
        from .predict import predict

        return predict(self, newmods=newmods, level=level, transf=transf)

    def confint(self, level=None):
        """See :func:`ketameta.confint`."""
        from .confint import confint

        return confint(self, level=level)


def _p_eq(p):
    """``= 0.0012`` or ``< .0001``, as metafor's test lines print a p-value."""
    return "< .0001" if p is not None and math.isfinite(p) and p < 1e-4 else f"= {_fmt_p(p)}"


def _fmt_p(p):
    """A p-value as metafor prints it: 4 decimals, ``<.0001`` below that."""
    if p is None or not math.isfinite(p):
        return "NA"
    return "<.0001" if p < 1e-4 else f"{p:.4f}"


def metafor_control(control):
    """``control`` of :func:`rma` as a dict (``None``: solve to rounding level)."""
    if control is None:
        return None
    if isinstance(control, str):
        if control.lower() != "metafor":
            raise ModelError(f"control must be 'metafor' or a dict, got {control!r}.")
        return {"threshold": 1e-5, "maxiter": 100}
    if not isinstance(control, dict) or set(control) - {"threshold", "maxiter"}:
        raise ModelError(f"control takes the keys 'threshold' and 'maxiter', got {control!r}.")
    out = {"threshold": float(control.get("threshold", 1e-5)), "maxiter": int(control.get("maxiter", 100))}
    if not out["threshold"] > 0 or out["maxiter"] < 1:
        raise ModelError(f"control needs threshold > 0 and maxiter >= 1, got {control!r}.")
    return out


def _normalise_method(method):
    m = str(method).upper()
    m = _tau2.ALIASES.get(m, m)
    if m not in METHODS:
        raise ModelError(f"Unknown method {method!r}; use one of {', '.join(METHODS)} (or 'FE').")
    return m


def _normalise_test(test):
    t = str(test).lower()
    t = _TEST_ALIASES.get(t, t)
    if t not in TESTS:
        raise ModelError(f"Unknown test {test!r}; use one of {', '.join(TESTS)}.")
    return t


def rma(
    yi,
    vi,
    mods=None,
    method="REML",
    test="z",
    level=95,
    intercept=True,
    btt=None,
    tau2=None,
    slab=None,
    na_action="omit",
    r2=True,
    data=None,
    control=None,
):
    """Fit an equal-, random- or mixed-effects meta-analytic model (metafor's ``rma``).

    Parameters
    ----------
    yi : array_like of shape (k,), str
        Observed effect sizes; with ``data``, a column name or a model formula
        (``"yi ~ dose + bipolar"``: moderators and their coding from the formula, treatment
        coding for categorical terms; ``- 1`` drops the intercept).
    vi : array_like of shape (k,), str
        Their sampling variances (must be > 0); with ``data``, a column name.
    mods : DataFrame, Series or array_like of shape (k, m), list of str or str, optional
        Moderators. DataFrame column names are kept as coefficient names; non-numeric columns
        are dummy coded (first level in sorted order as reference). An intercept is added
        unless ``intercept=False``. With ``data``: column names, or a one-sided formula
        (``"~ dose + bipolar"``, as metafor's ``mods = ~ ...``). pandas inputs are matched to
        ``yi`` by index label, not position.
    method : {"REML", "ML", "DL", "HE", "HS", "SJ", "EB", "PM", "EE"}
        Estimator of tau^2 (``"FE"`` is accepted for ``"EE"``). Default REML, as in metafor.
    test : {"z", "t", "knha", "adhoc"}
        ``"z"``: Wald-type z tests and a chi^2 omnibus test; ``"t"``: t and F tests with
        k - p df; ``"knha"``: Knapp & Hartung (2003) adjustment of the standard errors plus
        t/F tests (``"hksj"`` is accepted as an alias); ``"adhoc"``: the same with the
        scale factor truncated at 1, ``se = sqrt(max(1, s2w)) se_z``, so the standard errors
        are never smaller than the Wald-type ones (metafor's ``test="adhoc"``; Knapp &
        Hartung 2003; Röver, Knapp & Friede 2015).
    level : float
        Confidence level in percent (95), or as a proportion (0.95), as metafor reads it.
    intercept : bool
        Add an intercept column.
    btt : sequence of int, optional
        Coefficients (0-based) tested by the omnibus test QM. Default: all except the intercept
        (all coefficients in an intercept-only or no-intercept model).
    tau2 : float, optional
        Fix tau^2 at this value instead of estimating it.
    slab : sequence of str or str, optional
        Study labels, kept for outputs (``km.forest``); with ``data``, a column name.
    na_action : {"omit", "fail"}
        Rows with a missing ``yi``, ``vi`` or moderator are dropped (and listed in
        ``result.omitted``, with a logged warning), as metafor's default ``na.omit``; with
        ``"fail"`` they raise :class:`~ketameta.errors.ModelError`.
    r2 : bool
        Compute R^2 for mixed-effects models (needs one extra intercept-only fit).
    data : DataFrame, optional
        Where the column names and the formula of ``yi``, ``vi`` and ``mods`` are looked up.
    control : dict or "metafor", optional
        By default the REML, ML, PM and EB estimates are solved to rounding level. With
        ``control={"threshold": t, "maxiter": m}`` the REML, ML and EB estimates stop where
        metafor's Fisher scoring stops (from the HE estimate, until a step changes tau^2 by at
        most ``t``); ``"metafor"`` is metafor's default control (``threshold = 1e-5``,
        ``maxiter = 100``), for reproducing metafor results computed with its defaults (as
        its ``trimfill`` does). Other estimators are unaffected.

    Returns
    -------
    RMAResult
        ``to_dict()`` gives metafor's names: beta, se, zval, pval, ci_lb, ci_ub, tau2, se_tau2,
        k, p, QE, QEp, QM, QMp, I2, H2, R2, logLik, AIC, BIC.

    Notes
    -----
    *I^2 and H^2* follow metafor: ``I2 = 100 tau2 / (tau2 + vt)`` and ``H2 = (tau2 + vt) / vt``
    with the typical sampling variance ``vt = (k - p) / tr(P)`` computed from the equal-effects
    weights ``1/v_i`` (Higgins & Thompson 2002; Raudenbush 2009). For ``method="EE"`` they are
    the Q-based values ``max(0, 100 (QE - df) / QE)`` and ``QE / df``. Other tools (meta,
    RevMan 5, statsmodels) report the Q-based I^2 for every estimator; the two agree for DL.

    *Log-likelihood*: ``logLik`` is the restricted log-likelihood for REML and the full
    log-likelihood for every other method; both are in ``fit_stats``. The REML likelihood
    includes ``+ 1/2 log det(X'X)`` as in metafor.

    *R^2* is ``max(0, 100 (tau2_RE - tau2) / tau2_RE)`` where ``tau2_RE`` comes from the
    intercept-only model fitted with the same method (Raudenbush 2009); 0 if ``tau2_RE = 0``.

    *Boundary*: an estimate of tau^2 = 0 is a result (the estimating equation has no positive
    root), not an error. For ML and REML a score <= 0 at tau^2 = 0 is a local maximum there,
    but the likelihood can have a higher one inside (about 1 in 10,000 random data sets of
    k = 20): the score is then scanned on a geometric grid and the highest maximum is returned,
    as metafor's Fisher scoring, which starts inside, finds it
    (``tests/reference/test_interior_maxima.py``).

    Cost is O(k p^2) time and O(k p) memory: no k x k matrix is formed.

    Verified against metafor 3.8.1 (``rma.uni`` with ``threshold = 1e-12``) for every estimator
    and the tests z, knha and adhoc on dat.bcg, dat.normand1999 (z, knha), dat.molloy2014,
    dat.bangertdrowns2004 and dat.hine1989 (knha, adhoc), at a relative tolerance of 1e-8
    (closed forms) and 1e-6 (iterative estimators); see ``tests/reference/``.

    Examples
    --------
    >>> import ketameta as km
    >>> res = km.rma([0.1, 0.3, 0.5, 0.2], [0.01, 0.02, 0.015, 0.03])
    >>> round(res.beta[0], 4)
    0.2733
    """
    method = _normalise_method(method)
    test = _normalise_test(test)
    level = percent_level(level)
    if na_action not in ("omit", "fail"):
        raise ModelError(f"na_action must be 'omit' or 'fail', got {na_action!r}.")
    control = metafor_control(control)
    if isinstance(slab, str):
        if not isinstance(data, pd.DataFrame) or slab not in data.columns:
            raise ModelError(f"slab names column {slab!r}, which data does not have (pass data=).")
        slab = data[slab]
    yi, vi, mods, intercept = from_data(yi, vi, mods, data, intercept)
    yi, vi, mods = align_inputs(yi, vi, mods)
    if isinstance(slab, pd.Series):
        slab = [str(s) for s in slab]
        if len(slab) != len(yi):
            raise ModelError(f"slab has {len(slab)} labels but there are {len(yi)} effect sizes.")
    y = np.asarray(yi, dtype=float).ravel()
    v = np.asarray(vi, dtype=float).ravel()
    k_all = y.size
    if v.size != k_all:
        raise ModelError(f"yi has {k_all} values but vi has {v.size}.")
    if k_all == 0:
        raise ModelError("No effect sizes were given (k = 0).")
    X, names = _design(mods, k_all, intercept)
    for what, arr in (("yi", y), ("vi", v)):
        inf = np.flatnonzero(np.isinf(arr))
        if len(inf):
            raise ModelError(f"{what} is infinite in row(s) {inf.tolist()}: an infinite value is not "
                             "missing; remove the row or give a finite value (missing = NaN).")

    ok = np.isfinite(y) & np.isfinite(v) & np.isfinite(X).all(axis=1)
    omitted = [] if ok.all() else [int(i) for i in np.flatnonzero(~ok)]
    if omitted:
        if na_action == "fail":
            raise ModelError(
                f"Missing (or non-finite) yi, vi or moderator values in row(s) {omitted}; "
                "fill them in or use na_action='omit'."
            )
        log.warning("%d row(s) with missing values omitted from model fitting: %s",
                    len(omitted), omitted)
        y, v, X = y[ok], v[ok], X[ok]
        if slab is not None:
            slab = [s for s, keep in zip(slab, ok) if keep]
    k, p = X.shape
    if k == 0:
        raise ModelError("Every row has a missing value: nothing left to fit.")
    bad = np.flatnonzero(v <= 0) if (v <= 0).any() else ()
    if len(bad):
        raise ModelError(
            f"Sampling variances must be positive; vi <= 0 in row(s) {bad.tolist()} "
            f"(values {v[bad].tolist()})."
        )
    if k < p:
        raise ModelError(
            f"Too few studies for the model: k = {k} effect sizes but p = {p} coefficients "
            f"({', '.join(names)}). Drop moderators or add studies."
        )
    check_full_rank(X, names)
    if k == 1 and test != "z":
        # as metafor: with one study there are no residual df for a t/F test
        log.warning("k = 1: test=%r has no residual degrees of freedom; using test='z'.", test)
        test = "z"

    if btt is None:
        btt = list(range(1, p)) if (intercept and p > 1) else list(range(p))
    else:
        btt = sorted({int(b) for b in np.atleast_1d(btt)})
        if not btt or min(btt) < 0 or max(btt) >= p:
            raise ModelError(f"btt must index coefficients 0..{p - 1}; got {btt}.")

    # -- heterogeneity ------------------------------------------------------------------------
    info: dict = {}
    ratio = float(v.max() / v.min())
    stable = use_stable(v)
    if ratio >= RATIO_MIN:
        # metafor warns at the same ratio (1/evtol). Up to DENSE_MAX studies the fit switches to
        # an explicit-projector computation whose traces are sums of non-negative terms.
        msg = (f"Ratio of largest to smallest sampling variance is {ratio:.3g}"
               + ("; using the numerically stable dense computation." if stable else
                  f": with k > {DENSE_MAX} the O(k) formulas are used and results may lose "
                  "digits."))
        log.warning(msg)
        info["warnings"] = [msg]
        info["stable_dense"] = stable
    if tau2 is not None and method != "EE":
        t2, se_t2 = float(tau2), float("nan")
        if t2 < 0:
            raise ModelError(f"A fixed tau2 must be >= 0; got {tau2}.")
        info["tau2_fixed"] = True
    elif k == 1 or (k == p and method != "EE"):
        if k == p and method != "EE" and k > 1:
            raise ModelError(
                f"k = {k} equals the number of coefficients p = {p}: the model is saturated "
                "and tau^2 cannot be estimated. Use method='EE' or fewer moderators."
            )
        t2, se_t2 = 0.0, float("nan")
        info["k1"] = True
    else:
        if stable:
            mom = DenseMoments(y, v, X)
        else:
            mom = (Moments(y, v, X, intercept_col=0 if intercept else -1)
                   if method in _tau2.ITERATIVE else None)
        t2, se_t2, est_info = _tau2.estimate(method, y, v, X, mom, control=control)
        info.update(est_info)
        return _finish(y, v, X, names, t2, se_t2, method, test, level, intercept, btt, k_all,
                       omitted, slab, info, r2, mom)

    return _finish(y, v, X, names, t2, se_t2, method, test, level, intercept, btt, k_all,
                   omitted, slab, info, r2, DenseMoments(y, v, X) if stable else None)


def _finish(y, v, X, names, t2, se_t2, method, test, level, intercept, btt, k_all, omitted,
            slab, info, want_r2, mom=None):
    k, p = X.shape
    if mom is None:
        mom = Moments(y, v, X, intercept_col=0 if intercept else -1)
    fit = mom.at(t2, 2)
    beta, vb = mom.coef(fit)
    rss_f = fit.rss
    s2w = 1.0
    if test in ("knha", "adhoc"):
        s2w = 0.0 if rss_f <= _EPS else rss_f / (k - p) if k > p else float("nan")
        if test == "adhoc" and s2w < 1:
            s2w = 1.0            # as metafor: the scale factor is never below 1 (NaN stays)
        vb = s2w * vb
    dfs = float(k - p) if test in T_TESTS else None

    se = np.sqrt(vb.diagonal())
    if se.all():
        zval = beta / se
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            zval = beta / se
    a = 1 - level / 100
    m = len(btt)
    bt = beta[btt]
    if m == 1:
        vbb = float(vb[btt[0], btt[0]])
        QM = float(bt[0] * (bt[0] / vbb)) if vbb != 0 else float("nan")
    else:
        QM = quad_inv(vb[np.asarray(btt)[:, None], btt], bt)
    # p-values and critical values from scipy.special (what scipy.stats evaluates, without its
    # per-call argument handling)
    if dfs is None:
        pval = 2 * special.ndtr(-np.abs(zval))
        crit = -special.ndtri(a / 2)
        QMp = float(special.chdtrc(m, QM))
        QMdf = (m, None)
    else:
        if dfs > 0:
            pval = 2 * special.stdtr(dfs, -np.abs(zval))
            crit = -special.stdtrit(dfs, a / 2)
            QM = QM / m
            QMp = float(special.fdtrc(m, dfs, QM))
        else:
            pval = np.full(p, np.nan)
            crit = float("nan")
            QM, QMp = QM / m, float("nan")
        QMdf = (m, int(dfs))
    ci_lb, ci_ub = beta - crit * se, beta + crit * se

    # -- heterogeneity statistics (always with equal-effects weights) -------------------------
    if k > p:
        fe = mom.at(0.0, 2)
        QE = max(0.0, fe.rss)
        QEp = float(special.chdtrc(k - p, QE))
        vt = (k - p) / fe.trP if fe.trP > 0 else float("nan")
        if method == "EE":
            I2 = max(0.0, 100 * (QE - (k - p)) / QE) if QE > 0 else 0.0
            H2 = QE / (k - p)
        else:
            I2 = 100 * t2 / (vt + t2)
            H2 = t2 / vt + 1
    else:
        QE, QEp, I2, H2, vt = 0.0, 1.0, 0.0, 1.0, 0.0

    # -- fit statistics ------------------------------------------------------------------------
    parms = p + (0 if (method == "EE" or info.get("tau2_fixed")) else 1)
    sum_log_v = float(np.log(v).sum())
    sum_log_vt = sum_log_v if t2 == 0 else float(np.log(v + t2).sum())
    ll_ml = -0.5 * k * _LOG_2PI - 0.5 * sum_log_vt - 0.5 * rss_f
    ll_reml = (
        -0.5 * (k - p) * _LOG_2PI
        + 0.5 * mom.logdet_xtx()
        - 0.5 * sum_log_vt
        - 0.5 * mom.logdet(fit)
        - 0.5 * rss_f
    )

    def stats_for(ll, n):
        aicc_n = max(n, parms + 2)
        return {
            "ll": ll,
            "dev": -2 * ll,
            "AIC": -2 * ll + 2 * parms,
            "BIC": -2 * ll + parms * math.log(n) if n > 0 else float("nan"),
            "AICc": -2 * ll + 2 * parms * aicc_n / (aicc_n - parms - 1),
        }

    fit_stats = {"ML": stats_for(ll_ml, k), "REML": stats_for(ll_reml, k - p)}
    # saturated log-likelihood: sum of log N(y_i; y_i, v_i) = -k/2 log(2 pi) - 1/2 sum(log v)
    ll_sat = -0.5 * k * _LOG_2PI - 0.5 * sum_log_v
    fit_stats["ML"]["dev"] = -2 * (ll_ml - ll_sat) if k > p else 0.0

    # -- R^2 -------------------------------------------------------------------------------------
    R2 = None
    if want_r2 and intercept and p > 1:
        if method == "EE":
            wfe = 1.0 / v
            ybar = np.sum(wfe * y) / np.sum(wfe)
            sst = float(np.sum(wfe * (y - ybar) ** 2))
            r2 = 1 - rss_f / sst if sst > 0 else 0.0
            # adjusted R^2 of the weighted regression; undefined for a saturated model (k = p),
            # where metafor reports NaN
            R2 = max(0.0, 100 * (1 - (1 - r2) * (k - 1) / (k - p))) if k > p else None
        else:
            try:
                t2_re = t2_re_fit(y, v, method)
                R2 = 0.0 if t2_re == 0 else max(0.0, 100 * (t2_re - t2) / t2_re)
            except ModelError:
                R2 = None

    return RMAResult(
        beta=beta, se=se, zval=zval, pval=np.asarray(pval, dtype=float), ci_lb=ci_lb,
        ci_ub=ci_ub, vb=vb, tau2=float(t2), se_tau2=float(se_t2), k=k, p=p, QE=float(QE),
        QEp=float(QEp), QM=float(QM), QMp=float(QMp), QMdf=QMdf, I2=float(I2), H2=float(H2),
        R2=R2, vt=float(vt), dfs=dfs, s2w=float(s2w), fit_stats=fit_stats, method=method,
        test=test, level=float(level), coef_names=list(names), btt=list(btt), yi=y, vi=v, X=X,
        intercept=bool(intercept), k_all=k_all, omitted=omitted, slab=slab, info=info,
    )


def t2_re_fit(y, v, method):
    """tau^2 of the intercept-only model fitted with ``method`` (used for R^2)."""
    X1 = np.ones((y.size, 1))
    if y.size < 2:
        return 0.0
    if use_stable(v):
        mom = DenseMoments(y, v, X1)
    else:
        mom = Moments(y, v, X1, intercept_col=0) if method in _tau2.ITERATIVE else None
    t2, _, _ = _tau2.estimate(method, y, v, X1, mom, want_se=False)
    return t2
