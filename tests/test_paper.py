"""The paper's numbers as data, the one label mapping, and the comparison of a run with the paper (rewild.paper)."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from rewild import aggregates, paper, plan, report, score_plan
from rewild import config as rc
from rewild.stats import Z95

REFERENCE = Path(__file__).resolve().parent.parent / "data" / "paper" / "reference.csv"
SCORE_TABLES = [t for t, g in paper.TABLE_GROUP.items() if g == "scores"]
BENCH = [b for b in aggregates.BENCHMARKS]


@pytest.fixture(scope="module")
def ref() -> pd.DataFrame:
    return paper.load_reference(REFERENCE)


@pytest.fixture(scope="module")
def preset() -> dict:
    import yaml

    cfg = yaml.safe_load((REFERENCE.parent.parent.parent / "config.yaml").read_text())
    rc.validate(cfg)
    return cfg


def _labels() -> list[tuple[str, str]]:
    import yaml

    cfg = yaml.safe_load((REFERENCE.parent.parent.parent / "config.yaml").read_text())
    return sorted(cfg["paper"]["labels"].items())


# ------------------------------------------------------------------------------------------------ the mapping


@pytest.mark.parametrize("label, name", _labels())
def test_every_mapped_name_is_in_the_paper_dag(preset: dict, ref: pd.DataFrame, label: str, name: str) -> None:
    """Each paper label the preset maps names a model of the paper DAG (a mix, base, dgm-<key>) or a DGM key (the
    per-DGM tables), and is a label of data/paper/reference.csv."""
    singles = {p for lab in ref["label"] for p in paper.label_parts(lab)[0]}
    assert label in singles, f"{label!r} is no label of {REFERENCE.name}"
    known = set(plan.models(preset)) | set(preset["dgms"])
    assert name in known, f"paper.labels.{label} = {name!r} is no model or DGM of the paper preset"


def test_the_preset_maps_every_label_of_its_tables(preset: dict, ref: pd.DataFrame) -> None:
    """No row of the paper's score and per-DGM tables is left without a run name in the preset."""
    labels = score_plan.paper_labels(preset)
    unmapped = sorted({lab for lab in ref["label"] if paper.map_label(lab, labels) is None})
    assert unmapped == []
    assert len(set(labels.values())) >= 50


def test_label_mapping_of_pairs_and_ratios() -> None:
    labels = {"L8B:Q72 500k": "q-500k", "Q72 : None": "dgm-q"}
    assert paper.map_label("L8B:Q72 500k / Q72 : None", labels) == "q-500k / dgm-q"
    assert paper.map_label("L8B:Q72 500k vs Q72 : None", labels) == "q-500k vs dgm-q"
    assert paper.map_label("L8B:Q72 500k vs L70 : None", labels) is None  # one side unmapped
    assert paper.map_label(paper.ALL, {}) == paper.ALL


def test_schema_rejects_a_non_string_run_name(demo_config: dict) -> None:
    demo_config["paper"] = {"labels": {"Re-Wild": 3}}
    with pytest.raises(Exception, match="paper"):
        rc.validate(demo_config)


# ---------------------------------------------------------------------------------------------- the comparison


def _scores_csv(path: Path, rows: dict[str, dict[str, float]], se: float = 0.01) -> Path:
    """A scores.csv as rule scores_table writes it: benchmark columns with stderr and n, the aggregates computed
    from them by aggregates.aggregate_table where every member is there (fed as printed otherwise), with CIs."""
    out = []
    for model, vals in rows.items():
        r = {"model": model, "dgm": ""}
        for b in BENCH:
            if b in vals:
                r.update({b: vals[b], f"{b}_stderr": se * (10 if b == "mtbench" else 100 if b == "alpaca_lc" else 1),
                          f"{b}_n": 100})
        for agg in aggregates.AGGREGATES:
            members = aggregates.members(agg)
            if all(b in vals for b in members):
                r[agg] = aggregates.aggregate(vals, agg)
            elif agg in vals:
                r[agg] = vals[agg]
            else:
                continue
            r[f"{agg}_lo"], r[f"{agg}_hi"] = r[agg] - Z95 * se, r[agg] + Z95 * se
        out.append(r)
    df = pd.DataFrame(out)
    df.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("table", SCORE_TABLES)
