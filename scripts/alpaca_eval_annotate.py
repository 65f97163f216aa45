"""Snakemake `script:` for rule alpaca_eval: alpaca-eval's annotator and length-controlled GLM on one model's
outputs, through the configured judge -> results/judge/{model}/alpaca_lc.json + alpaca_lc.annotations.json."""

from rewild.job import Job, run
from rewild.judge import alpaca_eval
from rewild.judge import plan as judge_plan
from rewild.judge.server import JudgePlaces


def main(job: Job) -> None:
    p = job.params
    alpaca_eval.run_annotate(
        job.input.answers,
        {"reference": job.input.reference, "gamed": job.input.gamed},
        p.subject,
        # result settings from params; how requests are sent (not a result setting) from the config
        {**p.judge, **judge_plan.client_cadence(job.config)},
        job.output.summary,
        job.output.annotations,
        places=JudgePlaces(p.verdict_cache, p.cache_dir, job.optional("server_model"), job.log),
        config_hash=job.config_hash,
    )


if __name__ == "__main__":
    run(snakemake, main)
