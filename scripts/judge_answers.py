"""Snakemake `script:` for rule judge_answers: one model (student or DGM) answers the two-turn judge questions
with vLLM offline → results/judge/{subject}/answers.jsonl (FastChat answer format) + answers.json."""


from rewild.io import optional_input as _one


def main(snakemake) -> None:  # noqa: ANN001 (the object Snakemake injects)
    from rewild import judge

    inp, out, params = snakemake.input, snakemake.output, snakemake.params
    settings = dict(params.model)
    folder = _one(getattr(inp, "model", None))  # demo models and trained students: a folder; else the Hub id
    judge.run_answers(
        questions_path=str(inp.questions),
        subject=str(params.subject),
        model=folder or str(settings["model_id"]),
        model_settings=settings,
        judge=dict(params.judge),
        out_jsonl=str(out.answers),
        out_meta=str(out.meta),
        cache_dir=str(params.cache_dir),
        log_path=str(snakemake.log[0]) if len(snakemake.log) else None,
        config_hash=getattr(params, "config_hash", None),
    )


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
