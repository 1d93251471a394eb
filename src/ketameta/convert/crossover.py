"""Crossover trials: effect sizes that count every patient once (Elbourne et al. 2002).

A crossover trial measures each patient under both conditions. Entering its two conditions as if
they were independent arms counts every patient twice and ignores the within-patient correlation.
The Cochrane Handbook (Higgins et al. 2023, section 23.2.7) recommends, in this order: a paired
analysis (the mean difference and its SE from a paired t-test or a mixed model, or the SD of the
within-patient differences); first-period data analysed as a parallel trial; or the two
conditions' means and SDs combined with an assumed within-patient correlation, varied in a
sensitivity analysis. These converters implement the paired and assumed-correlation cases for
standardized mean differences and odds ratios; first-period data need no conversion.

References
----------
Elbourne DR, Altman DG, Higgins JPT, Curtin F, Worthington HV, Vail A (2002). Meta-analyses
    involving cross-over trials: methodological issues. Int J Epidemiol 31:140-149.
Curtin F, Elbourne D, Altman DG (2002). Meta-analysis combining parallel and cross-over clinical
    trials. II: Binary outcomes. Stat Med 21:2145-2159.
Becker MP, Balagtas CC (1993). Marginal modeling of binary cross-over data. Biometrics
    49:997-1009.
Higgins JPT, Eldridge S, Li T (eds) (2023). Chapter 23: Including variants on randomized trials.
    In: Cochrane Handbook for Systematic Reviews of Interventions v6.4. Section 23.2.7.
Morris SB, DeShon RP (2002). Combining effect size estimates in meta-analysis with repeated
    measures and independent-groups designs. Psychol Methods 7:105-125.
"""

from __future__ import annotations

import math

from ..escalc import hedges_correction
from ._base import Effect, _fail

__all__ = ["sd_from_se", "correlation_from_sds", "smd_crossover", "within_d_to_smd",
           "log_or_crossover"]

_ELBOURNE = "Elbourne et al. (2002) Int J Epidemiol 31:140; Cochrane Handbook v6.4, 23.2.7.3"


def sd_from_se(se: float, n: float) -> Effect:
    """The SD of one arm's values from the SE of its mean: ``SD = SE * sqrt(n)`` (Handbook 6.5.2.2).

    Returns an :class:`~ketameta.convert.Effect` whose ``yi`` is the SD (``vi`` is NaN).
    """
    _fail(not (se > 0 and n >= 1), "the SE must be > 0 and n >= 1")
    sd = float(se) * math.sqrt(n)
    return Effect(sd, math.nan, f"SD = SE x sqrt(n) = {se:g} x sqrt({n:g}) = {sd:.6g} (Cochrane Handbook 6.5.2.2)")


def correlation_from_sds(sd1: float, sd2: float, sd_diff: float) -> float:
    """Within-patient correlation implied by the two conditions' SDs and the SD of the differences.

    ``Corr = (SD1^2 + SD2^2 - SDdiff^2) / (2 SD1 SD2)`` (Handbook 23.2.7.3).
    """
    _fail(not (sd1 > 0 and sd2 > 0 and sd_diff > 0), "SDs must be > 0")
    r = (sd1 * sd1 + sd2 * sd2 - sd_diff * sd_diff) / (2 * sd1 * sd2)
    _fail(not -1 < r < 1, f"the SDs imply a correlation of {r:.3f}, outside (-1, 1); check them")
    return float(r)


