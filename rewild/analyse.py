"""The paper's analyses (WildChat-50M, Feuer & Hegde 2025, sections 2.2, 5 and 6) as pure functions.

Everything above the "run_*" section takes and returns plain Python / pandas objects and does no I/O, so each
number the report prints can be recomputed in a test from hand-checkable inputs. The thin `run_*` wrappers at the
bottom read the pipeline's CSV / JSON / Parquet files and write CSV + PNG (via `rewild.plots`).

Decisions that the paper leaves open are made here once and documented next to the code that makes them;
`data/paper/reference.csv` holds the paper's numbers so `compare_to_reference` can put ours next to theirs.
"""

from __future__ import annotations

import json
import math
import os
import zlib
from collections.abc import Iterable, Mapping, Sequence
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

# --------------------------------------------------------------------------------------------------------------
# 1. Aggregates (paper §5)
# --------------------------------------------------------------------------------------------------------------

BENCHMARKS: tuple[str, ...] = (
    "bbh",
    "gpqa",
    "math",
    "musr",
    "ifeval_ps",
    "ifeval_il",
    "mmlu_pro",
    "mixeval",
    "mtbench",
    "alpaca_lc",
)

_AVG7 = ["bbh", "gpqa", "math", "musr", "ifeval_ps", "mmlu_pro", "mixeval"]

# Avg-8 adds IFEval instruction-level loose accuracy; Avg-9 adds the two LLM-judged scores. Recomputing the
# headline table's Avg-8 from its own cells with exactly this set reproduces all four rows to 3 decimals
# (tests/test_analyse.py::test_avg8_reproduces_headline_table), which confirms the definition.
AGGREGATES: dict[str, list[str]] = {
    "avg7": list(_AVG7),
    "avg8": _AVG7 + ["ifeval_il"],
    "avg9": _AVG7 + ["mtbench", "alpaca_lc"],
}

# MT-Bench is reported on 1–10 and AlpacaEval-LC in percent; the paper divides them by 10 and 100 so that every
# benchmark enters an aggregate on a 0–1 scale. The other benchmarks are already fractions.
SCALE: dict[str, float] = {"mtbench": 0.1, "alpaca_lc": 0.01}

# Two-sided 95% normal quantile; the paper's CIs are normal approximations.
Z95 = 1.959963984540054


class MissingBenchmarkError(ValueError):
    """An aggregate was requested for a model that lacks one of its benchmarks."""


def _members(name: str) -> list[str]:
    try:
        return AGGREGATES[name]
    except KeyError:
        raise KeyError(f"unknown aggregate {name!r}; known: {sorted(AGGREGATES)}") from None


def _is_missing(v: Any) -> bool:
    return v is None or (isinstance(v, (float, np.floating)) and math.isnan(v))


def aggregate(scores: Mapping[str, float], name: str) -> float:
    """Mean of the aggregate's benchmarks (judge scores rescaled to 0–1).

    A partial mean would silently change what the number means, so any missing (or NaN) member raises.
    """
    members = _members(name)
    missing = [b for b in members if b not in scores or _is_missing(scores[b])]
    if missing:
        raise MissingBenchmarkError(f"{name} needs {members}; missing: {missing}")
    return float(np.mean([float(scores[b]) * SCALE.get(b, 1.0) for b in members]))


def ci95(samples: Sequence[float]) -> tuple[float, float, float]:
    """(mean, lo, hi) of a 95% normal-approximation CI of the mean.

    With fewer than two samples the standard error is undefined, so the bounds are NaN rather than a
    misleading zero-width interval.
    """
    x = np.asarray(samples, dtype=float)
    if x.size == 0:
        raise ValueError("ci95 needs at least one sample")
    m = float(x.mean())
    if x.size < 2:
        return m, float("nan"), float("nan")
    se = float(x.std(ddof=1) / math.sqrt(x.size))
    return m, m - Z95 * se, m + Z95 * se


def aggregate_ci(per_sample: Mapping[str, Sequence[float]], name: str) -> tuple[float, float, float]:
    """(mean, lo, hi) of an aggregate with a 95% normal CI from per-sample benchmark values.

    The aggregate is the mean of k benchmark means, and benchmarks are independent samples, so
    SE(aggregate) = sqrt(sum_i SE_i^2) / k. Samples are in each benchmark's own units (MT-Bench 1–10,
    AlpacaEval percent) and get the same rescaling as `aggregate`.
    """
    members = _members(name)
    missing = [b for b in members if b not in per_sample or len(per_sample[b]) == 0]
    if missing:
        raise MissingBenchmarkError(f"{name} needs per-sample values for {members}; missing: {missing}")
    means, variances = [], []
    for b in members:
        x = np.asarray(per_sample[b], dtype=float) * SCALE.get(b, 1.0)
        means.append(x.mean())
        variances.append(x.var(ddof=1) / x.size if x.size >= 2 else float("nan"))
    k = len(members)
    m = float(np.mean(means))
    se = math.sqrt(sum(variances)) / k
    return m, m - Z95 * se, m + Z95 * se


