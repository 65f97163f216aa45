"""Snakemake `script:` for rule alpaca_answers: one model answers the AlpacaEval instructions with vLLM offline ->
results/judge/{model}/alpaca_answers.json (alpaca-eval's model_outputs format) + alpaca_answers.meta.json."""

from rewild.job import Job, run
from rewild.judge import alpaca_eval


def main(job: Job) -> None:
    p = job.params
    alpaca_eval.run_answers(
        job.input.reference,
        p.subject,
        # demo models and trained students: a folder built by a rule; otherwise the Hub id
        job.optional("model") or p.model["model_id"],
        dict(p.model),
        dict(p.generation),
        job.output.answers,
        job.output.meta,
        cache_dir=p.cache_dir,
        config_hash=job.config_hash,
    )


if __name__ == "__main__":
    run(snakemake, main)
