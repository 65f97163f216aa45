"""Snakemake `script:` for rule generate: one DGM × one prompt shard (rewild.generate.run)."""



from rewild.io import optional_input


def main(snakemake) -> None:  # noqa: ANN001 (the object Snakemake injects)
    from rewild import generate

    inp, out, params = snakemake.input, snakemake.output, snakemake.params
    # demo DGMs: a model folder built by a rule; real DGMs load by HF id
    model = optional_input(getattr(inp, "model", None))
    generate.run(
        shard_path=inp.shard,
        dgm_key=params.dgm_key,
        dgm=dict(params.dgm),
        # resume granularity: not a result-changing setting, so it is read from config, not params
        generation={**params.generation, "checkpoint_every": snakemake.config["generation"]["checkpoint_every"]},
        out_path=out.generations,
        rejects_path=out.rejects,
        efficiency_path=out.efficiency,
        progress_dir=params.progress_dir,
        cache_dir=params.cache_dir,
        config_hash=getattr(params, "config_hash", None),
        log_path=snakemake.log[0] if len(snakemake.log) else None,
        model_path=str(model) if model else None,
    )


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
