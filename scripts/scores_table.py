from rewild import report
from rewild.io import now_iso, setup_logging, snakemake_provenance

started = now_iso()
setup_logging(snakemake.log[0])
report.run_scores(
    list(snakemake.input.evals),
    snakemake.params.mixes,
    snakemake.params.tasks,
    snakemake.output.csv,
    snakemake.output.md,
)
snakemake_provenance(snakemake, started)
