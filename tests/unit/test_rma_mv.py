"""Unit tests of ketameta.rma_mv: block-diagonal code vs a dense k x k implementation, the
reduction to rma with one row per cluster, ML/REML, boundary, invariance, inputs and errors."""

from __future__ import annotations

import importlib
import json
import logging
import math

import numpy as np
import pandas as pd
import pytest

rma_mv_module = importlib.import_module("ketameta.rma_mv")
structure_module = importlib.import_module("ketameta._mv_structure")
from ketameta.errors import ModelError
from ketameta.rma import rma
from ketameta.rma_mv import confint_rma_mv, rma_mv
from tests.conftest import TOL, assert_rel

EXACT = 1e-10  # block-diagonal algebra vs dense algebra at the same variance components


# -- dense reference (k x k matrices; small k only) ----------------------------------------
def dense_marginal(v, cl, s1, s2, V=None):
    """M = V + sigma2_1 * [same cluster] + sigma2_2 * I, as a dense k x k matrix."""
    cl = np.asarray(cl)
    same = (cl[:, None] == cl[None, :]).astype(float)
    base = np.diag(v) if V is None else V
    return base + s1 * same + s2 * np.eye(len(v))


def dense_fit(y, X, M):
    """GLS fit and both log-likelihoods (metafor's definitions) from dense matrices."""
    k, p = X.shape
    W = np.linalg.inv(M)
    XtWX = X.T @ W @ X
    A = np.linalg.inv(XtWX)
    b = A @ X.T @ W @ y
    r = y - X @ b
    rss = r @ W @ r
    ldm = np.linalg.slogdet(M)[1]
    ll_ml = -0.5 * (k * math.log(2 * math.pi) + ldm + rss)
    ll_reml = -0.5 * ((k - p) * math.log(2 * math.pi) - np.linalg.slogdet(X.T @ X)[1] + ldm
                      + np.linalg.slogdet(XtWX)[1] + rss)
    P = W - W @ X @ A @ X.T @ W
    return {"beta": b, "vb": A, "ll_ml": ll_ml, "ll_reml": ll_reml, "W": W, "P": P, "rss": rss}


def dense_score_info(y, X, cl, M, reml):
    """Score and expected information for (sigma2_1, sigma2_2) from dense matrices."""
    cl = np.asarray(cl)
    D1 = (cl[:, None] == cl[None, :]).astype(float)
    D2 = np.eye(len(y))
    f = dense_fit(y, X, M)
    P = f["P"] if reml else f["W"]
    Py = f["P"] @ y
    score = np.array([-0.5 * np.trace(P @ D) + 0.5 * Py @ D @ Py for D in (D1, D2)])
    info = 0.5 * np.array([[np.trace(P @ Da @ P @ Db) for Db in (D1, D2)] for Da in (D1, D2)])
    return score, info


def make_data(seed=1, sizes=(1, 2, 3, 4, 2, 5, 3), s1=0.05, s2=0.02):
    rng = np.random.default_rng(seed)
    J = len(sizes)
    cl = np.repeat([f"s{j}" for j in range(J)], sizes)
    k = cl.size
    x = rng.normal(size=k)
    z = np.repeat(rng.normal(size=J), sizes)
    v = rng.uniform(0.005, 0.05, k)
    codes = pd.factorize(cl)[0]
    y = (0.3 + 0.1 * x - 0.2 * z + rng.normal(0, math.sqrt(s1), J)[codes]
         + rng.normal(0, math.sqrt(s2), k) + rng.normal(0, np.sqrt(v)))
    mods = pd.DataFrame({"x": x, "z": z})
    X = np.column_stack([np.ones(k), x, z])
    return y, v, cl, mods, X


def _v_rho(v, cl, rho, time=None):
    cl = np.asarray(cl)
    same = cl[:, None] == cl[None, :]
    R = np.where(same, rho if time is None else rho ** np.abs(np.subtract.outer(time, time)), 0.0)
    np.fill_diagonal(R, 1.0)
    return R * np.sqrt(np.outer(v, v))


V_CASES = ["diag", "rho", "time", "given"]


