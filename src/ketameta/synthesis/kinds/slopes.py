"""Pooled regression slopes reported by primary studies on a shared scale."""

from __future__ import annotations

from ..pools import TEST_NAMES, finish_model, pool, require_rows
from ..registry import register
from .pooled import WITHIN_TRIAL_NOTE, PooledKind

__all__ = ["Slopes"]


@register
class Slopes(PooledKind):
    """Regression slopes (e.g. MADRS points per CADSS point) pooled with random effects."""

    type = "slopes"
    section_header = "Pool"
    #: the study sheet gives each slope its route (``pool_by``)
    needs_evidence = True

    def fit(self, ev, es, spec):
        """One pool of the selected slopes, or one per value of ``pool_by`` (never combined).

        With ``pool_by`` (a study-sheet column such as ``route``), slopes from different
        routes or drugs are pooled only within their group: an intravenous and an intranasal
        slope estimate different quantities (Riley et al. 2008 on mixing levels; Cochrane
        Handbook v6.4, 10.10.2 on combining dissimilar studies).
        """
        require_rows(es)
        unit = spec.get("unit", "")
        by = spec.get("pool_by")
        if not by:
            p = pool(es, "GEN", spec["method"], spec["test"], spec["level"], label=unit,
                     bayes=spec.get("bayes"))
            return finish_model({"pools": [p], "pool_by": None, "unit": unit}, spec)
        col = ev.studies[by].reindex(es["study_id"]).fillna("NR").astype(str).to_numpy()
        labels = spec.get("pool_labels") or {}
        pools = []
        present = set(col)
        # the configured order first, then any other value alphabetically
        for val in [v for v in labels if v in present] + sorted(present - set(labels)):
            g = es[col == val]
            p = pool(g, "GEN", spec["method"], spec["test"], spec["level"],
                     label=labels.get(val, f"{by} {val}"), bayes=spec.get("bayes"))
            p["group"] = {"column": by, "value": val}
            pools.append(p)
        return finish_model({"pools": pools, "pool_by": by, "unit": unit}, spec)

    def lead(self, spec):
        """The within-trial level, said first."""
        return WITHIN_TRIAL_NOTE

    def methods(self, fit, spec):
        """Methods sentence."""
        test = TEST_NAMES.get(fit.get("test"), fit.get("test"))
        by = fit.get("pool_by")
        return (f"Regression slopes reported inside trials on a shared scale ({spec.get('unit', '')}) "
                f"were pooled with a random-effects model ({fit['method']}, {test})"
                + (f", separately per {by} (slopes of different {by}s are never combined; "
                   "the combined pool is a sensitivity analysis)" if by else "") + ".")

    def findings(self, fit, spec):
        """The pooled slope (a single study does not count towards a verdict)."""
        from ..text import fmt_ci

        out = []
        for p in fit["pools"]:
            if p["k"] == 0:
                out.append({"text": f"{p['label']}: no study"})
                continue
            est, lo, hi = p.get("estimate"), p.get("ci_lb"), p.get("ci_ub")
            what = (f"pooled within-trial slope ({p['label']}), k = {p['k']}" if p["k"] > 1 else
                    f"within-trial slope ({p['label']}; single study, not pooled: "
                    f"{', '.join(p['studies'])})")
            out.append({"text": f"{what}: {fmt_ci(est, lo, hi, 3)}",
                        "level": "within-trial", "unit": spec.get("unit", ""),
                        "estimate": est, "ci_lb": lo, "ci_ub": hi, "k": p["k"],
                        "studies": p["studies"], "tally": p["k"] >= 2})
        return out
