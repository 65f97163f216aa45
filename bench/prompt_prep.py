"""Benchmark: prompt preparation (validation + per-message truncation + templating + whole-prompt cut) over
synthetic WildChat-shaped conversations, streamed from a generated parquet in chunks, as `rewild.generate.run`
does before every engine call. No engine. Also times the prompts stage's row validation (`rewild.prompts`:
reading the parquet and sorting rows into kept/rejects), optionally against that module at an older commit.

    .venv/bin/python bench/prompt_prep.py                      # 100,000 conversations, SmolLM2 tokenizer, L=2048
    .venv/bin/python bench/prompt_prep.py --n 5000 --reencode clean
    .venv/bin/python bench/prompt_prep.py --n 20000 --baseline-rev a5ab40a   # prompts stage: now vs then

Prints conversations/s, requests/s, prompt tokens/s, the prompts stage's rows/s and peak RSS. The parquet is
written once to --workdir and reused (delete it to regenerate).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rewild import generate as G  # noqa: E402
from rewild import io as rio  # noqa: E402
from rewild import prompts  # noqa: E402

LANGS = ["English"] * 12 + ["Chinese", "Russian", "Spanish", "French", "German", "Portuguese"]


def _vocab(rng: random.Random) -> list[str]:
    """Words of the committed demo conversations (real words: about WildChat's tokens per word)."""
    words: set[str] = set()
    for line in (ROOT / "data" / "demo" / "wildchat_demo.jsonl").read_text().splitlines():
        for turn in json.loads(line)["conversation"]:
            words.update(turn["content"].split())
    return sorted(words) + ["\n", "\n\n", "```", "-", "1."]


def _text(rng: random.Random, vocab: list[str], mean_words: float, sigma: float = 1.0, cap: int = 6000) -> str:
    n = min(cap, max(1, int(rng.lognormvariate(math.log(mean_words), sigma))))
    return " ".join(rng.choice(vocab) for _ in range(n))


def synth_rows(n: int, seed: int = 0, first_row_id: int = 0):
    """WildChat-1M-shaped rows (prompt-shard layout: JSON text for moderation and headers)."""
    rng = random.Random(seed)
    vocab = _vocab(rng)
    header = json.dumps({"accept-language": "en-US,en;q=0.9", "user-agent": "Mozilla/5.0"})
    for i in range(n):
        turns = rng.choices([1, 2, 3, 4, 6], weights=[67, 20, 8, 3, 2])[0]
        lang = rng.choice(LANGS)
        conv = []
        for _ in range(turns):
            tid = rng.randrange(10**6)
            conv.append(
                {
                    "content": _text(rng, vocab, 40, 1.3),
                    "role": "user",
                    "language": lang,
                    "redacted": False,
                    "toxic": False,
                    "turn_identifier": tid,
                    "country": "United States",
                    "state": None,
                    "hashed_ip": f"{rng.getrandbits(64):016x}",
                    "header": header,
                    "timestamp": None,
                }
            )
            conv.append(
                {
                    "content": _text(rng, vocab, 180, 0.8),
                    "role": "assistant",
                    "language": lang,
                    "redacted": False,
                    "toxic": False,
                    "turn_identifier": tid,
                    "country": None,
                    "state": None,
                    "hashed_ip": None,
                    "header": None,
                    "timestamp": "2023-05-01T00:00:00+00:00",
                }
            )
        yield {
            "conversation_hash": f"{rng.getrandbits(128):032x}",
            "model": "gpt-3.5-turbo-0613",
            "timestamp": "2023-05-01T00:00:00+00:00",
            "conversation": conv,
            "turn": turns,
            "language": lang,
            "openai_moderation": json.dumps([{"flagged": False}] * 2 * turns),
            "detoxify_moderation": json.dumps([{"toxicity": 0.001}] * 2 * turns),
            "toxic": False,
            "redacted": False,
            "state": None,
            "country": "United States",
            "hashed_ip": f"{rng.getrandbits(64):016x}",
            "header": header,
            "row_id": first_row_id + i,
        }


# the prompt-shard schema the pipeline writes (rewild.prompts)

SCHEMA = prompts.SOURCE_SCHEMA


def generation_section(reencode: str, history: str) -> dict:
    """The shipped config's `generation` section as validation fills it, with these two settings."""
    import yaml

    from rewild.config import validate

    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    cfg["generation"] = {**cfg["generation"], "reencode": reencode, "history": history}
    return validate(cfg)["generation"]


def write_synthetic(path: Path, n: int, seed: int = 0, batch: int = 5000) -> None:
    rows: list[dict] = []
    with rio.atomic_path(path) as tmp, pq.ParquetWriter(tmp, SCHEMA) as writer:
        for row in synth_rows(n, seed):
            rows.append(row)
            if len(rows) == batch:
                writer.write_table(pa.Table.from_pylist(rows, schema=SCHEMA))
                rows = []
        if rows:
            writer.write_table(pa.Table.from_pylist(rows, schema=SCHEMA))


def prompts_module_at(rev: str):
    """rewild/prompts.py as it was at git commit `rev`, loaded inside the package (its relative imports work)."""
    source = subprocess.run(["git", "show", f"{rev}:rewild/prompts.py"], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout
    spec = importlib.util.spec_from_loader(f"rewild.prompts_at_{rev}", loader=None)
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "rewild"
    exec(compile(source, f"rewild/prompts.py@{rev}", "exec"), module.__dict__)
    return module


def time_prompts_stage(module, data: Path, n: int, repeats: int = 3) -> dict:
    """Best of `repeats`: read every row of the parquet and sort it into kept / skipped / rejected."""
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        _, _, stats = module.split_rows(module.read_local_parquet(data, range(n)))
        best = min(best, time.perf_counter() - t)
    return {"rows_per_s": round(n / best, 1), "seconds": round(best, 2), "kept": stats["kept"]}


def self_peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--tokenizer", default=str(ROOT / ".cache" / "smollm2-hf"))
    ap.add_argument("--max-model-len", type=int, default=2048)
    ap.add_argument("--reencode", choices=["paper", "clean"], default="paper")
    ap.add_argument("--history", choices=["gpt"], default="gpt")
    ap.add_argument("--chunk", type=int, default=500, help="conversations per chunk (checkpoint_every)")
    ap.add_argument("--workdir", default=str(ROOT / ".cache" / "bench"))
    ap.add_argument("--baseline-rev", help="also time the prompts stage of rewild/prompts.py at this git commit")
    ap.add_argument("--write-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--stage-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()

    from transformers import AutoTokenizer

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    data = workdir / f"synthetic-wildchat-{args.n}.parquet"
    if args.write_only:
        write_synthetic(data, args.n)
        return
    if not data.exists():  # in a child process, so its memory does not count in this process's peak RSS
        t = time.perf_counter()
        subprocess.run(
            [sys.executable, __file__, "--write-only", "--n", str(args.n), "--workdir", str(workdir)], check=True
        )
        print(f"wrote {data} ({data.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - t:.1f} s")
    if args.stage_only:
        stage = {"now": time_prompts_stage(prompts, data, args.n)}
        if args.baseline_rev:
            stage[args.baseline_rev] = time_prompts_stage(prompts_module_at(args.baseline_rev), data, args.n)
        print(json.dumps(stage))
        return
    # in a child process too: the stage holds every row at once, which would set this process's peak RSS
    child = [sys.executable, __file__, "--stage-only", "--n", str(args.n), "--workdir", str(workdir)]
    child += ["--baseline-rev", args.baseline_rev] if args.baseline_rev else []
    stage = json.loads(subprocess.run(child, check=True, capture_output=True, text=True).stdout.splitlines()[-1])
    rss0 = self_peak_rss_mb()

    tok = AutoTokenizer.from_pretrained(args.tokenizer)
    settings = generation_section(args.reencode, args.history)
    budgets = G.Budgets.from_settings(args.max_model_len, settings)

    n_conv = n_req = n_tok = n_rej = n_cut = n_pcut = 0
    t0 = time.perf_counter()
    for batch in pq.ParquetFile(data).iter_batches(batch_size=args.chunk):
        rows = batch.to_pylist()
        states = G.prepare_conversations(rows, tok, budgets, settings["reencode"])
        reqs = G.next_requests(states, tok, budgets, settings, None)
        n_conv += len(rows)
        n_req += len(reqs)
        n_tok += sum(len(r.prompt.token_ids) for r in reqs)
        n_rej += sum(1 for s in states if s.reject)
        n_cut += sum(s.messages_cut for s in states)
        n_pcut += sum(1 for r in reqs if r.prompt.prompt_cut)
    wall = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "conversations": n_conv,
                "requests": n_req,
                "prompt_tokens": n_tok,
                "rejected": n_rej,
                "messages_cut": n_cut,
                "prompts_cut": n_pcut,
                "seconds": round(wall, 2),
                "conversations_per_s": round(n_conv / wall, 1),
                "requests_per_s": round(n_req / wall, 1),
                "prompt_tokens_per_s": round(n_tok / wall),
                "peak_rss_mb": round(self_peak_rss_mb(), 1),
                "peak_rss_mb_before_prep": round(rss0, 1),
                "max_model_len": args.max_model_len,
                "reencode": args.reencode,
                "chunk": args.chunk,
                "tokenizer": args.tokenizer,
                "prompts_stage": stage,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
