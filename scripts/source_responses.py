"""Snakemake `script:` for the source pseudo-DGM (`kind: source`, GPT): copy the original WildChat answers."""



def main(snakemake) -> None:  # noqa: ANN001
    from rewild import generate

    inp, out, params = snakemake.input, snakemake.output, snakemake.params
    generate.source_responses_run(
        shard_path=inp.shard,
        dgm_key=params.dgm_key,
        dgm=dict(params.dgm),
        out_path=out.generations,
        rejects_path=out.rejects,
        efficiency_path=getattr(out, "efficiency", None),
        config_hash=getattr(params, "config_hash", None),
        log_path=snakemake.log[0] if len(snakemake.log) else None,
    )


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
