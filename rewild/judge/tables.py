"""The judge's tables: PrefRt / FlipCt between students and the DGMs they learned from (paper §6 "Judge
preference"), MT-Bench-style scores of students and DGMs, intrinsic SDQ per DGM and its rank correlation with the
students' extrinsic score, and their plots; `run_preference` / `run_sdq_tables` are the judge_tables rule's entries.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rewild import io as rio
from rewild import plots, preference, stats, style

from . import cost
from .plan import DGM_PREFIX, subject_dgm
from .sdq import summarise_sdq


def per_question_scores(records: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """{question_id: mean of its turns' scores}; a turn without a score is left out, a question without any too."""
    acc: dict[str, list[float]] = {}
    for r in records:
        if r.get("score") is not None:
            acc.setdefault(str(r["question_id"]), []).append(float(r["score"]))
    return {q: sum(v) / len(v) for q, v in acc.items()}


def cross_pairs(pairs: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """The pairs of Table 4 that are neither a student with its own DGM nor two students: each student with every
    other DGM, and every two DGMs (the paper's table has PrefRt between all four of its models)."""
    students = list(dict.fromkeys(s for s, _ in pairs))
    dgms = list(dict.fromkeys(d for _, d in pairs))
    own = set(pairs)
    out = [(s, d) for s in students for d in dgms if (s, d) not in own]
    return out + [(dgms[i], dgms[j]) for i in range(len(dgms)) for j in range(i + 1, len(dgms))]


def preference_table(
    per_question: Mapping[str, Mapping[str, float]],
    pairs: Sequence[tuple[str, str]],
    extra_pairs: Sequence[tuple[str, str]] = (),
):
    """PrefRt both ways for each (student, DGM) pair and each pair of students (with their DGMs' PrefRt and whether
    the order flips), then a `flipct` row: preference.flip_count on mean scores, preference.per_question_flip_count."""

    def mean(name: str) -> float:
        v = [x for x in per_question[name].values() if not stats.is_missing(x)]
        return float(np.mean(v)) if v else float("nan")

    def prefs(a: str, b: str) -> tuple[float, float, int]:
        try:
            common = [q for q in per_question[a] if q in per_question[b]]
            return (
                preference.pref_rate(per_question[a], per_question[b]),
                preference.pref_rate(per_question[b], per_question[a]),
                len(common),
            )
        except ValueError:
            return float("nan"), float("nan"), 0

    rows = []
    for s, d in pairs:
        ab, ba, n = prefs(s, d)
        others = [per_question[o] for o, _ in pairs if o != s]
        rows.append(
            {
                "kind": "student_vs_dgm",
                "a": s,
                "b": d,
                "dgm_a": d,
                "dgm_b": d,
                "n_questions": n,
                "mean_a": mean(s),
                "mean_b": mean(d),
                "prefrt_a_over_b": ab,
                "prefrt_b_over_a": ba,
                # Table 4's FlipCt of this DGM (paper-tables §6.3)
                "flipct": preference.dgm_flip_count(per_question[d], per_question[s], others) if others else None,
            }
        )
    for i in range(len(pairs)):
        for j in range(i + 1, len(pairs)):
            (si, di), (sj, dj) = pairs[i], pairs[j]
            ab, ba, n = prefs(si, sj)
            dab, dba, _ = prefs(di, dj) if di != dj else (float("nan"), float("nan"), 0)
            s_sign = np.sign(mean(si) - mean(sj))
            d_sign = np.sign(mean(di) - mean(dj))
            rows.append(
                {
                    "kind": "student_vs_student",
                    "a": si,
                    "b": sj,
                    "dgm_a": di,
                    "dgm_b": dj,
                    "n_questions": n,
                    "mean_a": mean(si),
                    "mean_b": mean(sj),
                    "prefrt_a_over_b": ab,
                    "prefrt_b_over_a": ba,
                    "dgm_prefrt_a_over_b": dab,
                    "dgm_prefrt_b_over_a": dba,
                    "flip": bool(s_sign * d_sign < 0),
                }
            )
    for a, b in extra_pairs:
        ab, ba, n = prefs(a, b)
        rows.append(
            {
                "kind": "other",
                "a": a,
                "b": b,
                "n_questions": n,
                "mean_a": mean(a),
                "mean_b": mean(b),
                "prefrt_a_over_b": ab,
                "prefrt_b_over_a": ba,
            }
        )
    flip = {"kind": "flipct", "a": "students", "b": "dgms", "n_questions": None}
    if len(pairs) >= 2:
        flip["flipct"] = preference.flip_count({s: mean(s) for s, _ in pairs}, {d: mean(d) for _, d in pairs}, pairs)
        try:
            flip["flipct_per_question"] = preference.per_question_flip_count(
                {s: per_question[s] for s, _ in pairs}, {d: per_question[d] for _, d in pairs}, pairs
            )
        except ValueError:
            flip["flipct_per_question"] = float("nan")
    rows.append(flip)
    cols = [
        "kind",
        "a",
        "b",
        "dgm_a",
        "dgm_b",
        "n_questions",
        "mean_a",
        "mean_b",
        "prefrt_a_over_b",
        "prefrt_b_over_a",
        "dgm_prefrt_a_over_b",
        "dgm_prefrt_b_over_a",
        "flip",
        "flipct",
        "flipct_per_question",
    ]
    out = pd.DataFrame(rows).reindex(columns=cols)
    for col in ("n_questions", "flipct", "flipct_per_question"):
        out[col] = pd.to_numeric(out[col], errors="coerce").astype("Int64")  # integers with gaps, not 2.0
    out["flip"] = out["flip"].astype("boolean")
    return out


def mtbench_table(summaries: Mapping[str, Mapping[str, Any]], learned_from: Mapping[str, str] | None = None):

    rows = []
    for subject, s in summaries.items():
        m = s.get("metrics") or s  # run_grade's eval-JSON shape: details under `metrics`
        ci = m.get("ci95") or [None, None]
        kind = "dgm" if subject_dgm(subject) is not None else "student"
        rows.append(
            {
                "model": subject.removeprefix(DGM_PREFIX),
                "kind": kind,
                "dgm": subject.removeprefix(DGM_PREFIX) if kind == "dgm" else (learned_from or {}).get(subject),
                "mtbench": s.get("score"),
                "mtbench_lo": ci[0],
                "mtbench_hi": ci[1],
                "score_turn1": m.get("score_turn1"),
                "score_turn2": m.get("score_turn2"),
                "n": s.get("n"),
                "n_scored": m.get("n_scored"),
                "n_malformed": m.get("n_malformed"),
                "n_failed": m.get("n_failed"),
                "judge": (s.get("judge") or {}).get("model"),
            }
        )
    return pd.DataFrame(rows)


def response_stats(texts: Sequence[str]) -> dict[str, float]:
    """Mean length (characters) and Markdown structure per response (style.markdown_tag_counts totals / n)."""
    counts = style.markdown_tag_counts(texts)
    n = max(1, int(counts["n"]))
    out = {"len_chars": counts["len"]}
    for t in style.STYLE_TAGS:
        out[f"md_{t}"] = counts[t] / n
    return out


def intrinsic_table(
    sdq: Mapping[str, Sequence[Mapping[str, Any]]],
    factors: Sequence[str],
    mtbench: Mapping[str, float] | None = None,
):
    """One row per DGM: mean score per factor, sdq_overall (mean of the factor means), counts, response length and
    Markdown structure of the judged responses, and the DGM's own MT-Bench score when it was judged."""
    rows = []
    for dgm, recs in sdq.items():
        s = summarise_sdq(recs, factors)
        row: dict[str, Any] = {"dgm": dgm}
        for f in factors:
            row[f] = s["factors"][f]["mean"]
        row["sdq_overall"] = s["overall"]
        responses = {}
        for r in recs:
            responses.setdefault(r["row_id"], r.get("response") or "")
        row.update(response_stats(list(responses.values())) if responses else {})
        if mtbench is not None:
            row["mtbench"] = mtbench.get(dgm, np.nan)
        row.update(
            {k: s[k] for k in ("n_responses", "n_judgments", "n_logprobs", "n_text_fallback", "n_unparsed", "n_failed")}
        )
        rows.append(row)
    df = pd.DataFrame(rows)
    return df.apply(lambda c: pd.to_numeric(c) if c.name != "dgm" else c)


MEASURE_EXCLUDE = ("n_responses", "n_judgments", "n_logprobs", "n_text_fallback", "n_unparsed", "n_failed")


def correlation_table(intrinsic, extrinsic: Mapping[str, float], metric: str):
    """stats.rank_correlation_table per measure (NaN where fewer than two DGMs have both values)."""
    rows = []
    for col in intrinsic.columns:
        if col == "dgm" or col in MEASURE_EXCLUDE or not pd.api.types.is_numeric_dtype(intrinsic[col]):
            continue
        try:
            t = stats.rank_correlation_table(intrinsic[["dgm", col]], extrinsic, "dgm")
            rec = t.iloc[0].to_dict()
        except (ValueError, IndexError):
            n = sum(1 for d, v in zip(intrinsic["dgm"], intrinsic[col]) if d in extrinsic and pd.notna(v))
            rec = {"intrinsic": col, "spearman": float("nan"), "kendall": float("nan"), "n": n}
        rec["extrinsic"] = metric
        rows.append(rec)
    return pd.DataFrame(rows, columns=["intrinsic", "extrinsic", "spearman", "kendall", "n"])


def extrinsic_scores(scores_csv: str | os.PathLike, mixes_by_dgm: Mapping[str, str], metric: str) -> dict[str, float]:
    """{dgm: the extrinsic score (scores.csv column `metric`) of the student trained on its mix}."""
    scores = pd.read_csv(scores_csv)
    if metric not in scores.columns:
        raise KeyError(f"{scores_csv}: no column {metric!r} (eval.judge.extrinsic_metric); have {list(scores.columns)}")
    by_model = dict(zip(scores["model"].astype(str), pd.to_numeric(scores[metric], errors="coerce")))
    out = {}
    for dgm, mix in mixes_by_dgm.items():
        v = by_model.get(mix)
        if v is not None and not math.isnan(v):
            out[dgm] = float(v)
    return out


def plot_sdq_vs_extrinsic(
    intrinsic, corr, extrinsic: Mapping[str, float], metric: str, path: str | os.PathLike
) -> Path:
    """Intrinsic SDQ vs the students' extrinsic score per DGM, and each measure's Spearman rho with it."""
    import matplotlib.pyplot as plt  # after rewild.plots chose the headless backend

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, max(4.2, 1.8 + 0.28 * len(corr))))
    t = intrinsic[intrinsic["dgm"].isin(list(extrinsic))]
    x = t["sdq_overall"].to_numpy(dtype=float) if "sdq_overall" in t else np.array([])
    y = np.array([extrinsic[d] for d in t["dgm"]], dtype=float)
    ax1.scatter(x, y, color="tab:blue", label="DGM")
    for xi, yi, d in zip(x, y, t["dgm"]):
        ax1.annotate(str(d), (xi, yi), textcoords="offset points", xytext=(4, 3), fontsize=8)
    ax1.set_xlabel("intrinsic SDQ: mean judge score over the rubric factors (1–10)")
    ax1.set_ylabel(f"student {metric} (extrinsic SDQ)")
    ax1.set_title("Intrinsic vs extrinsic SDQ per DGM")
    ax1.legend(loc="best")
    c = corr.dropna(subset=["spearman"]) if len(corr) else corr
    ypos = np.arange(len(c))
    ax2.barh(ypos, c["spearman"] if len(c) else [], color="tab:orange", label="Spearman ρ")
    ax2.set_yticks(ypos, list(c["intrinsic"]) if len(c) else [])
    ax2.axvline(0, color="black", lw=0.8)
    ax2.set_xlim(-1.05, 1.05)
    if not len(c):
        ax2.text(
            0.5,
            0.5,
            "needs at least 2 DGMs\nwith both scores",
            ha="center",
            va="center",
            transform=ax2.transAxes,
        )
    ax2.set_xlabel(f"rank correlation with student {metric}")
    ax2.set_ylabel("intrinsic measure")
    ax2.set_title(f"Spearman ρ over {int(corr['n'].max()) if len(corr) else 0} DGMs")
    ax2.legend(loc="best")
    return plots.save(fig, path)


