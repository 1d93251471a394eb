"""What every analysis kind provides; the defaults serve kinds that pool selected rows."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

__all__ = ["AnalysisKind", "paths"]


def paths(spec) -> dict:
    """Where the workflow writes this analysis' effect sizes and exclusions (named in table notes).

    The workflow passes them in the spec (``paths``); a library user gets plain file names.
    """
    aid = spec["id"]
    return {"effect_sizes": f"{aid}.csv", "excluded": f"{aid}.excluded.csv", **spec.get("paths", {})}


class AnalysisKind:
    """One kind of analysis (``type`` in the config): its rows, fit, table, figure and sentences.

    A kind module subclasses this, sets :attr:`type`, overrides what differs, and registers
    itself with :func:`ketameta.synthesis.registry.register`. Adding a kind is one new module in
    :mod:`ketameta.synthesis.kinds` plus its ``type`` in the config schema.

    Every method receives the analysis spec (:class:`ketameta.synthesis.spec.AnalysisSpec` or a
    mapping with the same keys) and, where it renders, a :class:`ketameta.outputs.citations.Citations`.
    """

    #: the ``type`` value in config/config.yaml
    type: str = ""
    #: whether the kind draws a figure (results/figures/<analysis>.*)
    has_figure: bool = False
    #: whether the standard sensitivity variants (estimator, test, leave-one-out) apply
    model_variants: bool = False
    #: where the report shows it (lower first; the claims come before everything)
    report_order: int = 1
    #: whether the kind writes a long table beside its results table (:meth:`long_table`)
    has_long_table: bool = False
    #: whether its fit is split into chunks, one workflow job each, then gathered
    #: (:meth:`n_chunks`, :meth:`fit_chunk`, :meth:`gather`; e.g. a multiverse's grid)
    chunked: bool = False
    #: whether its report section follows the sensitivity table (analyses of the analyses)
    after_sensitivity: bool = False
    #: whether its report section shows the risk-of-bias figures
    shows_risk_of_bias: bool = False

    # ---- rows -----------------------------------------------------------------------------
    def digest_spec(self, spec: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """The part of the spec that decides which rows the analysis reads (None: all rows)."""
        return spec

    def effect_sizes(self, ev, spec, strict: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The effect sizes entering the analysis and every other row of its question(s), with reasons."""
        from ..effects import compute
        from ..select import select_rows

        selected, excluded = select_rows(ev, spec, spec["grades"], strict=strict)
        shared = {}
        if self.split_shared_controls:
            from ..effects import split_shared_controls

            selected, shared = split_shared_controls(selected)
        es, skipped = compute(ev, selected, spec)
        if shared and len(es):
            es["derivation"] = [d + "; " + shared[e] if e in shared else d
                                for e, d in zip(es["effect_id"], es["derivation"])]
        if not skipped.empty:
            excluded = pd.concat([excluded, skipped], ignore_index=True)
        es, excluded = self.refine(ev, es, excluded, spec)
        es = es.sort_values(["study_id", "time_days", "effect_id"], na_position="last")
        return es, excluded

    #: whether a control arm shared by several contrasts of a trial is split (arm-level kinds)
    split_shared_controls: bool = False

    def refine(self, ev, es: pd.DataFrame, excluded: pd.DataFrame, spec):
        """Kind-specific steps after the effect sizes are computed (moderators, one per contrast)."""
        return es, excluded

    # ---- model ----------------------------------------------------------------------------
    #: whether :meth:`fit` needs the evidence base (descriptive kinds) or the effect sizes only
    needs_evidence: bool = False

    def expand_spec(self, spec: dict, config: Mapping[str, Any]) -> dict:
        """Add what the kind needs from the rest of the config (default: nothing)."""
        return spec

    def depends_on(self, spec) -> list[str]:
        """Analyses whose fits this kind reads (passed to :meth:`fit` as ``context['fits']``)."""
        return []

    def fit(self, ev, es: pd.DataFrame, spec) -> dict:
        """The fitted analysis as a JSON-able dict (raise ModelError when it cannot be fitted)."""
        raise NotImplementedError

    # ---- outputs --------------------------------------------------------------------------
    def table(self, fit: dict, es: pd.DataFrame, excluded: pd.DataFrame, spec, cit):
        """The results table (:class:`ketameta.outputs.tables.Table`)."""
        raise NotImplementedError

    def long_table(self, fit: dict, spec):
        """The long table (one row per fitted unit, e.g. per specification), or None."""
        return None

    def figure(self, fit: dict, es: pd.DataFrame, spec, cit, rob=None, rob_palette="cochrane",
               opts=None):
        """The figure (:class:`matplotlib.figure.Figure`), or None for kinds without one.

        ``opts`` are the figure's settings from the config (:func:`ketameta.synthesis.figopts.
        figure_options`): ``width``, ``height``, ``fontsize``, ``clip``.
        """
        return None

    def methods(self, fit: dict, spec) -> str:
        """The methods sentence of the report."""
        return ""

    def paragraphs(self, fit: dict, spec) -> list[str]:
        """Plain-language result sentences for the report."""
        return []

    def lead(self, spec) -> str | None:
        """A sentence that opens the report section whatever the fit (what the analysis can show);
        by default the config entry's ``lead``, where the kind's schema allows one.
        """
        return spec.get("lead")

    def values(self, aid: str, fit: dict) -> dict:
        """In-text values: ``{name: (value, format)}`` (names become LaTeX macros)."""
        return {}

    def headlines(self, fit: dict) -> list[dict]:
        """The headline estimates the sensitivity table refits (name, estimate, CI, k, p)."""
        return []

    def sensitivity_spec(self, spec):
        """The spec the sensitivity table starts from (e.g. without permutation tests)."""
        return spec

    def extra_variants(self, spec, settings) -> list[tuple[str, str, Any]]:
        """Kind-specific sensitivity variants: ``(label, detail, spec)``."""
        return []

    def findings(self, fit: dict, spec) -> list[dict]:
        """What the fit says, for the claims table: dicts with ``text`` and, for estimates,
        ``estimate``, ``ci_lb``, ``ci_ub``, ``k``, ``studies`` and ``tally`` (counts towards a
        verdict); for directions ``domain``, ``n_plus`` and ``n_clear``.
        """
        return []
