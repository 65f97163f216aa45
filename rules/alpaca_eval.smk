# AlpacaEval 2.0 length-controlled win rate (paper §5) through the alpaca-eval package (rewild/judge/alpaca_eval.py):
# each model the scores table has answers the AlpacaEval instructions (vLLM offline), then alpaca-eval's annotator
# (eval.alpaca_eval.annotator; paper: weighted_alpaca_eval_gpt-4o-mini-2024-07-18) compares them with the
# GPT-4-turbo reference outputs through the project's judge (eval.judge), and its GLM gives the LC win rate.
# In the DAG when eval.judged_benchmarks lists alpaca_lc:
#   results/judge/{model}/alpaca_answers.json|alpaca_answers.meta.json|alpaca_lc.json|alpaca_lc.annotations.json
# Answers depend on the generation settings only; the annotation on the judge identity (a changed judge reruns the
# annotation, not the answers).

# models whose answers / grading this file's rules write (rules/judged.smk writes the grouped ones)
ALPACA_ANSWER_MODELS = grouped.single_answer_models(config, "alpaca_lc")
ALPACA_GRADE_MODELS = grouped.single_grade_models(config, "alpaca_lc")
ALPACA_UPSTREAM = alpaca_data.upstream_files(config)


if ALPACA_UPSTREAM:

    localrules:
        alpaca_eval_data,

    # The two Hub files of the pinned tatsu-lab/alpaca_eval revision (SHA-256 checked), on the login node; the
    # prefetch step downloads the same files.
    rule alpaca_eval_data:
        output:
            [f["dest"] for f in ALPACA_UPSTREAM],
        log:
            "logs/alpaca_eval_data/alpaca_eval_data.log",
        benchmark:
            "benchmarks/alpaca_eval_data/alpaca_eval_data.tsv"
        conda:
            conda_env("eval")
        params:
            files=ALPACA_UPSTREAM,
        script:
            "../scripts/alpaca_eval_data.py"


rule alpaca_answers:
    input:
        reference=alpaca_reference,
        model=judge_subject_model,
    output:
        answers="results/judge/{model}/alpaca_answers.json",
        meta="results/judge/{model}/alpaca_answers.meta.json",
    log:
        "logs/alpaca_answers/{model}.log",
    benchmark:
        "benchmarks/alpaca_answers/{model}.tsv"
    wildcard_constraints:
        model=_alternatives(ALPACA_ANSWER_MODELS),
    conda:
        conda_env("vllm")
    threads: judge_answers_threads
    resources:
        gpu=judge_answers_gpus,
        nodes=1,
        mem_mb=judge_answers_mem_mb,
        runtime=judge_answers_runtime,
    params:
        subject="{model}",
        model=judge_subject_settings,
        generation=alpaca.answer_params(config),
        cache_dir=".cache/vllm",
        # provenance only (equal settings, equal hash: adds no invalidation)
        config_hash=alpaca_answers_hash,
    script:
        "../scripts/alpaca_eval_answers.py"


rule alpaca_eval:
    input:
        unpack(alpaca_data_inputs),
        answers="results/judge/{model}/alpaca_answers.json",
        server_model=judge_server_model,
    output:
        summary="results/judge/{model}/alpaca_lc.json",
        annotations="results/judge/{model}/alpaca_lc.annotations.json",
    log:
        "logs/alpaca_eval/{model}.log",
    benchmark:
        "benchmarks/alpaca_eval/{model}.tsv"
    wildcard_constraints:
        model=_alternatives(ALPACA_GRADE_MODELS),
    conda:
        conda_env("eval")
    threads: judge_plan.judge_threads(config)
    resources:
        gpu=judge_plan.server_gpus(config),
        nodes=1,
        mem_mb=judge_mem_mb,
        runtime=alpaca_annotate_runtime,
    params:
        subject="{model}",
        judge=alpaca.annotate_params(config),
        verdict_cache=judge_plan.VERDICT_CACHE,
        cache_dir=".cache/vllm",
        config_hash=alpaca_annotate_hash,
    script:
        "../scripts/alpaca_eval_annotate.py"
