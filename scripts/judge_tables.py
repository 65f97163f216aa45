"""Snakemake `script:` for rule judge_tables: PrefRt / FlipCt and MT-Bench tables, the intrinsic SDQ table and its
rank correlation with the students' extrinsic score (results/tables/judge_*.csv, sdq_*.csv, results/plots/*.png);
`run` writes the provenance sidecar."""

from rewild.job import Job, run
from rewild.judge import tables


def main(job: Job) -> None:
    p = job.params
    subjects = list(p.models)
    grades = dict(zip(subjects, map(str, job.input.grades)))
    summaries = dict(zip(subjects, map(str, job.input.summaries)))
    tables.run_preference(
        grades,
        summaries,
        [tuple(pair) for pair in p.pairs],
        out_csv=job.output.preference,
        out_mtbench_csv=job.output.mtbench,
        out_png=job.output.mtbench_plot,
        learned_from=dict(p.learned_from),
    )
    tables.run_sdq_tables(
        dict(zip(list(p.sdq_dgms), map(str, job.input.sdq))),
        job.input.scores,
        dict(p.extrinsic_mixes),
        p.extrinsic_metric,
        out_intrinsic_csv=job.output.intrinsic,
        out_corr_csv=job.output.correlation,
        out_png=job.output.plot,
        mtbench_jsons=summaries,
    )


if __name__ == "__main__":
    run(snakemake, main)
