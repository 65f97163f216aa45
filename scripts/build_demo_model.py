from rewild import models
from rewild.io import setup_logging

setup_logging(snakemake.log[0])
models.build(snakemake.params.build, list(snakemake.input), snakemake.output[0])
