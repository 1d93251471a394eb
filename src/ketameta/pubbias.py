"""Small-study effects and publication bias: regression test, rank test, trim and fill.

metafor's ``regtest``, ``ranktest`` and ``trimfill`` for models fitted with
:func:`ketameta.rma`. Each is checked against metafor (fixtures and documented outputs, see
``tests/reference``).

References
----------
Egger M, Davey Smith G, Schneider M, Minder C (1997). Bias in meta-analysis detected by a
    simple, graphical test. BMJ 315:629-634.
Sterne JAC, Egger M (2005). Regression methods to detect publication and other bias in
    meta-analysis. In: Rothstein HR, Sutton AJ, Borenstein M (eds), Publication Bias in
    Meta-Analysis, 99-110. Wiley.
Begg CB, Mazumdar M (1994). Operating characteristics of a rank correlation test for
    publication bias. Biometrics 50:1088-1101.
Duval SJ, Tweedie RL (2000a). Trim and fill: a simple funnel-plot-based method of testing and
    adjusting for publication bias in meta-analysis. Biometrics 56:455-463.
Duval SJ, Tweedie RL (2000b). A nonparametric "trim and fill" method of accounting for
    publication bias in meta-analysis. JASA 95:89-98.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ._dist import t_isf, t_sf
from ._linalg import WFit
from ._result import Result
from ._result import num as _num
from .errors import ModelError
from .rma import RMAResult, rma

__all__ = [
    "regtest",
    "ranktest",
    "trimfill",
    "RegtestResult",
    "RanktestResult",
    "TrimfillResult",
    "PREDICTORS",
]

#: Predictors of the regression test (metafor's names).
PREDICTORS = ("sei", "vi", "ni", "ninv", "sqrtni", "sqrtninv")
#: Predictors for which the intercept is the "limit estimate" (predictor -> 0).
_LIMIT_PREDICTORS = ("sei", "vi", "ninv", "sqrtninv")
#: Largest k for which the rank test uses the exact null distribution of Kendall's statistic
#: (as R's cor.test, which metafor calls: beyond it R's exact computation overflows).
_EXACT_MAX = 170


def _check_model(res, what):
    if not isinstance(res, RMAResult):
        raise ModelError(
            f"{what} needs a model fitted with ketameta.rma; got {type(res).__name__}."
        )


def _fmt_p(p):
    if p is None or not np.isfinite(p):
        return "NA"
    return "< .0001" if p < 1e-4 else f"{p:.4f}"



# =============================================================================================
# Regression test
# =============================================================================================


@dataclass(repr=False, eq=False)
class RegtestResult(Result):
    """Regression test for funnel-plot asymmetry (metafor's ``regtest``).

    ``zval`` is a t statistic when ``dfs`` is not ``None`` (``model="lm"``, or a ``"t"`` /
    ``"knha"`` / ``"adhoc"`` model). ``est, ci_lb, ci_ub`` are the limit estimate (the intercept, i.e. the
    predicted effect as the predictor goes to 0) and its confidence interval; ``None`` when
    the predictor has no such limit (``ni``, ``sqrtni``) or the model has moderators.
    """

    model: str
    predictor: str
    zval: float
    pval: float
    dfs: float | None
    est: float | None
    ci_lb: float | None
    ci_ub: float | None
    level: float
    fit: object = field(default=None)

    @property
    def limit(self):
        """Alias of :attr:`est`."""
        return self.est

    def _record(self) -> dict:
        """JSON-serialisable summary with metafor's names."""
        return {
            "model": self.model, "predictor": self.predictor,
            "zval" if self.dfs is None else "tval": _num(self.zval),
            "pval": _num(self.pval), "dfs": None if self.dfs is None else int(self.dfs),
            "est": _num(self.est), "ci_lb": _num(self.ci_lb), "ci_ub": _num(self.ci_ub),
            "level": self.level,
        }

    def to_frame(self) -> pd.DataFrame:
        """One-row table: test statistic, p-value, df and the limit estimate with its CI."""
        d = {key: val for key, val in self.to_dict().items() if key not in ("model", "level")}
        return pd.DataFrame([d], index=pd.Index([self.model], name="model"))

    def __repr__(self) -> str:
        if self.model == "lm":
            model = "weighted regression with multiplicative dispersion"
        elif self.fit is not None and self.fit.method == "EE":
            model = "fixed-effects meta-regression model"
        else:
            model = "mixed-effects meta-regression model"
        names = {"sei": "standard error", "vi": "sampling variance", "ni": "sample size",
                 "ninv": "inverse of the sample size", "sqrtni": "square root sample size",
                 "sqrtninv": "inverse of the square root sample size"}
        stat = (f"z = {self.zval:.4f}, p = {_fmt_p(self.pval)}" if self.dfs is None
                else f"t = {self.zval:.4f}, df = {int(self.dfs)}, p = {_fmt_p(self.pval)}")
        lines = ["Regression Test for Funnel Plot Asymmetry", "",
                 f"Model:     {model}", f"Predictor: {names[self.predictor]}", "",
                 f"Test for Funnel Plot Asymmetry: {stat}"]
        if self.est is not None:
            lines.append(f"Limit Estimate (as {self.predictor} -> 0):   b = {self.est:.4f} "
                         f"(CI: {self.ci_lb:.4f}, {self.ci_ub:.4f})")
        return "\n".join(lines)


def _predictor_column(res, predictor, ni):
    v = res.vi
    if predictor == "sei":
        return np.sqrt(v)
    if predictor == "vi":
        return v.copy()
    if ni is None:
        raise ModelError(
            f"predictor={predictor!r} needs the sample sizes: pass ni= (one per row of the data "
            "given to rma, or one per study in the model)."
        )
    n = np.asarray(ni, dtype=float).ravel()
    if n.size == res.k_all and res.k_all != res.k:
        n = np.delete(n, res.omitted)
    if n.size != res.k:
        raise ModelError(f"ni has {n.size} values; the model has k = {res.k} studies "
                         f"({res.k_all} rows in the data).")
    if not np.all(np.isfinite(n)) or np.any(n <= 0):
        raise ModelError("ni must be positive and finite for every study in the model.")
    return {"ni": n, "ninv": 1 / n, "sqrtni": np.sqrt(n), "sqrtninv": 1 / np.sqrt(n)}[predictor]


def regtest(res, model="rma", predictor="sei", ni=None) -> RegtestResult:
    """Regression test for funnel-plot asymmetry (Egger's test and its variants).

    Parameters
    ----------
    res : RMAResult
        A model fitted with :func:`ketameta.rma` (moderators allowed: the predictor is added to
        them).
    model : {"rma", "lm"}
        ``"rma"``: the predictor is added as a moderator to the fitted model, which is refitted
        with the same method, test and level (a fixed tau^2 stays fixed); ``"lm"``: the
        classical Egger test, a weighted regression with weights ``1/v_i`` and a
        multiplicative dispersion parameter (t test with k - p - 1 df).
    predictor : {"sei", "vi", "ni", "ninv", "sqrtni", "sqrtninv"}
        Standard error (default), sampling variance, sample size, its inverse, its square root
        or the inverse square root.
    ni : array_like, optional
        Sample sizes (needed for the ``ni`` predictors); one per row of the data given to
        :func:`rma` (rows omitted there are dropped) or one per study in the model.

    Returns
    -------
    RegtestResult
        ``zval`` (a t statistic when ``dfs`` is set), ``pval``, ``dfs``, the limit estimate
        ``est`` with ``ci_lb, ci_ub`` (intercept-only models and predictors sei, vi, ninv,
        sqrtninv), and ``fit`` (the refitted :class:`RMAResult` for ``model="rma"``, the
        coefficient table for ``model="lm"``).

    Raises
    ------
    ModelError
        Unknown model/predictor, missing ``ni``, a design that is not of full rank once the
        predictor is added, or (``model="lm"``) no residual degrees of freedom.

    Notes
    -----
    For ``model="lm"`` the limit estimate's CI uses the t distribution with k - p - 1 df, as
    metafor does. Verified against metafor 3.8.1 ``regtest`` (zval, pval, limit estimate) on
    dat.bcg, dat.normand1999 and dat.molloy2014 (REML) at relative 1e-6, and against the dat.bcg
    values quoted in the project's reference notes for both models; see ``tests/reference``.

    References
    ----------
    Egger M, Davey Smith G, Schneider M, Minder C (1997). Bias in meta-analysis detected by a
    simple, graphical test. BMJ 315:629-634.
    Sterne JAC, Egger M (2005). Regression methods to detect publication and other bias in
    meta-analysis. In: Rothstein HR et al. (eds), Publication Bias in Meta-Analysis, 99-110.
    """
    _check_model(res, "regtest")
    model = str(model).lower()
    if model not in ("rma", "lm"):
        raise ModelError(f"Unknown model {model!r}; use 'rma' or 'lm'.")
    predictor = str(predictor).lower()
    if predictor not in PREDICTORS:
        raise ModelError(f"Unknown predictor {predictor!r}; use one of {', '.join(PREDICTORS)}.")
    z = _predictor_column(res, predictor, ni)
    X = np.column_stack([res.X, z])
    k, p = res.X.shape
    s = np.linalg.svd(X / np.sqrt(np.sum(X * X, axis=0)), compute_uv=False)
    if s[-1] / s[0] < 1e-10:
        raise ModelError(
            f"The model matrix is no longer of full rank once {predictor!r} is added (e.g. all "
            "studies have the same sampling variance): the regression test cannot be run."
        )
    limit = predictor in _LIMIT_PREDICTORS and res.int_only
    level = res.level

    if model == "rma":
        mods = pd.DataFrame(X, columns=list(res.coef_names) + [predictor])
        fit = rma(res.yi, res.vi, mods=mods, intercept=False, method=res.method, test=res.test,
                  level=level, tau2=res.tau2 if res.info.get("tau2_fixed") else None, r2=False)
        zval, pval, dfs = float(fit.zval[p]), float(fit.pval[p]), fit.dfs
        est = float(fit.beta[0]) if limit else None
        ci = (float(fit.ci_lb[0]), float(fit.ci_ub[0])) if limit else (None, None)
        return RegtestResult("rma", predictor, zval, pval, dfs, est, ci[0], ci[1], level, fit)

    df = k - p - 1
    if df < 1:
        raise ModelError(f"model='lm' needs more studies than coefficients plus one "
                         f"(k = {k}, p + 1 = {p + 1}).")
    wf = WFit(res.yi, 1.0 / res.vi, X)
    sigma2 = wf.rss() / df
    se = np.sqrt(np.diag(wf.A) * sigma2)
    t = wf.b / se
    pv = 2 * t_sf(np.abs(t), df)
    crit = t_isf((1 - level / 100) / 2, df)
    table = pd.DataFrame({"estimate": wf.b, "se": se, "tval": t, "pval": pv,
                          "ci_lb": wf.b - crit * se, "ci_ub": wf.b + crit * se},
                         index=pd.Index(list(res.coef_names) + [predictor], name="coef"))
    est = float(wf.b[0]) if limit else None
    ci = (float(wf.b[0] - crit * se[0]), float(wf.b[0] + crit * se[0])) if limit else (None, None)
    return RegtestResult("lm", predictor, float(t[p]), float(pv[p]), float(df), est, ci[0],
                         ci[1], level, table)


# =============================================================================================
# Rank correlation test
# =============================================================================================


@dataclass(repr=False, eq=False)
class RanktestResult(Result):
    """Rank correlation test (metafor's ``ranktest``): Kendall's tau and its p-value."""

    tau: float
    pval: float
    exact: bool

    def _record(self) -> dict:
        """JSON-serialisable summary."""
        return {"tau": _num(self.tau), "pval": _num(self.pval), "exact": self.exact}

    def to_frame(self) -> pd.DataFrame:
        """One-row table."""
        return pd.DataFrame([self.to_dict()])

    def __repr__(self) -> str:
        return ("Rank Correlation Test for Funnel Plot Asymmetry\n\n"
                f"Kendall's tau = {self.tau:.4f}, p = {_fmt_p(self.pval)}")


def _kendall_exact_cdf(c, n):
    """P(C <= c) for C = number of concordant pairs of a random permutation of n (no ties)."""
    N = n * (n - 1) // 2
    f = np.zeros(N + 1)
    f[0] = 1.0
    for m in range(2, n + 1):
        # convolve with the uniform distribution on 0..m-1 (inversions added by item m)
        cs = np.cumsum(f)
        g = cs.copy()
        g[m:] -= cs[:-m]
        f = g / m
    return float(np.sum(f[:c + 1]))


def ranktest(res) -> RanktestResult:
    """Rank correlation test for funnel-plot asymmetry (Begg & Mazumdar 1994).

    Kendall's tau between the standardized deviates ``(y_i - b) / sqrt(v_i - 1/sum(1/v))``
    (``b`` = equal-effects estimate) and the sampling variances ``v_i``.

    Parameters
    ----------
    res : RMAResult
        An intercept-only model fitted with :func:`ketameta.rma` (only ``yi``, ``vi`` are used).

    Returns
    -------
    RanktestResult
        ``tau`` (Kendall's tau-b), two-sided ``pval`` and whether it is ``exact``.

    Notes
    -----
    As metafor (which calls R's ``cor.test(..., method="kendall", exact=TRUE)``): without ties
    and with k <= 170 the p-value comes from the exact null distribution of the number of
    concordant pairs; otherwise from the normal approximation with tie-corrected variance
    (no continuity correction).

    Verified against metafor's documented dat.bcg result (tau = 0.0256, p = 0.9524); see
    ``tests/reference``.

    References
    ----------
    Begg CB, Mazumdar M (1994). Operating characteristics of a rank correlation test for
    publication bias. Biometrics 50:1088-1101.
    """
    from scipy import stats  # imported where needed (slow to import)

    _check_model(res, "ranktest")
    if not res.int_only:
        raise ModelError(
            "ranktest is only available for models without moderators (as in metafor)."
        )
    y, v = res.yi, res.vi
    k = y.size
    if k < 3:
        raise ModelError(f"ranktest needs at least 3 studies (k = {k}).")
    w = 1.0 / v
    theta = float(np.sum(w * y) / np.sum(w))
    v_star = v - 1.0 / np.sum(w)
    y_star = (y - theta) / np.sqrt(v_star)
    ties = len(np.unique(y_star)) < k or len(np.unique(v)) < k
    tau = float(stats.kendalltau(y_star, v, variant="b").statistic)
    if not ties and k <= _EXACT_MAX:
        N = k * (k - 1) // 2
        conc = int(round((tau + 1) * N / 2))
        if conc > N / 2:
            pv = 1 - _kendall_exact_cdf(conc - 1, k)
        else:
            pv = _kendall_exact_cdf(conc, k)
        return RanktestResult(tau, min(1.0, 2 * pv), True)
    pv = float(stats.kendalltau(y_star, v, variant="b", method="asymptotic").pvalue)
    return RanktestResult(tau, pv, False)


# =============================================================================================
# Trim and fill
# =============================================================================================


@dataclass(repr=False, eq=False)
class TrimfillResult(Result):
    """Trim-and-fill result (metafor's ``trimfill``).

    ``k0`` missing studies were estimated on ``side``; ``fit`` is the model refitted to the
    data augmented with the filled studies (the original model when ``k0 = 0``); ``yi, vi,
    fill, slab`` are that augmented data (``fill`` marks the filled studies).
    """

    k0: int
    se_k0: float
    side: str
    estimator: str
    p_k0: float | None
    fit: RMAResult
    yi: np.ndarray
    vi: np.ndarray
    fill: np.ndarray
    slab: list
    iterations: int

    # convenience: the refitted model's main results
    @property
    def beta(self):
        """The refitted model's ``beta``."""
        return self.fit.beta

    @property
    def se(self):
        """The refitted model's ``se``."""
        return self.fit.se

    @property
    def tau2(self):
        """The refitted model's ``tau2``."""
        return self.fit.tau2

    def _record(self) -> dict:
        """JSON-serialisable: k0, its SE, side, estimator, R0's p-value, the filled data and
        the refitted model's ``to_dict()`` under ``"fit"``.
        """
        return {
            "k0": int(self.k0), "se_k0": _num(self.se_k0), "side": self.side,
            "estimator": self.estimator, "p_k0": _num(self.p_k0),
            "yi": [float(x) for x in self.yi], "vi": [float(x) for x in self.vi],
            "fill": [bool(x) for x in self.fill], "slab": [str(s) for s in self.slab],
            "fit": self.fit.to_dict(),
        }

    def to_frame(self) -> pd.DataFrame:
        """The augmented data: ``yi, vi, fill`` indexed by study label."""
        return pd.DataFrame({"yi": self.yi, "vi": self.vi, "fill": self.fill},
                            index=pd.Index(self.slab, name="study"))

    def __repr__(self) -> str:
        """Printed as metafor prints a trimfill result: k0 (and the R0 test), then the filled-in model."""
        from ._print import fcf, pval

        se = "NA" if not math.isfinite(self.se_k0) else fcf(self.se_k0, 4)
        lines = ["", f"Estimated number of missing studies on the {self.side} side: {self.k0} (SE = {se})"]
        if self.estimator == "R0":
            lines.append(f"Test of H0: no missing studies on the {self.side} side:     "
                         + " " * len(str(self.k0)) + f"p-val {pval(self.p_k0, 4, True, ' ')}")
        return "\n".join(lines) + "\n" + self.fit.summary()


def _ranks_first(x):
    """Ranks 1..n with ties broken by order of appearance (R's ties.method="first")."""
    r = np.empty(x.size)
    r[np.argsort(x, kind="stable")] = np.arange(1, x.size + 1)
    return r


def trimfill(res, side=None, estimator="L0", maxiter=100, control=None) -> TrimfillResult:
    """Trim and fill (Duval & Tweedie 2000): estimate and impute missing studies.

    Parameters
    ----------
    res : RMAResult
        An intercept-only model fitted with :func:`ketameta.rma` (as in metafor).
    side : {"left", "right"}, optional
        Side of the funnel plot on which studies are missing. Default: chosen as metafor does,
        from the sign of the slope of the regression test (the model with ``sqrt(vi)`` as
        moderator, fitted with the same method): missing on the right if the slope is
        negative, on the left otherwise.
    estimator : {"L0", "R0", "Q0"}
        Estimator of the number of missing studies. R0 also gives the p-value of the test of
        H0: no missing studies (``p_k0 = 0.5^(k0 + 1)``).
    maxiter : int
        Maximum number of trim-and-fill iterations.
    control : dict or "metafor", optional
        Convergence control of every fit inside trim and fill (see :func:`ketameta.rma`).
        Default: converged fits. ``control="metafor"`` stops the REML/ML/EB fits where
        metafor's default control stops them (threshold 1e-5), which is what metafor's
        ``trimfill`` does whatever the model's control; it then reproduces metafor's beta, se
        and tau^2 at 1e-6 (``tests/reference/test_metafor_diagnostics.py``).

    Returns
    -------
    TrimfillResult
        ``k0``, ``se_k0``, ``side``, ``estimator``, ``p_k0`` (R0 only), the augmented data
        (``yi, vi, fill, slab``) and ``fit``: the model refitted to it (same method, test and
        level), or the original model when ``k0 = 0``.

    Raises
    ------
    ModelError
        For a model with moderators, k < 2, an unknown side/estimator, or no convergence
        within ``maxiter`` iterations.

    Notes
    -----
    Algorithm (metafor's ``trimfill.rma.uni``): flip the outcomes if studies are missing on
    the right; sort them; iterate: fit the model to the k - k0 smallest outcomes, rank the
    absolute deviations from that estimate (ties by order), and compute
    ``L0 = (4 S_r - k(k+1)) / (2k - 1)`` (``S_r`` = sum of the ranks of positive deviations),
    ``R0 = gamma - 1`` (``gamma`` = length of the rightmost run of positive ranks) or
    ``Q0 = k - 1/2 - sqrt(2k^2 - 4 S_r + 1/4)``, rounded and floored at 0, until k0 is stable.
    The k0 most extreme studies are then reflected about the last truncated estimate
    (``2 b - y_i``, same ``v_i``) and the model is refitted. The SEs of k0 are Duval & Tweedie's
    (as metafor computes them, from the last iteration).

    Differences from metafor: by default every fit here is converged to rounding level, whereas
    metafor's trimfill fits with its default convergence threshold (1e-5 on tau^2 for REML/ML),
    so tau^2, beta and se of the refit can differ from metafor's in the 4th-6th significant
    digit (2.6e-4 relative on tau^2 for dat.molloy2014); ``control="metafor"`` reproduces
    metafor's stopping rule and its numbers.
    metafor refits the augmented data with test="z" and level=95 whatever the model used;
    here the model's test and level are kept. A fixed tau^2 is, as in metafor, not kept
    (tau^2 is re-estimated with the model's method).

    Verified against metafor 3.8.1 ``trimfill`` (k0, side, beta, se, tau2) on dat.bcg,
    dat.normand1999 and dat.molloy2014 (REML) and against metafor's documented dat.bcg examples
    (RE model with L0; EE model with L0 and R0); see ``tests/reference``.

    References
    ----------
    Duval SJ, Tweedie RL (2000a). Trim and fill: a simple funnel-plot-based method of testing
    and adjusting for publication bias in meta-analysis. Biometrics 56:455-463.
    Duval SJ, Tweedie RL (2000b). A nonparametric "trim and fill" method of accounting for
    publication bias in meta-analysis. JASA 95:89-98.
    """
    _check_model(res, "trimfill")
    if not res.int_only:
        raise ModelError("trimfill is only available for models without moderators "
                         "(as in metafor).")
    estimator = str(estimator).upper()
    if estimator not in ("L0", "R0", "Q0"):
        raise ModelError(f"Unknown estimator {estimator!r}; use 'L0', 'R0' or 'Q0'.")
    y0, v0 = np.asarray(res.yi, float), np.asarray(res.vi, float)
    k = y0.size
    if k < 2:
        raise ModelError(f"trimfill needs at least 2 studies (k = {k}).")
    method = res.method

    if side is None:
        try:
            slope = rma(y0, v0, mods=np.sqrt(v0), method=method, r2=False, control=control).beta[1]
        except ModelError as exc:
            raise ModelError(
                f"Could not choose the side automatically (the regression of yi on sqrt(vi) "
                f"failed: {exc}). Pass side='left' or side='right'."
            ) from exc
        side = "right" if slope < 0 else "left"
    else:
        side = str(side).lower()
        if side not in ("left", "right"):
            raise ModelError(f"side must be 'left' or 'right'; got {side!r}.")

    sign = -1.0 if side == "right" else 1.0
    ix = np.argsort(sign * y0, kind="stable")
    ys, vs = sign * y0[ix], v0[ix]

    k0, k0_prev, it = 0, -1, 0
    beta, se_k0 = float("nan"), float("nan")
    while k0 != k0_prev:
        k0_prev = k0
        it += 1
        if it > maxiter:
            raise ModelError(f"Trim and fill did not converge in {maxiter} iterations "
                             "(k0 keeps changing); increase maxiter.")
        beta = float(rma(ys[:k - k0], vs[:k - k0], method=method, r2=False, control=control).beta[0])
        yc = ys - beta
        signed = np.sign(yc) * _ranks_first(np.abs(yc))
        if estimator == "R0":
            neg = -signed[signed < 0]
            k0f = (k - (neg.max() if neg.size else 0.0)) - 1
            se_k0 = math.sqrt(2 * max(0.0, k0f) + 2)
        else:
            Sr = float(np.sum(signed[signed > 0]))
            if estimator == "L0":
                k0f = (4 * Sr - k * (k + 1)) / (2 * k - 1)
            else:
                k0f = k - 0.5 - math.sqrt(max(0.0, 2 * k * k - 4 * Sr + 0.25))
            var_sr = (k * (k + 1) * (2 * k + 1) + 10 * k0f**3 + 27 * k0f**2 + 17 * k0f
                      - 18 * k * k0f**2 - 18 * k * k0f + 6 * k * k * k0f) / 24
            with np.errstate(invalid="ignore", divide="ignore"):
                if estimator == "L0":
                    se_k0 = 4 * np.sqrt(var_sr) / (2 * k - 1)
                else:
                    se_k0 = 2 * np.sqrt(var_sr) / np.sqrt((k - 0.5) ** 2 - k0f * (2 * k - k0f - 1))
            se_k0 = max(0.0, float(se_k0)) if np.isfinite(se_k0) else float("nan")
        # as metafor: round half to even, floor at 0 (and keep at least one study)
        k0 = min(int(max(0, round(k0f))), k - 1)

    labels = list(res.slab) if res.slab is not None else [
        f"Study {i}" for i in range(1, res.k_all + 1) if (i - 1) not in set(res.omitted)
    ]
    p_k0 = 0.5 ** (k0 + 1) if estimator == "R0" else None
    if k0 > 0:
        filled_y = sign * (2 * beta - ys[k - k0:])
        filled_v = vs[k - k0:]
        yf = np.concatenate([y0, filled_y])
        vf = np.concatenate([v0, filled_v])
        fit = rma(yf, vf, method=method, test=res.test, level=res.level, control=control)
        fill = np.r_[np.zeros(k, bool), np.ones(k0, bool)]
        slab = labels + [f"Filled {j}" for j in range(1, k0 + 1)]
    else:
        yf, vf, fit = y0.copy(), v0.copy(), res
        fill = np.zeros(k, bool)
        slab = labels
    return TrimfillResult(k0=k0, se_k0=float(se_k0), side=side, estimator=estimator, p_k0=p_k0,
                          fit=fit, yi=yf, vi=vf, fill=fill, slab=slab, iterations=it)
