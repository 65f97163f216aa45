"""Style heritability (paper Table 3, paper-tables §6.4): rule style's tables from MT-Bench answer files, their
comparison with the paper's counts, PF and MPF, and the rule in the judge's DAG."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from rewild_testlib import REPO, run_snakemake, workdir_copy

from rewild import io as rio
from rewild import paper, style

# Table 3's counts (paper-tables §6.4), in the order strong em ol ul h1 h2 h3 h4 p len
PAPER = {
    "Q72 : None": (741, 53, 83, 230, 24, 0, 135, 26, 1217, 6492),
    "L70 : None": (406, 38, 76, 116, 30, 38, 22, 4, 1222, 6411),
    "L8B:L70 500k": (331, 34, 75, 109, 27, 13, 32, 3, 1210, 6207),
    "L8B:Q72 500k": (808, 60, 77, 260, 20, 0, 149, 33, 1237, 6585),
}
LABELS = {"Q72 : None": "dgm-q72", "L70 : None": "dgm-l70", "L8B:L70 500k": "l70-500k", "L8B:Q72 500k": "q72-500k"}
PAIRS = [("l70-500k", "dgm-l70"), ("q72-500k", "dgm-q72")]


def _counts() -> dict[str, dict[str, float]]:
    return {LABELS[k]: {**dict(zip(style.STYLE_KEYS, v, strict=True)), "n": 160} for k, v in PAPER.items()}


def test_style_tables_on_the_papers_counts_give_its_pf_and_mpf() -> None:
    table, pf = style.style_tables(_counts(), style.style_pairs(PAIRS), LABELS)
    assert list(table.columns) == ["model", "paper_label", *style.STYLE_KEYS, "n"]
    assert dict(zip(table["model"], table["paper_label"])) == {v: k for k, v in LABELS.items()}
    by = pf.set_index("pair")
    # students over their DGMs, then the two students both ways
    assert list(by.index) == ["l70-500k / dgm-l70", "q72-500k / dgm-q72", "l70-500k / q72-500k", "q72-500k / l70-500k"]
    assert round(by.loc["l70-500k / dgm-l70", "mpf"], 3) == 0.904  # the Llama pair (the paper's text swaps labels)
    assert round(by.loc["q72-500k / dgm-q72", "mpf"], 3) == 1.052
    assert round(by.loc["q72-500k / l70-500k", "mpf"], 2) == 2.61
    assert by.loc["q72-500k / dgm-q72", "h2"] == 1.0  # 0/0 counts as 1.000
    assert by.loc["q72-500k / l70-500k", "h4"] == 11.0 and round(by.loc["l70-500k / dgm-l70", "strong"], 3) == 0.815
    assert by.loc["q72-500k / dgm-q72", "paper_label"] == "L8B:Q72 500k / Q72 : None"


def test_paper_comparison_reads_the_style_tables(tmp_path, ref) -> None:
    """The paper's own counts written as rule style's tables compare with zero difference on every style cell."""
    table, pf = style.style_tables(_counts(), style.style_pairs(PAIRS), LABELS)
    ours = paper.ours_from_style(table, pf)
    cmp = paper.comparison(ref, ours, LABELS, {"scores": False, "similarity": False, "efficiency": False,
                                               "style": True, "preference": False})
    st = cmp[cmp["table"].str.startswith("style_")]
    assert len(st) == 40 + 30 + 3 and (st["status"] == "compared").all(), st[st["status"] != "compared"]
    assert st["diff"].abs().max() == pytest.approx(0.0, abs=1e-9)
    assert cmp.loc[cmp["table"] == "preference", "status"].str.startswith("not run").all()


@pytest.fixture(scope="module")
def ref() -> pd.DataFrame:
    return paper.load_reference(REPO / "data" / "paper" / "reference.csv")


def _answers(path: Path, turns: list[tuple[str, str]]) -> Path:
    recs = [{"question_id": 81 + i, "model_id": path.parent.name, "answer_id": f"a{i}",
             "choices": [{"index": 0, "turns": list(t)}], "tstamp": 0.0} for i, t in enumerate(turns)]
    rio.write_jsonl(path, [*recs, {**recs[0], "choices": [{"index": 0, "turns": ["# again\n\n**twice**", "x"]}]}])
    return path


def test_run_style_on_mtbench_answer_files(tmp_path) -> None:
    """FastChat-layout answers (two turns a question, several scripts, code, an empty turn) through markdown2."""
    dgm = [("## Plan\n\n1. **Lire** le texte\n2. *Résumer*\n\n### Détails\n\nUn paragraphe.", "- 一\n- 二\n\n**完了**"),
           ("- 一\n- 二\n\n```python\nprint('**x**')\n```", "")]
    student = [("**Plan**: read, then summarise.\n\nDone.", "Нет списка, просто текст."), ("# Код\n\n* a\n* b", "ok")]
    d = tmp_path / "results/judge"
    answers = {"dgm-q72": _answers(_mk(d / "dgm-q72"), dgm), "q72-500k": _answers(_mk(d / "q72-500k"), student)}
    table, pf = style.run_style(answers, [("q72-500k", "dgm-q72")], {"Q72 : None": "dgm-q72"},
                                tmp_path / "style.csv", tmp_path / "style_pf.csv")
    c = table.set_index("model")
    # one answer per question, the first turn's (the paper's first judgment row): 2, not 4; the repeated
    # question_id (a retried answer) is not counted twice
    assert c.loc["dgm-q72", "n"] == 2 and c.loc["q72-500k", "n"] == 2
    assert c.loc["dgm-q72", "h2"] == 1 and c.loc["dgm-q72", "h3"] == 1 and c.loc["dgm-q72", "ol"] == 1
    assert c.loc["dgm-q72", "ul"] == 1 and c.loc["q72-500k", "ul"] == 1 and c.loc["q72-500k", "h1"] == 1
    # markdown2 without extras (the paper's setting) reads the ``` fence as a code span here: its **x** is not bold;
    # the second turns' **完了** is not counted
    assert c.loc["dgm-q72", "strong"] == 1 and c.loc["q72-500k", "strong"] == 1
    assert c.loc["dgm-q72", "paper_label"] == "Q72 : None" and pd.isna(c.loc["q72-500k", "paper_label"])
    on_disk = pd.read_csv(tmp_path / "style_pf.csv")
    assert list(on_disk["pair"]) == ["q72-500k / dgm-q72"]
    assert on_disk["h2"].iloc[0] == 0.0 and on_disk["h1"].iloc[0] == float("inf")  # x/0 with x>0 is inf
    assert on_disk["mpf"].iloc[0] == float("inf")


def _mk(p: Path) -> Path:
    p.mkdir(parents=True, exist_ok=True)
    return p / "answers.jsonl"


def test_rule_style_runs_when_the_judge_does(tmp_path, demo_config) -> None:
    """Dry run of the demo with the judge on: rule style reads the preference pairs' MT-Bench answers and
    paper_comparison takes its tables; with the judge off there is no style job."""
    from test_judge import MT_LOCAL
    from test_workflow import job_counts

    cfg = demo_config
    wheel = (cfg["student"].get("local_build") or {}).get("wheel")
    if wheel and not os.path.isabs(wheel):
        cfg["student"]["local_build"]["wheel"] = str(REPO / wheel)
    cfg["eval"]["judge"] = {
        "enabled": True,
        "mtbench": MT_LOCAL,
        "rubrics": str(REPO / "data" / "judge" / "rubrics.yaml"),
        "serve_local": {"model": "smollm2-135m", "max_model_len": 1024, "gpus": 0},
        "extrinsic_metric": "demo-mc",
    }
    workdir, cfg_path = workdir_copy(tmp_path, cfg, "on.yaml")
    args = ["-s", str(REPO / "Snakefile"), "-d", str(workdir), "--configfile", str(cfg_path),
            "--replace-workflow-config", "-n", "--cores", "1", "--quiet", "rules"]
    proc = run_snakemake([*args, "--", "results/tables/paper_comparison.csv"])
    counts = job_counts(proc.stdout)
    assert counts["style"] == 1 and counts["paper_comparison"] == 1
    off = dict(cfg, eval={**cfg["eval"], "judge": {"enabled": False}})
    (tmp_path / "off").mkdir()
    workdir, cfg_path = workdir_copy(tmp_path / "off", off, "off.yaml")
    args[3], args[5] = str(workdir), str(cfg_path)
    assert "style" not in job_counts(run_snakemake([*args, "--", "results/tables/paper_comparison.csv"]).stdout)
