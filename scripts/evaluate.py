"""Snakemake `script:` for rule evaluate: one model × its lm-eval tasks → results/eval/{model}/{task}.json.

One task per job (params.task_key, params.task), or all of the model's tasks (params.tasks, eval.group_tasks):
each output is results/eval/{model}/{task key}.json."""

from pathlib import Path

from rewild.job import Job, run


def main(job: Job) -> None:
    from rewild import evaluate

    tasks = dict(job.params.tasks) if hasattr(job.params, "tasks") else {job.params.task_key: job.params.task}
    outputs = {Path(p).stem: str(p) for p in job.output}
    evaluate.run(
        model_path=job.optional("model") or str(job.params.model["id"]),  # a built folder, else the Hub id
        model_name=str(job.params.model_name),
        settings=dict(job.params.model),
        tasks={str(k): dict(t) for k, t in tasks.items()},
        eval_cfg=dict(job.params.eval),
        out_paths={k: outputs[k] for k in tasks},
        config_hash=job.config_hash,
    )


if __name__ == "__main__":
    run(snakemake, main, limit_threads=True)
