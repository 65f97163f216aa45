"""Snakemake `script:` for rule merge_generations: all shards of one DGM, in shard order, into one parquet."""

from rewild import generate
from rewild.job import Job, run


def main(job: Job) -> None:
    generate.merge_run(list(job.input.shards), job.output.generations)


if __name__ == "__main__":
    run(snakemake, main)
