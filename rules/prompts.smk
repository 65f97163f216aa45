rule prompts:
    input:
        prompt_source,
    output:
        shard="results/prompts/{shard}.parquet",
        rejects="results/prompts/{shard}.rejects.jsonl",
        stats="results/prompts/{shard}.stats.json",
    log:
        "logs/prompts/{shard}.log",
    benchmark:
        "benchmarks/prompts/{shard}.tsv"
    conda:
        conda_env("analysis")
    params:
        source=PROMPTS["source"],
        prompts=PROMPTS,
    script:
        "../scripts/prompts.py"
