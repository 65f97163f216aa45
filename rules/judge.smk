# LLM judge: MT-Bench-style grading of students and DGMs (paper §5), PrefRt / FlipCt (§6 "Judge preference") and
# intrinsic SDQ judgments of DGM responses on the 12 factors of the paper's judgment mode (beyond the paper).
# Outside `rule all` unless eval.judge.enabled: final_outputs() in common.smk adds the judge tables.
#
# Wildcard `model`: a student (mix name or `base`) or `dgm-<dgm>` for a generated DGM judged as a model (the
# naming of reference models in results/eval/), whether or not that DGM is in eval.evaluate_dgms:
#   results/judge/{model}/answers.jsonl|answers.json|mtbench.jsonl|mtbench.json
#   results/judge/dgm/{dgm}/sdq.jsonl|sdq.json      (judgments of the DGM's generated data)
# The logic lives in rewild/judge/plan.py; the rules' input, params and resource functions (judge_* in
# common.smk) only call it.

JUDGE_TARGETS = judge_plan.judge_targets(config)
# generated DGMs answer MT-Bench (JUDGE_MODELS); every DGM with responses (the GPT source too) gets SDQ judgments
SDQ_DGMS = judge_plan.judged_dgms(config, generated_only=False)
SDQ_RULE_DGMS = grouped.single_sdq_dgms(
    config
)  # those rule sdq_judge judges (judged.smk: the grouped ones)
JUDGE_MODELS = judge_plan.judged_models(config)
# every model graded on MT-Bench: the judged ones, and each model the scores table takes MT-Bench of
MTBENCH_MODELS = judge_plan.mtbench_models(config)
# the models whose MT-Bench answers / grading these rules write (rules/judged.smk writes the grouped ones)
MTBENCH_ANSWER_MODELS = grouped.single_answer_models(config, "mtbench")
MTBENCH_GRADE_MODELS = grouped.single_grade_models(config, "mtbench")
JUDGE_RUBRICS = judge_plan.rubrics_input(config, workflow.basedir)
MTBENCH_UPSTREAM = judge_plan.mtbench_upstream_files(config)


localrules:
    mtbench_data,


if MTBENCH_UPSTREAM:

    # The MT-Bench data of the pinned FastChat commit (raw files, SHA-256 checked), on the login node; the
    # prefetch step downloads the same files.
    rule mtbench_data:
        output:
            [f["dest"] for f in MTBENCH_UPSTREAM],
        log:
            "logs/mtbench_data/mtbench_data.log",
        benchmark:
            "benchmarks/mtbench_data/mtbench_data.tsv"
        conda:
            conda_env("analysis")
        params:
            files=MTBENCH_UPSTREAM,
        script:
            "../scripts/judge_data.py"


rule judge_answers:
    input:
        questions=judge_mtbench_questions,
        model=judge_subject_model,
    output:
        answers="results/judge/{model}/answers.jsonl",
        meta="results/judge/{model}/answers.json",
    log:
        "logs/judge_answers/{model}.log",
    benchmark:
        "benchmarks/judge_answers/{model}.tsv"
    wildcard_constraints:
        model=_alternatives(MTBENCH_ANSWER_MODELS),
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
        judge=judge_plan.answer_params(config),
        cache_dir=".cache/vllm",
        # provenance only (equal settings, equal hash: adds no invalidation)
        config_hash=judge_answers_hash,
    script:
        "../scripts/judge_answers.py"


rule judge:
    input:
        unpack(judge_mtbench_inputs),
        answers="results/judge/{model}/answers.jsonl",
        server_model=judge_server_model,
    output:
        grades="results/judge/{model}/mtbench.jsonl",
        summary="results/judge/{model}/mtbench.json",
    log:
        "logs/judge/{model}.log",
    benchmark:
        "benchmarks/judge/{model}.tsv"
    wildcard_constraints:
        model=_alternatives(MTBENCH_GRADE_MODELS),
    conda:
        conda_env("vllm")
    threads: judge_plan.judge_threads(config)
    resources:
        gpu=judge_plan.server_gpus(config),
        nodes=1,
        mem_mb=judge_mem_mb,
        runtime=judge_grade_runtime,
    params:
        subject="{model}",
        judge=judge_plan.grade_params(config),
        verdict_cache=judge_plan.VERDICT_CACHE,
        cache_dir=".cache/vllm",
        config_hash=judge_grade_hash,
    script:
        "../scripts/judge.py"


