rule filter:
    input:
        generations="results/generations/{dgm}.parquet",
        index=decontamination_indexes,
    output:
        filtered="results/filtered/{dgm}.parquet",
        rejects="results/filtered/{dgm}.rejects.jsonl",
        report="results/filtered/{dgm}.report.json",
    log:
        "logs/filter/{dgm}.log",
    benchmark:
        "benchmarks/filter/{dgm}.tsv"
    conda:
        conda_env("analysis")
    params:
        filters=config["filters"],
    script:
        "../scripts/filter.py"


rule decontamination_index:
    output:
        "results/decontamination/{task}.json",
    log:
        "logs/decontamination_index/{task}.log",
    benchmark:
        "benchmarks/decontamination_index/{task}.tsv"
    conda:
        conda_env("eval")
    params:
        task=eval_task,
        eval={
            "include_path": config["eval"]["include_path"],
            "replicas": config["eval"]["replicas"],
            "allow_code_execution": config["eval"]["allow_code_execution"],
        },
        replicas_sha256=EVAL_REPLICAS_SHA256,
        ngram=config["filters"]["decontaminate"]["ngram"],
    script:
        "../scripts/decontamination_index.py"
