rule mix:
    input:
        rows=mix_inputs,
        tokenizer=student_dir,
    output:
        train="results/mixes/{mix}/train.parquet",
        heldout="results/mixes/{mix}/heldout.parquet",
        manifest="results/mixes/{mix}/manifest.json",
    log:
        "logs/mix/{mix}.log",
    benchmark:
        "benchmarks/mix/{mix}.tsv"
    conda:
        conda_env("analysis")
    params:
        mix=mix_params,
        sources=config["sources"],
        heldout_fraction=config["sft"]["heldout_fraction"],
        split_seed=config["sft"]["split_seed"],
        tokenizer=mix_tokenizer,
        overlong=lambda wc: plan.overlong_params(config, wc.mix),
    script:
        "../scripts/mix.py"
