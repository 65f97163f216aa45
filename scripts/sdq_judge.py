"""Snakemake `script:` for rule sdq_judge: intrinsic SDQ judgments of a seeded sample of one DGM's responses on
the rubric factors → results/judge/dgm/{dgm}/sdq.jsonl + sdq.json."""

from rewild.job import Job, run
from rewild.judge import plan as judge_plan
from rewild.judge import sdq
from rewild.judge.server import JudgePlaces


def main(job: Job) -> None:
    p = job.params
    sdq.run_sdq(
        generations_path=job.input.generations,
        dgm=p.dgm,
        # result settings from params; how requests are sent (not a result setting) from the config
        judge={**p.judge, **judge_plan.client_cadence(job.config)},
        out_jsonl=job.output.judgments,
        out_json=job.output.summary,
        rubrics_path=job.input.rubrics,
        # serve_local naming a demo build: the built folder (an input); otherwise serve_local.model as given
        places=JudgePlaces(p.verdict_cache, p.cache_dir, job.optional("server_model"), job.log),
        config_hash=job.config_hash,
    )


if __name__ == "__main__":
    run(snakemake, main)
