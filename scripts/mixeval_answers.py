"""Snakemake `script:` for rule mixeval_answers: one model answers MixEval's free-form and multiple-choice items
with vLLM offline -> results/judge/{model}/mixeval_answers.json."""

from rewild.job import Job, run
from rewild.judge import mixeval


def main(job: Job) -> None:
    p = job.params
    mixeval.run_answers(
        p.source,
        {s: getattr(job.input, s) for s in mixeval.SPLITS},
        p.subject,
        # demo models and trained students: a folder built by a rule; otherwise the Hub id
        job.optional("model") or p.model["model_id"],
        dict(p.model),
        dict(p.generation),
        job.output.answers,
        cache_dir=p.cache_dir,
        config_hash=job.config_hash,
    )


if __name__ == "__main__":
    run(snakemake, main)
