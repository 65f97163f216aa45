rule evaluate:
    input:
        model=eval_model_dir,
    output:
        json="results/eval/{model}/{task}.json",
    params:
        model_name="{model}",
        model_id=eval_model_id,
        task_key="{task}",
        task=lambda wc: TASKS[wc.task],
        eval=rc.eval_params(config),
        revision=eval_model_revision,
    threads: 2
    resources:
        gpu=config["eval"]["gpus"],
    log:
        "logs/evaluate/{model}/{task}.log",
    benchmark:
        "benchmarks/evaluate/{model}/{task}.tsv"
    conda:
        "../envs/eval.yaml"
    script:
        "../scripts/evaluate.py"
