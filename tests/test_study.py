"""The study tables (DGM choice, scaling, blends, inheritance) from a scores table and the mix plan."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from rewild import config as rc
from rewild import study
from rewild.plan import mix_info


@pytest.fixture
def plan(paper_config):
    rc.validate(paper_config)
    info = mix_info(paper_config)
    for entry in info.values():
        entry["train_rows"] = {"100k": 98_700, "250k": 246_750, "500k": 493_500}.get(entry["size_label"], 500_000)
    return paper_config, info


def test_mix_info_reads_the_plan(plan):
    _, info = plan
    assert info["qwen2.5-72b-instruct-250k"]["dgm"] == "qwen2.5-72b-instruct"
    assert info["qwen2.5-72b-instruct-250k"]["size_label"] == "250k"
    assert info["blend-q72-l70-500k"]["parents"] == ["qwen2.5-72b-instruct", "llama-3.3-70b-instruct"]
    assert info["rewild"]["parents"] is None and info["rewild"]["dgm"] is None


def test_study_reproduces_the_papers_orderings(plan, tmp_path):
    """Fed the paper's own Avg-7 numbers (spec §5), the tables show the paper's findings."""
    _, info = plan
    q72, l70, l8i, gpt = "qwen2.5-72b-instruct", "llama-3.3-70b-instruct", "llama-3.1-8b-instruct", "gpt"
    avg7 = {
        f"{q72}-100k": .356, f"{q72}-250k": .364, f"{q72}-500k": .367,
        f"{l70}-100k": .351, f"{l70}-250k": .356, f"{l70}-500k": .361,
        f"{l8i}-100k": .357, f"{l8i}-250k": .363, f"{l8i}-500k": .373,
        f"{gpt}-100k": .351, f"{gpt}-250k": .353, f"{gpt}-500k": .349,
        "qwen2-7b-instruct-250k": .349, "blend-q72-l70-500k": .363, "blend-l8i-q7-500k": .358,
    }
    scores = pd.DataFrame([{"model": m, "dgm": "", "avg7": v, "bbh": v} for m, v in avg7.items()])
    path = tmp_path / "scores.csv"
    scores.to_csv(path, index=False)
    out = study.run_study(path, info, ["bbh"], tmp_path, tmp_path, metric=None)
    choice = out["dgm_choice"]
    assert list(choice["dgm"][:3]) == [q72, l8i, l70]  # spec §5 DGM choice at 250k: Q72 .364 > L8I .363 > L70
    scaling = out["scaling"].set_index("dgm")
    assert scaling.loc[l8i, "delta_first_last"] == pytest.approx(0.016)
    assert scaling.loc[gpt, "delta_first_last"] == pytest.approx(-0.002)
    blends = out["blends"].set_index("blend")
    assert blends.loc["blend-q72-l70-500k", "delta_vs_best"] == pytest.approx(0.363 - 0.367)
    assert "note" in out["inheritance"].columns  # no reference DGMs were evaluated
    assert set(choice["ranked_by"]) == set(out["scaling"]["ranked_by"]) == set(out["blends"]["ranked_by"]) == {"avg7"}
    assert (tmp_path / "dgm_choice.png").stat().st_size > 0 and (tmp_path / "scaling.png").stat().st_size > 0


def test_inheritance_from_reference_models(tmp_path, demo_config):
    demo_config["eval"]["evaluate_dgms"] = ["smollm2-135m", "tiny-random"]
    rc.validate(demo_config)
    info = mix_info(demo_config)
    for e in info.values():
        e["train_rows"] = 70
    rows = [
        {"model": "smollm2-135m-all", "demo-mc": 0.5, "demo-gen": 0.3},
        {"model": "tiny-random-all", "demo-mc": 0.2, "demo-gen": 0.4},
        {"model": "gpt-all", "demo-mc": 0.4, "demo-gen": 0.2},
        {"model": "dgm-smollm2-135m", "demo-mc": 0.6, "demo-gen": 0.5},
        {"model": "dgm-tiny-random", "demo-mc": 0.25, "demo-gen": 0.0},
    ]
    pd.DataFrame(rows).to_csv(tmp_path / "s.csv", index=False)
    out = study.run_study(tmp_path / "s.csv", info, ["demo-mc", "demo-gen"], tmp_path, tmp_path, metric=None)
    # demo-mc: DGM order smollm2 > tiny agrees with students; demo-gen: disagrees -> 1 of 2
    assert out["inheritance"]["ordering_agreement"].iloc[0] == pytest.approx(0.5)
    assert out["dgm_choice"]["dgm"].iloc[0] == "smollm2-135m"
    # no paper benchmarks: the ranking table says what it ranks by instead, and why
    assert out["dgm_choice"]["ranked_by"].iloc[0].startswith("demo-mc: no Avg-7, the config lacks bbh, gpqa")


def test_train_rows_come_from_the_mix_manifests(plan, tmp_path):
    """The scaling axis is the number of conversations the mix step kept, read from each manifest."""
    _, info = plan
    manifests = []
    for mix, rows in (("qwen2.5-72b-instruct-100k", 97_312), ("qwen2.5-72b-instruct-250k", 243_001)):
        p = tmp_path / mix / "manifest.json"
        p.parent.mkdir()
        p.write_text(json.dumps({"mix": mix, "train_rows": rows, "heldout_rows": 10}))
        manifests.append(p)
    out = study.with_train_rows(info, manifests)
    assert out["qwen2.5-72b-instruct-100k"]["train_rows"] == 97_312
    assert out["qwen2.5-72b-instruct-250k"]["train_rows"] == 243_001
    assert out["qwen2.5-72b-instruct-500k"]["train_rows"] == 493_500  # no manifest: the plan's value stays
    assert info["qwen2.5-72b-instruct-100k"]["train_rows"] == 98_700  # the plan itself is not changed


def test_study_metric_prefers_the_configured_one():
    scores = pd.DataFrame({"model": ["a"], "dgm": ["x"], "bbh": [0.3], "bbh_stderr": [0.01], "avg7": [0.4]})
    assert study.study_metric(scores, None) == "avg7"
    assert study.study_metric(scores, "bbh") == "bbh"
    assert study.study_metric(scores.drop(columns=["avg7"]), None) == "bbh"  # the first task, never a stderr
    with_ci = scores.assign(avg7_lo=0.3, avg7_hi=0.5, bbh_n=100)[["model", "dgm", "avg7_lo", "bbh_n", "bbh", "avg7_hi"]]
    assert study.study_metric(with_ci, None) == "bbh"  # nor a CI bound or an item count
    with pytest.raises(KeyError, match="gpqa"):
        study.study_metric(scores, "gpqa")
