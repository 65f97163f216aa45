# eval.group_tasks picks the shape of the evaluation jobs (rewild/schemas/config.schema.yaml): one job per
# (model, task), or one per model that loads the model once and writes every task's JSON. Both are rule
# `evaluate` with the same outputs, so what reads results/eval/ does not know which ran.
if not config["eval"]["group_tasks"]:

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
        threads: eval_threads
        resources:
            gpu=eval_gpus,
            nodes=1,
            mem_mb=eval_mem_mb,
            runtime=eval_task_runtime,
        params:
            model_name="{model}",
            model=eval_model_settings,
            task_key="{task}",
            task=eval_task,
            eval=plan.eval_params(config),
            replicas_sha256=EVAL_REPLICAS_SHA256,
            versions=plan.stage_versions("evaluate"),
            config_hash=eval_config_hash,
        script:
            "../scripts/evaluate.py"

else:

    rule evaluate:
        input:
            model=eval_model_dir,
        output:
            expand("results/eval/{{model}}/{task}.json", task=TASKS),
        log:
            "logs/evaluate/{model}.log",
        benchmark:
            "benchmarks/evaluate/{model}.tsv"
        conda:
            conda_env("eval")
        threads: eval_threads
        resources:
            gpu=eval_gpus,
            nodes=1,
            mem_mb=eval_mem_mb,
            runtime=eval_model_runtime,
        params:
            model_name="{model}",
            model=eval_model_settings,
            tasks=TASKS,
            eval=plan.eval_params(config),
            replicas_sha256=EVAL_REPLICAS_SHA256,
            versions=plan.stage_versions("evaluate"),
            config_hash=eval_model_config_hash,
        script:
            "../scripts/evaluate.py"