def run_preference(
    mtbench_jsonls: Mapping[str, str | os.PathLike],
    mtbench_jsons: Mapping[str, str | os.PathLike],
    pairs: Sequence[tuple[str, str]],
    out_csv: str | os.PathLike,
    out_mtbench_csv: str | os.PathLike | None = None,
    out_png: str | os.PathLike | None = None,
    learned_from: Mapping[str, str] | None = None,
):
    """PrefRt / FlipCt table from per-turn grades. `mtbench_jsonls` / `mtbench_jsons`: {subject: path}, DGM subjects
    written "dgm-<key>" (so a DGM and a student never collide); `pairs`: (student, DGM key)."""
    # one judgment per question, the first (paper-tables §6.3), for PrefRt and FlipCt alike
    per_q = {subject: preference.first_judgment_per_question(rio.read_jsonl(p)) for subject, p in mtbench_jsonls.items()}
    keyed = [(s, DGM_PREFIX + d) for s, d in pairs]
    missing = sorted({x for pair in keyed for x in pair if x not in per_q})
    if missing:
        raise KeyError(f"run_preference: no grades for {missing}")
    table = preference_table(per_q, keyed, cross_pairs(keyed))
    for col in ("a", "b", "dgm_a", "dgm_b"):
        table[col] = table[col].map(lambda v: v.removeprefix(DGM_PREFIX) if isinstance(v, str) else v)
    rio.write_csv(table, out_csv)
    if out_mtbench_csv or out_png:
        mt = mtbench_table({s: rio.read_json(p) for s, p in mtbench_jsons.items()}, learned_from)
        if out_mtbench_csv:
            rio.write_csv(mt, out_mtbench_csv)
        if out_png:
            shown = mt.assign(model=[("DGM " if k == "dgm" else "") + m for m, k in zip(mt["model"], mt["kind"])])
            plots.bar_scores(shown, out_png, metric="mtbench", title="MT-Bench-style judge score, students and DGMs")
    return table


