"""Snakemake `script:` for rule summary: the run's tables and accounting → results/report/summary.md."""

from rewild import report
from rewild.job import Job, run


def main(job: Job) -> None:
    report.run_summary(
        job.input.scores,
        list(job.input.sft_metrics),
        list(job.input.prompt_stats),
        list(job.input.filter_reports),
        job.output[0],
        run_name=job.params.run_name,
        # the input function adds the efficiency table only where the run generated responses; a Namedlist's
        # names are attributes (`in` would test its values)
        tables={k: getattr(job.input, k) for k in (*report.STUDY_SECTIONS, *report.PAPER_TABLES, report.SEED_SPREAD)
                if hasattr(job.input, k)},
    )


if __name__ == "__main__":
    run(snakemake, main)