def smd_crossover(m1: float, sd1: float, m2: float, sd2: float, n: float, corr: float,
                  *, hedges: bool = True, corr_source: str = "assumed") -> Effect:
    """Standardized mean difference of a crossover trial with ``n`` patients (each counted once).

    The difference of the two conditions' means is standardized by the pooled SD of the
    measurements (not of the differences), so the SMD is on the scale of a parallel trial's;
    its sampling variance uses the within-patient correlation ``corr``:

    ``SMD = (m1 - m2) / sqrt((SD1^2 + SD2^2) / 2)``,
    ``Var = (1/n + SMD^2 / (2n)) * 2 (1 - corr)`` (Elbourne et al. 2002; Handbook 23.2.7.3),

    with Hedges' correction ``J(2(n - 1))`` applied to the SMD when ``hedges``.

    Parameters
    ----------
    m1, sd1, m2, sd2 : float
        Mean and SD under the experimental and the control condition.
    n : float
        Patients who completed both periods.
    corr : float
        Within-patient correlation, in (-1, 1): from the SD of the differences
        (:func:`correlation_from_sds`) or assumed (then varied in a sensitivity analysis).
    corr_source : str
        Words for the derivation ("assumed", "from the SD of the differences", ...).
    """
    _fail(not (sd1 > 0 and sd2 > 0 and n >= 2), "SDs must be > 0 and n >= 2")
    _fail(not -1 < corr < 1, "the within-patient correlation must lie in (-1, 1)")
    sdp = math.sqrt((sd1 * sd1 + sd2 * sd2) / 2)
    d = (m1 - m2) / sdp
    j = float(hedges_correction(2 * (n - 1))) if hedges else 1.0
    g = j * d
    vi = (1 / n + g * g / (2 * n)) * 2 * (1 - corr)
    return Effect(g, vi, f"crossover SMD{' (Hedges, J(2(n-1)))' if hedges else ''} = ({m1:g} - {m2:g}) / "
                         f"sqrt(({sd1:g}^2 + {sd2:g}^2)/2) with n = {n:g} patients counted once; variance "
                         f"(1/n + g^2/(2n)) x 2(1 - r), r = {corr:.3g} ({corr_source}) ({_ELBOURNE})")


def within_d_to_smd(d: float, vi: float, corr: float, *, corr_source: str = "assumed") -> Effect:
    """A crossover trial's d standardized by the SD of the within-patient differences, on the
    scale of the measurements: ``d_between = d_within * sqrt(2 (1 - corr))`` (Morris & DeShon
    2002, eq. 12); the variance is scaled by the same factor squared.
    """
    _fail(not -1 < corr < 1, "the within-patient correlation must lie in (-1, 1)")
    f = math.sqrt(2 * (1 - corr))
    return Effect(d * f, vi * f * f,
                  f"within-patient d x sqrt(2(1 - r)) = {d:g} x {f:.4g}, r = {corr:.3g} ({corr_source}) "
                  "(Morris & DeShon 2002, eq. 12)")


def log_or_crossover(a1: float, a2: float, n: float, corr: float, *, corr_source: str = "assumed") -> Effect:
    """Marginal log odds ratio of a binary crossover outcome with ``n`` patients counted once.

    ``yi = logit(p1) - logit(p2)``, ``Var = [1/(n p1 q1) + 1/(n p2 q2) - 2 corr / (n sqrt(p1 q1 p2 q2))]``
    (Becker & Balagtas 1993; Curtin et al. 2002): the parallel-group variance less the covariance
    of the two conditions' responses, which needs the within-patient correlation (assumed when
    the paired table is not reported). A zero or full cell gets 1/2 added to the events and 1 to n.
    """
    _fail(not (0 <= a1 <= n and 0 <= a2 <= n and n >= 1), "events must lie in [0, n]")
    _fail(not -1 < corr < 1, "the within-patient correlation must lie in (-1, 1)")
    adj = 0.5 if min(a1, a2, n - a1, n - a2) == 0 else 0.0
    nn = n + 2 * adj
    p1, p2 = (a1 + adj) / nn, (a2 + adj) / nn
    v1, v2 = p1 * (1 - p1), p2 * (1 - p2)
    yi = math.log(p1 / (1 - p1)) - math.log(p2 / (1 - p2))
    vi = (1 / (nn * v1) + 1 / (nn * v2) - 2 * corr / (nn * math.sqrt(v1 * v2)))
    _fail(vi <= 0, "the assumed correlation makes the variance non-positive")
    return Effect(yi, vi, f"marginal log OR of a crossover trial from {a1:g}/{n:g} vs {a2:g}/{n:g} (same patients"
                          f"{', 1/2 added to each cell' if adj else ''}); variance with within-patient "
                          f"correlation r = {corr:.3g} ({corr_source}) (Becker & Balagtas 1993; Curtin et al. 2002)")
