rule scores_table:
    input:
        evals=eval_jsons,
        judged=judged_scores,
    output:
        **seed_spread_table(),
        csv=report(
            "results/tables/scores.csv",
            caption="../report/scores.rst",
            category="Scores",
            labels={"table": "scores (csv)"},
        ),
        md="results/tables/scores.md",
        provenance="results/tables/scores.provenance.json",
    log:
        "logs/scores_table/scores.log",
    benchmark:
        "benchmarks/scores_table/scores.tsv"
    conda:
        conda_env("analysis")
    params:
        mixes=plan.mixes_params(config),
        tasks=TASKS,
        columns=SCORE_COLUMNS,
    script:
        "../scripts/scores_table.py"


rule paper_comparison:
    input:
        unpack(comparison_tables),
        scores="results/tables/scores.csv",
        reference=PAPER_REFERENCE,
    output:
        csv=report(
            "results/tables/paper_comparison.csv",
            caption="../report/paper.rst",
            category="Reproduction vs paper",
            labels={"table": "paper comparison"},
        ),
        summary="results/tables/paper_comparison_summary.csv",
        plot=report(
            "results/plots/paper_comparison.png",
            caption="../report/paper.rst",
            category="Reproduction vs paper",
            labels={"figure": "ours vs paper"},
        ),
        provenance="results/tables/paper_comparison.provenance.json",
    log:
        "logs/paper_comparison/paper_comparison.log",
    benchmark:
        "benchmarks/paper_comparison/paper_comparison.tsv"
    conda:
        conda_env("analysis")
    params:
        labels=score_plan.paper_labels(config),
    script:
        "../scripts/paper_comparison.py"


rule significance:
    input:
        evals=eval_jsons,
        judged=judged_scores,
        manifests=mix_manifests,
        reference=PAPER_REFERENCE,
    output:
        csv=report(
            "results/tables/significance.csv",
            caption="../report/significance.rst",
            category="Reproduction vs paper",
            labels={"table": "significance of the orderings"},
        ),
        claims="results/tables/significance_claims.csv",
        plot=report(
            "results/plots/significance.png",
            caption="../report/significance.rst",
            category="Reproduction vs paper",
            labels={"figure": "paired bootstrap differences"},
        ),
        provenance="results/tables/significance.provenance.json",
    log:
        "logs/significance/significance.log",
    benchmark:
        "benchmarks/significance/significance.tsv"
    conda:
        conda_env("analysis")
    params:
        tasks=TASKS,
        columns=SCORE_COLUMNS,
        mix_info=plan.mix_info(config),
        labels=score_plan.paper_labels(config),
        bootstrap=score_plan.bootstrap_settings(config),
    script:
        "../scripts/significance.py"


rule efficiency_table:
    input:
        efficiency_jsons,
    output:
        csv=report(
            "results/tables/efficiency.csv",
            caption="../report/efficiency.rst",
            category="Generation efficiency",
            labels={"table": "efficiency (csv)"},
        ),
        plot=report(
            "results/plots/efficiency.png",
            caption="../report/efficiency.rst",
            category="Generation efficiency",
            labels={"figure": "tok/s vs context x parameters"},
        ),
        correlations="results/tables/efficiency_correlations.csv",
        provenance="results/tables/efficiency.provenance.json",
    log:
        "logs/efficiency_table/efficiency.log",
    benchmark:
        "benchmarks/efficiency_table/efficiency.tsv"
    conda:
        conda_env("analysis")
    params:
        dgms=plan.dgm_sizes(config),
    script:
        "../scripts/efficiency_table.py"


rule study_tables:
    input:
        scores="results/tables/scores.csv",
        manifests=mix_manifests,
    output:
        dgm_choice=report(
            "results/tables/dgm_choice.csv",
            caption="../report/study.rst",
            category="Study",
            labels={"table": "DGM choice"},
        ),
        scaling=report(
            "results/tables/scaling.csv",
            caption="../report/study.rst",
            category="Study",
            labels={"table": "data scaling"},
        ),
        blends="results/tables/blends.csv",
        inheritance="results/tables/inheritance.csv",
        dgm_choice_plot=report(
            "results/plots/dgm_choice.png",
            caption="../report/study.rst",
            category="Study",
            labels={"figure": "DGM choice"},
        ),
        scaling_plot=report(
            "results/plots/scaling.png",
            caption="../report/study.rst",
            category="Study",
            labels={"figure": "data scaling"},
        ),
        provenance="results/tables/study.provenance.json",
    log:
        "logs/study_tables/study.log",
    benchmark:
        "benchmarks/study_tables/study.tsv"
    conda:
        conda_env("analysis")
    params:
        mix_info=plan.mix_info(config),
        tasks=SCORE_COLUMNS,
        metric=config["analyses"]["metric"],
    script:
        "../scripts/study_tables.py"


rule similarity:
    input:
        similarity_generations,
    output:
        csv=report(
            "results/tables/similarity.csv",
            caption="../report/similarity.rst",
            category="Similarity",
            labels={"table": "response similarity"},
        ),
        unaligned="results/tables/similarity_unaligned.csv",
        plot=report(
            "results/plots/similarity.png",
            caption="../report/similarity.rst",
            category="Similarity",
            labels={"figure": "ROUGE-1 by DGM"},
        ),
        provenance="results/tables/similarity.provenance.json",
    log:
        "logs/similarity/similarity.log",
    benchmark:
        "benchmarks/similarity/similarity.tsv"
    conda:
        conda_env("analysis")
    params:
        k=config["analyses"]["similarity_k"],
        n=config["analyses"]["similarity_n"],
        averaging=config["analyses"]["similarity_averaging"],
        seed=config["analyses"]["seed"],
    script:
        "../scripts/similarity.py"


rule training_curves:
    input:
        sft_metrics,
    output:
        report(
            "results/plots/sft_loss.png",
            caption="../report/training.rst",
            category="Training",
            labels={"figure": "SFT loss curves"},
        ),
        provenance="results/plots/sft_loss.provenance.json",
    log:
        "logs/training_curves/training.log",
    benchmark:
        "benchmarks/training_curves/training.tsv"
    conda:
        conda_env("analysis")
    script:
        "../scripts/training_curves.py"
