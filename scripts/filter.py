"""Snakemake `script:` for rule filter: one DGM's merged generations → results/filtered/{dgm}.parquet, the
rejected rows with reasons and the accounting report (rewild.filter)."""

from rewild import filter as rfilter
from rewild.job import Job, run


def main(job: Job) -> None:
    rfilter.run(
        job.input.generations,
        job.output.filtered,
        job.output.rejects,
        job.output.report,
        job.params.filters,
        job.wildcards.dgm,
        list(job.input.index),
    )


if __name__ == "__main__":
    run(snakemake, main)
