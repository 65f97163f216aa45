"""Snakemake `script:` for rule sft: the student trained on one mix (rewild.sft.launch → run).

CPU / one GPU: trains in this process. sft.gpus > 1: `launch` starts `accelerate launch` (FSDP, one process per
GPU, config/accelerate/fsdp_llama8b.yaml or sft.accelerate_config) running `python -m rewild.sft` on the same
arguments; see rewild.sft.command_for.
"""


from rewild.io import optional_input as _one


def main(snakemake) -> None:  # noqa: ANN001 (the object Snakemake injects)
    from rewild import plan, sft

    inp, out, params = snakemake.input, snakemake.output, snakemake.params
    # every SFT setting, cadence included (params.sft holds only the result-changing part, the rerun trigger)
    settings = plan.sft_settings(snakemake.config, snakemake.wildcards.mix)
    sft.limit_threads(snakemake.threads, settings)
    student_path = _one(getattr(inp, "student", None))  # demo: a folder built by a rule; real students: the HF id
    sft.launch(
        train_path=str(inp.train),
        heldout_path=_one(getattr(inp, "heldout", None)),
        student_path_or_id=student_path or str(params.student_id),
        student=dict(params.student),
        sft=settings,
        out_dir=str(out.model),
        metrics_path=str(out.metrics),
        checkpoint_dir=str(params.checkpoint_dir),
        config_hash=getattr(params, "config_hash", None),
        log_path=str(snakemake.log[0]) if len(snakemake.log) else None,
    )


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
