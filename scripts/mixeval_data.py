"""Snakemake `script:` for rule mixeval_data: MixEval's close-ended data files of the pinned Psycoy/MixEval commit,
SHA-256 checked."""

from rewild.job import Job, run
from rewild.prefetch import fetch_raw_file


def main(job: Job) -> None:
    for item in job.params.files:
        fetch_raw_file(item)


if __name__ == "__main__":
    run(snakemake, main)
