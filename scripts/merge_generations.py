"""Snakemake `script:` for rule merge_generations: all shards of one DGM, in shard order, into one parquet."""



def main(snakemake) -> None:  # noqa: ANN001
    from rewild import generate

    shards = list(getattr(snakemake.input, "shards", None) or snakemake.input)
    out = getattr(snakemake.output, "generations", None) or snakemake.output[0]
    generate.merge_run(shards, out, log_path=snakemake.log[0] if len(snakemake.log) else None)


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
