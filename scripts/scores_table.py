"""Snakemake `script:` for rule scores_table: every eval JSON → results/tables/scores.csv and scores.md."""

from rewild import report
from rewild.job import Job, run


def main(job: Job) -> None:
    report.run_scores(list(job.input.evals), job.params.mixes, job.params.tasks, job.output.csv, job.output.md)


if __name__ == "__main__":
    run(snakemake, main)
