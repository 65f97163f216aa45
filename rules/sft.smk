rule sft:
    input:
        train=sft_train,
        heldout=sft_heldout,
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
        runtime=lambda wc, attempt: resources.sft_runtime(
            config, plan.run_mix(config, wc.mix), attempt
        ),
    params:
        student=lambda wc: plan.run_student_params(config, wc.mix),
        versions=plan.stage_versions("sft"),
        student_id=lambda wc: plan.run_student_id(config, wc.mix),
        sft=lambda wc: plan.sft_params(config, wc.mix),
        checkpoint_dir="results/.progress/sft/{mix}",
        config_hash=sft_config_hash,
    script:
        "../scripts/sft.py"