def test_the_papers_own_numbers_compare_with_zero_difference(ref: pd.DataFrame, tmp_path: Path, table: str) -> None:
    """Fed one paper table's per-benchmark numbers as a run's scores (aggregates computed from them, as the scores
    table does), every cell of that table is compared with difference 0 at the paper's printed precision:
    Avg-7/8/9 included."""
    t = ref[ref["table"] == table]
    rows = {lab: dict(zip(g["metric"], g["value"])) for lab, g in t.groupby("label")}
    scores = _scores_csv(tmp_path / "scores.csv", rows)
    labels = {lab: lab for lab in rows}
    inh = None
    if table == "inheritance":
        inh = tmp_path / "inheritance.csv"
        pd.DataFrame([{"dgms": 2, "tasks": 6, "ordering_agreement": 0.5, "chance": 0.5}]).to_csv(inh, index=False)
    cmp = paper.run_comparison(scores, REFERENCE, labels, tmp_path / "cmp.csv", tmp_path / "sum.csv",
                               tmp_path / "cmp.png", similarity_csv=None, efficiency_csv=None,
                               efficiency_corr_csv=None, inheritance_csv=inh)
    mine = cmp[cmp["table"] == table]
    assert (mine["status"] == "compared").all(), mine[mine["status"] != "compared"]
    assert (mine["diff"] == 0).all(), mine[mine["diff"] != 0][["label", "metric", "paper", "ours", "diff"]]
    computed = [a for a in aggregates.AGGREGATES
                if a in set(mine["metric"]) and any(all(b in v for b in aggregates.members(a)) for v in rows.values())]
    if table in ("headline", "dgm_choice", "blends", "on_policy", "rewild_full", "lc_ablation"):
        assert computed, f"{table}: no aggregate was recomputed from its benchmarks"
    assert (tmp_path / "cmp.png").read_bytes()[:4] == b"\x89PNG"


def test_cross_table_aggregate_the_lc_ablation(ref: pd.DataFrame) -> None:
    """The lc ablation's non-lc Avg-9 (0.4037) is the 9-benchmark mean of Table 7's L8B:Q72 500k row."""
    row = ref[(ref["table"] == "blends") & (ref["label"] == "L8B:Q72 500k")].set_index("metric")["value"].to_dict()
    lc = ref.query("table == 'lc_ablation' and label == 'L8B:Q72 500k' and metric == 'avg9'")
    assert paper.at_precision(aggregates.aggregate(row, "avg9"), lc["value"].item(), 4) == lc["value"].item()


