import os
import re

from snakemake.settings.types import DeploymentMethod
from snakemake.utils import min_version

from rewild import config as rc
from rewild import plan, resources
from rewild.judge import plan as judge_plan

min_version("9.0")


report: "../report/workflow.rst"


# Validate before any job: schema (snakemake.utils.validate) + cross-references; errors name the key.
rc.validate(config)

PROMPTS = config["prompts"]
SHARDS = plan.shard_names(PROMPTS)
DGMS = config["dgms"]
GENERATED_DGMS = plan.generated_dgms(config)
SOURCE_DGMS = plan.source_dgms(config)
MIXES = plan.all_mixes(config)
MODELS = plan.models(config)
TASKS = config["eval"]["tasks"]
LOCAL_BUILDS = plan.local_builds(config)
# the paper's numbers ship with the workflow, wherever it runs from
PAPER_REFERENCE = os.path.join(workflow.basedir, "data", "paper", "reference.csv")


def _alternatives(names):
    # an impossible pattern when empty, so the rule never matches instead of matching everything
    return "|".join(re.escape(n) for n in names) or "(?!x)x"


wildcard_constraints:
    dgm=_alternatives(DGMS),
    shard=r"s\d{5}",
    mix=_alternatives(MIXES),
    model=_alternatives(MODELS),
    task=_alternatives(TASKS),


# ------------------------------------------------------------------------------------ input functions


# Jobs use a rule's envs/*.yaml only under --software-deployment-method conda. Declaring the env only then
# lets `snakemake --archive` pack the workflow (code, config, external inputs) on a machine without conda;
# with conda deployment it also builds and packs every env, as Snakemake documents.
CONDA_DEPLOYED = (
    DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method
)


def conda_env(name):
    # a function, not a value: Snakemake resolves it per job (None = no env), and --lint sees every rule
    # declare its env, which it does whenever envs are deployed
    path = f"../envs/{name}.yaml"

    def env(wildcards):
        return path if CONDA_DEPLOYED else None

    return env


def final_outputs():
    return (
        [
            "results/tables/scores.csv",
            "results/tables/scores.md",
            "results/tables/dgm_choice.csv",
            "results/report/summary.md",
            "results/plots/sft_loss.png",
        ]
        + (["results/tables/efficiency.csv"] if GENERATED_DGMS else [])
        + (["results/tables/similarity.csv"] if len(DGMS) > 1 else [])
        + judge_plan.judge_targets(config)
    )


def prompt_source(wildcards):
    src = PROMPTS["source"]
    return [src["path"]] if src["type"] == "local" else []


def dgm_model_dir(wildcards):
    """Demo DGMs are built by a rule; real DGMs load from the Hub by id, so no input file."""
    return plan.local_model_dir(config, wildcards.dgm) or []


def demo_model_inputs(wildcards):
    return plan.local_build_inputs(config, wildcards.name)


def dgm_shards(wildcards):
    return expand(
        "results/generations/{dgm}/{shard}.parquet", dgm=wildcards.dgm, shard=SHARDS
    )


def mix_inputs(wildcards):
    return plan.mix_input_files(config, wildcards.mix)


def student_dir(wildcards):
    return plan.local_model_dir(config, "student") or []


def eval_model_dir(wildcards):
    return plan.eval_model(config, wildcards.model)["input"] or []


def eval_jsons(wildcards):
    return expand("results/eval/{model}/{task}.json", model=MODELS, task=TASKS)


def efficiency_jsons(wildcards):
    return expand(
        "results/efficiency/{dgm}/{shard}.json", dgm=GENERATED_DGMS, shard=SHARDS
    )


def sft_metrics(wildcards):
    return expand("results/models/{mix}.metrics.json", mix=MIXES)


def eval_model_id(wildcards):
    return plan.eval_model(config, wildcards.model)["id"]


def eval_model_revision(wildcards):
    return plan.eval_model(config, wildcards.model)["revision"]


def decontamination_indexes(wildcards):
    return expand(
        "results/decontamination/{task}.json", task=plan.decontamination_tasks(config)
    )


def mix_tokenizer(wildcards):
    """Token counts in the manifest use the student's tokenizer when it is a local folder (demo)."""
    return plan.local_model_dir(config, plan.STUDENT)


def generate_config_hash(wildcards):
    """Hash of exactly the settings a generation job receives (provenance; adds no invalidation)."""
    return plan.section_hash(
        plan.dgm_params(config, wildcards.dgm),
        plan.generation_params(config, wildcards.dgm),
    )


def sft_config_hash(wildcards):
    return plan.section_hash(
        plan.student_params(config), plan.sft_params(config, wildcards.mix)
    )


def eval_config_hash(wildcards):
    return plan.section_hash(TASKS[wildcards.task], plan.eval_params(config))


def mix_manifests(wildcards):
    return expand("results/mixes/{mix}/manifest.json", mix=MIXES)


def summary_tables(wildcards):
    tables = {
        name: f"results/tables/{name}.csv"
        for name in ("dgm_choice", "scaling", "blends", "inheritance")
    }
    if GENERATED_DGMS:
        tables["efficiency"] = "results/tables/efficiency.csv"
    return tables


def similarity_generations(wildcards):
    return expand("results/generations/{dgm}.parquet", dgm=DGMS)