def aggregate_table(df: pd.DataFrame, names: Sequence[str] = tuple(AGGREGATES)) -> pd.DataFrame:
    """Add one column per aggregate to a wide table (one row per model, one column per benchmark).

    A row lacking any member benchmark (column absent or NaN) gets NaN for that aggregate — never a mean of
    the benchmarks it happens to have.
    """
    out = df.copy()
    for name in names:
        members = _members(name)
        if any(b not in out.columns for b in members):
            out[name] = np.nan
            continue
        scaled = pd.DataFrame({b: pd.to_numeric(out[b], errors="coerce") * SCALE.get(b, 1.0) for b in members})
        # skipna=False is what makes a partial row NaN instead of a partial mean.
        out[name] = scaled.mean(axis=1, skipna=False)
    return out


# --------------------------------------------------------------------------------------------------------------
# 2. Style heritability (paper §6)
# --------------------------------------------------------------------------------------------------------------

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


def markdown_tag_counts(
    texts: Iterable[str], extensions: Sequence[str] = ("fenced_code",)
) -> dict[str, float]:
    """Total count of each style tag over all responses after Markdown → HTML, plus `len` and `n`.

    Tag counts are totals over the response set, `len` is the *mean* character length of a response (of the
    Markdown source). The paper lists len ≈ 6,400 next to ~1,200 <p> tags: as a total over the 160 MT-Bench
    answers that would be 40 characters per answer holding 7+ paragraphs, which is impossible, so it must be
    a per-response mean. `fenced_code` keeps code blocks from being counted as paragraphs (the paper does not
    say which converter options it used; its notebook renders with markdown2).
    """
    import markdown  # local: only this analysis needs it

    md = markdown.Markdown(extensions=list(extensions))
    totals = {t: 0 for t in STYLE_TAGS}
    lengths: list[int] = []
    for text in texts:
        text = "" if _is_missing(text) else str(text)
        lengths.append(len(text))
        parser = _TagCounter(STYLE_TAGS)
        parser.feed(md.reset().convert(text))
        parser.close()
        for t, c in parser.counts.items():
            totals[t] += c
    out: dict[str, float] = dict(totals)
    out["len"] = float(np.mean(lengths)) if lengths else float("nan")
    out["n"] = len(lengths)
    return out


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


# --------------------------------------------------------------------------------------------------------------
# 3. Similarity (paper §6)
# --------------------------------------------------------------------------------------------------------------

KEY: tuple[str, str] = ("conversation_hash", "row_id")


def _first_assistant(conv: Any) -> tuple[str | None, str | None]:
    """(content, language) of the first assistant turn of a conversation (list / array of turn dicts)."""
    if conv is None or (isinstance(conv, float) and math.isnan(conv)):
        return None, None
    for turn in conv:
        if turn is not None and turn.get("role") == "assistant":
            content = turn.get("content")
            return (None if _is_missing(content) else str(content)), turn.get("language")
    return None, None


def first_assistant_turns(df: pd.DataFrame, key: Sequence[str] = KEY) -> pd.DataFrame:
    """One row per conversation: the key columns, `language` and `text` (first assistant turn, None if none).

    Reads `conversation` (WildChat schema) and falls back to `messages` (TRL schema) when it is absent. The
    conversation-level `language` column wins over the turn's because it is what WildChat filters on.
    """
    missing = [k for k in key if k not in df.columns]
    if missing:
        raise KeyError(f"first_assistant_turns: key column(s) {missing} missing; have {list(df.columns)}")
    col = "conversation" if "conversation" in df.columns else "messages" if "messages" in df.columns else None
    if col is None:
        raise KeyError("first_assistant_turns: need a 'conversation' or 'messages' column")
    texts, langs = [], []
    for conv in df[col].tolist():
        t, lang = _first_assistant(conv)
        texts.append(t)
        langs.append(lang)
    out = df[list(key)].copy().reset_index(drop=True)
    if "language" in df.columns:
        out["language"] = df["language"].reset_index(drop=True)
    else:
        out["language"] = langs
    out["text"] = pd.Series(texts, dtype=object)
    return out