def test_comparison_with_real_differences_and_what_is_not_run(ref: pd.DataFrame, tmp_path: Path) -> None:
    """A run that maps two students: differences, CIs and inside/outside; every other cell not run, saying why."""
    q72 = ref[(ref["table"] == "dgm_choice") & (ref["label"] == "L8B:Q72 250k")].set_index("metric")["value"].to_dict()
    ours = {**q72, "bbh": 0.50, "gpqa": 0.2932}  # bbh 0.0193 above the paper
    ours.pop("mbpp")
    scores = _scores_csv(tmp_path / "scores.csv", {"q72-250k": ours, "base": {**ours, "bbh": 0.3}}, se=0.005)
    labels = {"L8B:Q72 250k": "q72-250k", "L8B:L8I 250k": "l8i-250k", "Qwen2.5-72B-Instruct": "qwen2.5-72b-instruct"}
    eff = tmp_path / "eff.csv"
    pd.DataFrame([{"dgm": "qwen2.5-72b-instruct", "tok_s": 3000.0, "io_ratio": 4.0},
                  {"dgm": "other", "tok_s": 30000.0, "io_ratio": 6.0}]).to_csv(eff, index=False)
    cmp = paper.run_comparison(scores, REFERENCE, labels, tmp_path / "cmp.csv", tmp_path / "sum.csv",
                               tmp_path / "cmp.png", similarity_csv=None, efficiency_csv=eff,
                               efficiency_corr_csv=None, inheritance_csv=None)
    assert len(cmp) == len(ref)  # every paper number is listed, none dropped
    c = cmp.set_index(["table", "label", "metric"])
    bbh = c.loc[("dgm_choice", "L8B:Q72 250k", "bbh")]
    assert bbh["diff"] == pytest.approx(0.50 - 0.4807) and bbh["inside_ci"] == False  # noqa: E712 (numpy bool)
    assert c.loc[("dgm_choice", "L8B:Q72 250k", "gpqa"), "inside_ci"] == True  # noqa: E712
    avg7 = c.loc[("dgm_choice", "L8B:Q72 250k", "avg7")]
    assert avg7["status"] == "compared" and avg7["diff"] == pytest.approx(0.367 - 0.364)  # (0.50-0.4807)/7 read at 3 dp
    assert c.loc[("dgm_choice", "L8B:Q72 250k", "mbpp"), "status"] == "not run: no mbpp in this run"
    assert c.loc[("dgm_choice", "L8B:L8I 250k", "avg7"), "status"] == "not run: no model l8i-250k in this run"
    assert c.loc[("dgm_choice", "L8B:L70 250k", "avg7"), "status"] == paper.NOT_MAPPED
    assert c.loc[("similarity", "Qwen2.5-72B-Instruct", "rouge1"), "status"].startswith("not run: this run makes no")
    assert c.loc[("efficiency", "Qwen2.5-72B-Instruct", "tok_s"), "diff"] == 3000 - 3163
    assert c.loc[("efficiency", paper.ALL, "io_ratio_mean"), "ours"] == pytest.approx(5.0)
    assert c.loc[("style_mpf", "L8B:Q72 500k / Q72 : None", "mpf"), "status"].startswith("not run")
    summary = pd.read_csv(tmp_path / "sum.csv").set_index("table")
    assert summary.loc["dgm_choice", "compared"] == 10 and summary.loc["dgm_choice", "inside_ci"] >= 1
    assert summary["cells"].sum() == len(ref)


def test_at_precision_reads_ours_as_the_paper_printed() -> None:
    assert paper.at_precision(0.39175, 0.392, 3) == 0.392  # rounds to the printed value: difference 0
    assert paper.at_precision(0.3917, 0.392, 3) == 0.392
    assert paper.at_precision(0.3914, 0.392, 3) == 0.391
    assert paper.at_precision(6.8749, 6.86, 2) == 6.87
    assert paper.decimals("0.3642") == 4 and paper.decimals("41") == 0 and paper.decimals("0.30") == 2


def test_summary_has_the_comparison_and_significance_sections(ref: pd.DataFrame, tmp_path: Path) -> None:
    scores = _scores_csv(tmp_path / "scores.csv", {"rw": {b: 0.4 for b in aggregates.members("avg8")}})
    cmp = paper.run_comparison(scores, REFERENCE, {"Re-Wild": "rw"}, tmp_path / "cmp.csv", tmp_path / "sum.csv",
                               tmp_path / "cmp.png", similarity_csv=None, efficiency_csv=None,
                               efficiency_corr_csv=None, inheritance_csv=None)
    # Re-Wild's 8 benchmarks + Avg-8 of the headline table, its 7 + Avg-7 of the SFT sheet's full-precision row
    assert (cmp["status"] == "compared").sum() == 9 + 8
    sig = tmp_path / "sig.csv"
    pd.DataFrame([{"family": "dgm_choice", "a": "x", "b": "y", "a_label": None, "b_label": None, "metric": "avg7",
                   "n_items": 10, "diff": 0.01, "lo": -0.01, "hi": 0.03, "p_value": 0.3, "p_holm": 0.3,
                   "paper_diff": math.nan, "paper_table": "dgm_choice", "verdict": "ours only: not significant"}]
                 ).to_csv(sig, index=False)
    claims = tmp_path / "claims.csv"
    pd.DataFrame([{"family": "dgm_choice", "metric": "avg7", "comparisons": 1, "confirms": 0, "contradicts": 0,
                   "cannot resolve": 0, "ours only": 1}]).to_csv(claims, index=False)
    stats = tmp_path / "s00000.stats.json"
    stats.write_text('{"shard": "s00000", "input_rows": 3, "kept": 2, "skipped_odd": 1, "rejected": 0}')
    filt = tmp_path / "f.report.json"
    filt.write_text('{"dgm": "gpt", "input": 2, "kept": 2, "dropped": {}}')
    text = report.run_summary(str(scores), [], [str(stats)], [str(filt)], str(tmp_path / "summary.md"),
                              run_name="t", tables={"paper_comparison": str(tmp_path / "cmp.csv"),
                                                    "paper_comparison_summary": str(tmp_path / "sum.csv"),
                                                    "significance": str(sig), "claims": str(claims)})
    assert "## Reproduction vs paper" in text and "### Compared cells" in text and "### Cells not compared" in text
    assert "| headline | Re-Wild | avg8 | rw |" in text
    assert "## Are the differences real?" in text and "ours only: not significant" in text