def _vcase(case, v, cl, seed=5):
    """(rma_mv keyword arguments, dense V) for each within-cluster covariance case."""
    k = len(v)
    if case == "diag":
        return {}, None
    if case == "rho":
        return {"rho": 0.4}, _v_rho(v, cl, 0.4)
    if case == "time":
        t = 0.5 * pd.Series(cl).groupby(cl).cumcount().to_numpy()  # distinct within cluster
        return {"rho": 0.6, "time": t}, _v_rho(v, cl, 0.6, t)
    # arbitrary positive-definite blocks given per cluster label
    rng = np.random.default_rng(seed)
    V = np.zeros((k, k))
    blocks = {}
    for lab in pd.unique(cl):
        idx = np.flatnonzero(cl == lab)
        B = rng.normal(size=(idx.size, idx.size)) * 0.02
        B = B @ B.T + np.diag(v[idx])
        V[np.ix_(idx, idx)] = B
        blocks[lab] = B
    return {"V": blocks, "vi": None}, V


# -- block algebra vs dense algebra ----------------------------------------------------------
@pytest.mark.parametrize("case", V_CASES)
@pytest.mark.parametrize("method", ["REML", "ML"])
@pytest.mark.parametrize("s12", [(0.04, 0.01), (0.0, 0.03), (0.02, 0.0)])
def test_fixed_sigma2_matches_dense(case, method, s12):
    y, v, cl, mods, X = make_data()
    kw, V = _vcase(case, v, cl)
    vi = kw.pop("vi", v)
    fit = rma_mv(y, vi, cluster=cl, mods=mods, method=method, sigma2=list(s12), **kw)
    d = dense_fit(y, X, dense_marginal(v, cl, *s12, V=V))
    assert_rel(fit.beta, d["beta"], EXACT, "beta")
    assert_rel(fit.vb, d["vb"], EXACT, "vb")
    assert_rel(fit.logLik, d["ll_reml" if method == "REML" else "ll_ml"], EXACT, "logLik")
    # score and expected information used by the optimiser
    ev = fit._struct.evaluate(*s12, reml=method == "REML", order=2)
    sc, info = dense_score_info(y, X, cl, dense_marginal(v, cl, *s12, V=V), method == "REML")
    np.testing.assert_allclose(ev["score"], sc, rtol=EXACT, atol=EXACT * np.abs(sc).max())
    assert_rel(ev["info"], info, EXACT, "info")


@pytest.mark.parametrize("case", V_CASES)
@pytest.mark.parametrize("method", ["REML", "ML"])
def test_estimate_is_the_dense_optimum(case, method):
    y, v, cl, mods, X = make_data(seed=2)
    kw, V = _vcase(case, v, cl)
    vi = kw.pop("vi", v)
    fit = rma_mv(y, vi, cluster=cl, mods=mods, method=method, **kw)
    s = fit.sigma2
    sc, info = dense_score_info(y, X, cl, dense_marginal(v, cl, *s, V=V), method == "REML")
    # projected Newton step from the estimate (components at 0 with a negative score stay)
    act = ~((s <= 0) & (sc <= 0))
    step = np.zeros(2)
    step[act] = np.linalg.solve(info[np.ix_(act, act)], sc[act])
    assert np.all(np.abs(step) <= 1e-8 * max(s.max(), 1e-3)), (s, step)
    # QE uses the sampling covariance alone
    d0 = dense_fit(y, X, np.diag(v) if V is None else V)
    assert_rel(fit.QE, d0["rss"], EXACT, "QE")


def test_v_forms_agree():
    y, v, cl, mods, _ = make_data(seed=3)
    _, V = _vcase("rho", v, cl)
    a = rma_mv(y, v, cluster=cl, mods=mods, rho=0.4)
    b = rma_mv(y, v, cluster=cl, mods=mods, V=V)  # full k x k
    blocks = [V[np.ix_(np.flatnonzero(cl == lab), np.flatnonzero(cl == lab))]
              for lab in pd.unique(cl)]
    c = rma_mv(y, None, cluster=cl, mods=mods, V=blocks)  # list, order of first appearance
    for other in (b, c):
        assert_rel(other.beta, a.beta, EXACT, "beta")
        assert_rel(other.sigma2, a.sigma2, 1e-9, "sigma2")


# -- reduction to rma --------------------------------------------------------------------
@pytest.mark.parametrize("method", ["REML", "ML"])
@pytest.mark.parametrize("with_mods", [False, True])
def test_one_row_per_cluster_reproduces_rma(method, with_mods, caplog):
    y, v, _, mods, _ = make_data(seed=4)
    mods = mods if with_mods else None
    ref = rma(y, v, mods=mods, method=method)
    with caplog.at_level(logging.WARNING, logger="ketameta.rma_mv"):
        fit = rma_mv(y, v, cluster=np.arange(len(y)), mods=mods, method=method)
    assert "not separately identified" in caplog.text
    # only the sum of the two components is identified; it equals tau^2
    assert_rel(fit.sigma2.sum(), ref.tau2, TOL["iterative"], "tau2")
    for key in ("beta", "se", "logLik", "QE", "QM"):
        assert_rel(getattr(fit, key), getattr(ref, key), TOL["iterative"], key)
    # two variance parameters instead of one
    assert fit.AIC == pytest.approx(ref.AIC + 2, rel=TOL["iterative"])


