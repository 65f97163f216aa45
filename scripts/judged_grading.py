"""Snakemake `script:` for rule judged_grading: every model graded on every judged benchmark through one judge (a
served judge starts once) -> the files the per-benchmark grading rules write (rewild.judge.grouped)."""

from rewild.job import Job, run
from rewild.judge import grouped
from rewild.judge import plan as judge_plan
from rewild.judge.server import JudgePlaces


def main(job: Job) -> None:
    p = job.params
    benchmarks = dict(p.benchmarks)
    data = [*grouped.data_inputs(job.config, list(benchmarks), grading=True), "sdq_rubrics"]
    grouped.run_grading(
        benchmarks,
        {name: job.optional(name) for name in data},
        {name: list(getattr(job.input, name)) for name in grouped.grade_answer_inputs(job.config)},
        {name: list(getattr(job.output, name)) for name in grouped.grade_outputs(job.config)},
        # how requests are sent (not a result setting) from the config
        cadence=judge_plan.client_cadence(job.config),
        # serve_local naming a demo build: the built folder (an input); the served judge's output to the rule's log
        places=JudgePlaces(p.verdict_cache, p.cache_dir, job.optional("server_model"), job.log),
        config_hash=job.config_hash,
    )


if __name__ == "__main__":
    run(snakemake, main)