def test_the_papers_preference_table_compares_with_zero_difference(ref: pd.DataFrame, tmp_path: Path) -> None:
    """Table 4 (PrefRt between its four models, the de-duplicated means, FlipCt, MT-Bench) written as rule
    judge_tables writes it (DGMs by key; the student-student, student-DGM and cross pairs), fed in with the paper's
    labels mapped: every preference cell is compared with difference 0."""
    t = ref[ref["table"] == "preference"]
    v = {(r.label, r.metric): r.value for r in t.itertuples(index=False)}
    labels = {"L8B:L70 500k": "l70-500k", "L8B:Q72 500k": "q72-500k", "L70 : None": "dgm-l70",
              "Q72 : None": "dgm-q72"}
    back = {n: lab for lab, n in labels.items()}
    key = {"l70-500k": "l70-500k", "q72-500k": "q72-500k", "l70": "dgm-l70", "q72": "dgm-q72"}

    def row(kind: str, a: str, b: str, flip: bool = False) -> dict:
        la, lb = back[key[a]], back[key[b]]
        r = {"kind": kind, "a": a, "b": b, "mean_a": v[(la, "mtbench_dedup_mean")],
             "mean_b": v[(lb, "mtbench_dedup_mean")], "prefrt_a_over_b": v[(f"{la} vs {lb}", "pref_rate")],
             "prefrt_b_over_a": v[(f"{lb} vs {la}", "pref_rate")]}
        return {**r, "flipct": v[(lb, "flip_count")]} if flip else r

    rows = [row("student_vs_dgm", "l70-500k", "l70", True), row("student_vs_dgm", "q72-500k", "q72", True),
            row("student_vs_student", "l70-500k", "q72-500k"), row("other", "l70-500k", "q72"),
            row("other", "q72-500k", "l70"), row("other", "l70", "q72"), {"kind": "flipct", "a": "students",
                                                                          "b": "dgms"}]
    pref = tmp_path / "judge_preference.csv"
    pd.DataFrame(rows).to_csv(pref, index=False)
    scores = _scores_csv(tmp_path / "scores.csv", {n: {"mtbench": v[(lab, "mtbench")]} for lab, n in labels.items()})
    cmp = paper.run_comparison(scores, REFERENCE, labels, tmp_path / "cmp.csv", tmp_path / "sum.csv",
                               tmp_path / "cmp.png", similarity_csv=None, efficiency_csv=None,
                               efficiency_corr_csv=None, inheritance_csv=None, preference_csv=pref)
    mine = cmp[cmp["table"] == "preference"]
    assert len(mine) == len(t) and (mine["status"] == "compared").all(), mine[mine["status"] != "compared"]
    assert (mine["diff"] == 0).all(), mine[mine["diff"] != 0][["label", "metric", "paper", "ours"]]
