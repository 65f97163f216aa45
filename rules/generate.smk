rule build_demo_model:
    input:
        demo_model_inputs,
    output:
        directory("results/demo_models/{name}"),
    log:
        "logs/build_demo_model/{name}.log",
    benchmark:
        "benchmarks/build_demo_model/{name}.tsv"
    wildcard_constraints:
        name=_alternatives(LOCAL_BUILDS),
    conda:
        conda_env("train")
    params:
        build=lambda wc: LOCAL_BUILDS[wc.name],
    script:
        "../scripts/build_demo_model.py"


rule generate:
    input:
        shard="results/prompts/{shard}.parquet",
        model=dgm_model_dir,
    output:
        generations="results/generations/{dgm}/{shard}.parquet",
        rejects="results/generations/{dgm}/{shard}.rejects.jsonl",
        efficiency="results/efficiency/{dgm}/{shard}.json",
    log:
        "logs/generate/{dgm}/{shard}.log",
    benchmark:
        "benchmarks/generate/{dgm}/{shard}.tsv"
    wildcard_constraints:
        dgm=_alternatives(GENERATED_DGMS),
    conda:
        conda_env("vllm")
    threads: lambda wc: resources.generate_threads(config, wc.dgm)
    resources:
        gpu=lambda wc: DGMS[wc.dgm]["gpus"],
        nodes=1,
        mem_mb=lambda wc, attempt: resources.generate_mem_mb(config, wc.dgm, attempt),
        runtime=lambda wc, attempt: resources.generate_runtime(config, wc.dgm, attempt),
    params:
        dgm_key="{dgm}",
        dgm=lambda wc: plan.dgm_params(config, wc.dgm),
        generation=lambda wc: plan.generation_params(config, wc.dgm),
        versions=plan.stage_versions("generate"),
        progress_dir="results/.progress/generate/{dgm}/{shard}",
        cache_dir=".cache/vllm",
        config_hash=generate_config_hash,
    script:
        "../scripts/generate.py"


rule source_responses:
    input:
        shard="results/prompts/{shard}.parquet",
    output:
        generations="results/generations/{dgm}/{shard}.parquet",
        rejects="results/generations/{dgm}/{shard}.rejects.jsonl",
    log:
        "logs/source_responses/{dgm}/{shard}.log",
    benchmark:
        "benchmarks/source_responses/{dgm}/{shard}.tsv"
    wildcard_constraints:
        dgm=_alternatives(SOURCE_DGMS),
    conda:
        conda_env("analysis")
    params:
        dgm_key="{dgm}",
        dgm=lambda wc: plan.dgm_params(config, wc.dgm),
    script:
        "../scripts/source_responses.py"


rule merge_generations:
    input:
        shards=dgm_shards,
    output:
        generations="results/generations/{dgm}.parquet",
    log:
        "logs/merge_generations/{dgm}.log",
    benchmark:
        "benchmarks/merge_generations/{dgm}.tsv"
    conda:
        conda_env("analysis")
    script:
        "../scripts/merge_generations.py"
