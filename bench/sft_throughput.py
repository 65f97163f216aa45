"""SFT throughput: rewild.sft.run vs a minimal plain-TRL script, same data, model and trainer settings.

Each run is a fresh subprocess (same interpreter, same thread settings); runs alternate (ABBA order) and repeat, and the median
training throughput (input tokens / second of `trainer.train()`) of each side is compared. rewild's run adds
dataset loading from parquet, resume bookkeeping, progress logging, held-out eval and the final save around the same
`SFTTrainer.train()`; the training-window rate should match, the wall time is reported too.

    .venv/bin/python bench/sft_throughput.py [--model .cache/tiny-random-hf] [--conversations 64] [--repeats 6]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PLAIN_TRL = r"""
import json, sys, time
import datasets, pyarrow.parquet as pq
from transformers import AutoTokenizer
from trl import SFTConfig, SFTTrainer
a = json.loads(sys.argv[1])
tok = AutoTokenizer.from_pretrained(a["model"])
tok.chat_template = open(a["template"]).read()
ds = datasets.Dataset(pq.read_table(a["train"], columns=["messages"]))
cfg = SFTConfig(output_dir=a["out"], use_cpu=True, bf16=False, gradient_checkpointing=False,
    per_device_train_batch_size=a["micro"], gradient_accumulation_steps=a["accum"], max_length=a["max_length"],
    packing=True, assistant_only_loss=True, learning_rate=2e-5, lr_scheduler_type="cosine", warmup_steps=1,
    weight_decay=0.0, num_train_epochs=1, seed=42, logging_steps=a["logging_steps"], save_strategy="no",
    report_to="none", disable_tqdm=True, include_num_input_tokens_seen="all", model_init_kwargs={"dtype": "float32"})
trainer = SFTTrainer(model=a["model"], args=cfg, train_dataset=ds, processing_class=tok)
t, c = time.perf_counter(), time.process_time(); trainer.train()
dt, dc = time.perf_counter() - t, time.process_time() - c
print("RESULT " + json.dumps({"tokens": trainer.state.num_input_tokens_seen, "train_s": dt, "cpu_s": dc,
                              "steps": trainer.state.global_step}))
