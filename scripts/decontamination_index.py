from rewild import evaluate
from rewild.io import setup_logging

setup_logging(snakemake.log[0])
evaluate.run_ngram_index(
    snakemake.wildcards.task,
    snakemake.params.task,
    snakemake.params.eval,
    snakemake.params.ngram,
    snakemake.output[0],
)
