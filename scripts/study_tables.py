import json
from pathlib import Path

from rewild import analyse
from rewild.io import now_iso, setup_logging, snakemake_provenance

started = now_iso()
setup_logging(snakemake.log[0])
info = {k: dict(v) for k, v in snakemake.params.mix_info.items()}
for path in snakemake.input.manifests:
    manifest = json.loads(Path(path).read_text())
    info[manifest["mix"]]["train_rows"] = manifest["train_rows"]
analyse.run_study(
    snakemake.input.scores,
    info,
    snakemake.params.tasks,
    Path(snakemake.output.dgm_choice).parent,
    Path(snakemake.output.dgm_choice_plot).parent,
    metric=snakemake.params.metric,
)
snakemake_provenance(snakemake, started)
