# Shared set-up: validate the configuration and the evidence base when the workflow is parsed
# (so bad input stops everything before any result is written), name the files every stage
# writes, and the targets. Helpers only; all statistics live in the ketameta library.

import json
import sys

from ketameta.errors import InputError

from ketameta import __version__ as KETAMETA_VERSION
from ketameta.synthesis.living import (
    find_release,
    inputs_digest,
    latest_release,
    release_id,
)
from ketameta.synthesis.registry import kind_of
from ketameta.synthesis.spec import flat_spec
from ketameta.synthesis.figopts import figure_formats, figure_options
from ketameta.synthesis.workflow import (
    chunked_analyses,
    figure_analyses,
    input_error_report,
    long_table_analyses,
    load_and_validate,
    analysis_digest_for,
)

# Bad input stops here with one line per problem (file, line, column or key), no traceback.
try:
    EVIDENCE = load_and_validate(
        config,
        config_path="config/config.yaml",
        schema_path=workflow.source_path("../schemas/config.schema.yaml"),
    )
except InputError as exc:
    sys.stderr.write(input_error_report(exc))
    sys.exit(1)
ANALYSES = list(config["analyses"])
FIGURE_ANALYSES = figure_analyses(config)
# analyses with a long table beside the results table (every specification of a multiverse)
LONG_TABLE_ANALYSES = long_table_analyses(config)
# analyses fitted in chunks, one job each, then gathered (a multiverse's grid): id -> chunks
try:
    CHUNKS = chunked_analyses(config)
except InputError as exc:
    sys.stderr.write(input_error_report(exc))
    sys.exit(1)
# fit_model fits the others; a pattern matching nothing when every analysis is chunked
WHOLE_ANALYSES = [a for a in ANALYSES if a not in CHUNKS]

# The validated copy of the evidence base that every job after prepare_evidence reads.
REVIEW_SHEETS = [
    s for s in ("rob", "screening", "search_log", "watch") if s in config["evidence"]
]
EVIDENCE_FILES = {
    "studies": "results/evidence/studies.csv",
    "effects": "results/evidence/effects.csv",
    "bib": "results/evidence/references.bib",
    **{s: f"results/evidence/{s}.csv" for s in REVIEW_SHEETS},
    "warnings": "results/evidence/warnings.csv",
    "digest": "results/evidence/digest.json",
}
EVIDENCE_SHEETS = ["studies", "effects", "bib", *REVIEW_SHEETS]
# The fingerprint of the rows each analysis reads, and of the whole evidence base: the jobs that
# write them rerun when it changes (a params change), and the jobs that read the evidence take
# them as input, so a data edit reruns exactly the analyses whose rows changed. (The evidence copy
# itself is an ancient() input: its rewrite alone reruns nothing.)
EVIDENCE_FINGERPRINT = "results/evidence/rows/_evidence.json"
TABLE_FORMATS = ("csv", "md", "tex", "html")
# Living review: releases (make release) and the inputs that identify a version.
CONFIG_FILE = "config/config.yaml"
RELEASES = config.get("living", {}).get("releases", "releases")
INPUTS_DIGEST = inputs_digest(
    {s: config["evidence"][s] for s in EVIDENCE_SHEETS}, CONFIG_FILE, KETAMETA_VERSION
)


wildcard_constraints:
    analysis="|".join(ANALYSES),
    version=r"\d{4}-\d{2}-\d{2}-[0-9a-f]{8}",


def get_final_output():
    """Every target of `rule all`, derived from config/config.yaml."""
    out = []
    for a in ANALYSES:
        out += [f"results/effect_sizes/{a}.csv", f"results/fits/{a}.json"]
        out += expand("results/tables/{a}.{ext}", a=a, ext=TABLE_FORMATS)
    for a in FIGURE_ANALYSES:
        out += list(figure_outputs(a).values())
    out += expand("results/tables/{a}.specifications.csv", a=LONG_TABLE_ANALYSES)
    out += expand(
        "results/tables/{t}.{ext}", t=("claims", "sensitivity"), ext=TABLE_FORMATS
    )
    out += [
        "results/tables/studies.csv",
        "results/tables/data_gaps.csv",
        "results/figures/prisma.pdf",
        "results/figures/rob_traffic_light.pdf",
        "results/figures/rob_summary.pdf",
        "results/values/values.tex",
        "results/values/values.json",
        "results/references.md",
        "results/changes.json",
        "results/report.html",
        "results/run_summary.txt",
    ]
    return out


def previous_release(wildcards):
    """The latest release (its record), if any: what results/changes.* compare with."""
    latest = latest_release(RELEASES)
    # local(): releases are committed with the data, never looked up in a storage bucket
    return {"previous": local(str(latest / "release.json"))} if latest else {}


