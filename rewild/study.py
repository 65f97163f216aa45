"""The paper's study tables from one run's scores (WildChat-50M §5–6): DGM choice, data scaling, blends against
their parents, and the inheritance of strengths from DGMs to their students."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import aggregates, plan, plots
from .io import write_csv
from .stats import require_columns


def ordering_agreement(
    dgm_scores: Mapping[str, Mapping[str, float]], student_scores: Mapping[str, Mapping[str, float]]
) -> float:
    """Fraction of model-pair orderings, per benchmark, on which DGMs and their students agree.

    Both arguments map benchmark → {DGM name → score}; the student entry is keyed by the DGM it was trained on.
    For each benchmark and each pair of DGMs, the question is "does the DGM that is better on this benchmark
    also give the better student on it?" — the paper's "inheritance of strengths". Model pairs (not benchmark
    pairs) are compared because scores of different benchmarks are on different scales, so ordering
    benchmarks within a model says little. A pair agrees only when both sides are strictly ordered the same
    way: a tie on either side counts as a disagreement, as the paper counted it (its Inherit-Ablation sheet ties
    the two DGMs on AlpacaEval, 38.1 each, and the paper's 0.5 = 3/6 counts that benchmark; skipping it gives 0.6).
    0.5 is chance.
    """
    agree = total = 0
    for bench, dscores in dgm_scores.items():
        if bench not in student_scores:
            raise KeyError(f"ordering_agreement: benchmark {bench!r} has no student scores")
        sscores = student_scores[bench]
        names = sorted(n for n in dscores if n in sscores)
        for i in range(len(names)):
            for j in range(i + 1, len(names)):
                d = np.sign(float(dscores[names[i]]) - float(dscores[names[j]]))
                s = np.sign(float(sscores[names[i]]) - float(sscores[names[j]]))
                total += 1
                agree += int(d == s and d != 0)
    if total == 0:
        raise ValueError("ordering_agreement: no pair of models scored on both sides to compare")
    return agree / total



def dgm_choice_table(
    scores: pd.DataFrame, size: int | None = None, metrics: Sequence[str] = ("avg7", "mtbench", "alpaca_lc")
) -> pd.DataFrame:
    """One row per DGM (at one training-set size), sorted best-first by the first metric, with its rank.

    `scores` is long: one row per trained model with columns model, dgm, size and metric columns.
    """
    require_columns(scores, ["model", "dgm", "size", metrics[0]], "dgm_choice_table")
    s = scores if size is None else scores[scores["size"] == size]
    if s["dgm"].duplicated().any():
        raise ValueError(f"dgm_choice_table: several models per DGM at size {size}: pass a size")
    cols = ["dgm", "model", "size"] + [m for m in metrics if m in s.columns]
    t = s[cols].sort_values(metrics[0], ascending=False, kind="stable").reset_index(drop=True)
    t["rank"] = t[metrics[0]].rank(ascending=False, method="min").astype(int)
    return t


def scaling_table(scores: pd.DataFrame, metric: str = "avg7") -> pd.DataFrame:
    """DGM × size pivot of `metric`, plus the change from the smallest to the largest size."""
    require_columns(scores, ["dgm", "size", metric], "scaling_table")
    if scores.duplicated(["dgm", "size"]).any():
        raise ValueError("scaling_table: more than one score per (dgm, size)")
    p = scores.pivot(index="dgm", columns="size", values=metric).sort_index(axis=1)
    p["delta_first_last"] = p.iloc[:, -1] - p.iloc[:, 0]
    p.columns = [str(c) for c in p.columns]
    return p.reset_index()


def blend_table(
    scores: pd.DataFrame, blends: Mapping[str, Sequence[str]], size: int | None = None, metric: str = "avg7"
) -> pd.DataFrame:
    """For each blend (a `dgm` value) compare it with its parents at the same size.

    The paper's finding is that a blend lands between its parents, below the better one.
    """
    require_columns(scores, ["dgm", "size", metric], "blend_table")
    s = scores if size is None else scores[scores["size"] == size]
    value = s.drop_duplicates("dgm").set_index("dgm")[metric]
    rows = []
    for blend, parents in blends.items():
        missing = [n for n in [blend, *parents] if n not in value.index]
        if missing:
            raise KeyError(f"blend_table: no {metric} at size {size} for {missing}")
        pv = [float(value[p]) for p in parents]
        b = float(value[blend])
        rows.append(
            {
                "blend": blend,
                "parents": "+".join(parents),
                metric: b,
                "parent_values": ";".join(f"{v:.4f}" for v in pv),
                "parent_mean": float(np.mean(pv)),
                "best_parent": float(max(pv)),
                "delta_vs_mean": b - float(np.mean(pv)),
                "delta_vs_best": b - float(max(pv)),
            }
        )
    return pd.DataFrame(rows)



def study_metric(scores: pd.DataFrame, preferred: str | None) -> str:
    """The score the study tables rank by: the configured one, else Avg-7 when present, else the first task."""
    if preferred:
        require_columns(scores, [preferred], "study_metric")
        return preferred
    if "avg7" in scores.columns and scores["avg7"].notna().any():
        return "avg7"
    tasks = [c for c in scores.columns if c not in ("model", "dgm") and not c.endswith(("_stderr", "_n", "_lo", "_hi"))]
    if not tasks:
        raise ValueError("study_metric: the scores table has no score column")
    return tasks[0]


def ranking_note(scores: pd.DataFrame, metric: str) -> str:
    """What a ranking table ranks by, and why when it is not the paper's Avg-7."""
    if metric == "avg7":
        return "avg7"
    if "avg7" in scores.columns and scores["avg7"].notna().any():
        return f"{metric} (analyses.metric)"
    lacking = [b for b in aggregates.members("avg7") if b not in scores.columns]
    return f"{metric}: no Avg-7, the config lacks {', '.join(lacking)}"


def inheritance_students(students: pd.DataFrame, dgms: set[str]) -> pd.DataFrame:
    """The students the inheritance analysis compares: those of the largest size label at which most of `dgms`
    have a student (the paper compared its 500k students; a config without them falls back to smaller ones)."""
    own = students[students["dgm"].isin(dgms)]
    if not len(own):
        return own
    cover = own.groupby("size_label").agg(n=("dgm", "nunique"), size=("size", "max"))
    label = cover.sort_values(["n", "size"], ascending=False).index[0]
    return own[own["size_label"] == label]


def student_frame(scores: pd.DataFrame, mix_info: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """Long frame of single-DGM students: model, dgm, size (training conversations), size_label, scores."""
    rows = []
    for _, r in scores.iterrows():
        info = mix_info.get(r["model"])
        if info and info.get("dgm") and info.get("size_label"):
            rows.append({**r.to_dict(), "dgm": info["dgm"], "size": info["train_rows"], "size_label": info["size_label"]})
    return pd.DataFrame(rows)


def run_study(
    scores_csv: str | os.PathLike,
    mix_info: Mapping[str, Mapping[str, Any]],
    tasks: Sequence[str],
    out_dir: str | os.PathLike,
    plot_dir: str | os.PathLike,
    *,
    metric: str | None,
) -> dict[str, pd.DataFrame]:
    """Write dgm_choice.csv, scaling.csv, blends.csv, inheritance.csv (+ plots) for whatever the run trained.

    A table whose ingredients the run lacks is written with a `note` row saying what is missing, never dropped.
    `metric` is `analyses.metric` (None: see `study_metric`).
    """
    scores = pd.read_csv(scores_csv)
    metric = study_metric(scores, metric)
    out_dir, plot_dir = Path(out_dir), Path(plot_dir)
    students = student_frame(scores, mix_info)
    out: dict[str, pd.DataFrame] = {}

    def note(text: str) -> pd.DataFrame:
        return pd.DataFrame([{"note": text}])

    # DGM choice: at the size label most DGMs were trained at (the paper: 250k)
    if len(students):
        label = students["size_label"].value_counts().idxmax()
        at = students[students["size_label"] == label]
        out["dgm_choice"] = dgm_choice_table(at, metrics=[metric] + [t for t in tasks if t != metric])
        plots.bar_scores(out["dgm_choice"], plot_dir / "dgm_choice.png", metric=metric, label_col="dgm",
                         title=f"DGM choice: student {metric} by DGM ({label} subsets)")
    else:
        out["dgm_choice"] = note("no single-DGM mix in this run")
    # Scaling: DGMs trained at several sizes
    multi = students.groupby("dgm")["size"].nunique() if len(students) else pd.Series(dtype=int)
    scal = students[students["dgm"].isin(multi[multi > 1].index)] if len(students) else students
    if len(scal):
        out["scaling"] = scaling_table(scal, metric=metric)
        plots.scaling_curves(scal, plot_dir / "scaling.png", metric=metric)
    else:
        out["scaling"] = note("no DGM trained at more than one size in this run")
    # Blends vs parents (parents at their largest trained size)
    blends = {m: info["parents"] for m, info in mix_info.items() if info.get("parents") and m in set(scores["model"])}
    if blends and len(students):
        best = students.sort_values("size").drop_duplicates("dgm", keep="last")
        frame = pd.concat([best[["dgm", metric]], pd.DataFrame(
            [{"dgm": m, metric: float(scores.set_index("model").loc[m, metric])} for m in blends])])
        frame["size"] = 0
        have = set(frame["dgm"])
        usable = {m: p for m, p in blends.items() if all(x in have for x in p)}
        out["blends"] = blend_table(frame, usable, metric=metric) if usable else note("blend parents not trained")
    else:
        out["blends"] = note("no blend of DGMs in this run")
    # Inheritance of strengths: DGMs evaluated as reference models vs their students, per task
    prefix = plan.REFERENCE_PREFIX
    refs = {m[len(prefix):]: m for m in scores["model"] if str(m).startswith(prefix)}
    if len(refs) >= 2 and len(students):
        st = inheritance_students(students, set(refs)).set_index("dgm")
        sc = scores.set_index("model")
        dgm_s = {t: {d: float(sc.loc[m, t]) for d, m in refs.items() if d in st.index} for t in tasks}
        stu_s = {t: {d: float(st.loc[d, t]) for d in refs if d in st.index} for t in tasks}
        try:
            agreement = ordering_agreement(dgm_s, stu_s)
        except ValueError as exc:
            agreement = float("nan")
            out["inheritance"] = note(str(exc))
        if "inheritance" not in out:
            out["inheritance"] = pd.DataFrame([{"dgms": len(dgm_s[tasks[0]]), "tasks": len(tasks),
                                                "ordering_agreement": agreement, "chance": 0.5}])
    else:
        out["inheritance"] = note("needs at least two DGMs evaluated as reference models (eval.evaluate_dgms)")
    ranked_by = ranking_note(scores, metric)
    for name in ("dgm_choice", "scaling", "blends"):
        if "note" not in out[name].columns:
            out[name]["ranked_by"] = ranked_by
    for name, df in out.items():
        write_csv(df, out_dir / f"{name}.csv")
    for name in ("dgm_choice", "scaling"):
        if not (plot_dir / f"{name}.png").exists():
            plots.message_figure(plot_dir / f"{name}.png", f"{name.replace('_', ' ')}: {out[name]['note'].iloc[0]}")
    return out


def with_train_rows(
    mix_info: Mapping[str, Mapping[str, Any]], manifests: Sequence[str | os.PathLike]
) -> dict[str, dict[str, Any]]:
    """`mix_info` (the plan) with each mix's `train_rows` read from its manifest (results/mixes/{mix}/manifest.json):
    the training-set size of a scaling point is what the mix step produced, not the size label it asked for."""
    info = {k: dict(v) for k, v in mix_info.items()}
    for path in manifests:
        manifest = json.loads(Path(path).read_text())
        info[manifest["mix"]]["train_rows"] = manifest["train_rows"]
    return info
