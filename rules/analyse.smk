rule scores_table:
    input:
        evals=eval_jsons,
    output:
        csv=report(
            "results/tables/scores.csv",
            caption="../report/scores.rst",
            category="Scores",
            labels={"table": "scores (csv)"},
        ),
        md="results/tables/scores.md",
    log:
        "logs/scores_table/scores.log",
    benchmark:
        "benchmarks/scores_table/scores.tsv"
    conda:
        "../envs/analysis.yaml"
    params:
        mixes=MIXES,
        tasks=TASKS,
    script:
        "../scripts/scores_table.py"


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
    log:
        "logs/efficiency_table/efficiency.log",
    benchmark:
        "benchmarks/efficiency_table/efficiency.tsv"
    conda:
        "../envs/analysis.yaml"
    params:
        dgms=DGMS,
    script:
        "../scripts/efficiency_table.py"
