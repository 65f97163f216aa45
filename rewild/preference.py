"""Judge preference between students and their DGMs (WildChat-50M §6, Table 4): PrefRt and FlipCt."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from .stats import is_missing


def first_judgment_per_question(records: Iterable[Mapping[str, Any]]) -> dict[str, float | None]:
    """{question_id: score of its first judgment row}, as the paper's notebook keeps one judgment per question
    (`drop_duplicates('question_id')`, keep first): with MT-Bench's two turns per question that is the first
    turn's grade, not the mean of both. A first row without a score stays None (it can never win a comparison);
    later rows of the same question are ignored even when they have a score."""
    out: dict[str, float | None] = {}
    for r in records:
        q = str(r["question_id"])
        if q not in out:
            out[q] = None if is_missing(r.get("score")) else float(r["score"])
    return out


def pref_rate(a: Mapping[Any, float | None], b: Mapping[Any, float | None]) -> float:
    """PrefRt(A, B): percent of the questions of both tables (the paper: its 80) where A's score is strictly higher.

    Ties count for neither side, so PrefRt(A, B) + PrefRt(B, A) <= 100 (the paper: 40% vs 22.5%). A missing score
    stays in the denominator and never wins, as the notebook's pandas comparison of the merged tables counts it.
    """
    common = [q for q in a if q in b]
    if not common:
        raise ValueError("pref_rate: no question common to both models")

    def higher(x: float | None, y: float | None) -> bool:
        return not is_missing(x) and not is_missing(y) and float(x) > float(y)

    return 100.0 * sum(higher(a[q], b[q]) for q in common) / len(common)


def flip_count(
    students: Mapping[str, float], dgms: Mapping[str, float], pairs: Sequence[tuple[str, str]]
) -> int:
    """Number of pairwise ranking reversals between students and the DGMs they were trained on.

    `pairs` lists (student, its DGM). For every two pairs, a flip is when the students are strictly ordered
    one way and their DGMs strictly the other way; ties on either side are not flips.
    """
    flips = 0
    for i in range(len(pairs)):
        for j in range(i + 1, len(pairs)):
            (si, di), (sj, dj) = pairs[i], pairs[j]
            s = np.sign(float(students[si]) - float(students[sj]))
            d = np.sign(float(dgms[di]) - float(dgms[dj]))
            flips += int(s * d < 0)
    return flips


def per_question_flip_count(
    students: Mapping[str, Mapping[Any, float]],
    dgms: Mapping[str, Mapping[Any, float]],
    pairs: Sequence[tuple[str, str]],
) -> int:
    """`flip_count` summed over the questions every student and DGM in `pairs` was scored on."""
    names = [s for s, _ in pairs] + [d for _, d in pairs]
    tables = [students[s] for s, _ in pairs] + [dgms[d] for _, d in pairs]
    common = set.intersection(*({q for q, v in t.items() if not is_missing(v)} for t in tables))
    if not common:
        raise ValueError(f"per_question_flip_count: no question common to {names}")
    return sum(
        flip_count({s: students[s][q] for s, _ in pairs}, {d: dgms[d][q] for _, d in pairs}, pairs)
        for q in sorted(common, key=str)
    )



def dgm_flip_count(
    dgm: Mapping[Any, float | None], own_student: Mapping[Any, float | None],
    other_students: Sequence[Mapping[Any, float | None]],
) -> int:
    """Table 4's FlipCt of one DGM: questions on which the DGM beats another DGM's student that beats the DGM's own
    student (DGM > other student > own student, strictly), summed over the other students.

    The paper's notebook (mt_bench_jsonl_to_html.ipynb, one judgment per question): Q72's 6 are the questions with
    Q72:None > L8B:L70 > L8B:Q72, L70's 5 those with L70:None > L8B:Q72 > L8B:L70. A missing score never counts."""

    def gt(x: float | None, y: float | None) -> bool:
        return not is_missing(x) and not is_missing(y) and float(x) > float(y)

    return sum(
        gt(dgm[q], other[q]) and gt(other[q], own_student[q])
        for other in other_students
        for q in dgm
        if q in other and q in own_student
    )