"""


def make_mix(path: Path, n: int, seed: int = 0) -> None:
    import random

    import pandas as pd

    rng = random.Random(seed)
    text = "the of and to in is that for it as with was on be by at this from or an are which have not but"
    words = text.split()
    rows = []
    for i in range(n):
        msgs = []
        for _ in range(rng.choice([1, 1, 2, 3])):
            msgs.append({"role": "user", "content": " ".join(rng.choices(words, k=rng.randint(8, 40))) + "?"})
            msgs.append({"role": "assistant", "content": " ".join(rng.choices(words, k=rng.randint(20, 160))) + "."})
        rows.append({"id": str(i), "source": "bench", "messages": msgs})
    pd.DataFrame(rows).to_parquet(path)


def run_plain(a: dict) -> dict:
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", PLAIN_TRL, json.dumps(a)], capture_output=True, text=True)
    wall = time.perf_counter() - t
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    res = json.loads(next(line for line in out.stdout.splitlines() if line.startswith("RESULT "))[7:])
    return {**res, "tok_s": res["tokens"] / res["train_s"], "tok_cpu_s": res["tokens"] / res["cpu_s"], "wall_s": wall}


def paper_sft_settings() -> dict:
    import yaml

    from rewild import config as rc

    return rc.validate(yaml.safe_load((REPO / "config.yaml").read_text()))["sft"]


def run_rewild(a: dict, work: Path, tag: str) -> dict:
    from rewild.io import write_json

    d = work / tag
    sft = paper_sft_settings()  # the validated paper preset: every default from the schema
    sft.update(global_batch=a["micro"] * a["accum"], micro_batch=a["micro"], gpus=0)
    sft["trl"].update(max_length=a["max_length"], warmup_steps=1, logging_steps=a["logging_steps"], save_steps=10**9)
    kw = dict(
        train_path=a["train"],
        heldout_path=None,
        student_path_or_id=a["model"],
        student={"hf_id": "bench", "revision": None, "chat_template": "chatml", "pad_token": None, "eos_token": None},
        sft=sft,
        out_dir=str(d / "model"),
        metrics_path=str(d / "metrics.json"),
        checkpoint_dir=str(d / "ckpt"),
        config_hash="bench",
    )
    write_json(d / "args.json", {"run": kw, "log_path": str(d / "sft.log"), "log_level": "INFO"})
    t = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "rewild.sft", "--args-file", str(d / "args.json")],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    wall = time.perf_counter() - t
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    m = json.loads((d / "metrics.json").read_text())
    return {
        "tokens": m["tokens_seen"],
        "train_s": m["train_time_s"],
        "cpu_s": m["train_cpu_s"],
        "steps": m["optimizer_steps"],
        "tok_s": m["tokens_per_s"],
        "tok_cpu_s": m["tokens_seen"] / m["train_cpu_s"],
        "wall_s": wall,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(REPO / ".cache" / "tiny-random-hf"))
    ap.add_argument("--conversations", type=int, default=64)
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--micro", type=int, default=2)
    ap.add_argument("--accum", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=6)
    ns = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="rewild-bench-") as tmp:
        work = Path(tmp)
        make_mix(work / "train.parquet", ns.conversations)
        a = {
            "model": ns.model,
            "train": str(work / "train.parquet"),
            "template": str(REPO / "rewild/templates/chatml.jinja"),
            "micro": ns.micro,
            "accum": ns.accum,
            "max_length": ns.max_length,
            "logging_steps": 5,
            "out": str(work / "plain-out"),
        }
        res = {"plain_trl": [], "rewild": []}
        for r in range(ns.repeats):
            # alternate which side goes first (ABBA), so drifting load and warm caches hit both sides alike
            first, second = ("plain_trl", "rewild") if r % 2 == 0 else ("rewild", "plain_trl")
            for side in (first, second):
                res[side].append(run_plain(a) if side == "plain_trl" else run_rewild(a, work, f"rewild{r}"))
            print(f"repeat {r}: plain {res['plain_trl'][-1]}  rewild {res['rewild'][-1]}", flush=True)
    for side in ("plain_trl", "rewild"):
        assert len({x["tokens"] for x in res[side]}) == 1, f"{side}: token counts differ between repeats"
    assert res["plain_trl"][0]["tokens"] == res["rewild"][0]["tokens"], "the two sides trained on different tokens"

    # Other jobs may share the machine: compare each rewild run with the plain run right before it, and also per
    # CPU-second of the training process (all its threads), which contention distorts much less than wall time.
    def ratios(field: str) -> list[float]:
        return [r[field] / p[field] for p, r in zip(res["plain_trl"], res["rewild"])]

    med = {s: statistics.median(x["tok_s"] for x in v) for s, v in res.items()}
    med_cpu = {s: statistics.median(x["tok_cpu_s"] for x in v) for s, v in res.items()}
    wall = {s: statistics.median(x["wall_s"] for x in v) for s, v in res.items()}
    print(f"model {ns.model}: {res['rewild'][0]['steps']} steps, {res['rewild'][0]['tokens']} tokens per run")
    for side, label in (("plain_trl", "plain TRL"), ("rewild", "rewild   ")):
        print(
            f"{label}: {med[side]:8.1f} tok/s (train wall)  {med_cpu[side]:8.1f} tok/CPU-s  "
            f"process wall {wall[side]:6.1f} s"
        )
    r_wall, r_cpu = ratios("tok_s"), ratios("tok_cpu_s")
    print(
        f"ratio rewild / plain TRL, tokens/s: {statistics.median(r_wall):.3f} (pairs {[round(x, 3) for x in r_wall]})"
    )
    print(
        f"ratio rewild / plain TRL, tokens/CPU-s: {statistics.median(r_cpu):.3f} "
        f"(pairs {[round(x, 3) for x in r_cpu]})"
    )


if __name__ == "__main__":
    main()
