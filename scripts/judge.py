"""Snakemake `script:` for two rules:
- judge: grade one model's MT-Bench answers → results/judge/{subject}/mtbench.jsonl + mtbench.json;
- judge_tables: PrefRt / FlipCt and MT-Bench tables, intrinsic SDQ table and its rank correlation with the
  students' extrinsic score (results/tables/judge_*.csv, sdq_*.csv, results/plots/*.png)."""


from rewild.io import optional_input as _one


def grade(snakemake) -> None:  # noqa: ANN001
    from rewild import judge

    inp, out, params = snakemake.input, snakemake.output, snakemake.params
    judge.run_grade(
        questions_path=str(inp.questions),
        answers_path=str(inp.answers),
        subject=str(params.subject),
        judge=dict(params.judge),
        out_jsonl=str(out.grades),
        out_json=str(out.summary),
        server_model=_one(getattr(inp, "server_model", None)),
        progress_path=str(params.progress),
        cache_dir=str(params.cache_dir),
        log_path=str(snakemake.log[0]) if len(snakemake.log) else None,
        config_hash=getattr(params, "config_hash", None),
    )


def tables(snakemake) -> None:  # noqa: ANN001
    from rewild import judge
    from rewild.io import now_iso, setup_logging, snakemake_provenance

    started = now_iso()
    inp, out, params = snakemake.input, snakemake.output, snakemake.params
    setup_logging(snakemake.log[0] if len(snakemake.log) else None)
    subjects = list(params.models)
    grades = dict(zip(subjects, map(str, inp.grades)))
    summaries = dict(zip(subjects, map(str, inp.summaries)))
    judge.run_preference(
        grades,
        summaries,
        [tuple(p) for p in params.pairs],
        out_csv=str(out.preference),
        out_mtbench_csv=str(out.mtbench),
        out_png=str(out.mtbench_plot),
        learned_from=dict(params.learned_from),
    )
    judge.run_sdq_tables(
        dict(zip(list(params.sdq_dgms), map(str, inp.sdq))),
        str(inp.scores),
        dict(params.extrinsic_mixes),
        str(params.extrinsic_metric),
        out_intrinsic_csv=str(out.intrinsic),
        out_corr_csv=str(out.correlation),
        out_png=str(out.plot),
        mtbench_jsons=summaries,
    )
    snakemake_provenance(snakemake, started)


def main(snakemake) -> None:  # noqa: ANN001 (the object Snakemake injects)
    if snakemake.rule == "judge_tables":
        tables(snakemake)
    else:
        grade(snakemake)


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
