"""Permutation tests for :func:`ketameta.rma` models (metafor's ``permutest``)."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ._batch import BatchDesign, batch_fit
from ._result import Result, finite_list
from .errors import ModelError

__all__ = ["permutest", "PermutestResult", "permutest_batch", "PermutestBatchResult"]

#: Tolerance for ties between permuted and observed statistics (metafor's comptol).
COMPTOL = float(np.sqrt(np.finfo(float).eps))
#: Largest number of permutations enumerated for an exact test.
MAX_EXACT = 2_000_000
_CHUNK = 16_384


@dataclass(frozen=True)
class PermutestResult(Result):
    """Permutation p-values for each coefficient (``pval``) and the omnibus test (``QMp``)."""

    pval: np.ndarray
    QMp: float
    iter: int
    exact: bool
    n_failed: int
    coef_names: list
    beta: np.ndarray
    zval: np.ndarray
    QM: float
    seed: int | None
    zval_perm: np.ndarray | None = field(default=None, repr=False)

    def _record(self) -> dict:
        """Plain-Python summary."""
        return {
            "pval": [float(x) for x in self.pval],
            "QMp": float(self.QMp),
            "iter": int(self.iter),
            "exact": bool(self.exact),
            "n_failed": int(self.n_failed),
            "seed": self.seed,
            "coef_names": list(self.coef_names),
        }

    def to_frame(self) -> pd.DataFrame:
        """Coefficient table with permutation p-values."""
        return pd.DataFrame(
            {"estimate": self.beta, "zval": self.zval, "pval_perm": self.pval},
            index=pd.Index(self.coef_names, name="coef"),
        )

    def __repr__(self) -> str:
        kind = "exact" if self.exact else "approximate"
        return (
            f"Permutation test ({kind}, {self.iter} permutations; QM p = {self.QMp:.4f})\n"
            f"{self.to_frame().to_string(float_format='{:.4f}'.format)}"
        )


def _proportion_at_least(T, obs, ok):
    """Per column, the share of the permutations (rows of T with ``ok``) whose statistic is at
    least the observed one (ties within COMPTOL). Statistics that are undefined (NaN, 0/0
    under a perfect fit) in a permutation are left out of its column; a column whose observed
    statistic is undefined gets NaN. Infinite statistics (a perfect fit with a non-zero
    estimate) compare as such.
    """
    valid = ok[:, None] & ~np.isnan(T)
    hits = valid & (T >= obs[None, :] - COMPTOL)
    n = valid.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = hits.sum(axis=0) / n
    p = np.where(np.isnan(obs) | (n == 0), np.nan, p)
    return np.minimum(p, 1.0)


def _n_unique_perms(labels) -> float:
    counts = Counter(labels).values()
    return math.factorial(len(labels)) / math.prod(math.factorial(c) for c in counts)


def _unique_permutations(labels):
    """All distinct orderings of a multiset (lexicographic order), as an int array."""
    a = sorted(labels)
    n = len(a)
    out = [a.copy()]
    while True:
        i = n - 2
        while i >= 0 and a[i] >= a[i + 1]:
            i -= 1
        if i < 0:
            break
        j = n - 1
        while a[j] <= a[i]:
            j -= 1
        a[i], a[j] = a[j], a[i]
        a[i + 1 :] = reversed(a[i + 1 :])
        out.append(a.copy())
    return np.asarray(out, dtype=np.int64)


def permutest(res, iter=1000, exact=False, seed=None, return_perm=False):  # noqa: A002
    """Permutation test of the coefficients of an :func:`ketameta.rma` model.

    For an intercept-only model the signs of the ``yi`` are flipped at random (exact test:
    all ``2^k`` sign patterns); for a meta-regression the rows of the model matrix are
    permuted relative to ``(yi, vi)`` (exact test: all distinct row orderings). Each permuted
    data set is refitted with the same estimator and test (tau^2 re-estimated), and the
    p-value is the proportion of permutations whose ``|zval|`` (``|tval|`` for Knapp-Hartung)
    is at least the observed one (Follmann & Proschan 1999; Higgins & Thompson 2004). The
    omnibus test uses ``QM``. As in metafor, the approximate test counts the observed data as
    the first permutation, so p-values lie in ``[1/iter, 1]``, and an exact test is run
    whenever it needs no more than ``iter`` permutations.

    All refits are batched: the permutations are fitted simultaneously with vectorised
    estimating equations (blocks sized to stay in cache), not in a Python loop. Permuting the
    rows of X relative to ``(yi, vi)`` is the same model as permuting ``(yi, vi)`` inversely
    against X, so every refit shares one design matrix and its products.

    Parameters
    ----------
    res : RMAResult
        Fitted model.
    iter : int
        Number of random permutations for the approximate test (>= 2).
    exact : bool
        Enumerate all permutations (error if more than 2,000,000 are needed).
    seed : int, optional
        Seed for :func:`numpy.random.default_rng` (the approximate test is reproducible only
        with a seed; results differ from R's RNG streams).
    return_perm : bool
        Keep the permutation distribution of the test statistics (``zval_perm``).

    Returns
    -------
    PermutestResult

    References
    ----------
    Follmann DA, Proschan MA (1999). Valid inference in random effects meta-analysis.
    Biometrics 55:732-737.
    Higgins JPT, Thompson SG (2004). Controlling the risk of spurious findings from
    meta-regression. Stat Med 23:1663-1682.

    Notes
    -----
    Verified against metafor 3.8.1 ``permutest(exact=TRUE)`` on the first eight dat.bcg trials
    with ``mods = ~ ablat`` and ``test="knha"`` (both coefficient p-values and QMp match
    exactly: 9506/10080 and 592/10080 distinct orderings), and against metafor's documented exact test for the
    intercept-only dat.bcg model (p = 0.0015 with 8192 sign patterns).
    """
    iter = int(iter)  # noqa: A001
    if iter < 2:
        raise ModelError("iter must be >= 2.")
    y, v, X = res.yi, res.vi, res.X
    k, p = X.shape
    int_only = res.int_only
    tau2_fixed = res.tau2 if res.info.get("tau2_fixed") else None

    if int_only:
        n_exact = 2.0**k
    else:
        rows = [tuple(r) for r in X]
        uniq = {r: i for i, r in enumerate(dict.fromkeys(rows))}
        labels = [uniq[r] for r in rows]
        reps = np.asarray(list(dict.fromkeys(rows)), dtype=float)
        n_exact = _n_unique_perms(labels)

    do_exact = bool(exact) or n_exact <= iter
    if do_exact and n_exact > MAX_EXACT:
        raise ModelError(
            f"An exact permutation test needs {n_exact:.3g} permutations (limit "
            f"{MAX_EXACT:,}); use exact=False with iter=..."
        )

    rng = None if do_exact else np.random.default_rng(seed)
    if do_exact:
        if int_only:
            n_total = int(n_exact)
            bits = (np.arange(n_total)[:, None] >> np.arange(k)[None, :]) & 1
            signs_all = 1.0 - 2.0 * bits
        else:
            perms_all = _unique_permutations(labels)
            n_total = perms_all.shape[0]
    else:
        n_total = iter

    # Every refit uses one shared design: a permutation of the rows of X relative to (yi, vi)
    # is the same model as the inverse permutation of (yi, vi) against X (rows sorted by
    # their design row for the exact test); sign flips keep X and vi.
    if int_only:
        Xs = X
    elif do_exact:
        Xs = reps[np.sort(np.asarray(labels))]
    else:
        Xs = X
    design = BatchDesign(Xs)
    zs, qms, oks = [], [], []
    for start in range(0, n_total, _CHUNK):
        stop = min(n_total, start + _CHUNK)
        B = stop - start
        if int_only:
            if do_exact:
                S = signs_all[start:stop]
            else:
                S = rng.choice(np.array([-1.0, 1.0]), size=(B, k))
            Yb, Vb = S * y, v
        else:
            if do_exact:
                order = np.argsort(perms_all[start:stop], axis=1, kind="stable")
            else:
                idx = rng.permuted(np.tile(np.arange(k), (B, 1)), axis=1)
                order = np.argsort(idx, axis=1)
            Yb, Vb = y[order], v[order]
        out = batch_fit(res.method, res.test, Yb, Vb, Xs, res.btt, tau2_fixed, design=design)
        zs.append(out["zval"])
        qms.append(out["QM"])
        oks.append(out["ok"])
    Z = np.concatenate(zs)
    QMs = np.concatenate(qms)
    OK = np.concatenate(oks)
    if not do_exact:
        Z[0] = res.zval
        QMs[0] = res.QM
        OK[0] = True
    n_failed = int((~OK).sum())
    pval = _proportion_at_least(np.abs(Z), np.abs(np.asarray(res.zval, dtype=float)), OK)
    QMp = float(_proportion_at_least(QMs[:, None], np.array([res.QM], dtype=float), OK)[0])
    return PermutestResult(
        pval=pval, QMp=QMp, iter=int(n_total), exact=do_exact, n_failed=n_failed,
        coef_names=list(res.coef_names), beta=res.beta, zval=res.zval, QM=res.QM,
        seed=None if do_exact else seed, zval_perm=Z if return_perm else None,
    )


# =============================================================================================
# Permutation tests for many fits (km.rma_batch)
# =============================================================================================

#: Permuted fits per call of :func:`ketameta.rma_batch` (bounds the memory of a chunk).
_BATCH_FITS = 1 << 16


@dataclass(frozen=True)
class PermutestBatchResult(Result):
    """Permutation p-values of every fit of a :func:`ketameta.rma_batch` result: ``pval``
    (m, p) for the coefficients, ``QMp`` (m,) for the omnibus test, ``n_failed`` (m,) the
    permuted fits that could not be computed (left out). Fits that were not computed have
    NaN p-values.
    """

    pval: np.ndarray
    QMp: np.ndarray
    iter: int
    n_failed: np.ndarray
    coef_names: list
    seed: int | None
    zval_perm: np.ndarray | None = field(default=None, repr=False)

    def _record(self) -> dict:
        """Plain-Python summary (NaN becomes None)."""
        return {"pval": finite_list(self.pval), "QMp": finite_list(self.QMp), "iter": int(self.iter),
                "n_failed": self.n_failed.tolist(), "seed": self.seed,
                "coef_names": list(self.coef_names)}

    def to_frame(self) -> pd.DataFrame:
        """Tidy table: one row per fit and coefficient (``fit, coef, pval_perm, QMp_perm``)."""
        m, p = self.pval.shape
        return pd.DataFrame({"fit": np.repeat(np.arange(m), p),
                             "coef": np.tile(np.asarray(self.coef_names), m),
                             "pval_perm": self.pval.ravel(),
                             "QMp_perm": np.repeat(self.QMp, p)})

    def __repr__(self) -> str:
        return (f"<PermutestBatchResult: {self.pval.shape[0]} fits, {self.iter} permutations "
                "each (approximate)>")


def _share_at_least(T, obs, ok):
    """:func:`_proportion_at_least` for a leading fit axis: T (c, B, r), obs (c, r), ok (c, B)."""
    valid = ok[:, :, None] & ~np.isnan(T)
    hits = valid & (T >= obs[:, None, :] - COMPTOL)
    n = valid.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = hits.sum(axis=1) / n
    return np.minimum(np.where(np.isnan(obs) | (n == 0), np.nan, p), 1.0)


def permutest_batch(res, iter=1000, seed=None, return_perm=False):  # noqa: A002
    """Approximate permutation tests for every fit of a :func:`ketameta.rma_batch` result.

    Each fit is tested as :func:`permutest` tests an :func:`ketameta.rma` model (approximate
    test): for intercept-only models the signs of its outcomes are flipped at random, for
    meta-regressions its moderator rows are permuted among its own valid studies (done as the
    inverse permutation of ``(y, v)`` against fixed moderators); each permuted data set is
    refitted with the same estimator and test, and the p-value is the share of permutations
    whose ``|zval|`` (``QM`` for the omnibus test) is at least the observed one, the observed
    data counting as the first permutation (so p-values lie in ``[1/iter, 1]``). All refits
    of all fits run through :func:`ketameta.rma_batch` in chunks of about 65,000 fits.

    Parameters
    ----------
    res : RMABatchResult
        The fits (their inputs are read from ``res.data``, kept by reference).
    iter : int
        Permutations per fit (>= 2).
    seed : int, optional
        Seed for :func:`numpy.random.default_rng`.
    return_perm : bool
        Keep the permutation distributions of the test statistics, ``zval_perm`` (m, iter, p).

    Returns
    -------
    PermutestBatchResult

    Notes
    -----
    Exact (enumerated) tests are not offered here; use :func:`permutest` on a single
    :func:`ketameta.rma` fit. The random permutations differ from :func:`permutest`'s for the
    same seed (they are drawn for all fits at once).

    References
    ----------
    Follmann DA, Proschan MA (1999). Valid inference in random effects meta-analysis.
    Biometrics 55:732-737.
    Higgins JPT, Thompson SG (2004). Controlling the risk of spurious findings from
    meta-regression. Stat Med 23:1663-1682.
    """
    from .batch import rma_batch

    iter = int(iter)  # noqa: A001
    if iter < 2:
        raise ModelError("iter must be >= 2.")
    d = getattr(res, "data", None)
    if d is None:
        raise ModelError("permutest_batch needs a result of km.rma_batch.")
    Y, V, X, mask, intercept = d["Y"], d["V"], d["X"], d["mask"], d["intercept"]
    m, k = Y.shape
    p = res.p
    int_only = intercept and p == 1
    rng = np.random.default_rng(seed)
    pval = np.full((m, p), np.nan)
    QMp = np.full(m, np.nan)
    n_failed = np.zeros(m, dtype=np.int64)
    Zall = np.full((m, iter, p), np.nan) if return_perm else None
    fits = np.flatnonzero(res.ok)
    step = max(1, _BATCH_FITS // iter)
    for s0 in range(0, fits.size, step):
        f = fits[s0:s0 + step]
        c, n = f.size, f.size * iter
        Mf = np.ones((c, k), bool) if mask is None else mask[f]
        Vf = V[f] if V.ndim == 2 else np.broadcast_to(V, (c, k))
        if int_only:
            S = rng.choice(np.array([-1.0, 1.0]), size=(c, iter, k))
            Yp = (S * Y[f][:, None, :]).reshape(n, k)
            Vp = np.repeat(Vf, iter, axis=0)
        else:
            # a random permutation of each fit's valid cells among themselves
            keys = rng.random((c, iter, k))
            keys[np.broadcast_to(~Mf[:, None, :], keys.shape)] = 2.0
            order = np.argsort(keys, axis=2)
            vpos = np.argsort(~Mf, axis=1, kind="stable")
            perm = np.empty_like(order)
            np.put_along_axis(perm, np.broadcast_to(vpos[:, None, :], order.shape), order, 2)
            Yp = np.take_along_axis(Y[f][:, None, :], perm, 2).reshape(n, k)
            Vp = np.take_along_axis(Vf[:, None, :], perm, 2).reshape(n, k)
        Xp = X if (X is None or X.ndim == 2) else np.repeat(X[f], iter, axis=0)
        out = rma_batch(Yp, Vp, X=Xp, method=res.method, test=res.test, level=res.level,
                        mask=np.repeat(Mf, iter, axis=0), intercept=intercept, btt=res.btt)
        Z = out.zval.reshape(c, iter, p)
        QM = out.QM.reshape(c, iter)
        OK = out.ok.reshape(c, iter)
        Z[:, 0], QM[:, 0], OK[:, 0] = res.zval[f], res.QM[f], True
        n_failed[f] = (~OK).sum(axis=1)
        pval[f] = _share_at_least(np.abs(Z), np.abs(res.zval[f]), OK)
        QMp[f] = _share_at_least(QM[:, :, None], res.QM[f][:, None], OK)[:, 0]
        if return_perm:
            Zall[f] = Z
    return PermutestBatchResult(pval=pval, QMp=QMp, iter=iter, n_failed=n_failed,
                                coef_names=list(res.coef_names), seed=seed, zval_perm=Zall)