def release_target():
    """The release of the current inputs: the existing one, or a new version id (make release)."""
    existing = find_release(RELEASES, INPUTS_DIGEST)
    if existing:
        return local(str(existing))
    return local(f"{RELEASES}/{release_id(INPUTS_DIGEST)}")


def figure_settings(figure):
    """Size, font, formats and clipping of one figure (config `figures`)."""
    return figure_options(config, figure)


def figure_outputs(figure, caption=None):
    """The files of one figure, by format: the formats its settings ask for (always SVG; with
    a caption, the SVG is marked for the Snakemake report)."""
    out = {
        fmt: f"results/figures/{figure}.{fmt}"
        for fmt in figure_formats(figure_settings(figure))
    }
    if caption:
        out["svg"] = report(
            out["svg"], caption=caption, category="Figures", subcategory=figure
        )
    return out


def analysis_spec(wildcards):
    """The configuration of one analysis plus the global settings and the paths it names."""
    return spec_of(wildcards.analysis)


def spec_of(aid):
    """:func:`analysis_spec` of an analysis id."""
    spec = flat_spec(config, aid)
    spec["paths"] = {
        "effect_sizes": f"results/effect_sizes/{aid}.csv",
        "excluded": f"results/effect_sizes/{aid}.excluded.csv",
    }
    return spec


def evidence_sources():
    """The evidence sheets in data/ (the inputs of prepare_evidence), by name.

    Marked local(): with a default storage provider (the Kubernetes profile) the sheets are not
    looked up in the bucket but travel with the workflow sources (data/ is tracked by git), so
    prepare_evidence copies exactly the files validated at parse time. Without a storage
    provider (plain `snakemake`, the SLURM profile) the flag changes nothing.
    """
    return {s: local(config["evidence"][s]) for s in EVIDENCE_SHEETS}


def evidence_inputs(which=EVIDENCE_SHEETS):
    """The validated evidence copy as inputs whose rewrite alone reruns nothing (ancient): a job
    reruns when the fingerprint of the rows it reads changes (``rows=row_fingerprint`` or
    ``fingerprint=EVIDENCE_FINGERPRINT``, written when the workflow is parsed).
    """
    return {k: ancient(EVIDENCE_FILES[k]) for k in which}


def row_fingerprint(wildcards):
    """The fingerprint file of the rows one analysis reads."""
    return f"results/evidence/rows/{wildcards.analysis}.json"


def fingerprint_record(analysis):
    """The JSON line of one fingerprint file (analysis None: the whole evidence base)."""
    return json.dumps(
        {
            "scope": analysis or "evidence",
            "digest": analysis_digest_for(EVIDENCE, config, analysis),
        },
        sort_keys=True,
    )


def one_of(ids):
    """A wildcard pattern matching exactly these analysis ids (none: a pattern matching nothing)."""
    return "|".join(ids) if ids else "(?!)"


def chunk_parts(wildcards):
    """The parts of a chunked analysis, one per chunk job."""
    n = CHUNKS[wildcards.analysis]
    return {
        "parts": expand(
            "results/fits/{a}/part-{i}.csv.gz", a=wildcards.analysis, i=range(n)
        ),
        "counts": expand(
            "results/fits/{a}/part-{i}.json", a=wildcards.analysis, i=range(n)
        ),
    }


def long_table_of(analysis):
    """The gathered long table of a chunked analysis (nothing for the others)."""
    return (
        [f"results/fits/{analysis}.specifications.csv.gz"] if analysis in CHUNKS else []
    )


def dependency_fits(wildcards):
    """Fits of the analyses this analysis summarises (none for most kinds)."""
    spec = flat_spec(config, wildcards.analysis)
    return expand("results/fits/{a}.json", a=kind_of(spec["type"]).depends_on(spec))


def all_fits(wildcards):
    return expand("results/fits/{analysis}.json", analysis=ANALYSES)


def all_tables(wildcards):
    return expand("results/tables/{analysis}.html", analysis=ANALYSES)


def all_figures(wildcards):
    return expand("results/figures/{analysis}.svg", analysis=FIGURE_ANALYSES)


def sensitivity_config(wildcards):
    """Settings of the sensitivity analysis and the specs of the analyses it varies."""
    return {
        "sensitivity": config["sensitivity"],
        "specs": {a: flat_spec(config, a) for a in config["sensitivity"]["analyses"]},
        "level": config["level"],
        "seed": config["seed"],
        "grades": config["grades"],
    }


def claims_inputs(wildcards):
    """Fits of every analysis a claim draws on."""
    ids = sorted(
        {
            a
            for c in config["claims"]
            for a in c["evidence"] + c.get("certainty_from", [])
        }
    )
    return expand("results/fits/{analysis}.json", analysis=ids)
