"""One entry point per workflow stage, for any analysis kind: rows -> effect sizes -> fit -> outputs.

Each function looks up the analysis' kind in the registry (:mod:`ketameta.synthesis.registry`)
and calls it; there is no branching on the analysis type here or anywhere outside the kinds.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import ModelError
from .registry import kind_of
from .spec import AnalysisSpec

__all__ = ["as_spec", "effect_sizes", "fit", "safe_fit", "failed_fit", "n_chunks", "fit_chunk", "gather",
           "read_part", "with_long_table",
           "table", "long_table", "figure",
           "methods_sentence", "report_paragraphs", "headline_values"]


def as_spec(spec) -> AnalysisSpec:
    """An :class:`AnalysisSpec` from a spec or a flat dict (as the workflow passes it)."""
    return spec if isinstance(spec, AnalysisSpec) else AnalysisSpec.from_dict(spec)


def effect_sizes(ev, spec, strict=True):
    """Effect-size table and exclusions of one analysis (``es`` sorted by study, time, id)."""
    spec = as_spec(spec)
    es, excluded = kind_of(spec).effect_sizes(ev, spec, strict=strict)
    return es.reset_index(drop=True), excluded.reset_index(drop=True)


def fit(ev, es, spec, context=None) -> dict:
    """Fit one analysis from its effect sizes (and the evidence, for descriptive kinds; and the
    fits of other analyses, in ``context['fits']``, for kinds that summarise them).
    """
    spec = as_spec(spec)
    kind = kind_of(spec)
    if kind.depends_on(spec):
        return kind.fit(ev, es, spec, context=context or {})
    return kind.fit(ev, es, spec)


def n_chunks(spec) -> int:
    """How many jobs the fit of a chunked kind is split into (0: not chunked, :func:`fit` it)."""
    spec = as_spec(spec)
    kind = kind_of(spec)
    return kind.n_chunks(spec) if kind.chunked else 0


def fit_chunk(ev, spec, chunk: int):
    """One chunk of a chunked kind's fit: its part of the long table and its counts (a dict).

    A ModelError (e.g. a base analysis without windows) gives an empty part and the reason in the
    counts (``error``); :func:`gather` then records the analysis as failed, as :func:`safe_fit`
    does, so the other analyses still run.
    """
    import pandas as pd

    spec = as_spec(spec)
    try:
        return kind_of(spec).fit_chunk(ev, spec, chunk)
    except ModelError as exc:
        return pd.DataFrame(), {"error": str(exc), "row_selections": 0, "datasets": 0, "fitted": 0,
                                "specifications": 0}


def gather(parts, counts, spec):
    """The fit record and the long table of a chunked kind from its chunks' parts (a ModelError
    becomes a ``failed`` record and an empty long table).
    """
    import pandas as pd

    spec = as_spec(spec)
    try:
        return kind_of(spec).gather(parts, counts, spec)
    except ModelError as exc:
        return failed_fit(spec, exc), pd.DataFrame()


def read_part(path, spec):
    """A part of a chunked kind's long table as written (a chunk's, or the gathered one)."""
    from .grid import dimensions
    from .grid import read_part as _read

    return _read(path, [d[0] for d in dimensions(as_spec(spec))])


def with_long_table(fit_: dict, paths, spec) -> dict:
    """The fit record with its long table attached from the gathered file (``paths``: none, or
    one path; the record as it is when there is none or the fit failed).
    """
    paths = list(paths) if not isinstance(paths, str) else [paths]
    if not paths or fit_.get("status") != "ok":
        return fit_
    return {**fit_, "specifications": read_part(paths[0], spec)}


def failed_fit(spec, exc) -> dict:
    """The record written when an analysis cannot be fitted: status and the reason."""
    return {"analysis": spec["id"], "type": spec["type"], "title": spec.get("title", spec["id"]),
            "status": "failed", "reason": str(exc), "error": type(exc).__name__}


def safe_fit(ev, es, spec, context=None) -> dict:
    """:func:`fit`, but a ModelError becomes a ``failed`` record instead of an exception."""
    try:
        return fit(ev, es, spec, context)
    except ModelError as exc:
        return failed_fit(spec, exc)


def table(fit_: dict, es, excluded, spec, cit):
    """The results table of one analysis (a failed fit gives a one-row table saying why)."""
    from ..outputs.tables import Table

    spec = as_spec(spec)
    if fit_.get("status") != "ok":
        import pandas as pd

        df = pd.DataFrame({"status": ["failed"], "reason": [fit_.get("reason", "")]})
        return Table(df, title=fit_.get("title", spec["id"]),
                     notes=[f"The analysis could not be fitted: {fit_.get('reason', '')}"],
                     label=f"tab:{spec['id']}")
    return kind_of(spec).table(fit_, es, excluded, spec, cit)


def long_table(fit_: dict, spec):
    """The long table of one analysis whose kind has one (a one-row table saying why when the
    analysis failed).
    """
    from ..outputs.tables import Table

    spec = as_spec(spec)
    if fit_.get("status") != "ok":
        import pandas as pd

        return Table(pd.DataFrame({"status": ["failed"], "reason": [fit_.get("reason", "")]}),
                     title=fit_.get("title", spec["id"]))
    return kind_of(spec).long_table(fit_, spec)


def figure(fit_: dict, es, spec, cit, rob=None, rob_palette="cochrane", opts=None):
    """The figure of one analysis (a small message figure when it failed).

    ``rob`` (per study, the risk-of-bias judgements by domain; :func:`ketameta.synthesis.robtable.
    rob_by_study`) adds the robvis columns at the right edge of forest plots; ``opts`` are the
    figure's settings from the config's ``figures`` section (:func:`.figopts.figure_options`).
    """
    from ..outputs.figures.style import message_figure

    spec = as_spec(spec)
    if fit_.get("status") != "ok":
        return message_figure(f"{fit_.get('title', '')}\nnot fitted: {fit_.get('reason', '')}")
    fig = kind_of(spec).figure(fit_, es, spec, cit, rob=rob, rob_palette=rob_palette, opts=opts)
    return fig if fig is not None else message_figure(f"no figure for analysis type {spec['type']}")


def methods_sentence(fit_: dict, spec) -> str:
    """The methods sentence of one analysis."""
    if fit_.get("status") != "ok":
        return f"This analysis could not be fitted: {fit_.get('reason', '')}"
    return kind_of(fit_).methods(fit_, as_spec(spec))


def report_paragraphs(fit_: dict, spec) -> list[str]:
    """Plain-language result sentences of one analysis (after the kind's lead sentence)."""
    kind = kind_of(fit_.get("type") or spec["type"])
    lead = kind.lead(as_spec(spec))
    out = [lead] if lead else []
    if fit_.get("status") != "ok":
        return out
    return out + kind.paragraphs(fit_, as_spec(spec))


def headline_values(fits: Mapping[str, dict], claims: list[dict] | None = None) -> dict:
    """In-text values of every analysis and claim: macro name -> (value, format)."""
    from ..outputs.values import macro_name

    vals = {}
    for aid, f in fits.items():
        if f.get("status") != "ok":
            vals[macro_name(f"{aid}_status")] = "failed"
            continue
        vals.update(kind_of(f).values(aid, f))
    for c in claims or []:
        vals[macro_name(f"claim_{c['id']}_verdict")] = c["verdict"]
    return vals
