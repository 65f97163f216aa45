# rewild: the WildChat-50M reproduction as a workflow. Stages live in rules/<stage>.smk; logic in the
# `rewild` package. Paper preset: config.yaml. Demo: `snakemake --profile profiles/local`.

from rewild.config import carry_replace_workflow_config

# Snakemake 9.27 does not hand --replace-workflow-config on to cluster jobs: a job would merge config.yaml with
# the --configfile the run replaced it with (another config than the main process planned with).
carry_replace_workflow_config(workflow.config_settings)


configfile: "config.yaml"


include: "rules/common.smk"
include: "rules/prompts.smk"
include: "rules/generate.smk"
include: "rules/filter.smk"
include: "rules/mix.smk"
include: "rules/sft.smk"
include: "rules/evaluate.smk"
include: "rules/analyse.smk"
include: "rules/report.smk"
include: "rules/judge.smk"
include: "rules/style.smk"
include: "rules/alpaca_eval.smk"
include: "rules/mixeval.smk"
include: "rules/judged.smk"
include: "rules/archive.smk"
include: "rules/prefetch.smk"


# cheap aggregation steps run on the submitting node under Slurm
localrules:
    all,
    scores_table,
    efficiency_table,
    summary,
    judge_tables,
    training_curves,
    study_tables,
    similarity,
    style,
    paper_comparison,
    judge_cost,


rule all:
    default_target: True
    input:
        final_outputs(),
