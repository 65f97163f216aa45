"""Filter + mix build on N WildChat-shaped generated conversations (default 1,000,000), vs a naive pandas baseline.

    .venv/bin/python bench/filter_mix.py [--n 1000000] [--workdir DIR]

Each side runs in its own subprocess so peak RSS is measured per side. Prints seconds, peak RSS (MiB) and the
ratios. Goal (issue 4): ours <= 120 s and <= 2 GiB peak RSS on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

SENTENCE = ("the model answers every question with care and a short list of steps to follow when "
            "writing python code for data analysis in a notebook")
WORDS = SENTENCE.split()


def synth(path: Path, n: int, batch: int = 50_000) -> None:
    """Generated rows in the shape of results/generations/{dgm}.parquet (2 or 4 messages, some edge cases).

    Random words (seeded) so the text does not compress away: ~1 KB of text per conversation.
    """
    import random

    rng = random.Random(0)
    vocab = [f"{w}{k}" for w in WORDS for k in range(40)]
    writer = None
    for start in range(0, n, batch):
        rows = []
        for i in range(start, min(n, start + batch)):
            k = 1 + (i % 3 == 0)
            conv, msgs = [], []
            for _ in range(k):
                u = " ".join(rng.choices(vocab, k=rng.randint(8, 50)))
                a = "" if i % 997 == 0 else " ".join(rng.choices(vocab, k=rng.randint(30, 130)))
                if i % 1009 == 0:
                    a += "<|eot_id|>"
                fr = "length" if i % 101 == 0 else "stop"
                conv += [{"role": "user", "content": u, "finish_reason": None, "cumulative_logprob": None},
                         {"role": "assistant", "content": a, "finish_reason": fr, "cumulative_logprob": -1.5}]
                msgs += [{"role": "user", "content": u}, {"role": "assistant", "content": a}]
            rows.append({"row_id": i, "conversation_hash": f"{i:032x}", "language": "English" if i % 5 else "Chinese",
                         "conversation": conv, "messages": msgs, "dgm": "bench"})
        table = pa.Table.from_pylist(rows)
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    writer.close()


FILTERS = {"drop_empty": True, "drop_length": True, "special_tokens": "strip", "languages": None, "dedup": True,
           "decontaminate": {"enabled": False}}


def ours(work: Path) -> None:
    from rewild import filter as rfilter
    from rewild import mix

    os.chdir(work)
    rfilter.run("results/generations/bench.parquet", "results/filtered/bench.parquet", "rej.jsonl", "rep.json",
                FILTERS, "bench")
    mix.run("bench-250k", {"components": [{"dgm": "bench", "select": {"first_fraction": 0.25}}]}, {}, 0.02, 0,
            "train.parquet", "held.parquet", "manifest.json")


def baseline(work: Path) -> None:
    """What a notebook would do: read everything into pandas, filter with apply, slice, write."""
    import re

    import pandas as pd

    os.chdir(work)
    df = pd.read_parquet("results/generations/bench.parquet")
    tok = re.compile(r"<\|eot_id\|>")
    asst = df["conversation"].apply(lambda c: [t for t in c if t["role"] == "assistant"])
    keep = ~asst.apply(lambda ts: any(not t["content"].strip() for t in ts))
    keep &= ~asst.apply(lambda ts: any(t["finish_reason"] == "length" for t in ts))
    df = df[keep].copy()
    df["messages"] = df["messages"].apply(lambda ms: [{**m, "content": tok.sub("", m["content"])} for m in ms])
    key = df["messages"].apply(lambda ms: json.dumps([(m["role"], m["content"]) for m in ms]))
    df = df[~key.duplicated()]
    df.to_parquet("filtered_baseline.parquet")
    sub = df.iloc[: int(round(0.25 * len(df)))]
    held = sub.sample(frac=0.02, random_state=0)
    sub.drop(held.index)[["messages"]].to_parquet("train_baseline.parquet")
    held[["messages"]].to_parquet("held_baseline.parquet")


def measure(side: str, work: Path) -> dict:
    code = (f"import sys, time, resource; sys.path.insert(0, {str(Path(__file__).parent)!r}); import filter_mix as b; "
            f"from pathlib import Path; t=time.perf_counter(); b.{side}(Path({str(work)!r})); "
            "print(time.perf_counter()-t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    return {"seconds": float(out[-2]), "peak_rss_mib": float(out[-1])}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--skip-baseline", action="store_true")
    args = ap.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="rewild-bench-"))
    src = work / "results/generations/bench.parquet"
    src.parent.mkdir(parents=True, exist_ok=True)
    if not src.exists():
        t = time.perf_counter()
        synth(src, args.n)
        print(f"synthesised {args.n:,} conversations in {time.perf_counter() - t:.1f} s "
              f"({src.stat().st_size / 2**20:.0f} MiB parquet)")
    res = {"n": args.n, "ours": measure("ours", work)}
    if not args.skip_baseline:
        res["baseline"] = measure("baseline", work)
        res["time_ratio_ours_over_baseline"] = res["ours"]["seconds"] / res["baseline"]["seconds"]
        res["rss_ratio_ours_over_baseline"] = res["ours"]["peak_rss_mib"] / res["baseline"]["peak_rss_mib"]
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
