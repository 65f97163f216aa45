"""Style heritability (WildChat-50M §6): Markdown structure of responses, proportional frequency (PF) and its
mean (MPF) between two models."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from html.parser import HTMLParser
from typing import Any

import numpy as np
import pandas as pd

from .io import read_jsonl, write_csv
from .stats import is_missing

STYLE_TAGS: tuple[str, ...] = ("strong", "em", "ol", "ul", "h1", "h2", "h3", "h4", "p")
# MPF averages over the nine tags *and* `len`: only then do the paper's counts give its MPFs 0.904 / 1.052 /
# 2.61 (without `len` they give 0.897 / 1.056 / 2.78). See test_mpf_reproduces_paper.
STYLE_KEYS: tuple[str, ...] = STYLE_TAGS + ("len",)


class _TagCounter(HTMLParser):
    def __init__(self, tags: Iterable[str]) -> None:
        super().__init__(convert_charrefs=True)
        self.counts = {t: 0 for t in tags}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.counts:
            self.counts[tag] += 1


def markdown_tag_counts(texts: Iterable[str]) -> dict[str, float]:
    """Total count of each style tag over all responses after Markdown → HTML with markdown2, plus `len` and `n`.

    As the paper's notebook does: `markdown2.markdown(text.strip())` with markdown2's defaults (no extras), tags
    counted on the HTML, and `len` the *mean* length of a response's HTML in characters (the paper lists len ≈ 6,400
    next to ~1,200 <p> tags: as a total over the answers that would be impossible). Unlike the notebook, only the
    answers are counted, not the question, judge text and page template around them (paper-tables §6.4 caveat).
    """
    import markdown2  # local: only this analysis needs it

    totals = {t: 0 for t in STYLE_TAGS}
    lengths: list[int] = []
    for text in texts:
        html = markdown2.markdown("" if is_missing(text) else str(text).strip())
        lengths.append(len(html))
        parser = _TagCounter(STYLE_TAGS)
        parser.feed(html)
        parser.close()
        for t, c in parser.counts.items():
            totals[t] += c
    out: dict[str, float] = dict(totals)
    out["len"] = float(np.mean(lengths)) if lengths else float("nan")
    out["n"] = len(lengths)
    return out


def answer_texts(records: Iterable[Mapping[str, Any]]) -> list[str]:
    """One answer per question of MT-Bench answer records (results/judge/{model}/answers.jsonl: FastChat's layout,
    `choices[0].turns`): the first turn's, of the first record of each question_id, in file order.

    The paper's notebook renders one HTML file per question from the first judgment row of each question
    (`drop_duplicates('question_id')`), whose answer is the first turn's: 80 answers per model, not 160."""
    seen: set[str] = set()
    out: list[str] = []
    for r in records:
        q = str(r["question_id"])
        if q not in seen:
            seen.add(q)
            out.append(str(r["choices"][0]["turns"][0]))
    return out


def style_pairs(student_dgm: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """The paper's PF pairs (Table 3): each student over its DGM, then every two students both ways (the paper
    writes L8B:Q72 / L8B:L70; a run's students come in config order, so both orientations are listed)."""
    students = [s for s, _ in student_dgm]
    out = list(student_dgm)
    for i in range(len(students)):
        for j in range(i + 1, len(students)):
            out += [(students[i], students[j]), (students[j], students[i])]
    return out


def style_tables(
    counts: Mapping[str, Mapping[str, float]], pairs: Sequence[tuple[str, str]], labels: Mapping[str, str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(counts, pf): one row per model (tags, len, n) and one per pair (`pair` = "A / B", PF per key and MPF).

    `labels` is paper.labels (paper label → run name); `paper_label` names the paper's row where one maps here."""
    by_name: dict[str, str] = {}
    for label, name in labels.items():
        by_name.setdefault(name, label)
    rows = [{"model": m, "paper_label": by_name.get(m), **{k: c[k] for k in (*STYLE_KEYS, "n")}}
            for m, c in counts.items()]
    pf_rows = []
    for a, b in pairs:
        pf = proportional_frequency({k: counts[a][k] for k in STYLE_KEYS}, {k: counts[b][k] for k in STYLE_KEYS})
        la, lb = by_name.get(a), by_name.get(b)
        pf_rows.append({"a": a, "b": b, "pair": f"{a} / {b}",
                        "paper_label": f"{la} / {lb}" if la and lb else None,
                        **pf, "mpf": float(np.mean([pf[k] for k in STYLE_KEYS]))})
    count_cols = ["model", "paper_label", *STYLE_KEYS, "n"]
    pf_cols = ["a", "b", "pair", "paper_label", *STYLE_KEYS, "mpf"]
    return pd.DataFrame(rows, columns=count_cols), pd.DataFrame(pf_rows, columns=pf_cols)


def run_style(
    answers: Mapping[str, str | os.PathLike],
    student_dgm: Sequence[tuple[str, str]],
    labels: Mapping[str, str],
    out_counts_csv: str | os.PathLike,
    out_pf_csv: str | os.PathLike,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rule style: results/tables/style.csv (tag counts per model) and style_pf.csv (PF and MPF per pair).

    `answers`: {model: answers.jsonl} (DGMs as `dgm-<key>`); `student_dgm`: (student, `dgm-<key>`) pairs."""
    counts = {m: markdown_tag_counts(answer_texts(read_jsonl(p))) for m, p in answers.items()}
    table, pf = style_tables(counts, style_pairs(student_dgm), labels)
    write_csv(table, out_counts_csv)
    write_csv(pf, out_pf_csv)
    return table, pf


def proportional_frequency(a: Mapping[str, float], b: Mapping[str, float]) -> dict[str, float]:
    """PF = count_a / count_b for each style key.

    0/0 is 1.0 (neither model uses the tag: identical style, as the paper counts h2 for L8B:Q72 vs Q72);
    x/0 with x > 0 is +inf, so a tag that only one side uses makes MPF infinite rather than being dropped.
    """
    keys = [k for k in STYLE_KEYS if k in a or k in b]
    missing = [k for k in keys if k not in a or k not in b]
    if missing:
        raise KeyError(f"style keys present on one side only: {missing}")
    out: dict[str, float] = {}
    for k in keys:
        x, y = float(a[k]), float(b[k])
        if y == 0:
            out[k] = 1.0 if x == 0 else math.inf
        else:
            out[k] = x / y
    return out


def mpf(a: Mapping[str, float], b: Mapping[str, float], keys: Sequence[str] = STYLE_KEYS) -> float:
    """Mean proportional frequency of `a` relative to `b` over `keys` (default: 9 tags + len)."""
    pf = proportional_frequency({k: a[k] for k in keys}, {k: b[k] for k in keys})
    return float(np.mean([pf[k] for k in keys]))

