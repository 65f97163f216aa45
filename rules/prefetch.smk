# Download every model and dataset of the run into the shared HF cache, on the login node (compute nodes run
# with the Hub offline: profiles/slurm). Not part of `rule all`:
#   snakemake --profile slurm prefetch


from rewild import prefetch as rp


localrules:
    prefetch,


rule prefetch:
    output:
        manifest="results/prefetch/manifest.json",
    log:
        "logs/prefetch/prefetch.log",
    benchmark:
        "benchmarks/prefetch/prefetch.tsv"
    conda:
        conda_env("eval")
    params:
        plan=rp.plan(config),
        include_path=config["eval"]["include_path"],
    script:
        "../scripts/prefetch.py"
