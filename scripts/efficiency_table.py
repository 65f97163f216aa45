from collections import defaultdict
from pathlib import Path

from rewild import analyse
from rewild.io import now_iso, setup_logging, snakemake_provenance

started = now_iso()
setup_logging(snakemake.log[0])
# results/efficiency/{dgm}/{shard}.json: the DGM is the parent folder's name
by_dgm = defaultdict(list)
for path in snakemake.input:
    by_dgm[Path(path).parent.name].append(path)
analyse.run_efficiency(
    dict(by_dgm),
    {d: snakemake.params.dgms[d].get("params_b") or 0.0 for d in by_dgm},
    snakemake.output.csv,
    snakemake.output.correlations,
    snakemake.output.plot,
)
snakemake_provenance(snakemake, started)