def run_sdq_tables(
    sdq_jsonls: Mapping[str, str | os.PathLike],
    scores_csv: str | os.PathLike,
    mixes_by_dgm: Mapping[str, str],
    metric: str,
    out_intrinsic_csv: str | os.PathLike,
    out_corr_csv: str | os.PathLike,
    out_png: str | os.PathLike | None = None,
    mtbench_jsons: Mapping[str, str | os.PathLike] | None = None,
):
    """Intrinsic SDQ table (one row per DGM; its own MT-Bench score when `mtbench_jsons` has it) and the rank
    correlation of each measure with the extrinsic score `metric` of the DGM's student (`mixes_by_dgm`)."""
    sdq = {d: rio.read_jsonl(p) for d, p in sdq_jsonls.items()}
    factors: list[str] = []
    for recs in sdq.values():
        for r in recs:
            if r["factor"] not in factors:
                factors.append(r["factor"])
    mt = None
    if mtbench_jsons:
        mt = {
            s.removeprefix(DGM_PREFIX): rio.read_json(p).get("score")
            for s, p in mtbench_jsons.items()
            if subject_dgm(s) is not None
        }
        mt = {k: (float(v) if v is not None else float("nan")) for k, v in mt.items()} or None
    intrinsic = intrinsic_table(sdq, factors, mt)
    extrinsic = extrinsic_scores(scores_csv, mixes_by_dgm, metric)
    intrinsic.insert(1, f"extrinsic_{metric}", [extrinsic.get(d, float("nan")) for d in intrinsic["dgm"]])
    corr = correlation_table(intrinsic.drop(columns=[f"extrinsic_{metric}"]), extrinsic, metric)
    rio.write_csv(intrinsic, out_intrinsic_csv)
    rio.write_csv(corr, out_corr_csv)
    if out_png:
        plot_sdq_vs_extrinsic(intrinsic, corr, extrinsic, metric, out_png)
    return intrinsic, corr


