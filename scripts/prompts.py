from rewild import prompts
from rewild.job import Job, run


def main(job: Job) -> None:
    prompts.run(job.params.prompts, job.wildcards.shard, job.output.shard, job.output.rejects, job.output.stats)


if __name__ == "__main__":
    run(snakemake, main)
