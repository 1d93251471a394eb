# Shared set-up: validate the configuration and the evidence base when the workflow is parsed
# (so bad input stops everything before any result is written), and name the targets.
# Helpers only; all statistics live in the ketameta library.

from ketameta.workflow_support import (
    analysis_digest_for,
    figure_analyses,
    final_outputs,
    load_and_validate,
)


# Raises a clear error naming file, line and column (data) or key (config) on bad input.
EVIDENCE = load_and_validate(config, config_path="config/config.yaml",
                             schema_path=workflow.source_path("../schemas/config.schema.yaml"))
ANALYSES = list(config["analyses"])
FIGURE_ANALYSES = figure_analyses(config)


wildcard_constraints:
    analysis="|".join(ANALYSES),


def get_final_output():
    """Every target of `rule all`, derived from config/config.yaml."""
    return final_outputs(config)


def analysis_spec(wildcards):
    """The configuration of one analysis plus the global settings it needs."""
    spec = dict(config["analyses"][wildcards.analysis])
    spec.update(id=wildcards.analysis, level=config["level"], seed=config["seed"],
                grades=config["grades"], exploratory_k=config.get("exploratory_k", 10))
    return spec


def analysis_digest(wildcards):
    """Fingerprint of the data rows an analysis uses: a changed row reruns only its analyses."""
    return analysis_digest_for(EVIDENCE, config, wildcards.analysis)


def evidence_digest(wildcards):
    """Fingerprint of the whole evidence base (for outputs that summarise all of it)."""
    return analysis_digest_for(EVIDENCE, config, None)


def fits_for_sensitivity(wildcards):
    return expand("results/effect_sizes/{analysis}.csv",
                  analysis=config["sensitivity"]["analyses"])


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
        "specs": {a: analysis_spec(type("W", (), {"analysis": a})) for a in
                  config["sensitivity"]["analyses"]},
        "level": config["level"],
        "seed": config["seed"],
        "grades": config["grades"],
    }


def claims_inputs(wildcards):
    """Fits of every analysis a claim draws on, plus the sensitivity results."""
    ids = sorted({a for c in config["claims"] for a in c["evidence"]})
    return expand("results/fits/{analysis}.json", analysis=ids)
