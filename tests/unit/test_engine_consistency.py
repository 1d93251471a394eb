"""The fitting engine against straightforward references.

* :func:`ketameta.rma` (moment sums, O(k p^2)) against a dense k x k implementation of the
  same formulas (``P = W - W X (X'WX)^-1 X'W``) evaluated in extended precision
  (``np.longdouble``), its estimating equations solved by bisection: every statistic at a
  relative 1e-10.
* The batched fits of :mod:`ketameta._batch` (used by :func:`ketameta.permutest`) against
  single :func:`ketameta.rma` fits of the same data, for every estimator and test.
* :class:`ketameta._linalg.Moments` against :class:`ketameta._linalg.WFit` at arbitrary tau^2.

These check correctness only; speed is measured by ``benchmarks/run.py``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import ketameta as km
from ketameta._batch import BatchDesign, batch_fit
from ketameta._linalg import Moments, WFit
from ketameta._tau2 import solve_decreasing

LD = np.longdouble
RTOL = 1e-10
METHODS = ["EE", "DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM"]


# ---------------------------------------------------------------------------------------------
# dense extended-precision reference
# ---------------------------------------------------------------------------------------------

def _solve_ld(M, B):
    """Gauss-Jordan elimination with partial pivoting in long double: ``M^-1 B`` and
    ``log det M``."""
    n = M.shape[0]
    A = np.concatenate([M.astype(LD), B.astype(LD).reshape(n, -1)], axis=1)
    logdet = LD(0)
    for j in range(n):
        piv = j + int(np.argmax(np.abs(A[j:, j])))
        if piv != j:
            A[[j, piv]] = A[[piv, j]]
        logdet += np.log(np.abs(A[j, j]))
        A[j] = A[j] / A[j, j]
        for i in range(n):
            if i != j:
                A[i] = A[i] - A[i, j] * A[j]
    return A[:, n:], logdet


class Dense:
    """Every quantity of rma() from k x k matrices, in long double."""

    def __init__(self, y, v, X):
        self.y, self.v, self.X = y.astype(LD), v.astype(LD), X.astype(LD)
        self.k, self.p = X.shape

    def at(self, t):
        t = LD(t)
        w = 1 / (self.v + t)
        WX = self.X * w[:, None]
        A, logdet = _solve_ld(self.X.T @ WX, np.eye(self.p))
        P = np.diag(w) - WX @ A @ WX.T
        return P, A, w, logdet

    def score(self, method, t):
        P, _, w, _ = self.at(t)
        Py = P @ self.y
        if method == "REML":
            return Py @ Py - np.trace(P)
        if method == "ML":
            return Py @ Py - w.sum()
        return self.y @ Py - (self.k - self.p)           # PM / EB: Q_gen(t) - (k - p)

    def root(self, method):
        if self.score(method, 0) <= 0:
            return LD(0)
        lo, hi = LD(0), LD(1e-3)
        while self.score(method, hi) > 0:
            lo, hi = hi, hi * 4
        for _ in range(200):
            mid = (lo + hi) / 2
            if self.score(method, mid) > 0:
                lo = mid
            else:
                hi = mid
            if hi - lo <= LD(1e-17) * hi:
                break
        return (lo + hi) / 2

    def tau2(self, method):
        k, p, y, v, X = self.k, self.p, self.y, self.v, self.X
        df = k - p
        if method == "EE":
            return LD(0)
        if method in ("REML", "ML", "PM", "EB"):
            return self.root("PM" if method == "EB" else method)
        Pfe, _, wfe, _ = self.at(0)
        Q = y @ Pfe @ y
        if method == "DL":
            return max(LD(0), (Q - df) / np.trace(Pfe))
        if method == "HS":
            return max(LD(0), (Q - k) / wfe.sum())
        if method == "HE":
            A, _ = _solve_ld(X.T @ X, np.eye(p))
            Pols = np.eye(k, dtype=LD) - X @ A @ X.T
            return max(LD(0), (y @ Pols @ y - np.trace(Pols * v[None, :])) / df)
        if method == "SJ":
            t0 = np.mean((y - y.mean()) ** 2)
            P0, _, _, _ = self.at(t0)
            return max(LD(0), t0 * (y @ P0 @ y) / df)
        raise AssertionError(method)

    def fit(self, method, test="z", btt=None, intercept=True):
        k, p, y, v, X = self.k, self.p, self.y, self.v, self.X
        t2 = self.tau2(method)
        P, A, w, logdet_w = self.at(t2)
        beta = A @ (X.T @ (w * y))
        rss = y @ P @ y
        s2w = rss / (k - p) if test in ("knha", "adhoc") else LD(1)
        vb = A * (max(LD(1), s2w) if test == "adhoc" else s2w)
        se = np.sqrt(np.diag(vb))
        if btt is None:
            btt = list(range(1, p)) if (intercept and p > 1) else list(range(p))
        bt = beta[btt]
        sol, _ = _solve_ld(vb[np.ix_(btt, btt)], bt)
        QM = bt @ sol[:, 0]
        if test != "z":
            QM = QM / len(btt)
        Pfe, _, _, _ = self.at(0)
        QE = y @ Pfe @ y
        vt = (k - p) / np.trace(Pfe)
        if method == "EE":
            I2 = max(LD(0), 100 * (QE - (k - p)) / QE)
            H2 = QE / (k - p)
        else:
            I2 = 100 * t2 / (vt + t2)
            H2 = t2 / vt + 1
        _, logdet_xx = _solve_ld(X.T @ X, np.eye(p))
        slv = np.log(v + t2).sum()
        ll_ml = -k / 2 * np.log(2 * LD(np.pi)) - slv / 2 - rss / 2
        ll_reml = (-(k - p) / 2 * np.log(2 * LD(np.pi)) + logdet_xx / 2 - slv / 2
                   - logdet_w / 2 - rss / 2)
        out = {"tau2": t2, "beta": beta, "se": se, "zval": beta / se, "QM": QM, "QE": QE,
               "vt": vt, "I2": I2, "H2": H2, "ll_ML": ll_ml, "ll_REML": ll_reml}
        if method == "REML":
            out["se_tau2"] = np.sqrt(2 / np.trace(P @ P))
        elif method == "ML":
            out["se_tau2"] = np.sqrt(2 / (w * w).sum())
        elif method in ("PM", "EB"):
            out["se_tau2"] = np.sqrt(2 * LD(k) ** 2 / (k - p) / w.sum() ** 2)
        if intercept and p > 1 and method not in ("EE",):
            t_re = Dense(self.y, self.v, self.X[:, :1]).tau2(method)
            out["R2"] = LD(0) if t_re == 0 else max(LD(0), 100 * (t_re - t2) / t_re)
        return out


def _data(seed, k, n_mods, kind="plain"):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(k, n_mods))
    if kind == "year":          # an offset moderator next to the intercept (ill-conditioned X)
        x[:, -1] = rng.integers(1950, 2021, size=k)
    v = rng.uniform(0.005, 0.2, size=k) * rng.choice([1.0, 8.0], size=k)
    tau = {"plain": 0.3, "year": 0.2, "offset": 0.25, "homog": 0.0}[kind]
    y = 0.3 + x @ (0.1 * np.arange(1, n_mods + 1)) / (1 if kind != "year" else 100)
    y = y + rng.normal(0, np.sqrt(v + tau**2))
    if kind == "offset":        # outcomes far from zero
        y = y + 50.0
    return y, v, x


def _close(got, ref, what, rtol=RTOL):
    ref = np.asarray(ref, dtype=float)
    got = np.asarray(got, dtype=float)
    scale = np.max(np.abs(ref)) if ref.size else 0.0
    np.testing.assert_allclose(got, ref, rtol=rtol, atol=rtol * 1e-3 * max(scale, 1e-300),
                               err_msg=what)


CASES = [(1, 12, 0, "plain"), (2, 20, 1, "plain"), (3, 30, 2, "plain"), (4, 15, 2, "year"),
         (5, 25, 1, "offset"), (6, 10, 1, "homog"), (7, 40, 3, "plain")]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("case", CASES, ids=[f"{c[3]}-k{c[1]}-m{c[2]}" for c in CASES])
def test_rma_equals_dense_reference(case, method):
    seed, k, n_mods, kind = case
    y, v, x = _data(seed, k, n_mods, kind)
    for test in ("z", "knha", "adhoc"):
        res = km.rma(y, v, mods=x if n_mods else None, method=method, test=test)
        ref = Dense(y, v, res.X).fit(method, test)
        _close(res.tau2, ref["tau2"], "tau2")
        for key in ("beta", "se", "zval", "QE", "vt", "I2", "H2"):
            _close(getattr(res, key), ref[key], key)
        if n_mods:
            _close(res.QM, ref["QM"], "QM")
        _close(res.fit_stats["ML"]["ll"], ref["ll_ML"], "ML logLik")
        _close(res.fit_stats["REML"]["ll"], ref["ll_REML"], "REML logLik")
        if "se_tau2" in ref and res.tau2 > 0:
            _close(res.se_tau2, ref["se_tau2"], "se_tau2")
        if "R2" in ref:
            _close(res.R2, ref["R2"], "R2")


def test_rma_without_intercept_equals_dense_reference():
    y, v, x = _data(11, 18, 2)
    X = np.column_stack([np.ones(18) * 0.5 + x[:, 0] ** 2, x[:, 1]])
    for method in ("REML", "ML", "PM", "DL"):
        res = km.rma(y, v, mods=X, intercept=False, method=method)
        ref = Dense(y, v, res.X).fit(method, "z", intercept=False)
        for key in ("tau2", "beta", "se", "QM", "QE"):
            _close(getattr(res, key), ref[key], key)


def test_blocked_passes_equal_one_pass(monkeypatch):
    """Summing over k in blocks, with the row products stored or formed per block, gives the
    fit of a single pass."""
    from ketameta import _linalg

    y, v, x = _data(21, 3000, 2)
    ref = km.rma(y, v, mods=x)
    monkeypatch.setattr(_linalg, "CHUNK", 256)
    monkeypatch.setattr(_linalg, "GEMM_MAX", 1000)
    for store in (1 << 24, 0):
        monkeypatch.setattr(_linalg, "_STORE_MAX", store)
        res = km.rma(y, v, mods=x)
        for key in ("tau2", "beta", "se", "QE", "I2", "R2", "logLik"):
            _close(getattr(res, key), getattr(ref, key), key, rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# Moments vs WFit
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("n_mods,intercept", [(0, True), (2, True), (2, False)])
def test_moments_equal_direct_weighted_fit(n_mods, intercept):
    y, v, x = _data(8, 25, max(n_mods, 1))
    if n_mods == 0:
        X = np.ones((25, 1))
    elif intercept:
        X = np.column_stack([np.ones(25), x[:, :n_mods]])
    else:
        X = x[:, :n_mods]
    mom = Moments(y, v, X)
    for t in (0.0, 0.01, 0.3, 5.0):
        e = mom.at(t, 3)
        f = WFit(y, 1.0 / (v + t), X)
        b, A = mom.coef(e)
        _close(b, f.b, "b")
        _close(A, f.A, "A")
        for got, ref in ((e.rss, f.rss()), (e.ypp, f.ypp()), (e.yppp, f.yppp()),
                         (e.trP, f.trP()), (e.trPP, f.trPDPD())):
            _close(got, ref, "quadratic forms and traces")
        _close(mom.logdet(e), f.logdet_xtwx(), "log det X'WX")


def test_solver_with_joint_evaluation_matches_separate_callbacks():
    y, v, x = _data(9, 30, 1)
    X = np.column_stack([np.ones(30), x])

    def f(t):
        w = WFit(y, 1.0 / (v + t), X)
        return w.ypp() - w.trP()

    def df(t):
        w = WFit(y, 1.0 / (v + t), X)
        return -2.0 * w.yppp() + w.trPDPD()

    a, _ = solve_decreasing(f, df, 0.05, "REML", 1.0)
    b, _ = solve_decreasing(None, None, 0.05, "REML", 1.0, fdf=lambda t: (f(t), df(t)))
    c, _ = solve_decreasing(None, None, 0.05, "REML", 1.0, fdf=lambda t: (f(t), df(t)),
                            shape=(2.0, float(np.mean(v))))
    _close(b, a, "joint f/f'")
    _close(c, a, "shaped Newton step")


# ---------------------------------------------------------------------------------------------
# batched fits vs single fits
# ---------------------------------------------------------------------------------------------

def _single(y, v, X, method, test, intercept):
    return km.rma(y, v, mods=X if not intercept else X[:, 1:], intercept=intercept,
                  method=method, test=test, r2=False)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("test", ["z", "t", "knha", "adhoc"])
def test_batched_permutation_fits_equal_single_fits(method, test):
    y, v, x = _data(12, 16, 2)
    res = km.rma(y, v, mods=x, method=method, test=test)
    X = res.X
    rng = np.random.default_rng(5)
    B = 7
    order = np.array([rng.permutation(16) for _ in range(B)])
    Yb, Vb = y[order], v[order]
    out = batch_fit(method, test, Yb, Vb, X, res.btt)
    assert out["ok"].all()
    for b in range(B):
        one = _single(Yb[b], Vb[b], X, method, test, True)
        _close(out["tau2"][b], one.tau2, "tau2")
        _close(out["beta"][b], one.beta, "beta")
        _close(out["se"][b], one.se, "se")
        _close(out["zval"][b], one.zval, "zval")
        _close(out["QM"][b], one.QM, "QM")


@pytest.mark.parametrize("method", ["REML", "DL", "PM", "ML", "EE", "SJ"])
def test_batched_sign_flips_equal_single_fits(method):
    y, v, _ = _data(13, 14, 1)
    X = np.ones((14, 1))
    rng = np.random.default_rng(2)
    S = rng.choice([-1.0, 1.0], size=(6, 14))
    out = batch_fit(method, "z", S * y, v, X, [0])
    for b in range(6):
        one = km.rma(S[b] * y, v, method=method)
        _close(out["tau2"][b], one.tau2, "tau2")
        _close(out["zval"][b], one.zval, "zval")
        _close(out["QM"][b], one.QM, "QM")


def test_batched_fits_without_intercept_and_with_fixed_tau2():
    y, v, x = _data(14, 15, 2)
    X = x
    rng = np.random.default_rng(3)
    order = np.array([rng.permutation(15) for _ in range(4)])
    for tau2_fixed in (None, 0.05):
        out = batch_fit("REML", "knha", y[order], v[order], X, [0, 1], tau2_fixed,
                        design=BatchDesign(X))
        for b in range(4):
            one = km.rma(y[order[b]], v[order[b]], mods=X, intercept=False, method="REML",
                         test="knha", tau2=tau2_fixed)
            _close(out["zval"][b], one.zval, "zval")
            _close(out["QM"][b], one.QM, "QM")


def test_permutest_refits_equal_single_fits_of_permuted_data():
    y, v, x = _data(15, 20, 2)
    res = km.rma(y, v, mods=x, method="REML", test="knha")
    pt = km.permutest(res, iter=30, seed=4, return_perm=True)
    rng = np.random.default_rng(4)
    idx = rng.permuted(np.tile(np.arange(20), (30, 1)), axis=1)
    for b in range(1, 8):            # row 0 is the observed data
        one = km.rma(y, v, mods=x[idx[b]], method="REML", test="knha")
        _close(pt.zval_perm[b], one.zval, "zval")
    assert math.isfinite(pt.QMp)
