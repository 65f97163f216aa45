"""Snakemake `script:` for rule judged_answers: one model answers every judged benchmark (MT-Bench, AlpacaEval,
MixEval) on one vLLM engine -> the files the per-benchmark answer rules write (rewild.judge.grouped)."""

from rewild.job import Job, run
from rewild.judge import grouped


def main(job: Job) -> None:
    p = job.params
    grouped.run_answers(
        # demo models and trained students: a folder built by a rule; otherwise the Hub id
        job.optional("model") or p.model["model_id"],
        p.subject,
        dict(p.model),
        dict(p.benchmarks),
        # the data files by input name (rewild.judge.grouped.data_inputs), the outputs by name (answer_outputs)
        {name: str(f) for name, f in job.input.items() if name != "model"},
        {name: str(f) for name, f in job.output.items()},
        cache_dir=p.cache_dir,
        config_hash=job.config_hash,
    )


if __name__ == "__main__":
    run(snakemake, main)