def align_responses(
    frames: Mapping[str, pd.DataFrame], key: Sequence[str] = KEY, drop_empty: bool = True
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Align every DGM's first assistant turn on `key`; return (aligned, unaligned).

    aligned: one row per conversation present (once, non-empty) in *every* DGM, sorted by key; columns are the
    key, `language` and one text column per DGM. unaligned: one row per dropped conversation with `reason`
    naming each DGM and what was wrong (missing / duplicate key / empty first assistant turn).

    The released notebook, when alignment failed, went on with the previous model's aligned rows; here a
    conversation is either compared across all DGMs on its own rows or reported, never filled from elsewhere.
    `conversation_hash` alone is not unique in WildChat, hence the default (conversation_hash, row_id) key.
    """
    key = list(key)
    if not frames:
        raise ValueError("align_responses needs at least one DGM")
    problems: list[dict[str, Any]] = []
    clean: dict[str, pd.DataFrame] = {}
    all_keys: list[pd.DataFrame] = []
    for dgm, frame in frames.items():
        t = first_assistant_turns(frame, key)
        all_keys.append(t[key])
        dup = t.duplicated(key, keep=False)
        for _, r in t.loc[dup, key].drop_duplicates().iterrows():
            problems.append({**{k: r[k] for k in key}, "dgm": dgm, "reason": "duplicate key"})
        t = t.loc[~dup]
        if drop_empty:
            none = t["text"].isna()
            blank = ~none & (t["text"].astype(str).str.strip() == "")
            for mask, why in ((none, "no assistant turn"), (blank, "empty first assistant turn")):
                for _, r in t.loc[mask, key].iterrows():
                    problems.append({**{k: r[k] for k in key}, "dgm": dgm, "reason": why})
            t = t.loc[~(none | blank)]
        # Always a MultiIndex (even for a one-column key) so index set operations behave the same.
        clean[dgm] = t.set_index(pd.MultiIndex.from_frame(t[key])).drop(columns=key)

    universe = pd.concat(all_keys, ignore_index=True).drop_duplicates()
    universe_idx = pd.MultiIndex.from_frame(universe)
    flagged = {(p["dgm"], tuple(p[k] for k in key)) for p in problems}
    for dgm, t in clean.items():
        absent = universe_idx.difference(t.index)
        for kv in absent:
            if (dgm, kv) not in flagged:
                problems.append({**dict(zip(key, kv)), "dgm": dgm, "reason": "missing"})

    # Inner join on the key: only conversations every DGM answered survive.
    common = universe_idx
    for t in clean.values():
        common = common.intersection(t.index)
    common = common.sort_values()
    first = next(iter(clean.values()))
    aligned = pd.DataFrame(index=common)
    aligned["language"] = first.loc[common, "language"].to_numpy() if len(common) else []
    for dgm, t in clean.items():
        aligned[dgm] = t.loc[common, "text"].to_numpy() if len(common) else []
    aligned = aligned.reset_index()

    cols = key + ["reason", "n_dgms_affected"]
    if problems:
        p = pd.DataFrame(problems)
        p["what"] = p["reason"] + " in " + p["dgm"].astype(str)
        unaligned = (
            p.groupby(key, sort=True)
            .agg(reason=("what", lambda s: "; ".join(sorted(set(s)))), n_dgms_affected=("dgm", "nunique"))
            .reset_index()
        )
        unaligned = unaligned[cols]
    else:
        unaligned = pd.DataFrame(columns=cols)
    return aligned, unaligned


class _NoSynonymWordNet:
    """Stand-in for nltk's WordNet with no synsets: METEOR then matches on exact words and Porter stems only."""

    def synsets(self, *args: Any, **kwargs: Any) -> list:
        return []


_WORDNET: Any = None
_ROUGE: Any = None


def wordnet_or_fallback() -> tuple[Any, bool]:
    """(wordnet, has_synonyms). WordNet cannot be downloaded here, so use it only when already installed."""
    global _WORDNET
    if _WORDNET is None:
        import nltk

        try:
            nltk.data.find("corpora/wordnet")
            from nltk.corpus import wordnet

            wordnet.ensure_loaded()
            _WORDNET = (wordnet, True)
        except (LookupError, OSError):
            _WORDNET = (_NoSynonymWordNet(), False)
    return _WORDNET


def _rouge() -> Any:
    global _ROUGE
    if _ROUGE is None:
        from rouge_score import rouge_scorer

        _ROUGE = rouge_scorer.RougeScorer(["rouge1", "rougeL"], use_stemmer=True)
    return _ROUGE


SIM_METRICS: tuple[str, ...] = ("rouge1", "rougeL", "meteor")


def similarity_scores(hyp: str, refs: Sequence[str]) -> dict[str, Any]:
    """ROUGE-1 F, ROUGE-L F (stemmed) and METEOR of `hyp` against each ref; mean and std over refs.

    Like the paper's notebook, METEOR sees whitespace tokens (nltk's word_tokenize needs punkt data that
    cannot be downloaded here) and std is the population std (ddof=0) over the references.
    `meteor_synonyms` is False when WordNet was unavailable and METEOR ran on exact + stem matches only.
    """
    from nltk.translate.meteor_score import meteor_score

    if not refs:
        raise ValueError("similarity_scores needs at least one reference")
    wn, has_syn = wordnet_or_fallback()
    hyp = str(hyp).strip()
    per: dict[str, list[float]] = {m: [] for m in SIM_METRICS}
    h_tok = hyp.split()
    for ref in refs:
        ref = str(ref).strip()
        r_tok = ref.split()
        if not h_tok or not r_tok:
            # Nothing to match: every metric is 0 (nltk's METEOR would divide by zero).
            for m in SIM_METRICS:
                per[m].append(0.0)
            continue
        rs = _rouge().score(ref, hyp)
        per["rouge1"].append(rs["rouge1"].fmeasure)
        per["rougeL"].append(rs["rougeL"].fmeasure)
        per["meteor"].append(float(meteor_score([r_tok], h_tok, wordnet=wn)))
    out: dict[str, Any] = {}
    for m in SIM_METRICS:
        out[m] = float(np.mean(per[m]))
        out[f"{m}_std"] = float(np.std(per[m]))
    out["n_refs"] = len(refs)
    out["meteor_synonyms"] = has_syn
    return out


def ema(values: Sequence[float], alpha: float = 0.3) -> float:
    """The released notebook's running average: a_0 = x_0, a_t = alpha·x_t + (1 − alpha)·a_{t−1}.

    It weights the last few conversations most and depends on their order, so it is kept only as a switch
    to reproduce the paper's table; the default everywhere is the plain mean.
    """
    if len(values) == 0:
        return float("nan")
    a = float(values[0])
    for x in values[1:]:
        a = alpha * float(x) + (1 - alpha) * a
    return a


def choose_references(dgms: Sequence[str], k: int, seed: int) -> dict[str, list[str]]:
    """k other DGMs per DGM, drawn without replacement.

    Each DGM gets its own generator seeded by (seed, crc32(name)) so its references do not depend on the
    order DGMs were listed in. (The notebook drew 5 of all models and dropped self, giving 4–5 refs.)
    """
    if k < 1:
        raise ValueError("k must be >= 1")
    names = sorted(dgms)
    if len(names) < 2:
        raise ValueError("similarity needs at least two DGMs")
    out = {}
    for d in names:
        others = [o for o in names if o != d]
        rng = np.random.default_rng([seed, zlib.crc32(d.encode())])
        out[d] = sorted(rng.choice(others, size=min(k, len(others)), replace=False).tolist())
    return out


def similarity_table(
    aligned: pd.DataFrame,
    k: int,
    seed: int,
    english_only: bool = True,
    averaging: Literal["mean", "ema"] = "mean",
    alpha: float = 0.3,
    n_conversations: int | None = None,
    key: Sequence[str] = KEY,
) -> pd.DataFrame:
    """Per DGM: similarity of its first assistant turn to k seeded other DGMs' turns, averaged over conversations.

    Columns per metric m (rouge1, rougeL, meteor): `m` = average over conversations of the per-conversation
    mean over references; `m_std` = average of the per-conversation std over references (the paper's "std");
    `m_conv_std` = sample std across conversations of the per-conversation mean. `averaging="ema"` replaces
    the two averages with the notebook's EMA (alpha 0.3) in key order. The paper used 500 English
    conversations: `n_conversations` keeps the first n in key order after the language filter.
    """
    if averaging not in ("mean", "ema"):
        raise ValueError(f"averaging must be 'mean' or 'ema', not {averaging!r}")
    key = list(key)
    dgms = [c for c in aligned.columns if c not in key and c != "language"]
    data = aligned
    if english_only:
        if "language" not in data.columns:
            raise KeyError("english_only needs a 'language' column")
        data = data[data["language"] == "English"]
    if n_conversations is not None:
        data = data.iloc[:n_conversations]
    if data.empty:
        raise ValueError("no conversations left to compare (after the English filter)")
    refs_of = choose_references(dgms, k, seed)
    rows = []
    for d in sorted(dgms):
        ref_cols = [data[o].tolist() for o in refs_of[d]]
        per = [similarity_scores(h, [c[i] for c in ref_cols]) for i, h in enumerate(data[d].tolist())]
        avg = (lambda v: ema(v, alpha)) if averaging == "ema" else (lambda v: float(np.mean(v)))
        row: dict[str, Any] = {"dgm": d, "references": ",".join(refs_of[d]), "n_conversations": len(per)}
        for m in SIM_METRICS:
            means = [p[m] for p in per]
            row[m] = avg(means)
            row[f"{m}_std"] = avg([p[f"{m}_std"] for p in per])
            row[f"{m}_conv_std"] = float(np.std(means, ddof=1)) if len(means) > 1 else float("nan")
        row["meteor_synonyms"] = per[0]["meteor_synonyms"]
        row["averaging"] = averaging
        rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------------------------
# 4. Judge preference (paper §6)
# --------------------------------------------------------------------------------------------------------------


def pref_rate(a: Mapping[Any, float], b: Mapping[Any, float]) -> float:
    """PrefRt(A, B): percent of the questions both were scored on where A's score is strictly higher.

    Ties count for neither side, so PrefRt(A, B) + PrefRt(B, A) <= 100 (the paper: 40% vs 22.5%).
    """
    common = [q for q in a if q in b and not _is_missing(a[q]) and not _is_missing(b[q])]
    if not common:
        raise ValueError("pref_rate: no question scored for both models")
    return 100.0 * sum(float(a[q]) > float(b[q]) for q in common) / len(common)


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
    common = set.intersection(*(set(t) for t in tables))
    if not common:
        raise ValueError(f"per_question_flip_count: no question common to {names}")
    return sum(
        flip_count({s: students[s][q] for s, _ in pairs}, {d: dgms[d][q] for _, d in pairs}, pairs)
        for q in sorted(common, key=str)
    )


# --------------------------------------------------------------------------------------------------------------
# 5. Inheritance of strengths (paper §6)
# --------------------------------------------------------------------------------------------------------------


def ordering_agreement(
    dgm_scores: Mapping[str, Mapping[str, float]], student_scores: Mapping[str, Mapping[str, float]]
) -> float:
    """Fraction of model-pair orderings, per benchmark, on which DGMs and their students agree.

    Both arguments map benchmark → {DGM name → score}; the student entry is keyed by the DGM it was trained on.
    For each benchmark and each pair of DGMs, the question is "does the DGM that is better on this benchmark
    also give the better student on it?" — the paper's "inheritance of strengths". Model pairs (not benchmark
    pairs) are compared because scores of different benchmarks are on different scales, so ordering
    benchmarks within a model says little. Pairs tied on either side carry no ordering and are skipped.
    0.5 is chance; the paper reports 0.5 across 6 benchmarks.
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
                if d == 0 or s == 0:
                    continue
                total += 1
                agree += int(d == s)
    if total == 0:
        raise ValueError("ordering_agreement: no strictly ordered model pair to compare")
    return agree / total


# --------------------------------------------------------------------------------------------------------------
# 6. Efficiency (paper §2.2)
# --------------------------------------------------------------------------------------------------------------

EFFICIENCY_COLUMNS = (
    "dgm",
    "params_b",
    "max_model_len",
    "n_conversations",
    "input_tokens",
    "output_tokens",
    "wall_seconds",
    "gpus",
)


def efficiency_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Per-DGM throughput from per-(dgm, shard) rows.

    Rates pool the shards (sum of tokens / sum of seconds), i.e. a time-weighted mean, so a tiny tail shard
    does not count as much as a full one; `tok_s_shard_mean` is the unweighted mean of per-shard rates for
    comparison. `io_ratio` = input tok/s ÷ output tok/s (= input ÷ output tokens, same clock); the paper's
    4.68 is the mean of this ratio across DGMs. `context_x_params` = max_model_len × params (billions), the
    paper's efficiency proxy.
    """
    missing = [c for c in EFFICIENCY_COLUMNS if c not in rows.columns]
    if missing:
        raise KeyError(f"efficiency_table: missing columns {missing}")
    bad = rows[(rows["wall_seconds"] <= 0) | (rows["n_conversations"] <= 0)]
    if not bad.empty:
        raise ValueError(f"efficiency_table: non-positive seconds/conversations for {bad['dgm'].tolist()}")
    r = rows.copy()
    r["_tok_s"] = (r["input_tokens"] + r["output_tokens"]) / r["wall_seconds"]
    for col in ("params_b", "max_model_len", "gpus"):
        varying = r.groupby("dgm")[col].nunique()
        if (varying > 1).any():
            raise ValueError(f"efficiency_table: {col} differs between shards of {varying[varying > 1].index.tolist()}")
    g = r.groupby("dgm", sort=True)
    t = g.agg(
        params_b=("params_b", "first"),
        max_model_len=("max_model_len", "first"),
        gpus=("gpus", "first"),
        n_shards=("dgm", "size"),
        n_conversations=("n_conversations", "sum"),
        input_tokens=("input_tokens", "sum"),
        output_tokens=("output_tokens", "sum"),
        wall_seconds=("wall_seconds", "sum"),
        tok_s_shard_mean=("_tok_s", "mean"),
    )
    t["tok_s"] = (t["input_tokens"] + t["output_tokens"]) / t["wall_seconds"]
    t["input_tok_s"] = t["input_tokens"] / t["wall_seconds"]
    t["output_tok_s"] = t["output_tokens"] / t["wall_seconds"]
    # CPU runs record gpus = 0: per-GPU throughput is undefined there, not infinite
    t["tok_s_per_gpu"] = t["tok_s"] / t["gpus"].where(t["gpus"] > 0)
    t["sec_per_1k_conv"] = 1000.0 * t["wall_seconds"] / t["n_conversations"]
    t["io_ratio"] = t["input_tok_s"] / t["output_tok_s"]
    t["context_x_params"] = t["max_model_len"] * t["params_b"]
    return t.reset_index()


def _ranks(x: np.ndarray) -> np.ndarray:
    """Average ranks (ties share the mean rank), as Spearman's rho needs."""
    return pd.Series(x).rank(method="average").to_numpy()


def pearson(x: Sequence[float], y: Sequence[float]) -> float:
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.size != y.size or x.size < 2:
        raise ValueError("pearson needs two equal-length sequences of >= 2 values")
    if x.std() == 0 or y.std() == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    return pearson(_ranks(np.asarray(x, float)), _ranks(np.asarray(y, float)))


def kendall(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's tau-b (tie-corrected, as scipy.stats.kendalltau's default)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.size != y.size or x.size < 2:
        raise ValueError("kendall needs two equal-length sequences of >= 2 values")
    conc = disc = tx = ty = 0
    for i in range(x.size):
        for j in range(i + 1, x.size):
            dx, dy = np.sign(x[i] - x[j]), np.sign(y[i] - y[j])
            if dx == 0 and dy == 0:
                continue
            if dx == 0:
                tx += 1
            elif dy == 0:
                ty += 1
            elif dx == dy:
                conc += 1
            else:
                disc += 1
    denom = math.sqrt((conc + disc + tx) * (conc + disc + ty))
    return float((conc - disc) / denom) if denom else float("nan")


def efficiency_correlations(table: pd.DataFrame, proxy: str = "context_x_params") -> pd.DataFrame:
    """Pearson and Spearman of Time (s / 1k conversations) and Tok/s against the efficiency proxy.

    The paper reports 0.90 / 0.73 for Time and −0.41 / −0.80 for Tok/s, read as Pearson / Spearman.
    """
    out = []
    for label, col in (("time", "sec_per_1k_conv"), ("tok_s", "tok_s")):
        out.append(
            {
                "metric": label,
                "against": proxy,
                "pearson": pearson(table[proxy], table[col]),
                "spearman": spearman(table[proxy], table[col]),
                "n": len(table),
            }
        )
    return pd.DataFrame(out)


# --------------------------------------------------------------------------------------------------------------
# 7. Scaling, blends, DGM choice, SDQ rank correlation (paper §5)
# --------------------------------------------------------------------------------------------------------------


def _need(df: pd.DataFrame, cols: Iterable[str], who: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise KeyError(f"{who}: missing columns {missing}; have {list(df.columns)}")


def dgm_choice_table(
    scores: pd.DataFrame, size: int | None = None, metrics: Sequence[str] = ("avg7", "mtbench", "alpaca_lc")
) -> pd.DataFrame:
    """One row per DGM (at one training-set size), sorted best-first by the first metric, with its rank.

    `scores` is long: one row per trained model with columns model, dgm, size and metric columns.
    """
    _need(scores, ["model", "dgm", "size", metrics[0]], "dgm_choice_table")
    s = scores if size is None else scores[scores["size"] == size]
    if s["dgm"].duplicated().any():
        raise ValueError(f"dgm_choice_table: several models per DGM at size {size}: pass a size")
    cols = ["dgm", "model", "size"] + [m for m in metrics if m in s.columns]
    t = s[cols].sort_values(metrics[0], ascending=False, kind="stable").reset_index(drop=True)
    t["rank"] = t[metrics[0]].rank(ascending=False, method="min").astype(int)
    return t


def scaling_table(scores: pd.DataFrame, metric: str = "avg7") -> pd.DataFrame:
    """DGM × size pivot of `metric`, plus the change from the smallest to the largest size."""
    _need(scores, ["dgm", "size", metric], "scaling_table")
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
    _need(scores, ["dgm", "size", metric], "blend_table")
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


def rank_correlation(x: Mapping[str, float] | Sequence[float], y: Mapping[str, float] | Sequence[float]) -> dict:
    """Spearman's rho and Kendall's tau-b; mappings are aligned on their common keys."""
    if isinstance(x, Mapping) and isinstance(y, Mapping):
        keys = sorted(k for k in x if k in y and not _is_missing(x[k]) and not _is_missing(y[k]))
        xs, ys = [float(x[k]) for k in keys], [float(y[k]) for k in keys]
    else:
        xs, ys = [float(v) for v in x], [float(v) for v in y]  # type: ignore[union-attr]
    return {"spearman": spearman(xs, ys), "kendall": kendall(xs, ys), "n": len(xs)}


def sdq_correlation_table(intrinsic: pd.DataFrame, extrinsic: Mapping[str, float]) -> pd.DataFrame:
    """Rank correlation of each intrinsic per-DGM measure (columns of `intrinsic`, indexed by `dgm`)
    with extrinsic SDQ (e.g. the student's Avg-7 per DGM)."""
    _need(intrinsic, ["dgm"], "sdq_correlation_table")
    rows = []
    for col in intrinsic.columns:
        if col == "dgm" or not pd.api.types.is_numeric_dtype(intrinsic[col]):
            continue
        rc = rank_correlation(dict(zip(intrinsic["dgm"], intrinsic[col])), extrinsic)
        rows.append({"intrinsic": col, **rc})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------------------------
# 8. The paper's numbers as data
# --------------------------------------------------------------------------------------------------------------

REFERENCE_COLUMNS = ("table", "model", "metric", "value", "note")
DEFAULT_REFERENCE = Path(__file__).resolve().parent.parent / "data" / "paper" / "reference.csv"


def load_reference(path: str | os.PathLike = DEFAULT_REFERENCE) -> pd.DataFrame:
    ref = pd.read_csv(path, dtype={"table": str, "model": str, "metric": str, "note": str}, keep_default_na=False)
    _need(ref, REFERENCE_COLUMNS, "load_reference")
    ref["value"] = pd.to_numeric(ref["value"], errors="raise")
    if ref.duplicated(["table", "model", "metric"]).any():
        raise ValueError("reference: duplicate (table, model, metric) rows")
    return ref


def compare_to_reference(
    ours: pd.DataFrame, reference: pd.DataFrame, model_map: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """Paper value next to ours for every reference row (ours NaN where we have no number yet).

    `ours` has columns table, model, metric, value; `model_map` renames our model names to the reference's.
    `diff` = ours − paper.
    """
    _need(ours, ["table", "model", "metric", "value"], "compare_to_reference")
    o = ours[["table", "model", "metric", "value"]].copy()
    if model_map:
        o["model"] = o["model"].map(lambda m: model_map.get(m, m))
    o = o.rename(columns={"value": "ours"})
    r = reference.rename(columns={"value": "paper"})
    m = r.merge(o, on=["table", "model", "metric"], how="left")
    m["diff"] = m["ours"] - m["paper"]
    return m[["table", "model", "metric", "paper", "ours", "diff", "note"]]


# --------------------------------------------------------------------------------------------------------------
# Thin I/O wrappers (the only functions here that touch files)
# --------------------------------------------------------------------------------------------------------------


def _write_csv(df: pd.DataFrame, path: str | os.PathLike) -> None:
    from rewild.io import atomic_path

    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)


def _eval_rows(eval_json: Mapping[str, Any], task_map: Mapping[str, str]) -> list[tuple[str, str, float, list]]:
    """(model, benchmark, score, samples) rows of one eval JSON; IFEval yields both of its reported metrics."""
    task = eval_json["task"]
    bench = task_map.get(task, task)
    rows = [(eval_json["model"], bench, float(eval_json["score"]), list(eval_json.get("samples") or []))]
    metrics = eval_json.get("metrics") or {}
    if bench in ("ifeval", "ifeval_ps") and "inst_level_loose_acc,none" in metrics:
        rows[0] = (eval_json["model"], "ifeval_ps", rows[0][2], rows[0][3])
        rows.append((eval_json["model"], "ifeval_il", float(metrics["inst_level_loose_acc,none"]), []))
    return rows


def run_scores(
    eval_jsons: Sequence[str | os.PathLike],
    out_csv: str | os.PathLike,
    out_png: str | os.PathLike | None = None,
    task_map: Mapping[str, str] | None = None,
    metric: str = "avg7",
) -> pd.DataFrame:
    """Wide score table (model × benchmark + aggregates + 95% CI of `metric` where samples allow)."""
    task_map = dict(task_map or {})
    scores: dict[str, dict[str, float]] = {}
    samples: dict[str, dict[str, list]] = {}
    for p in eval_jsons:
        for model, bench, score, smp in _eval_rows(json.loads(Path(p).read_text()), task_map):
            scores.setdefault(model, {})[bench] = score
            samples.setdefault(model, {})[bench] = smp
    wide = pd.DataFrame.from_dict(scores, orient="index")
    wide.index.name = "model"
    table = aggregate_table(wide.reset_index())
    # The CI's half-width comes from the samples but is centred on the reported aggregate: for some tasks
    # (AlpacaEval LC, judge scores) the reported score is not the plain mean of the stored samples.
    lo, hi = [], []
    for model, point in zip(table["model"], table[metric]):
        try:
            _, a, b = aggregate_ci(samples[model], metric)
            half = (b - a) / 2
        except MissingBenchmarkError:
            half = float("nan")
        lo.append(point - half)
        hi.append(point + half)
    table[f"{metric}_lo"], table[f"{metric}_hi"] = lo, hi
    _write_csv(table, out_csv)
    if out_png is not None:
        from rewild import plots

        plots.bar_scores(table, out_png, metric=metric)
    return table


def _read_generations(path: str | os.PathLike) -> pd.DataFrame:
    return pd.read_parquet(path)


def run_similarity(
    generations: Mapping[str, str | os.PathLike],
    out_csv: str | os.PathLike,
    out_unaligned_csv: str | os.PathLike,
    out_png: str | os.PathLike | None = None,
    k: int = 5,
    seed: int = 0,
    english_only: bool = True,
    averaging: Literal["mean", "ema"] = "mean",
    n_conversations: int | None = 500,
) -> pd.DataFrame:
    frames = {d: _read_generations(p) for d, p in generations.items()}
    aligned, unaligned = align_responses(frames)
    table = similarity_table(
        aligned, k=k, seed=seed, english_only=english_only, averaging=averaging, n_conversations=n_conversations
    )
    _write_csv(table, out_csv)
    _write_csv(unaligned, out_unaligned_csv)
    if out_png is not None:
        from rewild import plots

        plots.similarity_heatmap_or_bars(table, out_png, metric="rouge1")
    return table


def _answer_texts(path: str | os.PathLike) -> list[str]:
    """Responses of one model: FastChat MT-Bench answer JSONL (choices[0].turns) or a JSON list of strings."""
    p = Path(path)
    if p.suffix == ".jsonl":
        texts = []
        for line in p.read_text().splitlines():
            if line.strip():
                rec = json.loads(line)
                texts.extend(rec["choices"][0]["turns"] if "choices" in rec else [rec["text"]])
        return texts
    data = json.loads(p.read_text())
    if not isinstance(data, list):
        raise ValueError(f"{p}: expected a list of response strings")
    return [str(t) for t in data]


def run_style(
    answers: Mapping[str, str | os.PathLike],
    pairs: Sequence[tuple[str, str]],
    out_counts_csv: str | os.PathLike,
    out_mpf_csv: str | os.PathLike,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    counts = {name: markdown_tag_counts(_answer_texts(p)) for name, p in answers.items()}
    ct = pd.DataFrame.from_dict(counts, orient="index")
    ct.index.name = "model"
    ct = ct.reset_index()
    mt = pd.DataFrame([{"a": a, "b": b, "mpf": mpf(counts[a], counts[b])} for a, b in pairs])
    _write_csv(ct, out_counts_csv)
    _write_csv(mt, out_mpf_csv)
    return ct, mt


def _first(d: Mapping[str, Any], *names: str, where: str) -> Any:
    for n in names:
        if n in d and d[n] is not None:
            return d[n]
    raise KeyError(f"{where}: none of {names} present (have {sorted(d)})")


def efficiency_row(record: Mapping[str, Any], dgm: str, params_b: float) -> dict[str, Any]:
    """Flatten one efficiency JSON (results/efficiency/{dgm}/{shard}.json) into an `efficiency_table` row."""
    engine = record.get("engine") or record.get("engine_settings") or {}
    flat = {**engine, **record}
    return {
        "dgm": dgm,
        "shard": record.get("shard"),
        "params_b": float(flat.get("params_b", params_b)),
        "max_model_len": int(_first(flat, "max_model_len", where=dgm)),
        "n_conversations": int(_first(flat, "n_conversations", "conversations", where=dgm)),
        "input_tokens": int(_first(flat, "input_tokens", "prompt_tokens", where=dgm)),
        "output_tokens": int(_first(flat, "output_tokens", "generated_tokens", where=dgm)),
        "wall_seconds": float(_first(flat, "wall_seconds", "seconds", where=dgm)),
        "gpus": int(_first(flat, "gpus", "tensor_parallel_size", "world_size", where=dgm)),
    }


def run_efficiency(
    shard_jsons: Mapping[str, Sequence[str | os.PathLike]],
    params_b: Mapping[str, float],
    out_csv: str | os.PathLike,
    out_corr_csv: str | os.PathLike,
    out_png: str | os.PathLike | None = None,
) -> pd.DataFrame:
    rows = [
        efficiency_row(json.loads(Path(p).read_text()), dgm, params_b[dgm])
        for dgm, paths in shard_jsons.items()
        for p in paths
    ]
    table = efficiency_table(pd.DataFrame(rows))
    _write_csv(table, out_csv)
    corr = efficiency_correlations(table) if len(table) >= 2 else pd.DataFrame()
    _write_csv(corr, out_corr_csv)
    if out_png is not None:
        from rewild import plots

        plots.efficiency_scatter(table, out_png)
    return table


def run_compare(
    ours_csv: str | os.PathLike,
    out_csv: str | os.PathLike,
    reference_csv: str | os.PathLike = DEFAULT_REFERENCE,
    model_map: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    cmp = compare_to_reference(pd.read_csv(ours_csv), load_reference(reference_csv), model_map)
    _write_csv(cmp, out_csv)
    return cmp


# --------------------------------------------------------------------------------------------------------------
# The paper's study tables from one run's scores (DGM choice, scaling, blends, inheritance of strengths)
# --------------------------------------------------------------------------------------------------------------


def study_metric(scores: pd.DataFrame, preferred: str | None = None) -> str:
    """The score the study tables rank by: the configured one, else Avg-7 when present, else the first task."""
    if preferred:
        _need(scores, [preferred], "study_metric")
        return preferred
    if "avg7" in scores.columns and scores["avg7"].notna().any():
        return "avg7"
    tasks = [c for c in scores.columns if c not in ("model", "dgm") and not c.endswith("_stderr")]
    if not tasks:
        raise ValueError("study_metric: the scores table has no score column")
    return tasks[0]


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
    metric: str | None = None,
    reference_prefix: str = "dgm-",
) -> dict[str, pd.DataFrame]:
    """Write dgm_choice.csv, scaling.csv, blends.csv, inheritance.csv (+ plots) for whatever the run trained.

    A table whose ingredients the run lacks is written with a `note` row saying what is missing, never dropped.
    """
    from rewild import plots

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
    refs = {m[len(reference_prefix):]: m for m in scores["model"] if str(m).startswith(reference_prefix)}
    if len(refs) >= 2 and len(students):
        label = students["size_label"].value_counts().idxmax()
        st = students[students["size_label"] == label].set_index("dgm")
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
    for name, df in out.items():
        _write_csv(df, out_dir / f"{name}.csv")
    for name in ("dgm_choice", "scaling"):
        if not (plot_dir / f"{name}.png").exists():
            plots.message_figure(plot_dir / f"{name}.png", f"{name.replace('_', ' ')}: {out[name]['note'].iloc[0]}")
    return out
