# LLM judge: MT-Bench-style grading of students and DGMs (paper §5), PrefRt / FlipCt (§6 "Judge preference") and
# intrinsic SDQ judgments of DGM responses on the 12 factors of the paper's judgment mode (beyond the paper).
# Outside `rule all` unless eval.judge.enabled: final_outputs() in common.smk adds JUDGE_TARGETS.
#
# Wildcard `model`: a student (mix name or `base`) or `dgm-<dgm>` for a generated DGM judged as a model (the
# naming of reference models in results/eval/), whether or not that DGM is in eval.evaluate_dgms:
#   results/judge/{model}/answers.jsonl|answers.json|mtbench.jsonl|mtbench.json
#   results/judge/dgm/{dgm}/sdq.jsonl|sdq.json      (judgments of the DGM's generated data)
# The input functions live in rewild/judge.py (plan helpers); the rules call them through one-line lambdas.


from rewild import judge as rj

JUDGE = rj.judge_settings(config["eval"]["judge"])
JUDGE_TARGETS = rj.judge_targets(config)
# generated DGMs answer MT-Bench; every DGM with responses (the GPT source too) gets SDQ judgments
JUDGE_DGMS = rj.judged_dgms(config)
SDQ_DGMS = rj.judged_dgms(config, generated_only=False)
JUDGE_STUDENTS = rj.judged_students(config)
JUDGE_MODELS = rj.judged_models(config)
DEFAULT_RUBRICS = os.path.join(workflow.basedir, "data", "judge", "rubrics.yaml")
JUDGE_RUBRICS = JUDGE["rubrics"] or DEFAULT_RUBRICS


rule judge_answers:
    input:
        questions=lambda wc: rj.questions_input(config),
        model=lambda wc: rj.subject_model_input(config, wc.model),
    output:
        answers="results/judge/{model}/answers.jsonl",
        meta="results/judge/{model}/answers.json",
    log:
        "logs/judge_answers/{model}.log",
    benchmark:
        "benchmarks/judge_answers/{model}.tsv"
    wildcard_constraints:
        model=_alternatives(JUDGE_MODELS),
    conda:
        conda_env("vllm")
    threads: 2
    resources:
        gpu=lambda wc: rj.subject_settings(config, wc.model)["gpus"],
    params:
        subject="{model}",
        model=lambda wc: rj.subject_settings(config, wc.model),
        judge=rj.stage_params(JUDGE, "answers"),
        cache_dir=".cache/vllm",
        # provenance only (equal settings, equal hash: adds no invalidation)
        config_hash=lambda wc: plan.section_hash(
            rj.subject_settings(config, wc.model), rj.stage_params(JUDGE, "answers")
        ),
    script:
        "../scripts/judge_answers.py"


rule judge:
    input:
        questions=lambda wc: rj.questions_input(config),
        answers="results/judge/{model}/answers.jsonl",
        server_model=lambda wc: rj.server_model_input(config),
    output:
        grades="results/judge/{model}/mtbench.jsonl",
        summary="results/judge/{model}/mtbench.json",
    log:
        "logs/judge/{model}.log",
    benchmark:
        "benchmarks/judge/{model}.tsv"
    wildcard_constraints:
        model=_alternatives(JUDGE_MODELS),
    conda:
        conda_env("vllm")
    threads: 2
    resources:
        gpu=lambda wc: rj.server_gpus(config),
    params:
        subject="{model}",
        judge=rj.stage_params(JUDGE, "grade"),
        progress="results/.progress/judge/{model}.jsonl",
        cache_dir=".cache/vllm",
        config_hash=lambda wc: plan.section_hash(rj.stage_params(JUDGE, "grade")),
    script:
        "../scripts/judge.py"


rule sdq_judge:
    input:
        generations="results/generations/{dgm}.parquet",
        rubrics=JUDGE_RUBRICS,
        server_model=lambda wc: rj.server_model_input(config),
    output:
        judgments="results/judge/dgm/{dgm}/sdq.jsonl",
        summary="results/judge/dgm/{dgm}/sdq.json",
    log:
        "logs/sdq_judge/{dgm}.log",
    benchmark:
        "benchmarks/sdq_judge/{dgm}.tsv"
    wildcard_constraints:
        dgm=_alternatives(SDQ_DGMS),
    conda:
        conda_env("vllm")
    threads: 2
    resources:
        gpu=lambda wc: rj.server_gpus(config),
    params:
        dgm="{dgm}",
        judge=rj.stage_params(JUDGE, "sdq"),
        progress="results/.progress/sdq/{dgm}.jsonl",
        cache_dir=".cache/vllm",
        config_hash=lambda wc: plan.section_hash(rj.stage_params(JUDGE, "sdq")),
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
        pairs=lambda wc: rj.student_dgm_pairs(
            plan.all_mixes(config), JUDGE_STUDENTS, JUDGE_DGMS
        ),
        learned_from=lambda wc: rj.learned_from_map(config, JUDGE_STUDENTS),
        extrinsic_mixes=lambda wc: rj.extrinsic_mixes(
            plan.all_mixes(config), SDQ_DGMS, JUDGE["extrinsic_size"]
        ),
        extrinsic_metric=JUDGE["extrinsic_metric"],
    script:
        "../scripts/judge.py"
