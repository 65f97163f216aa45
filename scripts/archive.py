from pathlib import Path

from rewild import archive
from rewild.io import setup_logging

setup_logging(snakemake.log[0])
archive.run(
    root=".",
    config=snakemake.config,
    out=snakemake.output[0],
    include_models=snakemake.params.include_models,
    include_generations=snakemake.params.include_generations,
    # the workflow checkout (scripts/ is one level below it), whose commit and code are archived
    code_root=Path(snakemake.scriptdir).parent,
    run_name=snakemake.params.run_name,
)
