"""Snakemake `script:` for rule judge: grade one model's MT-Bench answers with FastChat's single-answer grading →
results/judge/{model}/mtbench.jsonl + mtbench.json."""

from rewild.job import Job, run
from rewild.judge import mtbench
from rewild.judge import plan as judge_plan
from rewild.judge.server import JudgePlaces


def main(job: Job) -> None:
    p = job.params
    mtbench.run_grade(
        {"questions": job.input.questions, "references": job.input.references, "prompts": job.input.prompts},
        job.input.answers,
        p.subject,
        # result settings from params; how requests are sent (not a result setting) from the config
        {**p.judge, **judge_plan.client_cadence(job.config)},
        job.output.grades,
        job.output.summary,
        # serve_local naming a demo build: the built folder (an input); otherwise serve_local.model as given;
        # the served judge's own output goes to the rule's log
        places=JudgePlaces(p.verdict_cache, p.cache_dir, job.optional("server_model"), job.log),
        config_hash=job.config_hash,
    )


if __name__ == "__main__":
    run(snakemake, main)
