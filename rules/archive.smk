# One file holding a finished reproduction: `snakemake --profile profiles/local archive`.
# Not part of `rule all`; check an archive with `python -m rewild.archive verify results/archive/reproduction.tar.gz`.


rule archive:
    input:
        final=final_outputs(),
        evals=eval_jsons,
    output:
        "results/archive/reproduction.tar.gz",
    log:
        "logs/archive/reproduction.log",
    benchmark:
        "benchmarks/archive/reproduction.tsv"
    conda:
        conda_env("analysis")
    params:
        include_models=config["archive"]["include_models"],
        include_generations=config["archive"]["include_generations"],
        run_name=config["run"]["name"],
    script:
        "../scripts/archive.py"
