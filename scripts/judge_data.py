"""Snakemake `script:` for rule mtbench_data: the MT-Bench files of the pinned FastChat commit (raw files, SHA-256
checked) → .cache/upstream/lm-sys/FastChat/<commit>/fastchat/llm_judge/data/."""

from rewild import prefetch
from rewild.job import Job, run


def main(job: Job) -> None:
    for item in job.params.files:
        prefetch.fetch_raw_file(dict(item))


if __name__ == "__main__":
    run(snakemake, main)
