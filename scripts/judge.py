"""Snakemake `script:` for rule judge: grade one model's MT-Bench answers → results/judge/{model}/mtbench.jsonl +
mtbench.json."""

from rewild.job import Job, run
from rewild.judge import mtbench
from rewild.judge import plan as judge_plan


def main(job: Job) -> None:
    p = job.params
    mtbench.run_grade(
        questions_path=job.input.questions,
        answers_path=job.input.answers,
        subject=p.subject,
        # result settings from params; how requests are sent (not a result setting) from the config
        judge={**p.judge, **judge_plan.client_cadence(job.config)},
        out_jsonl=job.output.grades,
        out_json=job.output.summary,
        # serve_local naming a demo build: the built folder (an input); otherwise serve_local.model as given
        server_model=job.optional("server_model"),
        progress_path=p.progress,
        cache_dir=p.cache_dir,
        server_log=job.log,  # the served judge's own output goes to the rule's log too
        config_hash=job.config_hash,
    )


if __name__ == "__main__":
    run(snakemake, main)