COST_COLUMNS = [
    "benchmark",
    "model",
    "judge_model",
    "base_url_kind",
    "requests",
    "cache_hits",
    "prompt_tokens",
    "completion_tokens",
    "sent_prompt_tokens",
    "sent_completion_tokens",
    "cost_usd_estimate",
    "n_malformed",
]


def cost_rows(results: Sequence[Mapping[str, Any]]) -> list[dict]:
    """One row per judged result (its judge tokens and list-price estimate, recomputed from the recorded tokens),
    then a TOTAL row per benchmark and an ALL row; a total's cost is null when any of its rows has none."""
    rows = []
    for r in results:
        ident = r["judge"]
        sent = r.get("tokens_sent") or {"prompt": None, "completion": None}
        rows.append(
            {
                "benchmark": r["benchmark"],
                "model": r.get("model") or r.get("dgm"),
                "judge_model": ident["model"],
                "base_url_kind": ident["base_url_kind"],
                "requests": r.get("judge_requests"),
                "cache_hits": r.get("judge_cache_hits"),
                "prompt_tokens": int(r["tokens"]["prompt"]),
                "completion_tokens": int(r["tokens"]["completion"]),
                "sent_prompt_tokens": sent["prompt"],
                "sent_completion_tokens": sent["completion"],
                "cost_usd_estimate": cost.estimate_usd(ident, r["tokens"]),
                "n_malformed": r.get("n_malformed"),
            }
        )

    def total(label: str, model: str, part: list[dict]) -> dict:
        costs = [x["cost_usd_estimate"] for x in part]
        out = {"benchmark": label, "model": model}
        for k in COST_COLUMNS[4:]:
            vals = [x[k] for x in part]
            out[k] = None if any(v is None for v in vals) else sum(vals)
        out["cost_usd_estimate"] = None if any(c is None for c in costs) else round(sum(costs), 6)
        judges = sorted({str(x["judge_model"]) for x in part})
        out["judge_model"] = ";".join(judges)
        out["base_url_kind"] = ";".join(sorted({str(x["base_url_kind"]) for x in part}))
        return out

    totals = []
    for bench in dict.fromkeys(x["benchmark"] for x in rows):
        totals.append(total(bench, "TOTAL", [x for x in rows if x["benchmark"] == bench]))
    if rows:
        totals.append(total("ALL", "TOTAL", rows))
    return rows + totals


def run_cost(result_paths: Sequence[str | os.PathLike], out_csv: str | os.PathLike):
    """The judge cost table (results/tables/judge_cost.csv) from judged result JSONs (mtbench, sdq, alpaca_lc,
    mixeval: each with `judge` and `tokens`)."""
    table = pd.DataFrame(cost_rows([rio.read_json(p) for p in result_paths]), columns=COST_COLUMNS)
    for col in COST_COLUMNS[4:]:
        if col != "cost_usd_estimate":
            table[col] = pd.to_numeric(table[col], errors="coerce").astype("Int64")
    rio.write_csv(table, out_csv)
    return table
