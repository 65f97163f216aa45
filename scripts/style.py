"""Snakemake `script:` for rule style: Markdown tag counts of MT-Bench answers, PF and MPF (rewild.style.run_style)."""

from rewild import style
from rewild.job import Job, run


def main(job: Job) -> None:
    answers = dict(zip(job.params.models, job.input.answers, strict=True))
    style.run_style(answers, [tuple(p) for p in job.params.pairs], job.params.labels, job.output.counts, job.output.pf)


if __name__ == "__main__":
    run(snakemake, main)
