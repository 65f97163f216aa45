# Style heritability (paper Table 3, paper-tables §6.4): MT-Bench answers through markdown2 to HTML, tag counts
# and mean HTML length per model, PF and MPF for each student over its DGM and between students.


rule style:
    input:
        answers=style_answers,
    output:
        counts=report(
            "results/tables/style.csv",
            caption="../report/judge.rst",
            category="Judge",
            labels={"table": "style: Markdown tag counts"},
        ),
        pf=report(
            "results/tables/style_pf.csv",
            caption="../report/judge.rst",
            category="Judge",
            labels={"table": "style: PF and MPF"},
        ),
        provenance="results/tables/style.provenance.json",
    log:
        "logs/style/style.log",
    benchmark:
        "benchmarks/style/style.tsv"
    conda:
        conda_env("analysis")
    params:
        models=STYLE_MODELS,
        pairs=STYLE_PAIRS,
        labels=score_plan.paper_labels(config),
    script:
        "../scripts/style.py"
