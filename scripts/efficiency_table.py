"""Snakemake `script:` for rule efficiency_table: per-shard efficiency records → results/tables/efficiency.csv,
its correlations and the throughput figure (rewild.efficiency)."""

from rewild import efficiency
from rewild.job import Job, run


def main(job: Job) -> None:
    efficiency.run_efficiency(
        list(job.input), job.params.dgms, job.output.csv, job.output.correlations, job.output.plot
    )


if __name__ == "__main__":
    run(snakemake, main)
