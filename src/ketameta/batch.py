"""Many independent meta-analyses in one vectorised pass (:func:`rma_batch`).

Each fit is the model of :func:`ketameta.rma`, ``y_ij = x_ij' beta_i + u_ij + e_ij`` with
``u_ij ~ N(0, tau_i^2)`` and ``e_ij ~ N(0, v_ij)``: m data sets of (up to) k studies, each with
its own tau^2, fitted with one of metafor's estimators and tests. The estimating equations,
closed forms and the safeguarded Newton iteration are those of :func:`ketameta.rma`
(:mod:`ketameta._tau2`), evaluated for blocks of fits at once from moment sums
(:mod:`ketameta._batch`, the engine of :func:`ketameta.permutest`), so each fit equals the
corresponding :func:`ketameta.rma` fit to rounding (``tests/unit/test_rma_batch.py``).

References
----------
DerSimonian R, Laird N (1986). Meta-analysis in clinical trials. Control Clin Trials 7:177-188.
Hedges LV, Olkin I (1985). Statistical Methods for Meta-Analysis. Academic Press. (HE)
Hunter JE, Schmidt FL (2004). Methods of Meta-Analysis, 2nd ed. Sage. (HS)
Sidik K, Jonkman JN (2005). Simple heterogeneity variance estimation for meta-analysis.
    J R Stat Soc C 54:367-384. (SJ)
Paule RC, Mandel J (1982). Consensus values and weighting factors. J Res Natl Bur Stand
    87:377-385. (PM)
Morris CN (1983). Parametric empirical Bayes inference. JASA 78:47-55. (EB)
Viechtbauer W (2005). Bias and efficiency of meta-analytic variance estimators in the
    random-effects model. J Educ Behav Stat 30:261-293. (ML, REML)
Knapp G, Hartung J (2003). Improved tests for a random effects meta-regression with a single
    covariate. Stat Med 22:2693-2710. (test="knha", "adhoc")
Röver C, Knapp G, Friede T (2015). Hartung-Knapp-Sidik-Jonkman approach and its modification
    for random-effects meta-analysis with few studies. BMC Med Res Methodol 15:99. (adhoc)
Higgins JPT, Thompson SG (2002). Quantifying heterogeneity in a meta-analysis. Stat Med
    21:1539-1558. (I^2, H^2)
Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package. J Stat Softw
    36(3).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import special

from ._batch import (
    BatchDesign,
    _Block,
    _quantities,
    _tau2_block,
    block_size,
    final_pieces,
    sj_pieces,
    wald,
)
from ._linalg import check_full_rank
from ._result import Result, finite_list
from .errors import ModelError
from .rma import T_TESTS, _normalise_method, _normalise_test

__all__ = ["RMABatchResult", "rma_batch"]

_EPS = float(np.finfo(float).eps)
#: Per-fit statuses (``RMABatchResult.status``).
STATUSES = ("ok", "no valid rows", "k < p", "k = p (saturated)", "vi <= 0", "rank deficient",
            "not converged", "X'WX singular")


@dataclass(repr=False, eq=False)
class RMABatchResult(Result):
    """m fitted models (:func:`rma_batch`), as arrays with a leading fit axis.

    Coefficient arrays (``beta, se, zval, pval, ci_lb, ci_ub``) have shape (m, p) and ``vb``
    (m, p, p); per-fit arrays (``tau2, se_tau2, k, df, QE, QEp, QM, QMp, I2, H2, vt, s2w,
    converged, iterations, status``) have shape (m,). ``zval`` holds t statistics for the
    t-type tests (``tval`` is the same array); ``df`` is ``k - p`` for those tests and NaN for
    z tests (and for fits of one study, which use z tests as in :func:`ketameta.rma`). Fits
    that could not be computed have NaN estimates, ``converged`` False and a ``status``
    saying why (see :data:`STATUSES`). ``data`` keeps the inputs by reference, for
    :func:`ketameta.permutest_batch`.
    """

    beta: np.ndarray
    se: np.ndarray
    zval: np.ndarray
    pval: np.ndarray
    ci_lb: np.ndarray
    ci_ub: np.ndarray
    vb: np.ndarray
    tau2: np.ndarray
    se_tau2: np.ndarray
    k: np.ndarray
    p: int
    df: np.ndarray
    QE: np.ndarray
    QEp: np.ndarray
    QM: np.ndarray
    QMp: np.ndarray
    I2: np.ndarray
    H2: np.ndarray
    vt: np.ndarray
    s2w: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray
    status: np.ndarray
    method: str
    test: str
    level: float
    coef_names: list
    btt: list
    #: The inputs (Y, V, X, mask, intercept), kept by reference for :func:`permutest_batch`.
    data: dict | None = field(default=None, repr=False)

    @property
    def m(self) -> int:
        """Number of fits."""
        return int(self.tau2.shape[0])

    def __len__(self) -> int:
        return self.m

    @property
    def tval(self) -> np.ndarray:
        """The test statistics (t statistics for ``test`` in t, knha, adhoc)."""
        return self.zval

    @property
    def ok(self) -> np.ndarray:
        """True for the fits that were computed (``status == "ok"``)."""
        return self.status == "ok"

    @property
    def tau(self) -> np.ndarray:
        """Square roots of tau^2."""
        return np.sqrt(self.tau2)

    def to_frame(self) -> pd.DataFrame:
        """Tidy table: one row per fit and coefficient (``fit, coef, estimate, se,
        zval|tval, [df,] pval, ci_lb, ci_ub``) followed by the fit's ``tau2, se_tau2, I2, H2,
        QE, QEp, k, converged, iterations, status``.
        """
        m, p = self.m, self.p
        rep = np.repeat
        stat = "tval" if self.test in T_TESTS else "zval"
        cols = {"fit": rep(np.arange(m), p), "coef": np.tile(np.asarray(self.coef_names), m),
                "estimate": self.beta.ravel(), "se": self.se.ravel(), stat: self.zval.ravel()}
        if self.test in T_TESTS:
            cols["df"] = rep(self.df, p)
        cols.update(pval=self.pval.ravel(), ci_lb=self.ci_lb.ravel(), ci_ub=self.ci_ub.ravel())
        for key in ("tau2", "se_tau2", "I2", "H2", "QE", "QEp", "k", "converged",
                    "iterations", "status"):
            cols[key] = rep(getattr(self, key), p)
        return pd.DataFrame(cols)

    def _record(self) -> dict:
        """Plain-Python form (JSON-serialisable; NaN becomes None): metafor's names, one list
        entry per fit (lists of p values for the coefficient-level keys).
        """
        out = {"model": "rma.uni (batch)", "method": self.method, "test": self.test,
               "level": self.level, "m": self.m, "p": int(self.p),
               "coef_names": list(self.coef_names), "btt": [int(b) for b in self.btt]}
        for key in ("beta", "se", "zval", "pval", "ci_lb", "ci_ub", "tau2", "se_tau2", "k",
                    "df", "QE", "QEp", "QM", "QMp", "I2", "H2", "vt", "s2w", "converged",
                    "iterations", "status"):
            out[key] = finite_list(getattr(self, key))
        return out

    def __repr__(self) -> str:
        counts = pd.Series(self.status).value_counts()
        what = ", ".join(f"{n} {s}" for s, n in counts.items())
        return (f"<RMABatchResult: {self.m} fits, p = {self.p}, method {self.method}, test "
                f"{self.test} ({what})>")


def _as_2d(a, name):
    a = np.asarray(a, dtype=float)
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2:
        raise ModelError(f"{name} must have shape (m, k); got {a.shape}.")
    return a


def rma_batch(Y, V, X=None, method="REML", test="z", level=95, mask=None, intercept=True,
              btt=None):
    """Fit m independent meta-analyses in one vectorised pass (metafor's ``rma``, m times).

    Parameters
    ----------
    Y : array_like of shape (m, k)
        Observed effect sizes, one row per meta-analysis.
    V : array_like of shape (m, k) or (k,)
        Sampling variances (> 0 in every valid cell); a 1-D V is shared by all fits.
    X : array_like of shape (k, q) or (m, k, q), optional
        Moderators, as ``mods`` of :func:`ketameta.rma`: shared by all fits (k, q) or one
        matrix per fit (m, k, q). An intercept is added unless ``intercept=False``.
        Default: intercept-only models.
    method : {"REML", "ML", "DL", "HE", "HS", "SJ", "EB", "PM", "EE"}
        Estimator of tau^2 (``"FE"`` is accepted for ``"EE"``).
    test : {"z", "t", "knha", "adhoc"}
        As in :func:`ketameta.rma` (``"hksj"`` is accepted for ``"knha"``).
    level : float
        Confidence level in percent.
    mask : array_like of bool, shape (m, k), optional
        Valid cells (ragged layouts: fit i uses the studies j with ``mask[i, j]``). Cells
        with a missing (non-finite) y, v or moderator are left out as well, as
        :func:`ketameta.rma` omits such rows.
    intercept : bool
        Add an intercept column.
    btt : sequence of int, optional
        Coefficients (0-based) of the omnibus test QM; default as in :func:`ketameta.rma`.

    Returns
    -------
    RMABatchResult
        Arrays with a leading fit axis: beta, se, zval, pval, ci_lb, ci_ub, vb, tau2,
        se_tau2, k, df, QE, QEp, QM, QMp, I2, H2, converged, iterations, status;
        ``to_frame()`` and ``to_dict()``.

    Notes
    -----
    Each fit is :func:`ketameta.rma` on its valid rows (same estimator, starting values,
    iteration and stopping rule, test, I^2/H^2 definitions and standard errors of tau^2), to
    rounding: the property tests check beta, se, tau2, the CI bounds, p-values, QE and I^2
    at a relative 1e-10. As in :func:`ketameta.rma`, a fit of one study has tau^2 = 0 and
    uses z tests. Where :func:`ketameta.rma` would raise, the fit is flagged instead: NaN
    estimates, ``converged`` False and a ``status`` (fewer valid rows than coefficients, a
    saturated random-effects model with k = p, a non-positive variance, a rank-deficient
    design, an iteration that did not converge). Rank deficiency is declared when a pivot of
    the column-scaled Cholesky factor of the (centred) X'X is below 1e-6 (R^2 of a column on
    the others above 1 - 1e-12); :func:`ketameta.rma` uses an SVD criterion that is laxer
    for nearly collinear designs. Data whose sampling variances span 1e7 or more, for which
    :func:`ketameta.rma` switches to its dense stable path, are fitted with the moment
    formulas here (results may lose digits, as :func:`ketameta.rma` warns for k > 3000).

    Fits are processed in cache-sized blocks; within a block the Newton iteration runs on
    the fits that have not converged yet. Memory is O(m k) for the data plus O(m p^2) for
    ``vb``; per-fit designs are preconditioned and tabulated one block at a time (no k x k
    or m x k x p^2 arrays).

    Examples
    --------
    >>> import numpy as np, ketameta as km
    >>> rng = np.random.default_rng(1)
    >>> V = rng.uniform(0.01, 0.1, size=(1000, 20))
    >>> Y = 0.3 + rng.normal(0, np.sqrt(V + 0.05))
    >>> res = km.rma_batch(Y, V, method="REML", test="knha")
    >>> res.beta.shape, bool(res.converged.all())
    ((1000, 1), True)
    """
    method = _normalise_method(method)
    test = _normalise_test(test)
    if not (0 < float(level) < 100):
        raise ModelError(f"level must be a percentage between 0 and 100, got {level!r}.")
    Y = _as_2d(Y, "Y")
    m, k = Y.shape
    V = np.asarray(V, dtype=float)
    if V.shape not in ((m, k), (k,)):
        raise ModelError(f"V must have shape {(m, k)} or {(k,)}; got {V.shape}.")
    if m == 0 or k == 0:
        raise ModelError(f"No data: Y has shape {Y.shape}.")
    per_fit = False
    Xm = None
    if X is not None:
        Xm = np.asarray(X, dtype=float)
        if Xm.ndim == 1:
            Xm = Xm[:, None]
        per_fit = Xm.ndim == 3
        if Xm.shape[-2] != k or (per_fit and Xm.shape[0] != m) or Xm.ndim not in (2, 3):
            raise ModelError(f"X must have shape (k, q) or (m, k, q) with m = {m}, k = {k}; "
                             f"got {Xm.shape}.")
        if Xm.shape[-1] == 0:
            Xm = None
    q = 0 if Xm is None else Xm.shape[-1]
    p = q + (1 if intercept else 0)
    if p == 0:
        raise ModelError("The model has no coefficients: use intercept=True or give X.")
    names = (["intrcpt"] if intercept else []) + [f"mod{j + 1}" for j in range(q)]
    if btt is None:
        btt = list(range(1, p)) if (intercept and p > 1) else list(range(p))
    else:
        btt = sorted({int(b) for b in np.atleast_1d(btt)})
        if not btt or min(btt) < 0 or max(btt) >= p:
            raise ModelError(f"btt must index coefficients 0..{p - 1}; got {btt}.")

    # -- valid cells and the fits that can be computed ------------------------------------------
    cell = None
    if mask is not None:
        cell = np.asarray(mask, dtype=bool)
        if cell.shape != (m, k):
            raise ModelError(f"mask must have shape {(m, k)}; got {cell.shape}.")
    finite = [np.isfinite(Y), np.isfinite(V)]
    if Xm is not None:
        finite.append(np.isfinite(Xm).all(axis=-1))
    for f in finite:
        if not f.all():
            cell = np.broadcast_to(f, (m, k)) if cell is None else cell & f
    kk = np.full(m, k) if cell is None else cell.sum(axis=1)
    status = np.full(m, "ok", dtype=object)
    nonpos = (V <= 0) if cell is None else (V <= 0) & cell
    if nonpos.any():
        status[np.broadcast_to(nonpos, (m, k)).any(axis=1)] = "vi <= 0"
    status[(kk == p) & (kk > 1) & (method != "EE")] = "k = p (saturated)"
    status[kk < p] = "k < p"
    status[kk == 0] = "no valid rows"

    todo = np.flatnonzero(status == "ok")
    des = None
    if not per_fit and todo.size:
        Xd = np.ones((k, p))
        if Xm is not None:
            Xd[:, p - q:] = Xm
        if cell is None:
            check_full_rank(Xd, names)             # as rma: every fit would be rank deficient
        elif Xm is not None:
            rows_ok = np.isfinite(Xm).all(axis=1)
            check_full_rank(Xd[rows_ok], names)
            Xd[~rows_ok] = 0.0
        des = BatchDesign(Xd)

    out = _allocate(m, p)
    po = p + (0 if intercept else 1)           # design rows, plus a row of ones if needed
    step = block_size(k, po * (po + 1) // 2, po)
    for s0 in range(0, todo.size, step):
        ib = todo[s0:s0 + step]
        _fit_block(ib, Y, V, Xm, cell, des, p, q, intercept, method, status, out)

    res = _finish(out, kk, p, method, test, level, names, btt, status)
    res.data = {"Y": Y, "V": V, "X": Xm, "mask": cell, "intercept": bool(intercept)}
    return res


def _allocate(m, p):
    nan = np.full
    return {"beta": nan((m, p), np.nan), "A": nan((m, p, p), np.nan), "tau2": nan(m, np.nan),
            "se_tau2": nan(m, np.nan), "rss": nan(m, np.nan), "QE": nan(m, np.nan),
            "trP0": nan(m, np.nan), "converged": np.zeros(m, bool),
            "iterations": np.zeros(m, np.int64)}


def _make_block(ib, Y, V, Xm, cell, des, p, q, intercept):
    if ib.size and ib[-1] - ib[0] == ib.size - 1:
        ib = slice(ib[0], ib[-1] + 1)          # a run of fits: views, not copies
    Yb = Y[ib]
    Vb = V[ib] if V.ndim == 2 else V
    cb = None if cell is None else cell[ib]
    if cb is not None:
        Yb = np.where(cb, Yb, 0.0)
        Vb = np.where(cb, Vb, 1.0)
    Xf = None
    if des is None:
        n, k = Yb.shape
        Xf = np.ones((n, k, p))
        if Xm is not None:
            Xf[:, :, p - q:] = Xm[ib]
        if cb is not None:
            Xf[~cb] = 0.0
    return _Block(des, Yb, Vb, mask=cb, Xf=Xf, io=0 if intercept else None)


def _fit_block(ib, Y, V, Xm, cell, des, p, q, intercept, method, status, out):
    """Fit the models ``ib`` (one block) and store their pieces in ``out``."""
    blk = _make_block(ib, Y, V, Xm, cell, des, p, q, intercept)
    if not blk.rank_ok.all():
        status[ib[~blk.rank_ok]] = "rank deficient"
        ib = ib[blk.rank_ok]
        if ib.size == 0:
            return
        blk = _make_block(ib, Y, V, Xm, cell, des, p, q, intercept)
    n = ib.size
    kk = blk.kk
    df = kk - p
    one = kk == 1
    with np.errstate(divide="ignore", invalid="ignore"):
        order0 = 3 if method in ("DL", "HS") else 2      # tr(PP) at 0: their SE of tau^2
        q0 = _quantities(*blk.sums(None, np.zeros(n), order0), order0)
        info: dict = {}
        t2, conv, its = _tau2_block(blk, method, df, q0=q0, info=info)
        t2 = np.where(one, 0.0, t2)
        conv = (conv | one) & np.isfinite(t2)
        its = np.where(one, 0, its)
        t_eval = np.where(conv, t2, 0.0)
        order = {"REML": 3, "ML": 2, "PM": 2, "EB": 2}.get(method, 1)
        beta, A, qf = final_pieces(blk, t_eval, order)
        se_t2 = _se_tau2(method, blk, t_eval, df, q0, qf, info)
    se_t2 = np.where(one | (method == "EE"), np.nan, se_t2)
    status[ib[~conv]] = "not converged"
    status[ib[conv & ~qf["ok"]]] = "X'WX singular"
    good = conv & qf["ok"]
    g = ib[good]
    out["beta"][g], out["A"][g] = beta[good], A[good]
    out["tau2"][g], out["se_tau2"][g] = t2[good], se_t2[good]
    out["rss"][g], out["QE"][g], out["trP0"][g] = qf["rss"][good], q0["rss"][good], \
        q0["trP"][good]
    out["converged"][g] = True
    out["iterations"][ib] = its


def _se_tau2(method, blk, t2, df, q0, qf, info):
    """Standard errors of tau^2 as metafor reports them (see :mod:`ketameta._tau2`)."""
    kk = blk.kk
    if method == "REML":
        var = 2.0 / qf["trPP"]
    elif method == "ML":
        var = 2.0 / qf["sw2"]
    elif method in ("PM", "EB"):
        var = 2.0 * kk * kk / df / qf["sw"] ** 2
    elif method in ("DL", "HS"):
        num = 2 * df + 4 * t2 * q0["trP"] + 2 * t2 ** 2 * q0["trPP"]
        var = num / (q0["trP"] ** 2 if method == "DL" else q0["sw"] ** 2)
    elif method == "HE":
        _, trpv, trpvpv = info["he"]
        var = (2 * trpvpv + 4 * t2 * trpv + 2 * t2 ** 2 * df) / df ** 2
    elif method == "SJ":
        t0 = info["t0"]
        trpdpd, trppd, trpp = sj_pieces(blk, t0)
        var = t0 ** 2 / df ** 2 * (2.0 * trpdpd + 4.0 * t2 * trppd + 2.0 * t2 ** 2 * trpp)
    else:
        return np.full(kk.size, np.nan)
    return np.where(np.isfinite(var) & (var > 0), np.sqrt(np.abs(var)), np.nan)


def _finish(out, kk, p, method, test, level, names, btt, status):
    """Tests, intervals and heterogeneity statistics of every fit (as ketameta.rma._finish)."""
    m = kk.size
    good = status == "ok"
    kf = kk.astype(float)
    dfres = kf - p
    t2 = out["tau2"]
    use_t = (kk > 1) & good if test in T_TESTS else np.zeros(m, bool)
    s2w = np.ones(m)
    rss = out["rss"]
    with np.errstate(divide="ignore", invalid="ignore"):
        if test in ("knha", "adhoc"):
            s2w = np.where(rss <= _EPS, 0.0, np.where(dfres > 0, rss / dfres, np.nan))
            if test == "adhoc":
                s2w = np.where(s2w < 1.0, 1.0, s2w)
            s2w = np.where(use_t, s2w, 1.0)
        s2w = np.where(good, s2w, np.nan)
        vb = out["A"] * s2w[:, None, None]
        se = np.sqrt(np.einsum("nii->ni", vb))
        beta = out["beta"]
        zval = beta / se
        a = 1 - float(level) / 100
        dft = np.where(use_t & (dfres > 0), dfres, np.nan)
        nb = len(btt)
        QM = wald(beta, vb, btt)
        pval = 2 * special.ndtr(-np.abs(zval))
        crit = np.full(m, -special.ndtri(a / 2))
        it = np.flatnonzero(use_t)
        if it.size:
            d = dft[it]
            pval[it] = 2 * special.stdtr(d[:, None], -np.abs(zval[it]))
            # one quantile per distinct df (k - p takes few values)
            du, inv = np.unique(d, return_inverse=True)
            crit[it] = -special.stdtrit(du, a / 2)[inv]
            QM[it] = QM[it] / nb
        if nb == 1:
            # QM = zval^2: its chi^2_1 (F_{1, df}) p-value is the coefficient's two-sided p
            QMp = np.where(np.isnan(QM), np.nan, pval[:, btt[0]])
        else:
            QMp = special.chdtrc(nb, QM)
            if it.size:
                QMp[it] = special.fdtrc(nb, d, QM[it])
        ci_lb, ci_ub = beta - crit[:, None] * se, beta + crit[:, None] * se
        has_df = dfres > 0
        QE = np.where(has_df, np.maximum(0.0, out["QE"]), 0.0)
        QEp = np.where(has_df, special.chdtrc(np.maximum(dfres, 1), QE), 1.0)
        trP0 = out["trP0"]
        vt = np.where(has_df, np.where(trP0 > 0, dfres / trP0, np.nan), 0.0)
        if method == "EE":
            I2 = np.where(has_df & (QE > 0), np.maximum(0.0, 100 * (QE - dfres) / QE), 0.0)
            H2 = np.where(has_df, QE / dfres, 1.0)
        else:
            I2 = np.where(has_df, 100 * t2 / (vt + t2), 0.0)
            H2 = np.where(has_df, t2 / vt + 1, 1.0)
    bad = ~good
    for arr in (QE, QEp, vt, I2, H2, QM, QMp):
        arr[bad] = np.nan
    return RMABatchResult(
        beta=beta, se=se, zval=zval, pval=pval, ci_lb=ci_lb, ci_ub=ci_ub, vb=vb, tau2=t2,
        se_tau2=out["se_tau2"], k=kk.astype(np.int64), p=p,
        df=np.where(use_t, dfres, np.nan), QE=QE, QEp=QEp, QM=QM, QMp=QMp, I2=I2, H2=H2,
        vt=vt, s2w=s2w, converged=out["converged"], iterations=out["iterations"],
        status=np.asarray(status, dtype=str), method=method, test=test, level=float(level),
        coef_names=names, btt=list(btt),
    )

