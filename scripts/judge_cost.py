"""Snakemake `script:` for rule judge_cost: judge tokens and estimated API cost per judged benchmark and model →
results/tables/judge_cost.csv; `run` writes the provenance sidecar."""

from rewild.job import Job, run
from rewild.judge import tables


def main(job: Job) -> None:
    tables.run_cost([str(p) for p in job.input], job.output.table)


if __name__ == "__main__":
    run(snakemake, main)