# -- ML vs REML, boundary, invariance -------------------------------------------------------
def test_ml_vs_reml():
    y, v, cl, mods, X = make_data(seed=6, sizes=(3, 4, 2, 5, 3, 4, 2, 3))
    reml = rma_mv(y, v, cluster=cl, mods=mods, method="REML")
    ml = rma_mv(y, v, cluster=cl, mods=mods, method="ML")
    assert ml.sigma2.sum() < reml.sigma2.sum()  # ML ignores the loss of df for beta
    d = dense_fit(y, X, dense_marginal(v, cl, *ml.sigma2))
    assert ml.logLik == pytest.approx(d["ll_ml"], rel=EXACT)
    assert reml.fit_stats["ML"]["ll"] != reml.logLik  # REML reports the restricted one
    k, p = len(y), X.shape[1]
    assert ml.BIC == pytest.approx(-2 * ml.logLik + (p + 2) * math.log(k), rel=EXACT)
    assert reml.BIC == pytest.approx(-2 * reml.logLik + (p + 2) * math.log(k - p), rel=EXACT)


def test_boundary_is_a_result():
    rng = np.random.default_rng(7)
    cl = np.repeat(np.arange(8), 3)
    v = np.full(cl.size, 0.04)
    y = 0.2 + rng.normal(0, 0.2, cl.size)  # no between-cluster variance at all
    y -= np.repeat(np.array([y[cl == c].mean() for c in range(8)]) - y.mean(), 3) * 0.9
    fit = rma_mv(y, v, cluster=cl)
    assert fit.sigma2[0] == 0.0
    X = np.ones((cl.size, 1))
    sc, _ = dense_score_info(y, X, cl, dense_marginal(v, cl, *fit.sigma2), True)
    assert sc[0] <= 0  # the likelihood decreases into the interior
    ci = fit.confint()
    assert ci.random.loc["sigma^2.1", "ci_lb"] == 0.0
    assert ci.random.loc["sigma^2.1", "ci_ub"] > 0


def test_cluster_order_and_labels_do_not_matter():
    y, v, cl, mods, _ = make_data(seed=8, sizes=(2, 3, 1, 4, 3, 2))
    a = rma_mv(y, v, cluster=cl, mods=mods)
    perm = np.random.default_rng(0).permutation(len(y))
    relabel = {lab: f"other{i}" for i, lab in enumerate(pd.unique(cl)[::-1])}
    b = rma_mv(y[perm], v[perm], cluster=[relabel[c] for c in cl[perm]],
               mods=mods.iloc[perm].reset_index(drop=True))
    assert_rel(b.beta, a.beta, 1e-9, "beta")
    assert_rel(b.sigma2, a.sigma2, 1e-9, "sigma2")
    assert_rel(b.logLik, a.logLik, 1e-12, "logLik")


def test_missing_values_are_omitted(caplog):
    y, v, cl, mods, _ = make_data(seed=9)
    y2 = y.copy()
    y2[[0, 5]] = np.nan
    mods2 = mods.copy()
    mods2.loc[7, "x"] = np.nan
    keep = np.setdiff1d(np.arange(len(y)), [0, 5, 7])
    with caplog.at_level(logging.WARNING):
        fit = rma_mv(y2, v, cluster=cl, mods=mods2, rho=0.3)
    ref = rma_mv(y[keep], v[keep], cluster=cl[keep], mods=mods.iloc[keep], rho=0.3)
    assert fit.omitted == [0, 5, 7] and fit.k_all == len(y)
    assert_rel(fit.beta, ref.beta, EXACT, "beta")
    with pytest.raises(ModelError, match="na_action"):
        rma_mv(y2, v, cluster=cl, na_action="fail")


