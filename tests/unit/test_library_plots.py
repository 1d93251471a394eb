"""``km.forest(res)`` and ``km.funnel(res)``: plots of a fitted model for library users."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

import ketameta as km

from .test_api_edges import DF, STUDY, VI, YI

SLAB = [f"Author {i} 19{80 + i}" for i in range(13)]


def _ci(est, lo, hi):
    """An annotation as the forest plot writes it (typographic minus)."""
    return f"{est:.2f} [{lo:.2f}, {hi:.2f}]".replace("-", "\u2212")


def _texts(fig):
    return [t.get_text() for ax in fig.axes for t in ax.texts] + [t.get_text() for t in fig.texts]


def test_forest_of_an_intercept_only_fit_draws_studies_and_the_pooled_row():
    res = km.rma(YI, VI, slab=SLAB)
    fig = km.forest(res, transf=np.exp, xlabel="Risk ratio", digits=2)
    assert isinstance(fig, Figure)
    texts = _texts(fig)
    assert [t for t in texts if t.startswith("Author")] == SLAB
    pr = km.predict(res).iloc[0]
    pooled = _ci(np.exp(pr["pred"]), np.exp(pr["ci_lb"]), np.exp(pr["ci_ub"]))
    assert "RE model" in texts and pooled in texts
    half = 1.959964 * np.sqrt(VI[0])
    first = _ci(np.exp(YI[0]), np.exp(YI[0] - half), np.exp(YI[0] + half))
    assert first in texts
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_xlabel() == "Risk ratio"
    # the weights column is the fit's weights in percent
    assert [t for t in texts if t.endswith("%")] == [f"{w:.1f}%" for w in res.weights]


def test_forest_level_sets_the_interval_and_header():
    res = km.rma(YI, VI, level=90)
    texts = _texts(km.forest(res))
    assert "Estimate [90% CI]" in texts
    z = 1.6448536269514722
    assert _ci(YI[1], YI[1] - z * np.sqrt(VI[1]), YI[1] + z * np.sqrt(VI[1])) in texts


def test_forest_of_a_meta_regression_has_no_pooled_row():
    res = km.rma("yi ~ ablat", vi="vi", data=DF)
    texts = _texts(km.forest(res))
    assert "RE model" not in texts and "Study 1" in texts and "Study 13" in texts


def test_forest_and_funnel_accept_every_fitted_result():
    mv = km.rma_mv(YI, VI, cluster=STUDY)
    rob = km.robust(mv, cluster=STUDY)
    bayes = km.bayesmeta(YI, VI, slab=SLAB)
    for res, label in ((mv, "RE model"), (rob, "RE model"), (bayes, "Bayesian RE model")):
        assert label in _texts(km.forest(res))
        assert km.funnel(res).axes[0].get_xlabel() == "Observed outcome"
    lo, hi = bayes.post_interval("mu", 0.95, bayes.interval)
    med = bayes.summary().loc["median", "mu"]
    assert _ci(med, lo, hi) in _texts(km.forest(bayes))


def test_funnel_draws_the_estimate_or_the_residuals():
    res = km.rma(YI, VI)
    ax = km.funnel(res).axes[0]
    x, y = ax.collections[-1].get_offsets().T
    np.testing.assert_allclose(x, YI)
    np.testing.assert_allclose(y, np.sqrt(VI))
    vlines = [ln.get_xdata()[0] for ln in ax.lines if len(set(ln.get_xdata())) == 1]
    assert res.beta[0] == pytest.approx(vlines[0])
    reg = km.rma("yi ~ ablat", vi="vi", data=DF)
    ax = km.funnel(reg).axes[0]
    x, _ = ax.collections[-1].get_offsets().T
    np.testing.assert_allclose(x, YI - reg.X @ reg.beta)
    assert ax.get_xlabel() == "Residual value"


def test_study_labels_from_a_column_of_data():
    d = DF.assign(author=SLAB)
    res = km.rma("yi", "vi", data=d, slab="author")
    assert res.slab == SLAB
    assert [t for t in _texts(km.forest(res)) if t.startswith("Author")] == SLAB
    with pytest.raises(km.ModelError, match="slab names column 'nope'"):
        km.rma("yi", "vi", data=d, slab="nope")
