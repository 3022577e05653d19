# papergrid: test claims of late-2024 ML papers on grids of small models.
# Rules live in workflow/rules (one file per experiment), logic in the papergrid package.


configfile: "config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/weights.smk"
include: "workflow/rules/lm_demo.smk"
include: "workflow/rules/precision.smk"
include: "workflow/rules/depth.smk"
include: "workflow/rules/sft.smk"
include: "workflow/rules/post.smk"
include: "workflow/rules/lpo.smk"
include: "workflow/rules/verdicts.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        rules.report.output,
