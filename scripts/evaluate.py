"""Snakemake `script:` for rule evaluate: one model × one lm-eval task → results/eval/{model}/{task}.json."""


from rewild.io import limit_cpu_threads
from rewild.io import optional_input as _one


def main(snakemake) -> None:  # noqa: ANN001 (the object Snakemake injects)
    limit_cpu_threads(snakemake.threads)
    from rewild import evaluate

    inp, out, params = snakemake.input, snakemake.output, snakemake.params
    model = _one(getattr(inp, "model", None))  # trained students and demo models: a folder; else the HF id
    evaluate.run(
        model_path_or_id=model or str(params.model_id),
        model_name=str(params.model_name),
        task_key=str(params.task_key),
        task=dict(params.task),
        eval_cfg=dict(params.eval),
        out_path=str(out.json),
        config_hash=getattr(params, "config_hash", None),
        log_path=str(snakemake.log[0]) if len(snakemake.log) else None,
        revision=getattr(params, "revision", None) or None,
    )


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
