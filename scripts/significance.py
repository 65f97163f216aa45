"""Snakemake `script:` for rule significance: paired bootstrap tests of the paper's comparisons from the per-item
eval results (rewild.significance.run_significance)."""

from rewild import significance, study
from rewild.job import Job, run


def main(job: Job) -> None:
    significance.run_significance(
        list(job.input.evals),
        list(job.input.judged),
        job.params.tasks,
        job.params.columns,
        study.with_train_rows(job.params.mix_info, list(job.input.manifests)),
        job.params.labels,
        job.input.reference,
        job.output.csv,
        job.output.claims,
        job.output.plot,
        n_resamples=job.params.bootstrap["n_resamples"],
        seed=job.params.bootstrap["seed"],
    )


if __name__ == "__main__":
    run(snakemake, main)
