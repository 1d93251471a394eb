"""Unit tests of ketameta.robust: CR0/CR1/CR2 against a dense direct computation written the way
clubSandwich (and metafor's robust()) define them -- k x k working covariance, J x J
Satterthwaite and HTZ matrices -- plus the HC form with one row per cluster, the time-course
use case with few clusters, and errors."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import linalg, stats

from ketameta.errors import ModelError
from ketameta.rma import rma
from ketameta.rma_mv import rma_mv
from ketameta.robust import SmallDfWarning, _cr2, _groups, robust
from tests.conftest import assert_rel

EXACT = 1e-10
# small-df warnings are expected with these small data; they are tested explicitly below
pytestmark = pytest.mark.filterwarnings("ignore::ketameta.robust.SmallDfWarning")


# -- dense reference ------------------------------------------------------------------------
def _mpow(G, power):
    w, Q = np.linalg.eigh(G)
    wp = np.where(w > 1e-12, np.where(w > 1e-12, w, 1.0) ** power, 0.0)
    return (Q * wp) @ Q.T


def dense_robust(X, y, beta, M, cluster, adjust, btt, level=95):
    """Sandwich estimators written out with k x k and J x J matrices.

    ``M`` is the model's marginal covariance (k x k); weights are its inverse. CR2 follows
    clubSandwich's ``CR2(..., inverse_var = TRUE)``: ``Theta_j = M_jj``, upper Cholesky
    ``U_j``, ``G_j = U_j (I - X_j B X_j' W_j) Theta_j U_j'``, ``A_j = U_j' G_j^-1/2 U_j``;
    Satterthwaite from the J x J matrices ``P_i = diag(|G_ji|^2) - H_i' H_i``, HTZ from the
    J x J matrices ``P_st``.
    """
    k, p = X.shape
    codes = pd.factorize(pd.Series(np.asarray(cluster, dtype=object)))[0]
    J = codes.max() + 1
    W = np.linalg.inv(M)
    B = np.linalg.inv(X.T @ W @ X)
    e = y - X @ beta
    rows = [np.flatnonzero(codes == j) for j in range(J)]
    Wj = [np.linalg.inv(M[np.ix_(r, r)]) for r in rows]
    if adjust in ("CR0", "CR1"):
        meat = sum(np.outer(X[r].T @ w @ e[r], X[r].T @ w @ e[r]) for r, w in zip(rows, Wj))
        V = B @ meat @ B * (J / (J - p) if adjust == "CR1" else 1.0)
        se = np.sqrt(np.diag(V))
        dfs = np.full(p, J - p)
        Q = beta[btt] @ np.linalg.solve(V[np.ix_(btt, btt)], beta[btt])
        q = len(btt)
        QM, QMdf = Q / q, (q, J - p)
    else:
        ME, Th = [], []
        for r, w in zip(rows, Wj):
            T = M[np.ix_(r, r)]
            U = linalg.cholesky(T, lower=False)
            IH = np.eye(len(r)) - X[r] @ B @ X[r].T @ w
            G = U @ IH @ T @ U.T
            A = U.T @ _mpow(0.5 * (G + G.T), -0.5) @ U
            ME.append(B @ X[r].T @ w @ A)
            Th.append(T)
        V = sum(np.outer(m @ e[r], m @ e[r]) for m, r in zip(ME, rows))
        se = np.sqrt(np.diag(V))
        Lb = linalg.cholesky(B, lower=True)
        Gl = [m @ linalg.cholesky(T, lower=True) for m, T in zip(ME, Th)]  # p x n_j
        Hl = [m @ X[r] @ Lb for m, r in zip(ME, rows)]  # p x p

        def P(s, t, Gs=Gl, Hs=Hl):
            Hm_s = np.array([h[s] for h in Hs])  # J x p
            Hm_t = np.array([h[t] for h in Hs])
            out = -Hm_s @ Hm_t.T
            out[np.diag_indices(J)] += [g[s] @ g[t] for g in Gs]
            return out

        dfs = np.array([2 * np.trace(P(i, i)) ** 2 / (2 * np.sum(P(i, i) ** 2)) for i in range(p)])
        # HTZ
        C = np.eye(p)[btt]
        q = len(btt)
        Gq = [C @ g for g in Gl]
        Hq = [C @ h for h in Hl]
        Parr = np.array([[P(s, t, Gq, Hq) for t in range(q)] for s in range(q)])  # q,q,J,J
        Omega = np.einsum("stjj->st", Parr)
        On = _mpow(Omega, -0.5)
        Bjk = np.einsum("as,stjk,tb->abjk", On, Parr, On)
        var = np.array([[np.sum(Bjk[s, t] * Bjk[t, s]) + np.sum(Bjk[s, s] * Bjk[t, t])
                         for t in range(q)] for s in range(q)])
        nu = q * (q + 1) / var.sum()
        Q = beta[btt] @ np.linalg.solve(V[np.ix_(btt, btt)], beta[btt])
        delta = max((nu - q + 1) / nu, 0)
        QM, QMdf = delta * Q / q, (q, nu - q + 1)
    t = beta / se
    pval = 2 * stats.t.sf(np.abs(t), dfs)
    crit = stats.t.isf((1 - level / 100) / 2, dfs)
    return {"vb": V, "se": se, "dfs": dfs, "zval": t, "pval": pval, "ci_lb": beta - crit * se,
            "ci_ub": beta + crit * se, "QM": QM, "QMdf": QMdf,
            "QMp": stats.f.sf(QM, QMdf[0], QMdf[1])}


def dense_m(fit):
    """Marginal covariance of a fitted rma / rma_mv model as a dense k x k matrix."""
    if hasattr(fit, "tau2"):
        return np.diag(fit.vi + fit.tau2)
    idx = np.arange(fit.k)[None, :]
    return fit._struct.theta(idx, *fit.sigma2)[0]


def make_data(seed=1, sizes=(1, 2, 3, 4, 2, 5, 3, 2, 4)):
    rng = np.random.default_rng(seed)
    J = len(sizes)
    cl = np.repeat([f"c{j}" for j in range(J)], sizes)
    k = cl.size
    codes = pd.factorize(cl)[0]
    x = rng.normal(size=k)
    z = np.repeat(rng.normal(size=J), sizes)
    v = rng.uniform(0.01, 0.06, k)
    y = (0.2 + 0.15 * x + 0.1 * z + rng.normal(0, 0.2, J)[codes] + rng.normal(0, 0.1, k)
         + rng.normal(0, np.sqrt(v)))
    return y, v, cl, pd.DataFrame({"x": x, "z": z})


def _compare(rob, ref):
    for key in ("vb", "se", "dfs", "zval", "pval", "ci_lb", "ci_ub", "QM", "QMp"):
        assert_rel(getattr(rob, key), ref[key], EXACT, key)
    assert_rel(rob.QMdf, ref["QMdf"], EXACT, "QMdf")


FITS = {
    "rma": lambda y, v, cl, m: rma(y, v, mods=m),
    "rma_EE": lambda y, v, cl, m: rma(y, v, mods=m, method="EE"),
    "rma_mv": lambda y, v, cl, m: rma_mv(y, v, cluster=cl, mods=m),
    "rma_mv_rho": lambda y, v, cl, m: rma_mv(y, v, cluster=cl, mods=m, rho=0.5),
}


@pytest.mark.parametrize("adjust", ["CR0", "CR1", "CR2"])
@pytest.mark.parametrize("model", list(FITS))
def test_matches_dense_direct_computation(model, adjust):
    y, v, cl, mods = make_data()
    fit = FITS[model](y, v, cl, mods)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallDfWarning)
        rob = robust(fit, cluster=cl, adjust=adjust)
    ref = dense_robust(fit.X, fit.yi, fit.beta, dense_m(fit), cl, adjust, fit.btt)
    _compare(rob, ref)
    assert np.all(rob.dfs > 0)


@pytest.mark.parametrize("adjust", ["CR1", "CR2"])
def test_rma_mv_with_coarser_robust_clusters(adjust):
    y, v, cl, mods = make_data(seed=2)
    fit = rma_mv(y, v, cluster=cl, mods=mods)
    coarse = np.array([f"g{int(c[1:]) // 2}" for c in cl])  # pairs of model clusters
    rob = robust(fit, cluster=coarse, adjust=adjust)
    _compare(rob, dense_robust(fit.X, fit.yi, fit.beta, dense_m(fit), coarse, adjust, fit.btt))
    assert rob.n_clusters == 5


def test_intercept_only_htz_is_the_squared_t_test():
    y, v, cl, _ = make_data(seed=3)
    rob = robust(rma_mv(y, v, cluster=cl), cluster=cl)
    assert rob.QM == pytest.approx(rob.zval[0] ** 2, rel=EXACT)
    assert rob.QMdf[1] == pytest.approx(rob.dfs[0], rel=EXACT)
    assert rob.QMp == pytest.approx(rob.pval[0], rel=EXACT)


def test_cr2_is_unbiased_under_the_working_model():
    # E[V_CR2] = (X'WX)^-1 when the working covariance is the true one (Bell & McCaffrey 2002;
    # Pustejovsky & Tipton 2018, Theorem 1): the expectation entering the Satterthwaite df.
    y, v, cl, mods = make_data(seed=4)
    fit = rma_mv(y, v, cluster=cl, mods=mods)
    codes = pd.factorize(pd.Series(cl))[0]
    groups, _ = _groups(codes)
    _, C, H = _cr2(fit.X, fit.residuals, fit.vb, groups,
                   lambda r: fit._struct.theta(r, *fit.sigma2), codes.max() + 1)
    expect = np.einsum("jii->i", C) - np.einsum("jia,jia->i", H, H)
    assert_rel(expect, np.diag(fit.vb), EXACT, "E[V]")


def test_one_row_per_cluster_cr1_is_metafors_hc_formula():
    # metafor robust(): vb = n/(n-p) (X'WX)^-1 X'W diag(e^2) W X (X'WX)^-1, df = n - p
    y, v, _, mods = make_data(seed=5)
    res = rma(y, v, mods=mods)
    rob = robust(res, cluster=np.arange(res.k), adjust="CR1")
    w = 1 / (res.vi + res.tau2)
    e = res.yi - res.X @ res.beta
    A = np.linalg.inv(res.X.T @ (w[:, None] * res.X))
    hc = res.k / (res.k - res.p) * A @ (res.X.T * (w * e) ** 2) @ res.X @ A
    assert_rel(rob.vb, hc, EXACT, "vb")
    assert np.all(rob.dfs == res.k - res.p)


@pytest.mark.parametrize("adjust", ["CR1", "CR2"])
def test_model_test_does_not_change_the_sandwich(adjust):
    # the bread is (X'WX)^-1 for test="z", "t" and "knha" alike (clubSandwich's convention)
    y, v, cl, mods = make_data(seed=9)
    ref = robust(rma(y, v, mods=mods), cluster=cl, adjust=adjust)
    for test in ("t", "knha"):
        rob = robust(rma(y, v, mods=mods, test=test), cluster=cl, adjust=adjust)
        assert_rel(rob.vb, ref.vb, EXACT, test)


def test_cluster_vector_may_cover_omitted_rows():
    y, v, cl, mods = make_data(seed=6)
    y2 = y.copy()
    y2[[2, 9]] = np.nan
    keep = np.setdiff1d(np.arange(len(y)), [2, 9])
    fit = rma_mv(y2, v, cluster=cl, mods=mods)
    a = robust(fit, cluster=cl)  # length k_all
    b = robust(fit, cluster=cl[keep])  # length k
    assert_rel(a.vb, b.vb, 0, "vb")


def test_outputs():
    y, v, cl, mods = make_data(seed=7, sizes=(3, 4, 2, 5, 3, 4, 2, 3, 4, 3, 2, 4))
    rob = robust(rma_mv(y, v, cluster=cl, mods=mods), cluster=cl)
    d = rob.to_dict()
    json.dumps(d)
    assert d["model"] == "robust.rma.mv" and d["adjust"] == "CR2" and d["n_clusters"] == 12
    assert len(d["dfs"]) == 3 and d["QMtest"] == "HTZ" and d["QMdf"][0] == 2
    assert {"beta", "se", "zval", "pval", "ci_lb", "ci_ub", "vb", "QM", "QMp"} <= set(d)
    frame = rob.to_frame()
    assert list(frame.columns) == ["estimate", "se", "tval", "df", "pval", "ci_lb", "ci_ub"]
    assert "Satterthwaite" in rob.summary() and "Number of clusters:    12" in rob.summary()


# -- the time-course meta-regression this is built for --------------------------------------
def _time_course(n_studies, seed):
    """Effects vs control at several time points per study (days), yi on log(days)."""
    rng = np.random.default_rng(seed)
    days = np.array([40 / 1440, 1, 3, 7, 14])
    rows = [(s, d) for s in range(n_studies) for d in days[: 2 + (s % 4)]]
    study = pd.Series([f"study{s}" for s, _ in rows], name="study")
    log_days = np.log([d for _, d in rows])
    v = rng.uniform(0.02, 0.1, len(rows))
    u = rng.normal(0, 0.25, n_studies)[pd.factorize(study)[0]]
    y = 0.7 - 0.2 * log_days + u + rng.normal(0, 0.1, len(rows)) + rng.normal(0, np.sqrt(v))
    return y, v, study, pd.DataFrame({"log_days": log_days})


@pytest.mark.parametrize("n_studies", [3, 4, 5, 6])
def test_time_course_with_few_clusters(n_studies):
    y, v, study, mods = _time_course(n_studies, seed=n_studies)
    fit = rma_mv(y, v, cluster=study, mods=mods)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rob = robust(fit, cluster=study, adjust="CR2")
    small = rob.dfs < 4
    assert bool(small.any()) == any(issubclass(w.category, SmallDfWarning) for w in caught)
    assert np.all(rob.dfs > 0) and np.all(np.isfinite(rob.se))
    assert rob.n_clusters == n_studies and rob.coef_names == ["intrcpt", "log_days"]
    d = rob.to_dict()
    json.dumps(d)
    if small.any():
        assert any("exploratory" in n for n in d["notes"])
    ref = dense_robust(fit.X, fit.yi, fit.beta, dense_m(fit), study, "CR2", fit.btt)
    assert_rel(rob.dfs, ref["dfs"], EXACT, "dfs")
    assert_rel(rob.se, ref["se"], EXACT, "se")


def test_small_df_warning_is_raised():
    y, v, study, mods = _time_course(3, seed=3)
    fit = rma_mv(y, v, cluster=study, mods=mods)
    with pytest.warns(SmallDfWarning, match="below 4"):
        rob = robust(fit, cluster=study)
    assert rob.dfs.min() < 4


# -- errors -----------------------------------------------------------------------------
def test_errors():
    y, v, cl, mods = make_data(seed=8)
    res = rma(y, v, mods=mods)
    with pytest.raises(ModelError, match="at least two clusters"):
        robust(res, cluster=np.zeros(len(y)))
    with pytest.raises(ModelError, match="larger than the number of coefficients"):
        robust(res, cluster=np.arange(len(y)) % 3)
    with pytest.raises(ModelError, match="cluster has 4 values"):
        robust(res, cluster=[1, 2, 3, 4])
    cl_nan = np.array(cl, dtype=object)
    cl_nan[0] = None
    with pytest.raises(ModelError, match="missing"):
        robust(res, cluster=cl_nan)
    with pytest.raises(ModelError, match="Unknown adjust"):
        robust(res, cluster=cl, adjust="CR3")
    with pytest.raises(ModelError, match="rma\\(\\) or rma_mv\\(\\)"):
        robust(object(), cluster=cl)
    fit = rma_mv(y, v, cluster=cl, mods=mods)
    with pytest.raises(ModelError, match="split a cluster"):
        robust(fit, cluster=np.arange(len(y)))
    assert math.isfinite(robust(res, cluster=cl).QM)
