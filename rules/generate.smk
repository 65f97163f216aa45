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
        build=demo_model_build,
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
    threads: generate_threads
    resources:
        gpu=generate_gpus,
        nodes=1,
        mem_mb=generate_mem_mb,
        runtime=generate_runtime,
    params:
        dgm_key="{dgm}",
        dgm=dgm_params,
        generation=generate_params,
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
        dgm=dgm_params,
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
