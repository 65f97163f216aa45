rule filter:
    input:
        "results/generations/{dgm}.parquet",
    output:
        filtered="results/filtered/{dgm}.parquet",
        rejects="results/filtered/{dgm}.rejects.jsonl",
        report="results/filtered/{dgm}.report.json",
    log:
        "logs/filter/{dgm}.log",
    benchmark:
        "benchmarks/filter/{dgm}.tsv"
    conda:
        "../envs/analysis.yaml"
    params:
        filters=config["filters"],
        decontaminate_tasks=decontamination_tasks,
    script:
        "../scripts/filter.py"
