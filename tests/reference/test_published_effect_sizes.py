"""Effect sizes against published worked examples and documented metafor output.

Sources (see ../shared/reference/tools.md for the verbatim blocks):

* Borenstein M, Hedges LV, Higgins JPT, Rothstein HR (2009). Introduction to Meta-Analysis,
  ch. 18 (six-study SMD example; also Chen & Peace 2013). Full-precision metafor values as
  quoted in statsmodels' test suite (statsmodels/stats/tests/test_meta.py, TestEffSmdMeta);
  the book's variances (0.03295, ...) are metafor's vtype "LS2" (Borenstein eq. 12.17).
* dat.bcg log risk ratios: metadat 1.7-2 / metafor docs, printed to 4 decimals (tools.md 6.1).
* Normand SLT (1999). Meta-analysis: formulating, evaluating, combining, and reporting.
  Stat Med 18:321-359. Stroke length-of-stay MD example (dat.normand1999) and lidocaine risk
  differences (dat.hine1989), Tables III and IX; metadat docs printed values (tools.md 6.11).
* Morris SB (2008). Estimating effect sizes from pretest-posttest-control group designs.
  Organ Res Methods 11:364-386, Table 1 p. 368 (via metafor's
  tests/testthat/test_analysis_example_morris2008.r, which also pins escalc's SMCR/SMCC
  values to 4 decimals).
* Conversions: Higgins et al., Cochrane Handbook (SE = CI width / 3.92 for 95% intervals,
  3.29 for 90%, 5.15 for 99%); Chinn S (2000) Stat Med 19:3127 (ln OR / 1.81 = d).

Printed numbers are compared at their printed precision: absolute half a unit in the last
printed digit (``atol = 5 * 10^-(digits+1)``), passed explicitly per test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import ketameta.convert as cv
from ketameta.escalc import escalc


def _printed(actual, expected, digits, what=""):
    """Compare with values printed to ``digits`` decimals (half a unit in the last digit)."""
    np.testing.assert_allclose(np.asarray(actual, dtype=float), np.asarray(expected, float),
                               rtol=0, atol=0.5 * 10.0 ** (-digits) * (1 + 1e-9), err_msg=what)


# -- Borenstein et al. (2009) ch. 18: six studies, SMD -------------------------------------

# treatment mean/sd/n vs control mean/sd/n (Carroll, Grant, Peck, Donat, Stewart, Young)
BOR = dict(
    m1i=[94, 98, 98, 94, 98, 96], sd1i=[22, 21, 28, 19, 21, 21], n1i=[60, 65, 40, 200, 50, 85],
    m2i=[92, 92, 88, 82, 88, 92], sd2i=[20, 22, 26, 17, 22, 22], n2i=[60, 65, 40, 200, 45, 85],
)
# metafor escalc("SMD") at full precision (statsmodels TestEffSmdMeta.test_smd)
BOR_YI = [0.09452415852032972, 0.27735586626551018, 0.36654442951591998, 0.66438496832691396,
          0.46180628128769841, 0.18516443739910043]
BOR_VI_LS = [0.03337056173559990, 0.03106510106366112, 0.05083971761755720,
             0.01055175923267344, 0.04334466980873156, 0.02363025255552155]
BOR_VI_UB = [0.03337176211751222, 0.03107388569950075, 0.05088098670518214,
             0.01055698026322296, 0.04339077140867459, 0.02363252645927709]
# Borenstein et al. (2009) ch. 18 table of g variances (5 decimals; as quoted in
# msrosenberg/MetaWin#20); = metafor vtype "LS2"
BOR_VI_BOOK = [0.03295, 0.03070, 0.04988, 0.01051, 0.04266, 0.02342]


def test_borenstein2009_ch18_smd_yi_and_ls_variance():
    out = escalc("SMD", **BOR)
    # full-precision metafor values: agreement to floating-point rounding
    np.testing.assert_allclose(out["yi"], BOR_YI, rtol=1e-12)
    np.testing.assert_allclose(out["vi"], BOR_VI_LS, rtol=1e-12)


def test_borenstein2009_ch18_smd_ub_variance():
    out = escalc("SMD", vtype="UB", **BOR)
    np.testing.assert_allclose(out["vi"], BOR_VI_UB, rtol=1e-12)
    np.testing.assert_allclose(out["yi"], BOR_YI, rtol=1e-12)


def test_borenstein2009_ch18_book_variances_are_ls2():
    # the book's V_g = J^2 V_d (eq. 4.24 / 12.17), printed to 5 decimals
    out = escalc("SMD", vtype="LS2", **BOR)
    _printed(out["vi"], BOR_VI_BOOK, 5, "Borenstein ch. 18 variances")
    # g itself does not depend on the variance type
    np.testing.assert_allclose(out["yi"], BOR_YI, rtol=1e-12)


# -- dat.bcg log risk ratios (tools.md 6.1, metafor/metadat docs, 4 decimals) -------------

BCG = dict(
    ai=[4, 6, 3, 62, 33, 180, 8, 505, 29, 17, 186, 5, 27],
    bi=[119, 300, 228, 13536, 5036, 1361, 2537, 87886, 7470, 1699, 50448, 2493, 16886],
    ci=[11, 29, 11, 248, 47, 372, 10, 499, 45, 65, 141, 3, 29],
    di=[128, 274, 209, 12619, 5761, 1079, 619, 87892, 7232, 1600, 27197, 2338, 17825],
)


def test_bcg_log_risk_ratios_docs():
    out = escalc("RR", **BCG)
    _printed(out["yi"], [-0.8893, -1.5854, -1.3481, -1.4416, -0.2175, -0.7861, -1.6209, 0.0120,
                         -0.4694, -1.3713, -0.3394, 0.4459, -0.0173], 4, "bcg yi")
    _printed(out["vi"], [0.3256, 0.1946, 0.4154, 0.0200, 0.0512, 0.0069, 0.2230, 0.0040,
                         0.0564, 0.0730, 0.0124, 0.5325, 0.0714], 4, "bcg vi")


# -- Normand (1999): stroke length of stay, MD (dat.normand1999) ---------------------------

NORMAND = dict(
    n1i=[155, 31, 75, 18, 8, 57, 34, 110, 60], m1i=[55, 27, 64, 66, 14, 19, 52, 21, 30],
    sd1i=[47, 7, 17, 20, 8, 7, 45, 16, 27], n2i=[156, 32, 71, 18, 13, 52, 33, 183, 52],
    m2i=[75, 29, 119, 137, 18, 18, 41, 31, 23], sd2i=[64, 4, 29, 48, 11, 4, 34, 27, 20],
)


def test_normand1999_md_docs_unpooled():
    # metadat dat.normand1999 example: escalc("MD") with the default (unpooled) variances
    out = escalc("MD", **NORMAND)
    np.testing.assert_array_equal(out["yi"], [-20, -2, -55, -71, -4, 1, 11, -10, 7])
    _printed(out["vi"], [40.5080, 2.0806, 15.6984, 150.2222, 17.3077, 1.1673, 94.5891, 6.3109,
                         19.8423], 4, "normand vi")


def test_normand1999_md_pooled_equal_effects_table_ix():
    # Normand (1999) Table IX uses pooled SDs (vtype "HO"): equal-effects estimate
    # -3.4939 (-5.0265, -1.9613), computed here in closed form from the escalc output
    out = escalc("MD", vtype="HO", **NORMAND)
    w = 1 / out["vi"].to_numpy()
    est = np.sum(w * out["yi"].to_numpy()) / np.sum(w)
    se = 1 / math.sqrt(np.sum(w))
    z = 1.959963984540054
    _printed([est, est - z * se, est + z * se], [-3.4939, -5.0265, -1.9613], 4, "Table IX EE")


# -- Normand (1999) / dat.hine1989: lidocaine risk differences -----------------------------

HINE = dict(n1i=[39, 44, 107, 103, 110, 154], n2i=[43, 44, 110, 100, 106, 146],
            ai=[2, 4, 6, 7, 7, 11], ci=[1, 4, 4, 5, 3, 4])


def test_hine1989_rd_docs_proportion_scale():
    out = escalc("RD", **HINE)
    _printed(out["yi"], [0.0280, 0.0000, 0.0197, 0.0180, 0.0353, 0.0440], 4, "hine yi")
    _printed(out["vi"], [0.0018, 0.0038, 0.0008, 0.0011, 0.0008, 0.0006], 4, "hine vi")


def test_normand1999_table_iii_percentage_points():
    # Table III: risk differences in percentage points (yi * 100, vi * 100^2)
    out = escalc("RD", **HINE)
    _printed(100 * out["yi"], [2.8026, 0.0000, 1.9711, 1.7961, 3.5334, 4.4031], 4, "RD %")
    _printed(1e4 * out["vi"], [17.7575, 37.5657, 8.1323, 10.8998, 8.0114, 6.1320], 4, "var")
    # Table VII: equal-effects estimate 2.9444 (0.3831, 5.5058)
    y, v = 100 * out["yi"].to_numpy(), 1e4 * out["vi"].to_numpy()
    w = 1 / v
    est, se = np.sum(w * y) / np.sum(w), 1 / math.sqrt(np.sum(w))
    z = 1.959963984540054
    _printed([est, est - z * se, est + z * se], [2.9444, 0.3831, 5.5058], 4, "Table VII")


# -- Morris (2008): pre-post-control SMCR / SMCC ------------------------------------------

MORRIS_T = dict(m_pre=[30.6, 23.5, 0.5, 53.4, 35.6], m_post=[38.5, 26.8, 0.7, 75.9, 36.0],
                sd_pre=[15.0, 3.1, 0.1, 14.5, 4.7], sd_post=[11.6, 4.1, 0.1, 4.4, 4.6],
                ni=[20, 50, 9, 10, 14], ri=[.47, .64, .77, .89, .44])
MORRIS_C = dict(m_pre=[23.1, 24.9, 0.6, 55.7, 34.8], m_post=[19.7, 25.3, 0.6, 60.7, 33.4],
                sd_pre=[13.8, 4.1, 0.2, 17.3, 3.1], sd_post=[14.8, 3.3, 0.2, 17.9, 6.9],
                ni=[20, 42, 9, 11, 14], ri=[.47, .64, .77, .89, .44])


def _smcr(d):
    # metafor's convention: m1i = post mean, m2i = pre mean, sd1i = pre-test SD
    return escalc("SMCR", m1i=d["m_post"], m2i=d["m_pre"], sd1i=d["sd_pre"], ni=d["ni"],
                  ri=d["ri"])


def _smcc(d):
    return escalc("SMCC", m1i=d["m_post"], m2i=d["m_pre"], sd1i=d["sd_post"],
                  sd2i=d["sd_pre"], ni=d["ni"], ri=d["ri"])


def test_morris2008_smcr_table1():
    t, c = _smcr(MORRIS_T), _smcr(MORRIS_C)
    # metafor's test pins these (results not given in the paper)
    _printed(t["yi"], [0.5056, 1.0481, 1.8054, 1.4181, 0.0801], 4, "treatment yi")
    _printed(t["vi"], [0.0594, 0.0254, 0.2322, 0.1225, 0.0802], 4, "treatment vi")
    _printed(c["yi"], [-0.2365, 0.0958, 0.0000, 0.2667, -0.4250], 4, "control yi")
    _printed(c["vi"], [0.0544, 0.0173, 0.0511, 0.0232, 0.0864], 4, "control vi")
    # Morris (2008) Table 1, p. 368: d_ppc2 per study, 2 decimals
    _printed(t["yi"] - c["yi"], [0.74, 0.95, 1.81, 1.15, 0.51], 2, "Table 1")
    _printed(t["vi"] + c["vi"], [0.1138, 0.0426, 0.2833, 0.1458, 0.1667], 4, "variance")


def test_morris2008_smcc_metafor_values():
    t, c = _smcc(MORRIS_T), _smcc(MORRIS_C)
    _printed(t["yi"], [0.5417, 1.0198, 2.6619, 1.9088, 0.0765], 4, "treatment yi")
    _printed(t["vi"], [0.0573, 0.0304, 0.5048, 0.2822, 0.0716], 4, "treatment vi")
    _printed(c["yi"], [-0.2213, 0.1219, 0.0000, 0.5575, -0.2126], 4, "control yi")
    _printed(c["vi"], [0.0512, 0.0240, 0.1111, 0.1050, 0.0730], 4, "control vi")


# -- textbook conversions ------------------------------------------------------------------


@pytest.mark.parametrize("level, divisor", [(95, 3.92), (90, 3.29), (99, 5.15)])
def test_cochrane_se_from_ci_divisors(level, divisor):
    # Cochrane Handbook: SE = (upper - lower) / 3.92 for a 95% CI (3.29 for 90%, 5.15 for 99%);
    # the divisors are 2 z printed to 2 decimals
    res = cv.from_ci(1.0, 0.2, 1.8, level=level)
    _printed(2 * res.crit, divisor, 2, "2z")
    np.testing.assert_allclose(res.sei, 1.6 / (2 * res.crit), rtol=1e-15)


def test_chinn2000_divisor():
    # Chinn (2000): d = ln(OR) / 1.81 (1.81 = pi / sqrt(3) to 2 decimals)
    res = cv.log_or_to_smd(1.81, 0.0)
    _printed(1 / res.yi * 1.81, 1.81, 2, "pi/sqrt(3)")
    _printed(res.yi, 1.0, 2)


def test_borenstein_ch7_conversion_identities():
    # Borenstein et al. (2009) ch. 7: the conversions are mutually consistent: lnOR -> d -> lnOR
    # and r -> d -> r (equal groups, a = 4) return the inputs, variances included
    lo = cv.log_or_to_smd(0.9069, 0.0676)
    back = cv.smd_to_log_or(lo.yi, lo.vi)
    np.testing.assert_allclose([back.yi, back.vi], [0.9069, 0.0676], rtol=1e-14)
    d = cv.d_from_r(0.5, 0.0058)
    r = cv.r_from_d(d.yi, d.vi)
    np.testing.assert_allclose([r.yi, r.vi], [0.5, 0.0058], rtol=1e-13)
