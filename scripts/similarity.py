from pathlib import Path

from rewild import analyse
from rewild.io import now_iso, setup_logging, snakemake_provenance

started = now_iso()
setup_logging(snakemake.log[0])
analyse.run_similarity(
    {Path(p).stem: p for p in snakemake.input},
    snakemake.output.csv,
    snakemake.output.unaligned,
    snakemake.output.plot,
    k=snakemake.params.k,
    seed=snakemake.params.seed,
    averaging=snakemake.params.averaging,
    n_conversations=snakemake.params.n,
)
snakemake_provenance(snakemake, started)
