"""Snakemake `script:` for rule generate: one DGM × one prompt shard (rewild.generate.run)."""

from rewild import generate
from rewild.job import Job, run


def main(job: Job) -> None:
    p = job.params
    generate.run(
        shard_path=job.input.shard,
        dgm_key=p.dgm_key,
        dgm=dict(p.dgm),
        # resume granularity: not a result-changing setting, so it is read from config, not params
        generation={**p.generation, "checkpoint_every": job.config["generation"]["checkpoint_every"]},
        out_path=job.output.generations,
        rejects_path=job.output.rejects,
        efficiency_path=job.output.efficiency,
        progress_dir=p.progress_dir,
        cache_dir=p.cache_dir,
        config_hash=job.config_hash,
        model_path=job.optional("model"),  # demo DGMs: a folder built by a rule; real DGMs load by HF id
    )


if __name__ == "__main__":
    run(snakemake, main)
