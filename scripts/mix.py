"""Snakemake `script:` for rule mix: one SFT mix → results/mixes/{mix}/train.parquet, heldout.parquet and its
manifest (rewild.mix)."""

from rewild import mix
from rewild.job import Job, run


def main(job: Job) -> None:
    mix.run(
        job.wildcards.mix,
        job.params.mix,
        job.params.sources,
        job.params.heldout_fraction,
        job.params.split_seed,
        job.output.train,
        job.output.heldout,
        job.output.manifest,
        job.params.tokenizer,
        job.params.overlong,
    )


if __name__ == "__main__":
    run(snakemake, main)
