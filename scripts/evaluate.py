"""Snakemake `script:` for rule evaluate: one model × one lm-eval task → results/eval/{model}/{task}.json."""

from rewild.job import Job, run


def main(job: Job) -> None:
    from rewild import evaluate

    evaluate.run(
        model_path=job.optional("model") or str(job.params.model["id"]),  # a built folder, else the Hub id
        model_name=str(job.params.model_name),
        settings=dict(job.params.model),
        task_key=str(job.params.task_key),
        task=dict(job.params.task),
        eval_cfg=dict(job.params.eval),
        out_path=str(job.output.json),
        config_hash=job.config_hash,
    )


if __name__ == "__main__":
    run(snakemake, main, limit_threads=True)
