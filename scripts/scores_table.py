"""Snakemake `script:` for rule scores_table: every eval JSON and judged-score JSON → results/tables/scores.csv
and scores.md (rewild.report.run_scores)."""

from rewild import report
from rewild.job import Job, run


def main(job: Job) -> None:
    report.run_scores(list(job.input.evals), list(job.input.judged), job.params.mixes, job.params.tasks,
                      job.params.columns, job.output.csv, job.output.md)


if __name__ == "__main__":
    run(snakemake, main)
