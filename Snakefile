# ketameta: living evidence synthesis of ketamine for depression.
#
# Data flow: data/ (read-only, validated when the workflow is parsed)
#   -> results/effect_sizes/{analysis}.csv   (yi, vi with provenance and derivations)
#   -> results/fits/{analysis}.json          (fitted models: to_dict() of the library results)
#   -> results/tables/{analysis}.{csv,md,tex,html}, results/figures/{analysis}.{pdf,svg,png}
#      (the formats each figure's settings ask for: config `figures`)
#   -> results/values/values.{tex,json}, results/report.html
# Paths follow results/<stage>/<analysis>.<ext>; logs go to results/logs/<rule>/.
# Run `snakemake --list-rules` for what each rule does.

from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/evidence.smk"
include: "workflow/rules/effect_sizes.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/tables.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/living.smk"
include: "workflow/rules/report.smk"


rule all:
    """Build every table, figure, value and the HTML report."""
    default_target: True
    input:
        get_final_output(),


rule release:
    """Freeze the current results as a version under releases/ (`make release`; never by `make run`)."""
    input:
        release_target(),
