"""Snakemake `script:` for rule judge_answers: one model (student or DGM) answers the two-turn judge questions with
vLLM offline → results/judge/{model}/answers.jsonl (FastChat answer format) + answers.json."""

from rewild.job import Job, run
from rewild.judge import mtbench


def main(job: Job) -> None:
    p = job.params
    mtbench.run_answers(
        questions_path=job.input.questions,
        subject=p.subject,
        # demo models and trained students: a folder built by a rule; otherwise the Hub id
        model=job.optional("model") or p.model["model_id"],
        model_settings=dict(p.model),
        judge=dict(p.judge),
        out_jsonl=job.output.answers,
        out_meta=job.output.meta,
        cache_dir=p.cache_dir,
        config_hash=job.config_hash,
    )


if __name__ == "__main__":
    run(snakemake, main)
