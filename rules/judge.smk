# LLM judge: MT-Bench-style grading of students and DGMs (paper §5), PrefRt / FlipCt (§6 "Judge preference") and
# intrinsic SDQ judgments of DGM responses on the 12 factors of the paper's judgment mode (beyond the paper).
# Outside `rule all` unless eval.judge.enabled: final_outputs() in common.smk adds JUDGE_TARGETS.
#
# Wildcard `subject`: a judged model, either a student (a `model`: mix name or `base`) or `dgm/<dgm>` for a
# generated DGM, so students and DGMs share one path scheme without ever colliding:
#   results/judge/{subject}/answers.jsonl|answers.json|mtbench.jsonl|mtbench.json
#   results/judge/dgm/{dgm}/sdq.jsonl|sdq.json
# The input functions live in rewild/judge.py (plan helpers); the rules call them through one-line lambdas.


from rewild import judge as rj

JUDGE = rj.judge_settings(config["eval"]["judge"])
JUDGE_TARGETS = rj.judge_targets(config)
# generated DGMs answer MT-Bench; every DGM with responses (the GPT source too) gets SDQ judgments
JUDGE_DGMS = rj.judged_dgms(config)
SDQ_DGMS = rj.judged_dgms(config, generated_only=False)
JUDGE_STUDENTS = list(MODELS)
JUDGE_SUBJECTS = JUDGE_STUDENTS + [f"dgm/{d}" for d in JUDGE_DGMS]
DEFAULT_RUBRICS = os.path.join(workflow.basedir, "data", "judge", "rubrics.yaml")
JUDGE_RUBRICS = JUDGE["rubrics"] or DEFAULT_RUBRICS


rule judge_answers:
    input:
        questions=lambda wc: rj.questions_input(config),
        model=lambda wc: rj.subject_model_input(config, wc.subject),
    output:
        answers="results/judge/{subject}/answers.jsonl",
        meta="results/judge/{subject}/answers.json",
    log:
        "logs/judge_answers/{subject}.log",
    benchmark:
        "benchmarks/judge_answers/{subject}.tsv"
    wildcard_constraints:
        subject=_alternatives(JUDGE_SUBJECTS),
    conda:
        "../envs/vllm.yaml"
    threads: 2
    resources:
        gpu=lambda wc: rj.subject_settings(config, wc.subject)["gpus"],
    params:
        subject="{subject}",
        model=lambda wc: rj.subject_settings(config, wc.subject),
        judge=rj.stage_params(JUDGE, "answers"),
        cache_dir=".cache/vllm",
        # provenance only (equal settings, equal hash: adds no invalidation)
        config_hash=lambda wc: rc.section_hash(
            rj.subject_settings(config, wc.subject), rj.stage_params(JUDGE, "answers")
        ),
    script:
        "../scripts/judge_answers.py"


rule judge:
    input:
        questions=lambda wc: rj.questions_input(config),
        answers="results/judge/{subject}/answers.jsonl",
        server_model=lambda wc: rj.server_model_input(config),
    output:
        grades="results/judge/{subject}/mtbench.jsonl",
        summary="results/judge/{subject}/mtbench.json",
    log:
        "logs/judge/{subject}.log",
    benchmark:
        "benchmarks/judge/{subject}.tsv"
    wildcard_constraints:
        subject=_alternatives(JUDGE_SUBJECTS),
    conda:
        "../envs/vllm.yaml"
    threads: 2
    resources:
        gpu=lambda wc: rj.server_gpus(config),
    params:
        subject="{subject}",
        judge=rj.stage_params(JUDGE, "grade"),
        progress="results/.progress/judge/{subject}.jsonl",
        cache_dir=".cache/vllm",
        config_hash=lambda wc: rc.section_hash(rj.stage_params(JUDGE, "grade")),
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
        "../envs/vllm.yaml"
    threads: 2
    resources:
        gpu=lambda wc: rj.server_gpus(config),
    params:
        dgm="{dgm}",
        judge=rj.stage_params(JUDGE, "sdq"),
        progress="results/.progress/sdq/{dgm}.jsonl",
        cache_dir=".cache/vllm",
        config_hash=lambda wc: rc.section_hash(rj.stage_params(JUDGE, "sdq")),
    script:
        "../scripts/sdq_judge.py"


rule judge_tables:
    input:
        grades=expand("results/judge/{subject}/mtbench.jsonl", subject=JUDGE_SUBJECTS),
        summaries=expand("results/judge/{subject}/mtbench.json", subject=JUDGE_SUBJECTS),
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
    log:
        "logs/judge_tables/judge_tables.log",
    benchmark:
        "benchmarks/judge_tables/judge_tables.tsv"
    conda:
        "../envs/analysis.yaml"
    params:
        subjects=JUDGE_SUBJECTS,
        sdq_dgms=SDQ_DGMS,
        pairs=lambda wc: rj.student_dgm_pairs(
            rc.all_mixes(config), JUDGE_STUDENTS, JUDGE_DGMS
        ),
        learned_from=lambda wc: rj.learned_from_map(config, JUDGE_STUDENTS),
        extrinsic_mixes=lambda wc: rj.extrinsic_mixes(
            rc.all_mixes(config), SDQ_DGMS, JUDGE["extrinsic_size"]
        ),
        extrinsic_metric=JUDGE["extrinsic_metric"],
    script:
        "../scripts/judge.py"
