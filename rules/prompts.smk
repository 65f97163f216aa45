rule prompts:
    input:
        prompt_source,
    output:
        shard="results/prompts/{shard}.parquet",
        rejects="results/prompts/{shard}.rejects.jsonl",
        stats="results/prompts/{shard}.stats.json",
    params:
        source=PROMPTS["source"],
        prompts=PROMPTS,
    log:
        "logs/prompts/{shard}.log",
    benchmark:
        "benchmarks/prompts/{shard}.tsv"
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/prompts.py"
