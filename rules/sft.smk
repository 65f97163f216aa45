rule sft:
    input:
        train="results/mixes/{mix}/train.parquet",
        heldout="results/mixes/{mix}/heldout.parquet",
        student=student_dir,
    output:
        model=directory("results/models/{mix}"),
        metrics="results/models/{mix}.metrics.json",
    log:
        "logs/sft/{mix}.log",
    benchmark:
        "benchmarks/sft/{mix}.tsv"
    conda:
        conda_env("train")
    threads: resources.sft_threads(config)
    resources:
        gpu=config["sft"]["gpus"],
        nodes=1,
        mem_mb=lambda wc, attempt: resources.sft_mem_mb(config, attempt),
        runtime=lambda wc, attempt: resources.sft_runtime(config, wc.mix, attempt),
    params:
        student=plan.student_params(config),
        versions=plan.stage_versions("sft"),
        student_id=plan.student_id(config),
        sft=lambda wc: plan.sft_params(config, wc.mix),
        checkpoint_dir="results/.progress/sft/{mix}",
        config_hash=sft_config_hash,
    script:
        "../scripts/sft.py"
