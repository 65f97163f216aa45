"""Snakemake `script:` for rule scores_table: every eval JSON and judged-score JSON → results/tables/scores.csv
and scores.md (rewild.report.run_scores), and with SFT seed replicates results/tables/seed_spread.csv
(rewild.replicates.run_seed_spread)."""

from rewild import replicates, report
from rewild.job import Job, run


def main(job: Job) -> None:
    table = report.run_scores(list(job.input.evals), list(job.input.judged), job.params.mixes, job.params.tasks,
                              job.params.columns, job.output.csv, job.output.md)
    # the rule declares this output only when sft.seeds has more than one seed (rules/common.smk seed_spread_table);
    # a Namedlist's names are attributes (`in` would test its values)
    if hasattr(job.output, "seed_spread"):
        replicates.run_seed_spread(table, job.params.columns, job.output.seed_spread)


if __name__ == "__main__":
    run(snakemake, main)
