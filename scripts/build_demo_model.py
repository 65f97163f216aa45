"""Snakemake `script:` for rule build_demo_model: a small local model folder for the demo (rewild.models.build)."""

from rewild import models
from rewild.job import Job, run


def main(job: Job) -> None:
    models.build(job.params.build, list(job.input), job.output[0])


if __name__ == "__main__":
    run(snakemake, main)
