import os
import re

from snakemake.settings.types import DeploymentMethod
from snakemake.utils import min_version

from rewild import config as rc
from rewild import evaluate as rev
from rewild import plan, resources, score_plan
from rewild.judge import plan as judge_plan

min_version("9.0")


report: "../report/workflow.rst"


# Validate before any job (rewild.config): schema defaults filled, schema, cross-references, sizes and library
# keys checked; errors name the key.
rc.validate(config)

PROMPTS = config["prompts"]
SHARDS = plan.shard_names(PROMPTS)
DGMS = config["dgms"]
GENERATED_DGMS = plan.generated_dgms(config)
SOURCE_DGMS = plan.source_dgms(config)
MIXES = plan.all_mixes(config)
# trained models: one per mix and seed of sft.seeds (`<mix>`, `<mix>~s<seed>`); wildcard `mix` of rule sft
SFT_RUNS = plan.sft_runs(config)
MODELS = plan.models(config)
TASKS = config["eval"]["tasks"]
# the scores table's columns: benchmark keys (or task keys), IFEval inst-loose, the judged benchmarks
SCORE_COLUMNS = score_plan.score_columns(config)
# content hash of eval.replicas (in the evaluation rules' params: an edited replica reruns the evaluations)
EVAL_REPLICAS_SHA256 = plan.replicas_hash(config)
LOCAL_BUILDS = plan.local_builds(config)
# the paper's numbers ship with the workflow, wherever it runs from
PAPER_REFERENCE = os.path.join(workflow.basedir, "data", "paper", "reference.csv")


def _alternatives(names):
    # an impossible pattern when empty, so the rule never matches instead of matching everything
    return "|".join(re.escape(n) for n in names) or "(?!x)x"


wildcard_constraints:
    dgm=_alternatives(DGMS),
    shard=r"s\d{5}",
    mix=_alternatives(SFT_RUNS),
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
            "results/tables/paper_comparison.csv",
            "results/tables/significance.csv",
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


def demo_model_build(wildcards):
    return LOCAL_BUILDS[wildcards.name]


# generation jobs (rules/generate.smk): what a DGM's job receives and its shape
def dgm_params(wildcards):
    return plan.dgm_params(config, wildcards.dgm)


def generate_params(wildcards):
    return plan.generation_params(config, wildcards.dgm)


def generate_threads(wildcards):
    return resources.generate_threads(config, wildcards.dgm)


def generate_gpus(wildcards):
    return DGMS[wildcards.dgm]["gpus"]


def generate_mem_mb(wildcards, attempt):
    return resources.generate_mem_mb(config, wildcards.dgm, attempt)


def generate_runtime(wildcards, attempt):
    return resources.generate_runtime(config, wildcards.dgm, attempt)


def dgm_shards(wildcards):
    return expand(
        "results/generations/{dgm}/{shard}.parquet", dgm=wildcards.dgm, shard=SHARDS
    )


def mix_inputs(wildcards):
    return plan.mix_input_files(config, wildcards.mix)


# SFT jobs (rules/sft.smk): what a run receives (its student, its settings) and its shape
def sft_student_params(wildcards):
    return plan.run_student_params(config, wildcards.mix)


def sft_student_id(wildcards):
    return plan.run_student_id(config, wildcards.mix)


def sft_run_params(wildcards):
    return plan.sft_params(config, wildcards.mix)


def sft_mem_mb(wildcards, attempt):
    return resources.sft_mem_mb(config, attempt)


def sft_runtime(wildcards, attempt):
    return resources.sft_runtime(config, plan.run_mix(config, wildcards.mix), attempt)


def student_dir(wildcards):
    """The locally built folder of the student this mix / run trains ([] for a Hub id)."""
    return plan.run_student_dir(config, wildcards.mix) or []


def sft_train(wildcards):
    return f"results/mixes/{plan.run_mix(config, wildcards.mix)}/train.parquet"


