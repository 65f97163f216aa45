"""Response similarity between DGMs (WildChat-50M §6, Table 5): each DGM's first assistant turn against those of
k seeded other DGMs on the same conversations, by ROUGE-1, ROUGE-L and METEOR."""

from __future__ import annotations

import math
import os
import shutil
import sys
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from . import plots
from .io import write_csv
from .stats import is_missing

KEY: tuple[str, str] = ("conversation_hash", "row_id")


def _first_assistant(conv: Any) -> tuple[str | None, str | None]:
    """(content, language) of the first assistant turn of a conversation (list / array of turn dicts)."""
    if conv is None or (isinstance(conv, float) and math.isnan(conv)):
        return None, None
    for turn in conv:
        if turn is not None and turn.get("role") == "assistant":
            content = turn.get("content")
            return (None if is_missing(content) else str(content)), turn.get("language")
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


class WordNetMissingError(RuntimeError):
    """nltk's WordNet corpus is not installed: METEOR would lose its synonym matches (the paper's METEOR has them)."""


# Where the prefetch step puts WordNet: inside the virtual environment, which nltk searches (sys.prefix/nltk_data).
def wordnet_home() -> Path:
    return Path(sys.prefix) / "nltk_data" / "corpora" / "wordnet"


# Debian's `wordnet-base` (WordNet 3.0, the release nltk's `wordnet` corpus packages) installs its database here.
DEBIAN_WORDNET = Path("/usr/share/wordnet")
# (index.sense comes in Debian's `wordnet-sense-index`; nltk's reader maps sense keys with it when loading.)
_WORDNET_FILES = (
    tuple(f"{k}.{pos}" for k in ("data", "index") for pos in ("adj", "adv", "noun", "verb"))
    + tuple(f"{pos}.exc" for pos in ("adj", "adv", "noun", "verb"))
    + ("index.sense",)
)
# WordNet 3.0's lexicographer file list (lexnames(5WN)); Debian's wordnet-base leaves this file out, nltk needs it.
LEXNAMES = (
    "adj.all", "adj.pert", "adv.all", "noun.Tops", "noun.act", "noun.animal", "noun.artifact", "noun.attribute",
    "noun.body", "noun.cognition", "noun.communication", "noun.event", "noun.feeling", "noun.food", "noun.group",
    "noun.location", "noun.motive", "noun.object", "noun.person", "noun.phenomenon", "noun.plant", "noun.possession",
    "noun.process", "noun.quantity", "noun.relation", "noun.shape", "noun.state", "noun.substance", "noun.time",
    "verb.body", "verb.change", "verb.cognition", "verb.communication", "verb.competition", "verb.consumption",
    "verb.contact", "verb.creation", "verb.emotion", "verb.motion", "verb.perception", "verb.possession",
    "verb.social", "verb.stative", "verb.weather", "adj.ppl",
)
_POS_NUMBER = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}

WORDNET_HOW_TO = (
    "METEOR needs nltk's WordNet corpus (the paper's METEOR matches synonyms). Run the prefetch step "
    "(`snakemake prefetch`), or install it by hand: `python -m nltk.downloader -d <venv>/nltk_data wordnet` "
    "where the network reaches nltk's data server, or `apt-get install wordnet-base wordnet-sense-index` and then "
    "`python -c 'from rewild.similarity import install_wordnet; install_wordnet()'` (copies Debian's WordNet 3.0 "
    "into <venv>/nltk_data/corpora/wordnet)."
)


def install_wordnet(dest: Path | None = None, source: Path = DEBIAN_WORDNET) -> Path:
    """Lay out WordNet 3.0 from Debian's `wordnet-base` files as nltk's `corpora/wordnet` folder (+ `lexnames`).

    nltk 3.9+ reads corpora only from its data path, so the files are copied there rather than pointed at."""
    dest = wordnet_home() if dest is None else Path(dest)
    missing = [f for f in _WORDNET_FILES if not (source / f).is_file()]
    if missing:
        raise WordNetMissingError(f"no WordNet database in {source} (missing {missing}). " + WORDNET_HOW_TO)
    dest.mkdir(parents=True, exist_ok=True)
    for f in _WORDNET_FILES:
        shutil.copyfile(source / f, dest / f)
    lines = [f"{i:02d}\t{name}\t{_POS_NUMBER[name.split('.')[0]]}" for i, name in enumerate(LEXNAMES)]
    (dest / "lexnames").write_text("\n".join(lines) + "\n")
    return dest


def ensure_wordnet(download: bool) -> Path:
    """Make WordNet available to nltk: already installed (nltk.download or an earlier call), else from Debian's
    `wordnet-base`, else (`download`: the prefetch step, where the network is) nltk's downloader into the venv;
    else WordNetMissingError saying how to get it. Returns the corpus folder."""
    import nltk

    try:
        return Path(str(nltk.data.find("corpora/wordnet")))
    except LookupError:
        pass
    if all((DEBIAN_WORDNET / f).is_file() for f in _WORDNET_FILES):
        return install_wordnet()
    if download and nltk.download("wordnet", download_dir=str(wordnet_home().parents[1]), quiet=True):
        return Path(str(nltk.data.find("corpora/wordnet")))
    raise WordNetMissingError(WORDNET_HOW_TO)


_WORDNET: Any = None
_ROUGE: Any = None


def wordnet() -> Any:
    """nltk's WordNet reader, loaded once; WordNetMissingError (with how to get it) when it is not installed.

    A machine with Debian's WordNet packages but no nltk copy (CI, a compute node) gets the local copy made here:
    no network, the same WordNet 3.0 data."""
    global _WORDNET
    if _WORDNET is None:
        ensure_wordnet(download=False)
        from nltk.corpus import wordnet as wn

        wn.ensure_loaded()
        _WORDNET = wn
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
    METEOR matches exact words, Porter stems and WordNet synonyms, as nltk's meteor_score does by default
    (`meteor_synonyms` is always True now: a missing WordNet raises WordNetMissingError instead).
    """
    from nltk.translate.meteor_score import meteor_score

    if not refs:
        raise ValueError("similarity_scores needs at least one reference")
    wn = wordnet()
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
    out["meteor_synonyms"] = True
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
    *,
    averaging: Literal["mean", "ema"],
    english_only: bool = True,
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



def run_similarity(
    generations: Mapping[str, str | os.PathLike],
    out_csv: str | os.PathLike,
    out_unaligned_csv: str | os.PathLike,
    out_png: str | os.PathLike,
    *,
    k: int,
    seed: int,
    averaging: Literal["mean", "ema"],
    n_conversations: int,
) -> pd.DataFrame:
    """The similarity table of the DGMs' merged generations (name → parquet), the conversations that could not
    be aligned, and the figure. The paper compared English conversations only."""
    frames = {d: pd.read_parquet(p) for d, p in generations.items()}
    aligned, unaligned = align_responses(frames)
    table = similarity_table(
        aligned, k=k, seed=seed, english_only=True, averaging=averaging, n_conversations=n_conversations
    )
    write_csv(table, out_csv)
    write_csv(unaligned, out_unaligned_csv)
    plots.similarity_heatmap_or_bars(table, out_png, metric="rouge1")
    return table
