"""Regression tests for the library's input edges and its formula / DataFrame forms."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import ketameta as km
from ketameta.errors import ModelError

# dat.bcg (Colditz et al. 1994) log risk ratios, as metafor's escalc gives them
YI = np.array([-0.8893, -1.5854, -1.3481, -1.4416, -0.2175, -0.7861, -1.6209, 0.0120, -0.4694, -1.3713,
               -0.3394, 0.4459, -0.0173])
VI = np.array([0.3256, 0.1946, 0.4154, 0.0200, 0.0512, 0.0069, 0.2230, 0.0040, 0.0564, 0.0730, 0.0124,
               0.5325, 0.0714])
ABLAT = np.array([44, 55, 42, 52, 13, 44, 19, 13, 27, 42, 18, 33, 33], dtype=float)
ALLOC = ["random", "random", "random", "random", "alternate", "alternate", "random", "random",
         "systematic", "systematic", "systematic", "systematic", "systematic"]
DF = pd.DataFrame({"yi": YI, "vi": VI, "ablat": ABLAT, "alloc": ALLOC},
                  index=[f"s{i:02d}" for i in range(13)])


def _same(a, b):
    np.testing.assert_allclose(a.beta, b.beta, rtol=1e-12)
    np.testing.assert_allclose(a.se, b.se, rtol=1e-12)
    assert a.tau2 == pytest.approx(b.tau2, rel=1e-12)


def test_level_as_a_proportion_is_read_as_metafor_does():
    a, b = km.rma(YI, VI, level=95), km.rma(YI, VI, level=0.95)
    assert b.level == 95 and b.ci_lb[0] == pytest.approx(a.ci_lb[0], rel=1e-12)
    assert km.predict(a, level=0.9)["ci_lb"].iloc[0] == pytest.approx(km.predict(a, level=90)["ci_lb"].iloc[0])
    assert km.confint(a, level=0.9).to_dict()["tau2_ci"] == km.confint(a, level=90).to_dict()["tau2_ci"]
    for bad in (0, 100, 150, -1, "x"):
        with pytest.raises(ModelError, match="level"):
            km.rma(YI, VI, level=bad)


def test_pandas_inputs_are_matched_by_label():
    ref = km.rma(DF["yi"], DF["vi"], mods=DF[["ablat"]])
    rev = DF.iloc[::-1]
    _same(km.rma(DF["yi"], rev["vi"], mods=rev[["ablat"]]), ref)
    other = DF["vi"].copy()
    other.index = [f"t{i}" for i in range(13)]
    with pytest.raises(ModelError, match="different index from yi"):
        km.rma(DF["yi"], other)


def test_na_action_and_infinite_values_are_validated():
    with pytest.raises(ModelError, match="na_action"):
        km.rma(YI, VI, na_action="drop")
    vi = VI.copy()
    vi[2] = np.inf
    with pytest.raises(ModelError, match=r"vi is infinite in row\(s\) \[2\]"):
        km.rma(YI, vi)
    yi = YI.copy()
    yi[0] = -np.inf
    with pytest.raises(ModelError, match="yi is infinite"):
        km.rma(yi, VI)
    yi[0] = np.nan  # missing stays missing
    assert km.rma(yi, VI).omitted == [0]


def test_formula_dataframe_and_array_forms_give_identical_fits():
    dummies = pd.get_dummies(DF["alloc"], drop_first=True, dtype=float)
    arrays = km.rma(YI, VI, mods=np.column_stack([ABLAT, dummies.to_numpy()]))
    formula = km.rma("yi ~ ablat + alloc", vi="vi", data=DF)
    _same(formula, arrays)
    assert formula.coef_names == ["intrcpt", "ablat", "alloc[T.random]", "alloc[T.systematic]"]
    columns = km.rma(yi="yi", vi="vi", mods=["ablat", "alloc"], data=DF)
    _same(columns, arrays)
    metafor_style = km.rma("yi", "vi", mods="~ ablat + alloc", data=DF)
    _same(metafor_style, arrays)
    no_int = km.rma("yi ~ ablat - 1", vi="vi", data=DF)
    _same(no_int, km.rma(YI, VI, mods=ABLAT[:, None], intercept=False))
    with pytest.raises(ModelError, match="data="):
        km.rma("yi ~ ablat", vi="vi")
    with pytest.raises(ModelError, match="names column 'nope'"):
        km.rma("yi ~ ablat", vi="nope", data=DF)


def test_print_shows_small_p_values_as_metafor_does():
    res = km.rma("yi ~ ablat", vi="vi", data=DF)
    text = res.summary()
    assert "QM(df = 1) = 16.3535, p-val < .0001" in text
    assert " <.0001 " in text and "0.0000 " not in text  # the coefficient table
    assert text.splitlines()[1].startswith("Mixed-Effects Model (k = 13; tau^2 estimator: REML)")


# -- the same conventions for rma_mv, robust and bayesmeta --------------------------------------

TIDY = ["term", "estimate", "se", "statistic", "p", "ci_lb", "ci_ub", "df"]
STUDY = ["a", "a", "b", "b", "c", "c", "d", "e", "e", "f", "f", "g", "g"]
DFM = DF.assign(study=STUDY)


def _mv_fits():
    fit = km.rma_mv("yi ~ ablat + alloc", vi="vi", cluster="study", data=DFM)
    with pytest.warns(km.SmallDfWarning, match="Satterthwaite df below 4"):  # 7 clusters, 4 coefficients
        rob = km.robust(fit, cluster=DFM["study"], adjust="CR2")
    return fit, rob


def test_tidy_has_one_row_per_coefficient_for_every_model():
    uni = km.rma("yi ~ ablat + alloc", vi="vi", data=DF, test="knha")
    fit, rob = _mv_fits()
    for res in (uni, fit, rob):
        t = res.tidy()
        assert list(t.columns) == TIDY
        assert list(t["term"]) == ["intrcpt", "ablat", "alloc[T.random]", "alloc[T.systematic]"]
        np.testing.assert_array_equal(t["estimate"], res.beta)
        np.testing.assert_array_equal(t["se"], res.se)
        np.testing.assert_array_equal(t["statistic"], res.zval)
        np.testing.assert_array_equal(t["p"], res.pval)
        np.testing.assert_array_equal(t["ci_lb"], res.ci_lb)
        np.testing.assert_array_equal(t["ci_ub"], res.ci_ub)
    assert (uni.tidy()["df"] == 13 - 4).all()
    assert fit.tidy()["df"].isna().all()  # z test
    np.testing.assert_array_equal(rob.tidy()["df"], rob.dfs)  # Satterthwaite, per coefficient
    b = km.bayesmeta(YI, VI, tau_prior=("halfnormal", 0.5))
    tb = b.tidy()
    assert list(tb.columns) == TIDY + ["mean"] and list(tb["term"]) == ["mu", "tau", "theta_new"]
    assert tb.loc[0, "estimate"] == b.summary().loc["median", "mu"]
    assert tb.loc[0, "se"] == b.summary().loc["sd", "mu"]


def test_glance_is_one_row_of_fit_statistics_for_every_model():
    uni = km.rma("yi ~ ablat", vi="vi", data=DF)
    g = uni.glance()
    assert len(g) == 1
    assert g.loc[0, "tau2"] == uni.tau2 and g.loc[0, "QE"] == uni.QE and g.loc[0, "I2"] == uni.I2
    assert g.loc[0, "logLik"] == uni.logLik and g.loc[0, "k"] == 13 and g.loc[0, "R2"] == uni.R2
    fit, rob = _mv_fits()
    gm = fit.glance()
    assert len(gm) == 1 and gm.loc[0, "n_clusters"] == 7 and gm.loc[0, "model"] == "rma.mv"
    assert (gm.loc[0, "sigma2_1"], gm.loc[0, "sigma2_2"]) == tuple(fit.sigma2)
    gr = rob.glance()
    assert gr.loc[0, "adjust"] == "CR2" and gr.loc[0, "QMtest"] == "HTZ" and gr.loc[0, "QM"] == rob.QM
    gb = km.bayesmeta(YI, VI, tau_prior=("halfnormal", 0.5)).glance()
    assert len(gb) == 1 and gb.loc[0, "k"] == 13


def test_categorical_moderators_get_treatment_coding_in_every_form():
    dummies = pd.get_dummies(DF["alloc"], drop_first=True, dtype=float)  # reference: alternate
    arrays = km.rma_mv(YI, VI, cluster=STUDY, mods=np.column_stack([ABLAT, dummies.to_numpy()]))
    fit, rob = _mv_fits()
    np.testing.assert_allclose(fit.beta, arrays.beta, rtol=1e-10)
    np.testing.assert_allclose(fit.sigma2, arrays.sigma2, rtol=1e-8, atol=1e-12)
    assert fit.s_names == ["study", "study/effect"]
    assert rob.coef_names == fit.coef_names
    # a text column of a DataFrame: the same coding, named column[level]
    frame = km.rma(YI, VI, mods=DF[["ablat", "alloc"]])
    formula = km.rma("yi ~ ablat + alloc", vi="vi", data=DF)
    _same(frame, formula)
    assert frame.coef_names == ["intrcpt", "ablat", "alloc[random]", "alloc[systematic]"]
    # the reference level is the first in sorted order; the alloc coefficients are contrasts with it
    alt = DF["alloc"] == "alternate"
    assert formula.X[alt.to_numpy()][:, 2:].sum() == 0


def test_level_as_a_proportion_in_multilevel_and_robust_fits():
    a = km.rma_mv(YI, VI, cluster=STUDY, level=95)
    b = km.rma_mv(YI, VI, cluster=STUDY, level=0.95)
    assert b.level == 95 and b.ci_lb[0] == pytest.approx(a.ci_lb[0], rel=1e-12)
    r90 = km.robust(a, cluster=STUDY, level=0.9)
    assert r90.level == 90 and r90.ci_lb[0] == pytest.approx(km.robust(a, cluster=STUDY, level=90).ci_lb[0])
    assert km.confint_rma_mv(a, level=0.9).to_dict()["level"] == 90
    with pytest.raises(ModelError, match="level"):
        km.rma_mv(YI, VI, cluster=STUDY, level=100)
