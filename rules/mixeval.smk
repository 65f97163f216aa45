# MixEval (paper §5: version 2024-06-01, close free-form + close multiple-choice, gpt-4o-mini as the model answer
# parser, answers at temperature 1.0), the protocol of Psycoy/MixEval re-implemented in rewild/judge/mixeval.py:
# each model the scores table has answers both splits (vLLM offline), then the judge (eval.judge) parses every
# answer, and the overall score is MixEval's (mean over all items).
# In the DAG when eval.judged_benchmarks lists mixeval:
#   results/judge/{model}/mixeval_answers.json|mixeval.json|mixeval.verdicts.json
# Answers depend on the generation settings only; the parsing on the judge identity (a changed judge reruns the
# parsing, not the answers).

# models whose answers / grading this file's rules write (rules/judged.smk writes the grouped ones)
MIXEVAL_ANSWER_MODELS = grouped.single_answer_models(config, "mixeval")
MIXEVAL_GRADE_MODELS = grouped.single_grade_models(config, "mixeval")
MIXEVAL_UPSTREAM = mixeval_data.upstream_files(config)


if MIXEVAL_UPSTREAM:

    localrules:
        mixeval_data,

    # The two data files of the pinned Psycoy/MixEval commit (SHA-256 checked), on the login node; the prefetch
    # step downloads the same files.
    rule mixeval_data:
        output:
            [f["dest"] for f in MIXEVAL_UPSTREAM],
        log:
            "logs/mixeval_data/mixeval_data.log",
        benchmark:
            "benchmarks/mixeval_data/mixeval_data.tsv"
        conda:
            conda_env("eval")
        params:
            files=MIXEVAL_UPSTREAM,
        script:
            "../scripts/mixeval_data.py"


rule mixeval_answers:
    input:
        unpack(mixeval_data_inputs),
        model=judge_subject_model,
    output:
        answers="results/judge/{model}/mixeval_answers.json",
    log:
        "logs/mixeval_answers/{model}.log",
    benchmark:
        "benchmarks/mixeval_answers/{model}.tsv"
    wildcard_constraints:
        model=_alternatives(MIXEVAL_ANSWER_MODELS),
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
        source=config["eval"]["mixeval"]["source"],
        model=judge_subject_settings,
        generation=mixeval.answer_params(config),
        cache_dir=".cache/vllm",
        # provenance only (equal settings, equal hash: adds no invalidation)
        config_hash=mixeval_answers_hash,
    script:
        "../scripts/mixeval_answers.py"


rule mixeval:
    input:
        unpack(mixeval_data_inputs),
        answers="results/judge/{model}/mixeval_answers.json",
        server_model=judge_server_model,
    output:
        summary="results/judge/{model}/mixeval.json",
        verdicts="results/judge/{model}/mixeval.verdicts.json",
    log:
        "logs/mixeval/{model}.log",
    benchmark:
        "benchmarks/mixeval/{model}.tsv"
    wildcard_constraints:
        model=_alternatives(MIXEVAL_GRADE_MODELS),
    conda:
        conda_env("eval")
    threads: judge_plan.judge_threads(config)
    resources:
        gpu=judge_plan.server_gpus(config),
        nodes=1,
        mem_mb=judge_mem_mb,
        runtime=mixeval_parse_runtime,
    params:
        subject="{model}",
        source=config["eval"]["mixeval"]["source"],
        judge=mixeval.parse_params(config),
        verdict_cache=judge_plan.VERDICT_CACHE,
        cache_dir=".cache/vllm",
        config_hash=mixeval_parse_hash,
    script:
        "../scripts/mixeval_parse.py"
