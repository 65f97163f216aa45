from rewild import filter as rfilter
from rewild.io import setup_logging

setup_logging(snakemake.log[0])
rfilter.run(
    snakemake.input.generations,
    snakemake.output.filtered,
    snakemake.output.rejects,
    snakemake.output.report,
    snakemake.params.filters,
    snakemake.wildcards.dgm,
    list(snakemake.input.index),
)