def sft_heldout(wildcards):
    return f"results/mixes/{plan.run_mix(config, wildcards.mix)}/heldout.parquet"


def eval_model_dir(wildcards):
    return plan.eval_model(config, wildcards.model)["input"] or []


def eval_jsons(wildcards):
    return expand("results/eval/{model}/{task}.json", model=MODELS, task=TASKS)


def judged_scores(wildcards):
    return score_plan.judged_score_files(config, MODELS)


def comparison_tables(wildcards):
    """The run's tables that hold paper numbers besides the scores; [] where the config makes no such table."""
    return {
        "similarity": "results/tables/similarity.csv" if len(DGMS) > 1 else [],
        "efficiency": "results/tables/efficiency.csv" if GENERATED_DGMS else [],
        "efficiency_corr": (
            "results/tables/efficiency_correlations.csv" if GENERATED_DGMS else []
        ),
        "inheritance": "results/tables/inheritance.csv",
        "style": STYLE_TABLES[:1],
        "style_pf": STYLE_TABLES[1:],
        "preference": (
            "results/tables/judge_preference.csv"
            if judge_plan.judge_section(config)["enabled"]
            else []
        ),
    }


def efficiency_jsons(wildcards):
    return expand(
        "results/efficiency/{dgm}/{shard}.json", dgm=GENERATED_DGMS, shard=SHARDS
    )


def sft_metrics(wildcards):
    return expand("results/models/{mix}.metrics.json", mix=SFT_RUNS)


def decontamination_indexes(wildcards):
    return expand(
        "results/decontamination/{task}.json", task=plan.decontamination_tasks(config)
    )


def mix_params(wildcards):
    """The settings that make a mix (its components, length control); rule mix's params."""
    return plan.mix_params(config, wildcards.mix)


def mix_overlong(wildcards):
    """What the mix job does with conversations over trl.max_length (sft.overlong); None when TRL truncates."""
    return plan.overlong_params(config, wildcards.mix)


def mix_tokenizer(wildcards):
    """Token counts in the manifest use the student's tokenizer when it is a local folder (demo)."""
    return plan.run_student_dir(config, wildcards.mix)


def generate_config_hash(wildcards):
    """Hash of exactly the settings a generation job receives (provenance; adds no invalidation)."""
    return plan.section_hash(
        plan.dgm_params(config, wildcards.dgm),
        plan.generation_params(config, wildcards.dgm),
    )


def sft_config_hash(wildcards):
    return plan.section_hash(
        plan.run_student_params(config, wildcards.mix),
        plan.sft_params(config, wildcards.mix),
    )


def eval_config_hash(wildcards):
    return plan.section_hash(TASKS[wildcards.task], plan.eval_params(config))


def eval_model_config_hash(wildcards):
    return plan.section_hash(TASKS, plan.eval_params(config))


# evaluation jobs (rules/evaluate.smk): shapes from the model's own settings (a reference DGM on its GPUs)
def eval_model_settings(wildcards):
    return rev.model_settings(config, wildcards.model)


def eval_task(wildcards):
    return TASKS[wildcards.task]


def eval_gpus(wildcards):
    return eval_model_settings(wildcards)["gpus"]


def eval_threads(wildcards):
    return resources.eval_threads(config, wildcards.model)


def eval_mem_mb(wildcards, attempt):
    return resources.eval_mem_mb(config, wildcards.model, attempt)


def eval_task_runtime(wildcards, attempt):
    return resources.eval_runtime(config, wildcards.model, [wildcards.task], attempt)


def eval_model_runtime(wildcards, attempt):
    return resources.eval_runtime(config, wildcards.model, list(TASKS), attempt)


def mix_manifests(wildcards):
    return expand("results/mixes/{mix}/manifest.json", mix=MIXES)


def seed_spread_table():
    """Rule scores_table's seed_spread output (and the summary's table of it): only when sft.seeds has replicates."""
    if len(config["sft"]["seeds"] or []) > 1:
        return {"seed_spread": "results/tables/seed_spread.csv"}
    return {}


