from rewild import report
from rewild.io import now_iso, setup_logging, snakemake_provenance

started = now_iso()
setup_logging(snakemake.log[0])
report.run_summary(
    snakemake.input.scores,
    list(snakemake.input.sft_metrics),
    list(snakemake.input.prompt_stats),
    list(snakemake.input.filter_reports),
    snakemake.input.reference,
    snakemake.output[0],
    run_name=snakemake.params.run_name,
    tables={k: snakemake.input[k] for k in ("dgm_choice", "scaling", "blends", "inheritance", "efficiency")
            if k in snakemake.input.keys()},
)
snakemake_provenance(snakemake, started)
