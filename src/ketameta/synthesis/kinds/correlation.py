"""Pooled within-study correlations (Fisher's z) per time window."""

from __future__ import annotations

from ..pools import TEST_NAMES, finish_model, pool_windows, require_rows
from ..registry import register
from .pooled import WITHIN_TRIAL_NOTE, PooledKind

__all__ = ["Correlation"]


@register
class Correlation(PooledKind):
    """Correlations between acute dissociation and improvement, pooled on Fisher's z per window
    (random effects; Knapp & Hartung 2003 by default), back-transformed to r.
    """

    type = "correlation"

    def fit(self, ev, es, spec):
        """Pool Fisher-z correlations per configured window."""
        require_rows(es)
        wins = pool_windows(es, spec["windows"], spec["level"], "ZCOR", spec["method"], spec["test"],
                            bayes=spec.get("bayes"))
        return finish_model({"pools": wins}, spec)

    def lead(self, spec):
        """The within-trial level, said first."""
        return WITHIN_TRIAL_NOTE

    def methods(self, fit, spec):
        """Methods sentence."""
        test = TEST_NAMES.get(fit.get("test"), fit.get("test"))
        lvl = f"{fit.get('level', 95):g}%"
        return ("Within-study correlations between acute dissociation and improvement were "
                "harmonised so that positive values mean more dissociation with more improvement, "
                "transformed to Fisher's z (variance 1/(n - 3)) and pooled per time window with a "
                f"random-effects model ({fit['method']} estimator of tau^2, {test}); pooled values "
                f"were back-transformed to r with {lvl} confidence intervals. Correlations without a "
                "reported n used the n implied by r and its p-value (a flagged derivation; bounds "
                "in the sensitivity analysis). A window with a single study reports that study.")

    def extra_variants(self, spec, settings):
        """How correlations without (or with an inconsistent) n are handled."""
        out = []
        for pol, what in (("bound_low", "smallest n consistent with r and p"),
                          ("bound_high", "largest n consistent with r and p"),
                          ("study_n", "the study's total n")):
            if pol != spec.get("unknown_n"):
                out.append((f"unknown n: {pol}", f"correlations without a reported n use {what}",
                            spec.replace(unknown_n=pol)))
        if spec.get("inconsistent_n", "implied") != "reported":
            out.append(("inconsistent n: reported",
                        "a reported n that contradicts r and p is used as reported",
                        spec.replace(inconsistent_n="reported")))
        return out

    def findings(self, fit, spec):
        """One finding per window: pooled r (a single study counts too)."""
        out = []
        for p in fit["pools"]:
            if p["k"] == 0:
                out.append({"text": f"{p['label']}: no study"})
                continue
            est, lo, hi = p.get("estimate_bt"), p.get("ci_lb_bt"), p.get("ci_ub_bt")
            what = (f"pooled within-trial r ({p['label']}), k = {p['k']}" if p["k"] > 1 else
                    f"within-trial r ({p['label']}; single study, not pooled: "
                    f"{', '.join(p['studies'])})")
            out.append({"text": f"{what}: r = {_ci(est, lo, hi)}",
                        "level": "within-trial",
                        "estimate": est, "ci_lb": lo, "ci_ub": hi, "k": p["k"],
                        "studies": p["studies"], "tally": True})
        return out


def _ci(est, lo, hi, d=2):
    from ..text import fmt_ci

    return fmt_ci(est, lo, hi, d)
