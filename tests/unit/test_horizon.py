"""km.horizon: crossing time and last time above a threshold of a fitted time course."""

import math

import numpy as np
import pandas as pd
import pytest

import ketameta as km
from ketameta.errors import ModelError


def _course(seed=3, studies=6):
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(studies):
        u = rng.normal(0, 0.1)
        for t in (1 / 36, 1, 3, 7, 14):
            v = rng.uniform(0.02, 0.08)
            y = 0.9 - 0.25 * math.log(t) + u + rng.normal(0, math.sqrt(v))
            rows.append((f"s{s}", t, y, v))
    return pd.DataFrame(rows, columns=["study", "t", "yi", "vi"])


@pytest.fixture(scope="module")
def fits():
    d = _course()
    mods = pd.DataFrame({"log_days": np.log(d["t"])})
    mv = km.rma_mv(d["yi"].to_numpy(), d["vi"].to_numpy(), cluster=d["study"].to_numpy(), mods=mods)
    rob = km.robust(mv, cluster=d["study"].to_numpy(), adjust="CR2")
    uni = km.rma(d["yi"].to_numpy(), d["vi"].to_numpy(), mods=mods, test="knha")
    return {"mv": mv, "rob": rob, "uni": uni}


@pytest.mark.parametrize("which", ["mv", "rob", "uni"])
@pytest.mark.parametrize("thr", [0.0, 0.2])
def test_crossing_is_where_the_fitted_line_meets_the_threshold(fits, which, thr):
    fit = fits[which]
    h = km.horizon(fit, thr, grid=(1 / 36, 60))
    b0, b1 = fit.beta
    assert h.crossing == pytest.approx(math.exp((thr - b0) / b1), rel=1e-12)
    pr = km.predict(fit, newmods=np.array([math.log(h.crossing)]))
    assert pr["pred"].iloc[0] == pytest.approx(thr, abs=1e-10)
    # delta-method interval by hand
    grad = np.array([-1 / b1, -(thr - b0) / b1**2])
    se = math.sqrt(grad @ np.asarray(fit.vb) @ grad)
    if which == "rob":
        crit = pytest.importorskip("scipy.stats").t.isf(0.025, fit.contrast_df(grad))
    elif which == "uni":
        crit = pytest.importorskip("scipy.stats").t.isf(0.025, fit.dfs)
    else:
        crit = 1.959963984540054
    g = (thr - b0) / b1
    assert h.crossing_ci[0] == pytest.approx(math.exp(g - crit * se), rel=1e-10)
    assert h.crossing_ci[1] == pytest.approx(math.exp(g + crit * se), rel=1e-10)


@pytest.mark.parametrize("which", ["mv", "rob", "uni"])
def test_last_time_is_where_the_lower_bound_meets_the_threshold(fits, which):
    fit = fits[which]
    h = km.horizon(fit, 0.2, grid=(1 / 36, 60))
    assert h.last_time is not None and 1 / 36 < h.last_time < 60
    pr = km.predict(fit, newmods=np.array([math.log(h.last_time)]))
    assert pr["ci_lb"].iloc[0] == pytest.approx(0.2, abs=1e-9)
    # before it the lower bound is above, after it below
    before = km.predict(fit, newmods=np.array([math.log(h.last_time * 0.9)]))["ci_lb"].iloc[0]
    after = km.predict(fit, newmods=np.array([math.log(h.last_time * 1.1)]))["ci_lb"].iloc[0]
    assert before > 0.2 > after


def test_statuses_at_the_edges(fits):
    fit = fits["mv"]
    h = km.horizon(fit, 5.0)  # far above every prediction
    assert h.crossing is None and "below" in h.crossing_status and h.last_time is None
    h = km.horizon(fit, -5.0, grid=(1 / 36, 2))
    assert h.last_time == 2 and "still above" in h.last_status
    rec = h.to_dict()
    assert rec["threshold"] == -5.0 and rec["last_time"] == 2


def test_bad_input(fits):
    with pytest.raises(ModelError, match="2 coefficients"):
        km.horizon(km.rma(np.array([0.1, 0.2, 0.3]), np.array([0.1, 0.1, 0.1])))
    with pytest.raises(ModelError, match="transform"):
        km.horizon(fits["mv"], transform="sqrt")
    with pytest.raises(ModelError, match="grid"):
        km.horizon(fits["mv"], grid=(3, 1))
