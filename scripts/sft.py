"""Snakemake `script:` for rule sft: the student trained on one mix (rewild.sft.launch → run).

CPU / one GPU: trains in this process. sft.gpus > 1: `launch` starts `accelerate launch` (FSDP, one process per
GPU, sft.accelerate_config) running `python -m rewild.sft` on the same arguments; see rewild.sft.command_for.
"""

from rewild import plan, sft
from rewild.job import Job, log_level, run


def main(job: Job) -> None:
    # every SFT setting, cadence included (params.sft holds only the result-changing part, the rerun trigger)
    settings = plan.sft_settings(job.config, job.wildcards.mix)
    sft.limit_threads(job.threads, settings)
    sft.launch(
        {
            "train_path": str(job.input.train),
            "heldout_path": job.optional("heldout"),
            # demo: a folder built by a rule; real students: the HF id
            "student_path_or_id": job.optional("student") or str(job.params.student_id),
            "student": dict(job.params.student),
            "sft": settings,
            "out_dir": str(job.output.model),
            "metrics_path": str(job.output.metrics),
            "checkpoint_dir": str(job.params.checkpoint_dir),
            "config_hash": job.config_hash,
        },
        log_path=job.log,
        log_level=log_level(job.config),
    )


if __name__ == "__main__":
    run(snakemake, main)
