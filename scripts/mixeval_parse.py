"""Snakemake `script:` for rule mixeval: the judge parses one model's MixEval answers, MixEval's overall score ->
results/judge/{model}/mixeval.json + mixeval.verdicts.json."""

from rewild.job import Job, run
from rewild.judge import mixeval
from rewild.judge import plan as judge_plan
from rewild.judge.server import JudgePlaces


def main(job: Job) -> None:
    p = job.params
    mixeval.run_parse(
        p.source,
        {s: getattr(job.input, s) for s in mixeval.SPLITS},
        job.input.answers,
        p.subject,
        # result settings from params; how requests are sent (not a result setting) from the config
        {**p.judge, **judge_plan.client_cadence(job.config)},
        job.output.summary,
        job.output.verdicts,
        places=JudgePlaces(p.verdict_cache, p.cache_dir, job.optional("server_model"), job.log),
        config_hash=job.config_hash,
    )


if __name__ == "__main__":
    run(snakemake, main)
