"""End to end: the demo pipeline through snakemake with real vLLM, TRL and lm-eval, then content checks.

One run per session (`demo_run`); the tests below read its results. Marked slow (about 6-8 minutes on 2 cores).
The prompts are the realistic test set (rewild_testlib.realistic_config: long multi-turn chats in seven languages),
so each generation shard fills a vLLM scheduling step.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from rewild_testlib import REPO, realistic_config, run_snakemake, workdir_copy

pytestmark = pytest.mark.slow

EVIL = "Smol\"LM'; touch PWNED; echo $(id) x"


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory):
    import yaml

    cfg = realistic_config(yaml.safe_load((REPO / "config" / "demo.yaml").read_text()))
    # a hostile-looking id must travel as data, never through a shell
    cfg["dgms"]["smollm2-135m"]["hf_id"] = EVIL
    workdir, cfg_path = workdir_copy(tmp_path_factory.mktemp("demo"), cfg)
    args = ["--profile", "profiles/local", "-d", str(workdir), "--configfile", str(cfg_path)]
    proc = run_snakemake(args)
    return {"dir": workdir, "args": args, "config": cfg, "log": proc.stderr}


def test_prompt_shards_account_for_every_row(demo_run):
    d = demo_run["dir"]
    stats = [json.loads((d / f"results/prompts/s0000{i}.stats.json").read_text()) for i in (0, 1)]
    assert sum(s["input_rows"] for s in stats) == demo_run["config"]["prompts"]["n_conversations"]
    for s in stats:
        assert s["input_rows"] == s["kept"] + s["skipped_odd"] + s["rejected"]


def test_generations_per_dgm_and_shard(demo_run):
    d = demo_run["dir"]
    for shard in ("s00000", "s00001"):
        kept = pq.read_metadata(d / f"results/prompts/{shard}.parquet").num_rows
        for dgm in ("gpt", "smollm2-135m", "tiny-random"):
            n = pq.read_metadata(d / f"results/generations/{dgm}/{shard}.parquet").num_rows
            rejects = (d / f"results/generations/{dgm}/{shard}.rejects.jsonl").read_text().splitlines()
            assert n + len(rejects) == kept, (dgm, shard)
    for dgm in ("gpt", "smollm2-135m", "tiny-random"):
        merged = pd.read_parquet(d / f"results/generations/{dgm}.parquet")
        assert {"conversation", "messages", "dgm"} <= set(merged.columns)
        assert (merged["dgm"] == dgm).all()
    smol = pd.read_parquet(d / "results/generations/smollm2-135m.parquet")
    answers = [t["content"] for conv in smol["conversation"] for t in conv if t["role"] == "assistant"]
    # on long real prompts SmolLM2 sometimes stops at once (3 of 87 turns here): the empty-answer filter drops them
    empty = sum(not a.strip() for a in answers)
    assert answers and empty <= 0.1 * len(answers), "the real DGM answers (nearly) every turn"
    report = json.loads((d / "results/filtered/smollm2-135m.report.json").read_text())
    assert report["dropped"]["empty"] >= (empty > 0)
    filtered = pd.read_parquet(d / "results/filtered/smollm2-135m.parquet")
    assert all(t["content"].strip() for conv in filtered["conversation"] for t in conv if t["role"] == "assistant")
    gpt = pd.read_parquet(d / "results/generations/gpt.parquet")
    assert not smol["messages"].map(lambda m: m[-1]["content"]).equals(gpt["messages"].map(lambda m: m[-1]["content"]))


def test_efficiency_metrics(demo_run):
    d = demo_run["dir"]
    eff = json.loads((d / "results/efficiency/smollm2-135m/s00000.json").read_text())
    assert eff["output_tokens"] > 0 and eff["input_tokens"] > 0 and eff["wall_seconds"] > 0
    table = pd.read_csv(d / "results/tables/efficiency.csv")
    assert set(table["dgm"]) == {"smollm2-135m", "tiny-random"}


def test_trained_models_load(demo_run):
    from transformers import AutoModelForCausalLM

    d = demo_run["dir"]
    for mix in ("gpt-all", "smollm2-135m-all", "tiny-random-all", "blend-smollm2-gpt"):
        model = AutoModelForCausalLM.from_pretrained(d / "results/models" / mix)
        assert model.num_parameters() > 0
        metrics = json.loads((d / f"results/models/{mix}.metrics.json").read_text())
        assert metrics["loss_curve"] and metrics["optimizer_steps"] >= 1


def test_every_eval_json_has_its_metric(demo_run):
    d = demo_run["dir"]
    tasks = demo_run["config"]["eval"]["tasks"]
    models = ["gpt-all", "smollm2-135m-all", "tiny-random-all", "blend-smollm2-gpt", "base", "dgm-smollm2-135m",
              "dgm-tiny-random"]
    for model in models:
        for task, spec in tasks.items():
            ev = json.loads((d / f"results/eval/{model}/{task}.json").read_text())
            assert ev["metric"] == spec["metric"] and 0.0 <= ev["score"] <= 1.0
            assert len(ev["samples"]) == ev["n"] > 0
            assert ev["provenance"]["lm_eval_version"]


def test_scores_table_has_a_row_per_model(demo_run):
    d = demo_run["dir"]
    scores = pd.read_csv(d / "results/tables/scores.csv")
    assert sorted(scores["model"]) == sorted(["gpt-all", "smollm2-135m-all", "tiny-random-all", "blend-smollm2-gpt",
                                              "base", "dgm-smollm2-135m", "dgm-tiny-random"])
    assert dict(zip(scores["model"], scores["dgm"]))["smollm2-135m-all"] == "smollm2-135m"
    assert scores[["demo-mc", "demo-gen"]].notna().all().all()
    md = (d / "results/tables/scores.md").read_text()
    assert md.count("\n") == len(scores) + 2
    assert "## Scores" in (d / "results/report/summary.md").read_text()


def test_hostile_id_never_reached_a_shell(demo_run):
    d = demo_run["dir"]
    assert not list(d.rglob("PWNED")) and not list(REPO.glob("PWNED"))
    eff = json.loads((d / "results/efficiency/smollm2-135m/s00000.json").read_text())
    assert eff["dgm_id"] == EVIL  # recorded intact, as data


def test_study_tables_and_plots(demo_run):
    d = demo_run["dir"]
    choice = pd.read_csv(d / "results/tables/dgm_choice.csv")
    assert set(choice["dgm"]) == {"gpt", "smollm2-135m", "tiny-random"}
    inherit = pd.read_csv(d / "results/tables/inheritance.csv")
    assert 0.0 <= inherit["ordering_agreement"].iloc[0] <= 1.0
    sim = pd.read_csv(d / "results/tables/similarity.csv")
    assert set(sim["dgm"]) == {"gpt", "smollm2-135m", "tiny-random"} and sim["rouge1"].between(0, 1).all()
    for png in ("sft_loss", "dgm_choice", "efficiency", "similarity"):
        assert (d / f"results/plots/{png}.png").stat().st_size > 5_000


def test_noop_rerun_and_report(demo_run):
    d = demo_run["dir"]
    proc = run_snakemake(demo_run["args"] + ["-n"])
    assert "Nothing to be done" in proc.stdout + proc.stderr
    run_snakemake(demo_run["args"] + ["--report", str(d / "report.html")])
    html = (d / "report.html").read_text(errors="replace")
    assert "scores" in html.lower() and len(html) > 10_000


def test_tables_and_plots_carry_provenance(demo_run):
    """A CSV or PNG has no room for a provenance block: each analysis rule writes a sidecar naming every input
    and output with its SHA-256, and the provenance every result JSON carries."""
    from rewild.io import sha256_file

    d = demo_run["dir"]
    sidecars = {"results/tables/scores.provenance.json": "results/tables/scores.csv",
                "results/tables/efficiency.provenance.json": "results/tables/efficiency.csv",
                "results/tables/study.provenance.json": "results/tables/dgm_choice.csv",
                "results/tables/similarity.provenance.json": "results/tables/similarity.csv",
                "results/plots/sft_loss.provenance.json": "results/plots/sft_loss.png",
                "results/report/summary.provenance.json": "results/report/summary.md"}
    for sidecar, product in sidecars.items():
        record = json.loads((d / sidecar).read_text())
        assert product in record["outputs"] and sidecar not in record["outputs"]
        for rel, entry in {**record["inputs"], **record["outputs"]}.items():
            path = Path(rel) if Path(rel).is_absolute() else d / rel
            assert entry["sha256"] == sha256_file(path), (sidecar, rel)
        prov = record["provenance"]
        assert prov["git_commit"] and prov["config_hash"] and prov["versions"]["pandas"]
        assert prov["hardware"]["cpu_count"] >= 1 and prov["started"] <= prov["ended"]
    scores_inputs = json.loads((d / "results/tables/scores.provenance.json").read_text())["inputs"]
    assert len(scores_inputs) == 7 * 2 and all(k.startswith("results/eval/") for k in scores_inputs)
    assert "seed" in json.loads((d / "results/tables/similarity.provenance.json").read_text())["provenance"]["seeds"]
