"""Snakemake `script:` for rule training_curves: every student's metrics.json → results/plots/sft_loss.png."""

from rewild import report
from rewild.job import Job, run


def main(job: Job) -> None:
    report.run_training_curves(list(job.input), job.output[0])


if __name__ == "__main__":
    run(snakemake, main)
