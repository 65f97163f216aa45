"""Snakemake `script:` for rule similarity: the DGMs' merged generations → results/tables/similarity.csv, the
unaligned conversations and the figure (rewild.similarity)."""

from pathlib import Path

from rewild import similarity
from rewild.job import Job, run


def main(job: Job) -> None:
    similarity.run_similarity(
        {Path(p).stem: p for p in job.input},
        job.output.csv,
        job.output.unaligned,
        job.output.plot,
        k=job.params.k,
        seed=job.params.seed,
        averaging=job.params.averaging,
        n_conversations=job.params.n,
    )


if __name__ == "__main__":
    run(snakemake, main)
