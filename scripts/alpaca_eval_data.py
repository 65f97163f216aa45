"""Snakemake `script:` for rule alpaca_eval_data: the AlpacaEval files of the pinned tatsu-lab/alpaca_eval
revision (evaluation set with reference outputs, the GLM's df_gamed.csv), SHA-256 checked."""

from rewild.job import Job, run
from rewild.judge import alpaca_data


def main(job: Job) -> None:
    for item in job.params.files:
        alpaca_data.fetch_hub_file(item)


if __name__ == "__main__":
    run(snakemake, main)
