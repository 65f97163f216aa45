"""Snakemake `script:` for rule archive: a finished reproduction → results/archive/reproduction.tar.gz."""

from pathlib import Path

from rewild import archive
from rewild.job import Job, run


def main(job: Job) -> None:
    archive.run(
        root=".",
        config=job.config,
        out=job.output[0],
        include_models=job.params.include_models,
        include_generations=job.params.include_generations,
        # the workflow checkout (scripts/ is one level below it), whose commit and code are archived
        code_root=Path(job.scriptdir).parent,
        run_name=job.params.run_name,
    )


if __name__ == "__main__":
    run(snakemake, main)
