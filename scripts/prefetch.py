"""Snakemake `script:` for the local rule prefetch: download what the run needs into the HF cache (login node)."""

from rewild import prefetch
from rewild.io import setup_logging

setup_logging(snakemake.log[0])
prefetch.run(
    snakemake.params.plan,
    snakemake.output.manifest,
    include_path=snakemake.params.include_path,
)
