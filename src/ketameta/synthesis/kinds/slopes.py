"""Pooled regression slopes reported by primary studies on a shared scale."""

from __future__ import annotations

from ..pools import TEST_NAMES, finish_model, pool, require_rows
from ..registry import register
from .pooled import PooledKind

__all__ = ["Slopes"]


@register
class Slopes(PooledKind):
    """Regression slopes (e.g. MADRS points per CADSS point) pooled with random effects."""

    type = "slopes"
    section_header = "Scale"

    def fit(self, ev, es, spec):
        """One pool of every selected slope."""
        require_rows(es)
        p = pool(es, "GEN", spec["method"], spec["test"], spec["level"], label=spec.get("unit", ""),
                 bayes=spec.get("bayes"))
        return finish_model({"pools": [p]}, spec)

    def methods(self, fit, spec):
        """Methods sentence."""
        test = TEST_NAMES.get(fit.get("test"), fit.get("test"))
        return (f"Regression slopes reported on a shared scale ({spec.get('unit', '')}) were "
                f"pooled with a random-effects model ({fit['method']}, {test}).")

    def findings(self, fit, spec):
        """The pooled slope (a single study does not count towards a verdict)."""
        from ..text import fmt_ci

        out = []
        for p in fit["pools"]:
            if p["k"] == 0:
                out.append({"text": f"{p['label']}: no study"})
                continue
            est, lo, hi = p.get("estimate"), p.get("ci_lb"), p.get("ci_ub")
            out.append({"text": f"{fit['title'].split(':')[0]} ({p['label']}): slope = "
                                f"{fmt_ci(est, lo, hi)}, k = {p['k']}"
                                + (" (single study)" if p["k"] == 1 else ""),
                        "estimate": est, "ci_lb": lo, "ci_ub": hi, "k": p["k"],
                        "studies": p["studies"], "tally": p["k"] >= 2})
        return out
