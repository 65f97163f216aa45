import json
from pathlib import Path

import pandas as pd

from rewild import plots
from rewild.io import now_iso, setup_logging, snakemake_provenance

started = now_iso()
setup_logging(snakemake.log[0])
curves = {}
for path in snakemake.input:
    metrics = json.loads(Path(path).read_text())
    curves[Path(path).name.removesuffix(".metrics.json")] = pd.DataFrame(metrics["loss_curve"])
plots.loss_curve(curves, snakemake.output[0], title="SFT loss (assistant tokens)")
snakemake_provenance(snakemake, started)
