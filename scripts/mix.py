from rewild import mix
from rewild.io import setup_logging

setup_logging(snakemake.log[0])
mix.run(
    snakemake.wildcards.mix,
    snakemake.params.mix,
    snakemake.params.sources,
    snakemake.params.heldout_fraction,
    snakemake.params.split_seed,
    snakemake.output.train,
    snakemake.output.heldout,
    snakemake.output.manifest,
    tokenizer_path=snakemake.params.tokenizer,
)