# -- outputs -----------------------------------------------------------------------------------
def test_to_dict_names_and_views():
    y, v, cl, mods, _ = make_data(seed=10)
    fit = rma_mv(y, v, cluster=pd.Series(cl, name="study"), mods=mods,
                 id=pd.Series(np.arange(len(y)), name="timepoint"), test="t")
    d = fit.to_dict()
    json.dumps(d)
    shared = {"beta", "se", "zval", "pval", "ci_lb", "ci_ub", "k", "p", "QE", "QEp", "QM", "QMp",
              "logLik", "AIC", "BIC", "AICc", "method", "test", "level", "dfs", "coef_names"}
    assert shared <= set(d)
    assert set(d) - set(rma(y, v, mods=mods).to_dict()) >= {"sigma2", "s_names", "n_clusters"}
    assert d["model"] == "rma.mv"
    assert d["s_names"] == ["study", "study/timepoint"]
    assert d["n_clusters"] == 7 and d["dfs"] == len(y) - 3
    assert d["coef_names"] == ["intrcpt", "x", "z"]
    frame = fit.to_frame()
    assert list(frame.columns) == ["estimate", "se", "tval", "df", "pval", "ci_lb", "ci_ub"]
    text = fit.summary()
    assert "Multivariate Meta-Analysis Model" in text and "sigma^2.2" in text
    assert "F(df1 = 2" in text
    ci = confint_rma_mv(fit, level=90).to_dict()
    assert ci["level"] == 90 and len(ci["sigma2_ci"]) == 2
    json.dumps(ci)


def test_time_course_shape_runs_with_few_clusters():
    # effect sizes at several time points per study, time points nested in studies
    rng = np.random.default_rng(11)
    days = np.array([40 / 1440, 1, 3, 7, 14])
    rows = [(s, t) for s in range(4) for t in days[: 3 + s % 3]]
    study = np.array([f"study{s}" for s, _ in rows])
    log_days = np.log([t for _, t in rows])
    v = rng.uniform(0.02, 0.08, len(rows))
    y = 0.6 - 0.15 * log_days + rng.normal(0, 0.2, 4)[pd.factorize(study)[0]] + rng.normal(
        0, np.sqrt(v))
    fit = rma_mv(y, v, cluster=study, mods=pd.DataFrame({"log_days": log_days}))
    assert fit.n_clusters == 4 and fit.coef_names == ["intrcpt", "log_days"]
    assert np.all(np.isfinite(fit.se)) and np.all(fit.sigma2 >= 0)


# -- errors ---------------------------------------------------------------------------------
def test_errors():
    y, v, cl, mods, _ = make_data(seed=12)
    with pytest.raises(ModelError, match="at least two clusters"):
        rma_mv(y, v, cluster=np.zeros(len(y)))
    v_bad = v.copy()
    v_bad[3] = 0.0
    with pytest.raises(ModelError, match="positive"):
        rma_mv(y, v_bad, cluster=cl)
    with pytest.raises(ModelError, match="full rank|collinear"):
        rma_mv(y, v, cluster=cl, mods=mods.assign(x2=2 * mods["x"]))
    with pytest.raises(ModelError, match="Unknown method"):
        rma_mv(y, v, cluster=cl, method="DL")
    with pytest.raises(ModelError, match="rho must lie"):
        rma_mv(y, v, cluster=cl, rho=1.0)
    with pytest.raises(ModelError, match="time needs rho"):
        rma_mv(y, v, cluster=cl, time=np.arange(len(y)))
    with pytest.raises(ModelError, match="not positive definite"):
        rma_mv(y, v, cluster=cl, rho=-0.9)
    with pytest.raises(ModelError, match="not unique within cluster"):
        rma_mv(y, v, cluster=cl, id=np.zeros(len(y)))
    _, V = _vcase("rho", v, cl)
    with pytest.raises(ModelError, match="diag"):
        rma_mv(y, v * 1.1, cluster=cl, V=V)
    V2 = V.copy()
    V2[0, -1] = V2[-1, 0] = 0.001
    with pytest.raises(ModelError, match="different clusters"):
        rma_mv(y, v, cluster=cl, V=V2)
    with pytest.raises(ModelError, match="Too few"):
        rma_mv(y[:3], v[:3], cluster=["a", "a", "b"], mods=mods.iloc[:3])


def test_non_convergence_says_what_was_tried(monkeypatch):
    y, v, cl, mods, _ = make_data(seed=13)
    monkeypatch.setattr(structure_module, "_RTOL", -1.0)  # never satisfied

    def fail(struct, reml, fixed, theta, key):
        return theta, struct.evaluate(*theta, reml=reml, order=2), False

    monkeypatch.setattr(structure_module, "_lbfgsb", fail)
    with pytest.raises(ModelError, match=r"tried: Newton/Fisher scoring \(1000 it.*L-BFGS-B"):
        rma_mv(y, v, cluster=cl, mods=mods)
