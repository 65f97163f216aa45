"""Snakemake `script:` for rule paper_comparison: the scores table (and the similarity, efficiency and inheritance
tables where the config makes them) next to the paper's numbers (rewild.paper.run_comparison)."""

from rewild import paper
from rewild.io import optional_input
from rewild.job import Job, run


def main(job: Job) -> None:
    paper.run_comparison(
        job.input.scores,
        job.input.reference,
        job.params.labels,
        job.output.csv,
        job.output.summary,
        job.output.plot,
        similarity_csv=optional_input(job.input.similarity),
        efficiency_csv=optional_input(job.input.efficiency),
        efficiency_corr_csv=optional_input(job.input.efficiency_corr),
        inheritance_csv=optional_input(job.input.inheritance),
        style_csv=optional_input(job.input.style),
        style_pf_csv=optional_input(job.input.style_pf),
        preference_csv=optional_input(job.input.preference),
    )


if __name__ == "__main__":
    run(snakemake, main)
