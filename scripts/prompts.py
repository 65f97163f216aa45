from rewild import prompts
from rewild.io import setup_logging

setup_logging(snakemake.log[0])
prompts.run(
    snakemake.params.prompts,
    snakemake.wildcards.shard,
    snakemake.output.shard,
    snakemake.output.rejects,
    snakemake.output.stats,
)
