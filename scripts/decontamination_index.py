"""Snakemake `script:` for rule decontamination_index: n-grams of one eval task's prompts."""

from rewild.job import Job, run


def main(job: Job) -> None:
    from rewild import evaluate

    evaluate.run_ngram_index(job.wildcards.task, job.params.task, job.params.eval, job.params.ngram, job.output[0])


if __name__ == "__main__":
    run(snakemake, main)
