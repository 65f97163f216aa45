# The judged benchmarks in fewer jobs (rewild/judge/grouped.py), writing the same files as the per-benchmark
# rules of judge.smk, alpaca_eval.smk and mixeval.smk (which then write the rest):
#   eval.group_tasks: one vLLM job per model answers MT-Bench, AlpacaEval and MixEval (one model load);
#   eval.judge.group_grading: one job grades every model on every judged benchmark (a served judge starts once).

GROUPED_ANSWER_MODELS = grouped.grouped_answer_models(config)


if GROUPED_ANSWER_MODELS:

    rule judged_answers:
        input:
            unpack(judged_answers_inputs),
        output:
            **grouped.answer_outputs(config),
        log:
            "logs/judged_answers/{model}.log",
        benchmark:
            "benchmarks/judged_answers/{model}.tsv"
        wildcard_constraints:
            model=_alternatives(GROUPED_ANSWER_MODELS),
        conda:
            conda_env("vllm")
        threads: judge_answers_threads
        resources:
            gpu=judge_answers_gpus,
            nodes=1,
            mem_mb=judge_answers_mem_mb,
            runtime=judged_answers_runtime,
        params:
            subject="{model}",
            model=judge_subject_settings,
            benchmarks=grouped.answer_params(config),
            cache_dir=".cache/vllm",
            # provenance only (equal settings, equal hash: adds no invalidation)
            config_hash=judged_answers_hash,
        script:
            "../scripts/judged_answers.py"


if grouped.grading_grouped(config):

    rule judged_grading:
        input:
            unpack(judged_grading_inputs),
            server_model=judge_server_model,
        output:
            **grouped.grade_outputs(config),
        log:
            "logs/judged_grading/judged_grading.log",
        benchmark:
            "benchmarks/judged_grading/judged_grading.tsv"
        conda:
            conda_env("eval")
        threads: judge_plan.judge_threads(config)
        resources:
            gpu=judge_plan.server_gpus(config),
            nodes=1,
            mem_mb=judge_mem_mb,
            runtime=judged_grading_runtime,
        params:
            benchmarks=grouped.grade_params(config),
            verdict_cache=judge_plan.VERDICT_CACHE,
            cache_dir=".cache/vllm",
            config_hash=judged_grading_hash,
        script:
            "../scripts/judged_grading.py"