def summary_tables(wildcards):
    tables = {
        name: f"results/tables/{name}.csv"
        for name in ("dgm_choice", "scaling", "blends", "inheritance")
    }
    if GENERATED_DGMS:
        tables["efficiency"] = "results/tables/efficiency.csv"
    if len(DGMS) > 1:
        tables["similarity"] = "results/tables/similarity.csv"
    if STYLE_TABLES:
        tables["style"], tables["style_pf"] = STYLE_TABLES
    if judge_plan.judge_section(config)["enabled"]:
        tables["judge_preference"] = "results/tables/judge_preference.csv"
    if judge_plan.cost_inputs(config):
        tables["judge_cost"] = judge_plan.JUDGE_COST
    tables["paper_comparison"] = "results/tables/paper_comparison.csv"
    tables["paper_comparison_summary"] = "results/tables/paper_comparison_summary.csv"
    tables["significance"] = "results/tables/significance.csv"
    tables["claims"] = "results/tables/significance_claims.csv"
    tables.update(seed_spread_table())
    return tables


def similarity_generations(wildcards):
    return expand("results/generations/{dgm}.parquet", dgm=DGMS)


# ------------------------------------------------------------------------------- judge (rules/judge.smk)
# The logic is in rewild/judge/plan.py; these only hand it the config and the wildcards.


def judge_mtbench_questions(wildcards):
    return judge_plan.mtbench_inputs(config)["questions"]


def judge_mtbench_inputs(wildcards):
    return judge_plan.mtbench_inputs(config)


def judge_cost_inputs(wildcards):
    return judge_plan.cost_inputs(config)


def judge_subject_model(wildcards):
    return judge_plan.subject_model_input(config, wildcards.model)


def judge_server_model(wildcards):
    return judge_plan.server_model_input(config)


def judge_subject_settings(wildcards):
    return judge_plan.subject_settings(config, wildcards.model)


def judge_answers_hash(wildcards):
    return judge_plan.answers_config_hash(config, wildcards.model)


def judge_grade_hash(wildcards):
    return judge_plan.stage_config_hash(config, "grade")


def judge_sdq_hash(wildcards):
    return judge_plan.stage_config_hash(config, "sdq")


def judge_answers_gpus(wildcards):
    return judge_plan.answers_gpus(config, wildcards.model)


def judge_answers_threads(wildcards):
    return judge_plan.answers_threads(config, wildcards.model)


# judge job shapes: attempt 1's size from rewild.judge.plan, grown per retry up to the site caps (rewild.resources)
def judge_answers_mem_mb(wildcards, attempt):
    first = judge_plan.answers_mem_mb(config, wildcards.model, 1)
    return resources.grown(
        config, judge_answers_gpus(wildcards), "mem_mb", first, attempt
    )


def judge_answers_runtime(wildcards, attempt):
    first = judge_plan.answers_runtime(config, wildcards.model)
    return resources.grown(
        config, judge_answers_gpus(wildcards), "runtime", first, attempt
    )


def judge_mem_mb(wildcards, attempt):
    first = judge_plan.judge_mem_mb(config, 1)
    return resources.grown(
        config, judge_plan.server_gpus(config), "mem_mb", first, attempt
    )


def judge_grade_runtime(wildcards, attempt):
    first = judge_plan.judge_runtime(config, "grade")
    return resources.grown(
        config, judge_plan.server_gpus(config), "runtime", first, attempt
    )


def judge_sdq_runtime(wildcards, attempt):
    first = judge_plan.judge_runtime(config, "sdq")
    return resources.grown(
        config, judge_plan.server_gpus(config), "runtime", first, attempt
    )


# computed when judge_tables is in the DAG: extrinsic_mixes fails for a grid of sizes without extrinsic_size
def judge_table_pairs(wildcards):
    return judge_plan.table_pairs(config)


def judge_learned_from(wildcards):
    return judge_plan.learned_from_map(config)


