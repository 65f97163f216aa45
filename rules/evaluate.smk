from rewild import evaluate as rev


rule evaluate:
    input:
        model=eval_model_dir,
    output:
        json="results/eval/{model}/{task}.json",
    log:
        "logs/evaluate/{model}/{task}.log",
    benchmark:
        "benchmarks/evaluate/{model}/{task}.tsv"
    conda:
        conda_env("eval")
    threads: resources.eval_threads(config)
    resources:
        gpu=lambda wc: rev.model_settings(config, wc.model)["gpus"],
        nodes=1,
        mem_mb=lambda wc, attempt: resources.eval_mem_mb(config, attempt),
        runtime=lambda wc, attempt: resources.eval_runtime(config, wc.task, attempt),
    params:
        model_name="{model}",
        model=lambda wc: rev.model_settings(config, wc.model),
        task_key="{task}",
        task=lambda wc: TASKS[wc.task],
        eval=plan.eval_params(config),
        versions=plan.stage_versions("evaluate"),
        config_hash=eval_config_hash,
    script:
        "../scripts/evaluate.py"
