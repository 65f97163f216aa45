"""Snakemake `script:` for rule sdq_judge: intrinsic SDQ judgments of a seeded sample of one DGM's responses on
the rubric factors → results/judge/dgm/{dgm}/sdq.jsonl + sdq.json."""


from rewild.io import optional_input as _one


def main(snakemake) -> None:  # noqa: ANN001 (the object Snakemake injects)
    from rewild import judge

    inp, out, params = snakemake.input, snakemake.output, snakemake.params
    settings = dict(params.judge)
    judge.run_sdq(
        generations_path=str(inp.generations),
        dgm=str(params.dgm),
        judge=settings,
        out_jsonl=str(out.judgments),
        out_json=str(out.summary),
        rubrics_path=str(inp.rubrics),
        # serve_local naming a demo build: the built folder (an input); otherwise serve_local.model as given
        server_model=_one(getattr(inp, "server_model", None)),
        progress_path=str(params.progress),
        cache_dir=str(params.cache_dir),
        log_path=str(snakemake.log[0]) if len(snakemake.log) else None,
        config_hash=getattr(params, "config_hash", None),
    )


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