def judge_extrinsic_mixes(wildcards):
    return judge_plan.table_extrinsic_mixes(config)


# ---------------------------------------------------------------------- AlpacaEval (rules/alpaca_eval.smk)
from rewild.judge import alpaca_data
from rewild.judge import alpaca_eval as alpaca


def alpaca_reference(wildcards):
    return alpaca.data_inputs(config)["reference"]


def alpaca_data_inputs(wildcards):
    return alpaca.data_inputs(config)


def alpaca_answers_hash(wildcards):
    return alpaca.answers_config_hash(config, wildcards.model)


def alpaca_annotate_hash(wildcards):
    return alpaca.annotate_config_hash(config)


def alpaca_annotate_runtime(wildcards, attempt):
    first = alpaca.annotate_runtime(config)
    return resources.grown(
        config, judge_plan.server_gpus(config), "runtime", first, attempt
    )


# ---------------------------------------------------------------------- end AlpacaEval


# ---------------------------------------------------------------------- MixEval (rules/mixeval.smk)
from rewild.judge import mixeval
from rewild.judge import mixeval_data


def mixeval_data_inputs(wildcards):
    return mixeval.data_inputs(config)


def mixeval_answers_hash(wildcards):
    return mixeval.answers_config_hash(config, wildcards.model)


def mixeval_parse_hash(wildcards):
    return mixeval.parse_config_hash(config)


def mixeval_parse_runtime(wildcards, attempt):
    first = mixeval.parse_runtime(config)
    return resources.grown(
        config, judge_plan.server_gpus(config), "runtime", first, attempt
    )


# ---------------------------------------------------------------------- end MixEval


# ---------------------------------------------------------------------- style heritability (rules/style.smk)
# Rule style runs when the judge does (eval.judge.enabled): the MT-Bench answers of the preference table's
# students and DGMs (judge_plan.table_pairs; a DGM is the model `dgm-<key>`).
STYLE_PAIRS = (
    [(s, judge_plan.DGM_PREFIX + d) for s, d in judge_plan.table_pairs(config)]
    if judge_plan.judge_section(config)["enabled"]
    else []
)
STYLE_TABLES = (
    ["results/tables/style.csv", "results/tables/style_pf.csv"] if STYLE_PAIRS else []
)


STYLE_MODELS = list(dict.fromkeys(m for pair in STYLE_PAIRS for m in pair))


def style_answers(wildcards):
    return [f"results/judge/{m}/answers.jsonl" for m in STYLE_MODELS]


# ---------------------------------------------------------------------- end style heritability


# ---------------------------------------------------------------------- grouped judged jobs (rules/judged.smk)
from rewild.judge import grouped


def judged_answers_inputs(wildcards):
    benches = grouped.answer_benchmarks(config)
    data = grouped.data_inputs(config, benches, grading=False)
    return {**data, "model": judge_subject_model(wildcards)}


def judged_answers_hash(wildcards):
    return grouped.answers_config_hash(config, wildcards.model)


def judged_answers_runtime(wildcards, attempt):
    first = grouped.answers_runtime(config, wildcards.model)
    return resources.grown(
        config, judge_answers_gpus(wildcards), "runtime", first, attempt
    )


def judged_grading_inputs(wildcards):
    benches = list(grouped.benchmark_models(config))
    data = grouped.data_inputs(config, benches, grading=True)
    rubrics = {"sdq_rubrics": JUDGE_RUBRICS} if grouped.sdq_dgms(config) else {}
    return {**data, **rubrics, **grouped.grade_answer_inputs(config)}


def judged_grading_hash(wildcards):
    return plan.section_hash(grouped.grade_params(config))


def judged_grading_runtime(wildcards, attempt):
    first = grouped.grading_runtime(config)
    return resources.grown(
        config, judge_plan.server_gpus(config), "runtime", first, attempt
    )

# ---------------------------------------------------------------------- end grouped judged jobs
