"""Effect sizes from results as papers report them.

Papers rarely give the means, SDs and counts that :func:`ketameta.escalc` needs. They give an
estimate with a confidence interval, a t or F statistic, a p-value, a correlation with a
p-value, a percentage of a group. Each converter here turns one such report into an effect
size ``yi`` with sampling variance ``vi`` (or into the derived quantity it names) and says,
in a human-readable ``derivation`` string, which formula was used and where it comes from,
so that the provenance of every derived number can be written next to it.

All converters are vectorised where that makes sense (numpy arrays in, arrays out; scalars in,
floats out) and raise :class:`~ketameta.errors.ModelError` for impossible inputs.

References
----------
Borenstein M, Hedges LV, Higgins JPT, Rothstein HR (2009). Introduction to Meta-Analysis.
    Wiley. Ch. 4 (d and g from t, F, p; eq. 4.18-4.24), ch. 6 (r and Fisher's z), ch. 7
    (converting among effect sizes, eq. 7.1-7.10).
Cooper H, Hedges LV, Valentine JC (eds) (2019). The Handbook of Research Synthesis and
    Meta-Analysis, 3rd ed. Russell Sage. Ch. 11 (effect sizes from test statistics).
Higgins JPT, Li T, Deeks JJ (eds) (2023). Chapter 6: Choosing effect measures and computing
    estimates of effect. In: Cochrane Handbook for Systematic Reviews of Interventions v6.4.
    Section 6.3 (SE from a CI or P value; ratio measures on the log scale) and 6.5.2 (SDs
    from SEs, CIs, t statistics and P values).
Chinn S (2000). A simple method for converting an odds ratio to effect size for use in
    meta-analysis. Stat Med 19:3127-3131.
Fisher RA (1921). On the "probable error" of a coefficient of correlation deduced from a
    small sample. Metron 1:3-32.
Morris SB, DeShon RP (2002). Combining effect size estimates in meta-analysis with repeated
    measures and independent-groups designs. Psychol Methods 7:105-125.
Hedges LV (1981). Distribution theory for Glass's estimator of effect size and related
    estimators. J Educ Stat 6:107-128.
"""

from ._base import ChangeSD, CIEffect, Effect, EventCount, ImpliedN
from .change import sd_from_t_paired, smd_from_within_changes
from .ci import from_ci, from_se, md_from_t, rd_from_ci, slope_from_ci, slope_from_se
from .correlation import d_from_r, n_from_r_p, r_from_d, r_to_z, z_to_r
from .counts import events_from_percent
from .crossover import correlation_from_sds, log_or_crossover, sd_from_se, smd_crossover, within_d_to_smd
from .ratio import log_or_to_smd, smd_to_log_or
from .teststat import from_F_two_groups, from_p_two_groups, from_t_two_groups

__all__ = [
    "Effect", "CIEffect", "ChangeSD", "ImpliedN", "EventCount", "from_ci", "from_se",
    "from_t_two_groups", "from_F_two_groups", "from_p_two_groups", "md_from_t", "r_to_z", "z_to_r",
    "n_from_r_p", "sd_from_t_paired", "smd_from_within_changes", "log_or_to_smd", "smd_to_log_or",
    "d_from_r", "r_from_d", "events_from_percent", "rd_from_ci", "slope_from_ci", "slope_from_se",
    "sd_from_se", "correlation_from_sds", "smd_crossover", "within_d_to_smd", "log_or_crossover",
]
