"""Snakemake `script:` for rule judged_grading: every model graded on every judged benchmark through one judge (a
served judge starts once) -> the files the per-benchmark grading rules write (rewild.judge.grouped)."""

from rewild.job import Job, run
from rewild.judge import grouped
from rewild.judge import plan as judge_plan
from rewild.judge.server import JudgePlaces


def main(job: Job) -> None:
    p = job.params
    answers = {name: list(files) for name, files in job.input.items() if name.endswith(("_answers", "_generations"))}
    grouped.run_grading(
        dict(p.benchmarks),
        # the data files by input name (rewild.judge.grouped.data_inputs), the answers and outputs by list name
        {name: str(f) for name, f in job.input.items() if name not in answers and name != "server_model"},
        answers,
        {name: list(files) for name, files in job.output.items()},
        # how requests are sent (not a result setting) from the config
        cadence=judge_plan.client_cadence(job.config),
        # serve_local naming a demo build: the built folder (an input); the served judge's output to the rule's log
        places=JudgePlaces(p.verdict_cache, p.cache_dir, job.optional("server_model"), job.log),
        config_hash=job.config_hash,
    )


if __name__ == "__main__":
    run(snakemake, main)
