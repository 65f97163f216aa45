"""Snakemake `script:` for the source pseudo-DGM (`kind: source`, GPT): copy the original WildChat answers."""

from rewild import generate
from rewild.job import Job, run


def main(job: Job) -> None:
    generate.source_responses_run(
        shard_path=job.input.shard,
        dgm_key=job.params.dgm_key,
        dgm=dict(job.params.dgm),
        out_path=job.output.generations,
        rejects_path=job.output.rejects,
        efficiency_path=getattr(job.output, "efficiency", None),  # the rule may declare no efficiency output
        config_hash=job.config_hash,
    )


if __name__ == "__main__":
    run(snakemake, main)