rule sdq_judge:
    input:
        generations="results/generations/{dgm}.parquet",
        rubrics=JUDGE_RUBRICS,
        server_model=judge_server_model,
    output:
        judgments="results/judge/dgm/{dgm}/sdq.jsonl",
        summary="results/judge/dgm/{dgm}/sdq.json",
    log:
        "logs/sdq_judge/{dgm}.log",
    benchmark:
        "benchmarks/sdq_judge/{dgm}.tsv"
    wildcard_constraints:
        dgm=_alternatives(SDQ_RULE_DGMS),
    conda:
        conda_env("vllm")
    threads: judge_plan.judge_threads(config)
    resources:
        gpu=judge_plan.server_gpus(config),
        nodes=1,
        mem_mb=judge_mem_mb,
        runtime=judge_sdq_runtime,
    params:
        dgm="{dgm}",
        judge=judge_plan.sdq_params(config),
        verdict_cache=judge_plan.VERDICT_CACHE,
        cache_dir=".cache/vllm",
        config_hash=judge_sdq_hash,
    script:
        "../scripts/sdq_judge.py"


rule judge_tables:
    input:
        grades=expand("results/judge/{model}/mtbench.jsonl", model=JUDGE_MODELS),
        summaries=expand("results/judge/{model}/mtbench.json", model=JUDGE_MODELS),
        sdq=expand("results/judge/dgm/{dgm}/sdq.jsonl", dgm=SDQ_DGMS),
        scores="results/tables/scores.csv",
    output:
        preference=report(
            "results/tables/judge_preference.csv",
            caption="../report/judge.rst",
            category="Judge",
            labels={"table": "judge preference (PrefRt, FlipCt)"},
        ),
        mtbench=report(
            "results/tables/judge_mtbench.csv",
            caption="../report/judge.rst",
            category="Judge",
            labels={"table": "MT-Bench-style scores"},
        ),
        mtbench_plot=report(
            "results/plots/judge_mtbench.png",
            caption="../report/judge.rst",
            category="Judge",
            labels={"figure": "MT-Bench-style scores"},
        ),
        intrinsic=report(
            "results/tables/sdq_intrinsic.csv",
            caption="../report/judge.rst",
            category="Intrinsic SDQ",
            labels={"table": "intrinsic SDQ per DGM"},
        ),
        correlation=report(
            "results/tables/sdq_vs_extrinsic.csv",
            caption="../report/judge.rst",
            category="Intrinsic SDQ",
            labels={"table": "intrinsic vs extrinsic SDQ (rank correlation)"},
        ),
        plot=report(
            "results/plots/sdq_vs_extrinsic.png",
            caption="../report/judge.rst",
            category="Intrinsic SDQ",
            labels={"figure": "intrinsic vs extrinsic SDQ"},
        ),
        provenance="results/tables/judge.provenance.json",
    log:
        "logs/judge_tables/judge_tables.log",
    benchmark:
        "benchmarks/judge_tables/judge_tables.tsv"
    conda:
        conda_env("analysis")
    params:
        models=JUDGE_MODELS,
        sdq_dgms=SDQ_DGMS,
        pairs=judge_table_pairs,
        learned_from=judge_learned_from,
        extrinsic_mixes=judge_extrinsic_mixes,
        extrinsic_metric=config["eval"]["judge"]["extrinsic_metric"],
    script:
        "../scripts/judge_tables.py"


rule judge_cost:
    input:
        judge_cost_inputs,
    output:
        table=report(
            "results/tables/judge_cost.csv",
            caption="../report/judge_cost.rst",
            category="Judge",
            labels={"table": "judge tokens and estimated API cost"},
        ),
        provenance="results/tables/judge_cost.provenance.json",
    log:
        "logs/judge_cost/judge_cost.log",
    benchmark:
        "benchmarks/judge_cost/judge_cost.tsv"
    conda:
        conda_env("analysis")
    script:
        "../scripts/judge_cost.py"
