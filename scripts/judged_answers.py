"""Snakemake `script:` for rule judged_answers: one model answers every judged benchmark (MT-Bench, AlpacaEval,
MixEval) on one vLLM engine -> the files the per-benchmark answer rules write (rewild.judge.grouped)."""

from rewild.job import Job, run
from rewild.judge import grouped


def main(job: Job) -> None:
    p = job.params
    benchmarks = dict(p.benchmarks)
    names = grouped.data_inputs(job.config, list(benchmarks), grading=False)
    grouped.run_answers(
        # demo models and trained students: a folder built by a rule; otherwise the Hub id
        job.optional("model") or p.model["model_id"],
        p.subject,
        dict(p.model),
        benchmarks,
        {name: getattr(job.input, name) for name in names},
        {name: getattr(job.output, name) for name in grouped.answer_outputs(job.config)},
        cache_dir=p.cache_dir,
        config_hash=job.config_hash,
    )


if __name__ == "__main__":
    run(snakemake, main)
