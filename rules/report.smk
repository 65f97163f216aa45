rule summary:
    input:
        unpack(summary_tables),
        scores="results/tables/scores.csv",
        sft_metrics=sft_metrics,
        prompt_stats=expand("results/prompts/{shard}.stats.json", shard=SHARDS),
        filter_reports=expand("results/filtered/{dgm}.report.json", dgm=DGMS),
    output:
        report(
            "results/report/summary.md",
            caption="../report/summary.rst",
            category="Summary",
            labels={"document": "summary"},
        ),
        provenance="results/report/summary.provenance.json",
    log:
        "logs/summary/summary.log",
    benchmark:
        "benchmarks/summary/summary.tsv"
    conda:
        conda_env("analysis")
    params:
        run_name=config["run"]["name"],
    script:
        "../scripts/summary.py"
