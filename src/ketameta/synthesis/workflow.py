"""Helpers the Snakemake files call at parse time (no Snakemake import here).

* :func:`validate_config` -- the config against its JSON schema, with errors that name the key
  path and suggest the closest known key;
* :func:`load_and_validate` -- config + evidence base; every analysis' filter must select rows;
* :func:`figure_analyses` -- the analyses whose kind draws a figure;
* :func:`long_table_analyses` -- the analyses whose kind writes a long table;
* :func:`chunked_analyses` -- the analyses fitted in chunks (one job each), with their counts;
* :func:`analysis_digest_for` -- the fingerprint that makes a data edit rerun only the analyses
  whose rows changed.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import jsonschema
import yaml

from ..errors import InputError, InputErrors

__all__ = ["validate_config", "load_and_validate", "figure_analyses", "long_table_analyses", "chunked_analyses",
           "input_error_report", "analysis_digest_for", "cited_keys"]



def _path(err) -> str:
    parts = [str(p) for p in err.absolute_path]
    return ".".join(parts) if parts else "(top level)"


def _known_keys(schema, err):
    """Property names allowed where an 'additionalProperties' error occurred."""
    sch = err.schema
    props = sch.get("properties", {}) if isinstance(sch, dict) else {}
    return list(props)


def validate_config(config: dict, schema_path, config_path="config/config.yaml") -> dict:
    """Validate ``config`` against the schema; raise :class:`InputErrors` listing every problem.

    Defaults declared in the schema are not filled in here (Snakemake's ``validate`` does that);
    this function exists to give messages a user can act on: the key path, what was expected,
    and for a misspelled key the closest known one.
    """
    with open(schema_path, encoding="utf-8") as fh:
        schema = yaml.safe_load(fh)
    validator = jsonschema.Draft202012Validator(schema)
    errors = []
    for err in sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path)):
        where = _path(err)
        if err.validator == "additionalProperties":
            extra = [k for k in err.instance if k not in _known_keys(schema, err)]
            known = _known_keys(schema, err)
            for key in extra:
                hint = difflib.get_close_matches(key, known, n=1)
                msg = f"unknown key {key!r} under {where}"
                msg += f" (did you mean {hint[0]!r}?)" if hint else f" (allowed: {', '.join(known)})"
                path = key if where == "(top level)" else f"{where}.{key}"
                errors.append(InputError(msg, file=str(config_path), column=path))
            continue
        if err.validator in ("if", "then", "allOf"):
            continue
        expected = ""
        if err.validator == "enum":
            # jsonschema's message already lists the allowed values: add the closest one
            allowed = [str(v) for v in err.validator_value]
            hint = difflib.get_close_matches(str(err.instance), allowed, n=1)
            expected = f" (did you mean {hint[0]!r}?)" if hint else ""
        errors.append(InputError(f"{err.message}{expected}", file=str(config_path), column=where))
    if errors:
        # an 'if/then' failure is reported through its sub-errors; dedupe messages
        seen, uniq = set(), []
        for e in errors:
            key = (e.column, e.message)
            if key not in seen:
                seen.add(key)
                uniq.append(e)
        raise InputErrors(uniq)
    return config


def load_and_validate(config: dict, config_path="config/config.yaml",
                      schema_path="workflow/schemas/config.schema.yaml"):
    """Validate the config, load and validate the evidence base, and check every filter.

    Returns the loaded evidence (:class:`ketameta.evidence.Evidence`). Raises
    :class:`InputErrors` before any output is written if anything is wrong.
    """
    from ..evidence import load_evidence
    from .select import select_rows
    from .spec import flat_spec

    validate_config(config, schema_path, config_path)
    ev_cfg = config["evidence"]
    for key in ("studies", "effects", "bib", "rob", "screening", "search_log", "watch"):
        if key in ev_cfg and not Path(ev_cfg[key]).exists():
            raise InputError(f"file not found: {ev_cfg[key]}", file=str(config_path),
                             column=f"evidence.{key}")
    review = {k: ev_cfg[k] for k in ("rob", "screening", "search_log", "watch") if k in ev_cfg}
    ev = load_evidence(studies=ev_cfg["studies"], effects=ev_cfg["effects"], bib=ev_cfg["bib"], **review)
    if ev.effects.empty:
        # one problem, on the file: not one per analysis whose question then matches nothing
        raise InputErrors([InputError(
            "no data rows: the file has its header line but no result rows; add one row per "
            "reported result (data/README.md, 'Add a new trial')", file=str(ev_cfg["effects"]), line=2)])
    problems = []
    for aid in config["analyses"]:
        spec = flat_spec(config, aid)
        if spec.get("select") is not None:
            try:
                select_rows(ev, spec, config["grades"], config_path=str(config_path))
            except InputError as exc:
                problems.append(exc)
    for sid in config["sensitivity"]["analyses"]:
        if sid not in config["analyses"]:
            problems.append(InputError(
                f"sensitivity.analyses names unknown analysis {sid!r} "
                f"(known: {', '.join(config['analyses'])})", file=str(config_path),
                column="sensitivity.analyses"))
    for c in config["claims"]:
        for aid in c["evidence"]:
            if aid not in config["analyses"]:
                problems.append(InputError(
                    f"claims[{c['id']}].evidence names unknown analysis {aid!r}",
                    file=str(config_path), column=f"claims.{c['id']}.evidence"))
        for aid in c.get("certainty_from", []):
            if aid not in config["analyses"]:
                problems.append(InputError(
                    f"claims[{c['id']}].certainty_from names unknown analysis {aid!r}",
                    file=str(config_path), column=f"claims.{c['id']}.certainty_from"))
            elif config["analyses"][aid].get("type") != "sof":
                problems.append(InputError(
                    f"claims[{c['id']}].certainty_from names {aid!r}, which is not a summary-of-findings "
                    "analysis (type: sof)", file=str(config_path), column=f"claims.{c['id']}.certainty_from"))
        if c["source"] not in ev.bib.entries:
            problems.append(InputError(
                f"claims[{c['id']}].source {c['source']!r} is not a key of {ev_cfg['bib']}",
                file=str(config_path), column=f"claims.{c['id']}.source"))
    known = set(figure_analyses(config)) | {"prisma", "rob_traffic_light", "rob_summary"}
    for fid in ((config.get("figures") or {}).get("analyses") or {}):
        if fid not in known:
            problems.append(InputError(
                f"figures.analyses names {fid!r}, which has no figure; figures: {', '.join(sorted(known))}",
                file=str(config_path), column=f"figures.analyses.{fid}"))
    if problems:
        raise InputErrors(problems)
    return ev


def figure_analyses(config) -> list[str]:
    """Analyses whose kind draws a figure."""
    from .registry import kind_of

    return [a for a, s in config["analyses"].items() if kind_of(s["type"]).has_figure]


def long_table_analyses(config) -> list[str]:
    """Analyses whose kind writes a long table (e.g. every specification of a multiverse)."""
    from .registry import kind_of

    return [a for a, s in config["analyses"].items() if kind_of(s["type"]).has_long_table]


def chunked_analyses(config) -> dict[str, int]:
    """Analyses whose fit is split into chunks (one job each), with their number of chunks
    (from the config alone: e.g. a multiverse's grid size over its ``chunk_size``).
    """
    from .pipeline import n_chunks
    from .registry import kind_of
    from .spec import flat_spec

    return {a: n_chunks(flat_spec(config, a)) for a, s in config["analyses"].items()
            if kind_of(s["type"]).chunked}


def analysis_digest_for(ev, config, analysis) -> str:
    """Fingerprint of what one analysis reads (None: the whole evidence base)."""
    import hashlib

    from .registry import kind_of
    from .select import digest
    from .spec import flat_spec

    bib = Path(ev.files["bib"]).read_bytes() if ev.files.get("bib") else b""
    bib_hash = hashlib.sha256(bib).hexdigest()[:12]  # labels and references come from the BibTeX
    if analysis is None:
        return digest(ev, None) + bib_hash
    spec = flat_spec(config, analysis)
    return digest(ev, kind_of(spec["type"]).digest_spec(spec)) + bib_hash


def cited_keys(ev) -> list[str]:
    """Every BibTeX key cited by the data sheets (study rows and provenance columns)."""
    keys = set(ev.studies["citation_key"].dropna().astype(str))
    for frame in (ev.studies, ev.effects):
        for col in frame.columns:
            if col.endswith("source") or col in ("source", "source2"):
                keys |= {str(v) for v in frame[col].dropna() if str(v) in ev.bib.entries}
    return sorted(k for k in keys if k in ev.bib.entries)




def input_error_report(exc) -> str:
    """What the workflow prints for bad input: the problems, one per line, and what to do.

    ``exc`` is an :class:`~ketameta.errors.InputError` (or :class:`~ketameta.errors.InputErrors`);
    no Python traceback: every line names the file, line and column (or config key).
    """
    body = str(exc) if isinstance(exc, InputErrors) else f"1 problem(s) in the input:\n  - {exc}"
    return (f"{body}\nNothing was computed. Fix the listed cells (data/README.md, 'What the checks "
            "catch'; README, 'Troubleshooting') and run again.\n")
