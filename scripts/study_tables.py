"""Snakemake `script:` for rule study_tables: the scores table and mix manifests → DGM choice, scaling, blends
and inheritance tables and their figures (rewild.study)."""

from pathlib import Path

from rewild import study
from rewild.job import Job, run


def main(job: Job) -> None:
    study.run_study(
        job.input.scores,
        study.with_train_rows(job.params.mix_info, list(job.input.manifests)),
        job.params.tasks,
        Path(job.output.dgm_choice).parent,
        Path(job.output.dgm_choice_plot).parent,
        metric=job.params.metric,
    )


if __name__ == "__main__":
    run(snakemake, main)
