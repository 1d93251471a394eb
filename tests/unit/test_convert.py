"""Unit tests for ketameta.convert: every converter, its edge cases, errors and derivations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

import ketameta.convert as cv
from ketameta.errors import ModelError
from ketameta.escalc import escalc, hedges_correction

Z95 = stats.norm.isf(0.025)


# -- from_ci / from_se -----------------------------------------------------------------------


def test_from_ci_difference_scale():
    res = cv.from_ci(2.0, 0.5, 3.5)
    assert isinstance(res, cv.CIEffect)
    assert res.yi == 2.0
    assert res.vi == pytest.approx((3.0 / (2 * Z95)) ** 2, rel=1e-15)
    assert res.sei == pytest.approx(3.0 / (2 * Z95), rel=1e-15)
    assert res.asymmetry == 0.0
    assert res.crit == pytest.approx(1.959963984540054, rel=1e-15)
    assert res.measure == "GEN"
    assert "SE = (ci_ub - ci_lb) / (2 * z = 1.959964)" in res.derivation
    assert "Cochrane Handbook" in res.derivation and "6.3.1" in res.derivation


def test_from_ci_ratio_on_log_scale():
    # OR 2.0 (1.0, 4.0): symmetric on the log scale
    res = cv.from_ci(2.0, 1.0, 4.0, log_scale=True, measure="OR")
    assert res.yi == pytest.approx(math.log(2.0), rel=1e-15)
    assert res.sei == pytest.approx(math.log(4.0) / (2 * Z95), rel=1e-14)
    assert res.asymmetry == pytest.approx(0.0, abs=1e-15)
    assert res.measure == "OR"
    assert "log scale" in res.derivation and "6.3.2" in res.derivation


def test_from_ci_asymmetry_reported():
    # a ratio CI treated on the natural scale is visibly asymmetric
    res = cv.from_ci(2.0, 1.0, 4.0)
    assert res.asymmetry == pytest.approx((2.0 - 1.0) / 3.0)
    lo = cv.from_ci(1.0, 0.0, 1.5)
    assert lo.asymmetry == pytest.approx(-1 / 3)


def test_from_ci_levels_and_t():
    r90 = cv.from_ci(0.0, -1.0, 1.0, level=90)
    assert r90.crit == pytest.approx(stats.norm.isf(0.05), rel=1e-15)
    r095 = cv.from_ci(0.0, -1.0, 1.0, level=0.95)
    assert r095.crit == pytest.approx(Z95, rel=1e-15)
    rt = cv.from_ci(0.0, -1.0, 1.0, df=10)
    assert rt.crit == pytest.approx(stats.t.isf(0.025, 10), rel=1e-15)
    assert "t(10)" in rt.derivation


def test_from_ci_vectorised_and_nan():
    res = cv.from_ci([1.0, np.nan], [0.0, 0.0], [2.0, 2.0])
    assert isinstance(res.yi, np.ndarray) and res.yi.shape == (2,)
    assert np.isnan(res.yi[1]) and not np.isnan(res.vi[1])  # missing estimate stays missing
    assert res.to_dict()["yi"][0] == 1.0


@pytest.mark.parametrize(
    "args, kw, msg",
    [
        ((3.0, 0.0, 2.0), {}, "outside its confidence interval"),
        ((1.0, 2.0, 0.0), {}, "ci_lb is larger"),
        ((1.0, 1.0, 1.0), {}, "zero width"),
        ((1.0, -0.5, 2.0), {"log_scale": True}, "must be positive"),
        ((1.0, 0.0, 2.0), {"level": 150}, "level"),
        ((1.0, 0.0, 2.0), {"df": 0}, "df"),
    ],
)
def test_from_ci_errors(args, kw, msg):
    with pytest.raises(ModelError, match=msg):
        cv.from_ci(*args, **kw)


def test_from_ci_error_names_index():
    with pytest.raises(ModelError, match="index 1"):
        cv.from_ci([1.0, 5.0], [0.0, 0.0], [2.0, 2.0])


def test_from_se():
    res = cv.from_se([0.3, -0.1], [0.1, 0.2], measure="MD")
    np.testing.assert_allclose(res.vi, [0.01, 0.04])
    assert res.measure == "MD" and "vi = SE^2" in res.derivation
    with pytest.raises(ModelError, match="se must be positive"):
        cv.from_se(0.3, 0.0)


def test_md_from_t():
    res = cv.md_from_t(-4.0, -2.0)
    assert res.yi == -4.0 and res.vi == pytest.approx(4.0) and res.measure == "MD"
    assert "SE = |MD / t|" in res.derivation and "6.5.2.3" in res.derivation
    with pytest.raises(ModelError, match="t is 0"):
        cv.md_from_t(1.0, 0.0)


# -- d / g from t, F, p ----------------------------------------------------------------------

BOR = dict(m1i=np.array([94, 98, 98, 94, 98, 96.0]), sd1i=np.array([22, 21, 28, 19, 21, 21.0]),
           n1i=np.array([60, 65, 40, 200, 50, 85.0]), m2i=np.array([92, 92, 88, 82, 88, 92.0]),
           sd2i=np.array([20, 22, 26, 17, 22, 22.0]), n2i=np.array([60, 65, 40, 200, 45, 85.0]))


def _pooled_t():
    n1, n2 = BOR["n1i"], BOR["n2i"]
    sp = np.sqrt(((n1 - 1) * BOR["sd1i"] ** 2 + (n2 - 1) * BOR["sd2i"] ** 2) / (n1 + n2 - 2))
    return (BOR["m1i"] - BOR["m2i"]) / (sp * np.sqrt(1 / n1 + 1 / n2))


@pytest.mark.parametrize("vtype", ["LS", "LS2"])
def test_from_t_equals_escalc_smd(vtype):
    # the t behind the Borenstein ch. 18 means/SDs gives exactly escalc("SMD")
    res = cv.from_t_two_groups(_pooled_t(), BOR["n1i"], BOR["n2i"], vtype=vtype)
    ref = escalc("SMD", vtype=vtype, **BOR)
    np.testing.assert_allclose(res.yi, ref["yi"], rtol=1e-13)
    np.testing.assert_allclose(res.vi, ref["vi"], rtol=1e-13)
    assert res.measure == "SMD"
    assert "Hedges 1981" in res.derivation and "d = t sqrt(1/n1 + 1/n2)" in res.derivation


def test_from_t_cohens_d():
    res = cv.from_t_two_groups(2.0, 20, 20, hedges=False)
    d = 2.0 * math.sqrt(0.1)
    assert res.yi == pytest.approx(d, rel=1e-15)
    assert res.vi == pytest.approx(0.1 + d**2 / 80, rel=1e-15)
    assert "Cohen's d" in res.derivation and "4.20" in res.derivation
    g = cv.from_t_two_groups(2.0, 20, 20)
    assert g.yi == pytest.approx(hedges_correction(38) * d, rel=1e-15)


def test_from_F_matches_t():
    t = cv.from_t_two_groups(-2.5, 30, 25)
    f = cv.from_F_two_groups(6.25, 30, 25, sign=-1)
    assert f.yi == pytest.approx(t.yi, rel=1e-15) and f.vi == pytest.approx(t.vi, rel=1e-15)
    assert "sqrt(F)" in f.derivation
    with pytest.raises(ModelError, match="sign"):
        cv.from_F_two_groups(6.25, 30, 25, sign=0)
    with pytest.raises(ModelError, match="F must be"):
        cv.from_F_two_groups(-1.0, 30, 25, sign=1)


def test_from_p_round_trip():
    n1, n2, t = 30, 25, 2.3
    p = 2 * stats.t.sf(t, n1 + n2 - 2)
    res = cv.from_p_two_groups(p, n1, n2, sign=1)
    ref = cv.from_t_two_groups(t, n1, n2)
    assert res.yi == pytest.approx(ref.yi, rel=1e-12)
    one = cv.from_p_two_groups(p / 2, n1, n2, sign=1, two_sided=False)
    assert one.yi == pytest.approx(ref.yi, rel=1e-12)
    neg = cv.from_p_two_groups(p, n1, n2, sign=-1)
    assert neg.yi == pytest.approx(-ref.yi, rel=1e-12)
    assert "two-sided" in res.derivation and "one-sided" in one.derivation
    assert cv.from_p_two_groups(1.0, n1, n2, sign=1).yi == 0.0


def test_from_p_threshold_is_a_lower_bound():
    # "p < 0.05" read at the threshold gives the smallest |d| compatible with the report
    bound = cv.from_p_two_groups(0.05, 20, 20, sign=1)
    actual = cv.from_p_two_groups(0.01, 20, 20, sign=1)
    assert actual.yi > bound.yi > 0


@pytest.mark.parametrize("p", [0.0, 1.5, -0.1])
def test_from_p_errors(p):
    with pytest.raises(ModelError, match="p must be in"):
        cv.from_p_two_groups(p, 20, 20, sign=1)


def test_group_size_errors():
    with pytest.raises(ModelError, match="n1 must be >= 2"):
        cv.from_t_two_groups(1.0, 1, 20)
    with pytest.raises(ModelError, match="vtype"):
        cv.from_t_two_groups(1.0, 10, 20, vtype="UB")


# -- correlations ----------------------------------------------------------------------------


def test_r_to_z_matches_escalc_zcor():
    r, n = [0.187, 0.162, 0.34], [109, 749, 55]
    res = cv.r_to_z(r, n)
    ref = escalc("ZCOR", ri=r, ni=n)
    np.testing.assert_allclose(res.yi, ref["yi"], rtol=1e-15)
    np.testing.assert_allclose(res.vi, ref["vi"], rtol=1e-15)
    assert res.measure == "ZCOR" and "Fisher 1921" in res.derivation
    assert cv.z_to_r(res.yi[2]) == pytest.approx(0.34, rel=1e-15)


def test_r_to_z_errors():
    with pytest.raises(ModelError, match=r"\|r\| must be < 1"):
        cv.r_to_z(1.0, 20)
    with pytest.raises(ModelError, match="n must be > 3"):
        cv.r_to_z(0.3, 3)


def test_n_from_r_p_round_trip():
    # p computed from r = 0.30 at n = 50, then n recovered exactly
    n, r = 50, 0.30
    t = r * math.sqrt(n - 2) / math.sqrt(1 - r**2)
    p = 2 * stats.t.sf(t, n - 2)
    res = cv.n_from_r_p(r, p)
    assert res.n_exact == pytest.approx(50, rel=1e-9)
    assert res.n == 50
    # with rounding, the true n lies inside the interval
    res2 = cv.n_from_r_p(0.30, round(p, 3), 2, 3)
    assert res2.contains(50)
    assert res2.n_min <= 50 <= res2.n_max


def test_n_from_r_p_luckenbaugh2014():
    # Luckenbaugh et al. (2014) abstract: CADSS at 40 min vs % HDRS change at 230 min,
    # r = -0.35, p = 0.007, in a sample of n = 108. The t test of r implies n = 58.1 (56-60
    # allowing for the rounding of r and p), so n = 108 is NOT consistent with that p: at
    # n = 108, r = -0.35 gives p = 0.0002. The correlation was computed on fewer patients
    # (or p another way); the data must record n as a derived bound, not 108.
    res = cv.n_from_r_p(-0.35, 0.007, r_decimals=2, p_decimals=3)
    assert res.n_exact == pytest.approx(58.15, abs=0.01)
    assert res.n == 58
    assert (res.n_min, res.n_max) == (56, 60)
    assert not res.contains(108)
    assert res.r_interval == (0.345, 0.355)
    assert res.p_interval == pytest.approx((0.0065, 0.0075), abs=1e-15)
    assert "derived bound" in res.derivation and "[56, 60]" in res.derivation
    # Day 7: r = -0.41, p = 0.01 -> a smaller n again (34-46)
    d7 = cv.n_from_r_p(-0.41, 0.01, 2, 2, n_cap=108)
    assert (d7.n_min, d7.n_max) == (34, 46)


def test_n_from_r_p_interval_edges_are_tight():
    res = cv.n_from_r_p(0.35, 0.007, 2, 3)

    def p(r, n):
        return 2 * stats.t.sf(r * math.sqrt(n - 2) / math.sqrt(1 - r * r), n - 2)

    # just outside: no r' in [0.345, 0.355) reaches p' in [0.0065, 0.0075)
    assert p(0.355, res.n_min - 1) >= 0.0075
    assert p(0.345, res.n_max + 1) < 0.0065
    # inside: the ends are reachable
    assert p(0.355, res.n_min) < 0.0075 and p(0.345, res.n_max) >= 0.0065


def test_n_from_r_p_operators_and_cap():
    lt = cv.n_from_r_p(0.35, 0.001, 2, p_op="<")
    assert lt.n_max is None and lt.n_min > 3
    assert "no upper bound" in lt.derivation
    capped = cv.n_from_r_p(0.35, 0.001, 2, p_op="<", n_cap=108)
    assert capped.n_max == 108 and capped.n_cap == 108
    gt = cv.n_from_r_p(0.35, 0.05, 2, p_op=">")
    assert gt.n_min == 3 and gt.n_max is not None
    # a cap below the implied n leaves nothing
    empty = cv.n_from_r_p(0.35, 0.007, 2, 3, n_cap=40)
    assert empty.is_empty and not empty.contains(40)
    assert "none" in empty.derivation


@pytest.mark.parametrize(
    "kw, msg",
    [
        ({"r": 0.3, "p": 0.0}, "p must be in"),
        ({"r": 1.3, "p": 0.01}, "<= 1"),
        ({"r": 0.3, "p": 0.01, "p_op": "<="}, "p_op"),
        ({"r": 0.3, "p": 0.0123, "p_decimals": 2}, "more than 2 decimal"),
        ({"r": 0.3, "p": 0.01, "n_cap": 2}, "n_cap"),
    ],
)
def test_n_from_r_p_errors(kw, msg):
    with pytest.raises(ModelError, match=msg):
        cv.n_from_r_p(**kw)


# -- change scores ---------------------------------------------------------------------------


def test_sd_from_t_paired():
    res = cv.sd_from_t_paired(-10.0, -4.0, 25)
    assert res.sd == pytest.approx(10.0 * 5 / 4)
    assert res.df == 24
    assert res.yi == -10.0 and res.vi == pytest.approx((10 / 4) ** 2)
    assert "SD_change = SE sqrt(n)" in res.derivation
    # consistency with a one-sample t computed from the SD
    sd, n, m = 7.3, 18, 4.1
    t = m / (sd / math.sqrt(n))
    assert cv.sd_from_t_paired(m, t, n).sd == pytest.approx(sd, rel=1e-14)
    with pytest.raises(ModelError, match="t is 0"):
        cv.sd_from_t_paired(1.0, 0.0, 10)
    with pytest.raises(ModelError, match="n must be >= 2"):
        cv.sd_from_t_paired(1.0, 2.0, 1)


def test_smd_from_within_changes_is_escalc_on_changes():
    m1, s1, n1, m2, s2, n2 = [-12.0, -8.0], [9.0, 7.5], [20, 34], [-4.0, -5.0], [8.0, 7.0], [19, 30]
    res = cv.smd_from_within_changes(m1, s1, n1, m2, s2, n2)
    ref = escalc("SMD", m1i=m1, sd1i=s1, n1i=n1, m2i=m2, sd2i=s2, n2i=n2)
    np.testing.assert_allclose(res.yi, ref["yi"], rtol=1e-14)
    np.testing.assert_allclose(res.vi, ref["vi"], rtol=1e-14)
    assert "pooled SD of change" in res.derivation and "Morris & DeShon 2002" in res.derivation
    with pytest.raises(ModelError, match="sd1_change"):
        cv.smd_from_within_changes(1, -1, 10, 0, 1, 10)
    with pytest.raises(ModelError, match="pooled SD of change is 0"):
        cv.smd_from_within_changes(1, 0, 10, 0, 0, 10)


# -- converting among effect sizes -----------------------------------------------------------


def test_log_or_smd_round_trip_vectorised():
    y, v = np.array([-1.2, 0.0, 0.9069]), np.array([0.2, 0.05, 0.0676])
    d = cv.log_or_to_smd(y, v)
    np.testing.assert_allclose(d.yi, y * math.sqrt(3) / math.pi, rtol=1e-15)
    np.testing.assert_allclose(d.vi, v * 3 / math.pi**2, rtol=1e-15)
    back = cv.smd_to_log_or(d.yi, d.vi)
    np.testing.assert_allclose(back.yi, y, rtol=1e-15, atol=1e-15)
    np.testing.assert_allclose(back.vi, v, rtol=1e-15)
    assert d.measure == "SMD" and back.measure == "OR"
    assert "Chinn (2000)" in d.derivation and "Chinn 2000" in back.derivation
    with pytest.raises(ModelError, match="vi must be >= 0"):
        cv.log_or_to_smd(0.1, -1.0)


def test_r_d_round_trip_unequal_groups():
    n1, n2 = 30, 70
    d = cv.d_from_r(0.3, 0.008)
    assert d.yi == pytest.approx(0.6 / math.sqrt(0.91))
    assert "7.5-7.6" in d.derivation
    r = cv.r_from_d(0.5, 0.04, n1, n2)
    a = 100**2 / (30 * 70)
    assert r.yi == pytest.approx(0.5 / math.sqrt(0.25 + a), rel=1e-15)
    assert r.vi == pytest.approx(a**2 * 0.04 / (0.25 + a) ** 3, rel=1e-15)
    assert "(n1+n2)^2/(n1 n2)" in r.derivation
    assert "a = 4" in cv.r_from_d(0.5, 0.04).derivation
    with pytest.raises(ModelError, match="both n1 and n2"):
        cv.r_from_d(0.5, 0.04, n1=30)
    with pytest.raises(ModelError, match=r"\|r\| must be < 1"):
        cv.d_from_r(-1.0, 0.01)


# -- events and risk differences -------------------------------------------------------------


def test_events_from_percent_unique():
    res = cv.events_from_percent(54.8, 31, 1)
    assert res.events == 17 and res.candidates == (17,)
    assert "17" in res.derivation and "54.8%" in res.derivation
    assert cv.events_from_percent(0, 12, 0).events == 0
    assert cv.events_from_percent(100, 12, 0).events == 12


def test_events_from_percent_rounding_boundary():
    # 1/8 = 12.5% -> "13%" (half up) or "12%" (half even): both accepted
    assert cv.events_from_percent(13, 8, 0).events == 1
    assert cv.events_from_percent(12, 8, 0).events == 1


def test_events_from_percent_inconsistent_lists_nearest():
    # no count of 31 gives 50.0%: 15/31 = 48.4%, 16/31 = 51.6%
    with pytest.raises(ModelError, match=r"15/31 = 48\.4%.*16/31 = 51\.6%"):
        cv.events_from_percent(50.0, 31, 1)


def test_events_from_percent_ambiguous():
    with pytest.raises(ModelError, match=r"\[29, 30, 31\]"):
        cv.events_from_percent(10, 300, 0)
    res = cv.events_from_percent(10, 300, 0, on_ambiguous="nearest")
    assert res.events == 30 and res.candidates == (29, 30, 31)
    assert "nearest" in res.derivation


@pytest.mark.parametrize(
    "args, msg",
    [((54.83, 31, 1), "more than 1 decimal"), ((120, 31, 0), r"\[0, 100\]"),
     ((50, 0, 0), "positive integer"), ((50, 10.5, 0), "positive integer")],
)
def test_events_from_percent_errors(args, msg):
    with pytest.raises(ModelError, match=msg):
        cv.events_from_percent(*args)


def test_rd_from_ci_scales():
    prop = cv.rd_from_ci(0.10, 0.02, 0.18)
    pct = cv.rd_from_ci(10.0, 2.0, 18.0, scale="percent")
    assert prop.measure == "RD" and prop.vi == pytest.approx((0.16 / (2 * Z95)) ** 2)
    assert pct.vi == pytest.approx(1e4 * prop.vi, rel=1e-12)
    assert "proportion scale" in prop.derivation
    assert "percentage-point scale" in pct.derivation
    with pytest.raises(ModelError, match="outside"):
        cv.rd_from_ci(10.0, 2.0, 18.0)  # percentage points given as proportions
    with pytest.raises(ModelError, match="scale"):
        cv.rd_from_ci(0.1, 0.0, 0.2, scale="permille")


def test_slopes():
    b = cv.slope_from_ci(-0.04, -0.08, -0.002)
    assert b.yi == -0.04 and b.measure == "GEN"
    assert b.sei == pytest.approx(0.078 / (2 * Z95))
    assert b.asymmetry == pytest.approx((0.038 - 0.04) / 0.078)
    assert "regression slope" in b.derivation
    bt = cv.slope_from_ci(-0.04, -0.08, -0.002, df=574)
    assert bt.crit == pytest.approx(stats.t.isf(0.025, 574))
    s = cv.slope_from_se(0.5, 0.25)
    assert s.vi == 0.0625 and "regression slope" in s.derivation


def test_results_are_frozen():
    res = cv.from_se(1.0, 0.5)
    with pytest.raises(AttributeError):
        res.yi = 2.0  # type: ignore[misc]
