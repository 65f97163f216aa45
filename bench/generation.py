"""Benchmark: rewild's generation path vs a bare `LLM.chat` on the same prompts, same model, same engine, same
process.

    .venv/bin/python bench/generation.py                        # SmolLM2 (demo folder), 32 demo conversations
    .venv/bin/python bench/generation.py --model .cache/tiny-random-hf --n 64 --max-tokens 64

Variants, each timed on the warm engine (after a warm-up on the full prompt set), in rotated order per repeat,
with vLLM's prefix cache off so that every variant does the same prefill work; the best of --repeats is kept:
- rewild:      `rewild.generate.generate_chunk` = validation, paper truncation, templating, per-request seeds,
               logprobs=0 (for cumulative_logprob), one `LLM.generate` call, output-row assembly.
- chat_same:   `LLM.chat` on the messages rewild sent, with the same per-request SamplingParams (same seeds,
               logprobs=0): the same tokens are generated, so the difference is rewild's own overhead.
- chat_plain:  `LLM.chat` with one SamplingParams(max_tokens, seed) and no logprobs: what a bare script does.
- chat_seeds_only / chat_logprobs_only: `LLM.chat` with only one of rewild's two sampling differences, to
  attribute their cost.
- rewild_unseeded: rewild's path with every request's `seed` left out (the engine's global seed only): the
  ratio rewild / rewild_unseeded is what per-request seeding costs (`ratio_seeded_over_unseeded`, time per
  output token, since sampled lengths differ).
The engine is the project's own (rewild.engine.load_engine, CPU settings: no chunked prefill), with the
generation and DGM sections validated from config.yaml (schema defaults where the bench is silent).
Wall time on a shared machine is noisy: CPU seconds of the process (vLLM is single-process on CPU here) are
printed too and are the steadier comparison. Prints seconds, output tokens, tokens/s and the ratios rewild / chat_same and rewild / chat_plain (time per
output token for the latter, since sampled lengths differ).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rewild import engine as E  # noqa: E402
from rewild import generate as G  # noqa: E402
from rewild import io as rio  # noqa: E402


def validated_sections(generation: dict, dgm: dict) -> tuple[dict, dict]:
    """(generation, DGM entry) as validation fills them: config.yaml with these two replaced."""
    import yaml

    from rewild.config import validate

    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    cfg["generation"] = generation
    cfg["dgms"]["bench"] = dgm
    cfg = validate(cfg)
    return cfg["generation"], cfg["dgms"]["bench"]


def demo_rows(n: int) -> list[dict]:
    rows = [json.loads(x) for x in (ROOT / "data" / "demo" / "wildchat_demo.jsonl").read_text().splitlines() if x]
    rows = [dict(r, row_id=i) for i, r in enumerate(rows) if len(r["conversation"]) % 2 == 0]
    out = []
    while len(out) < n:  # repeat the demo rows with new row_ids (new seeds) when more are asked for
        for r in rows:
            if len(out) == n:
                break
            out.append(dict(r, row_id=len(out)))
    return out


def _measure(outs, seconds: float, cpu: float) -> dict:
    return {
        "s": seconds,
        "cpu_s": cpu,
        "out": sum(len(o.outputs[0].token_ids) for o in outs),
        "in": sum(len(o.prompt_token_ids) for o in outs),
        "requests": len(outs),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(ROOT / ".cache" / "smollm2-hf"))
    ap.add_argument("--n", type=int, default=32, help="conversations")
    ap.add_argument("--max-model-len", type=int, default=1024)
    ap.add_argument("--max-tokens", type=int, default=64, help="overrides round(0.2*L) to keep the run short")
    ap.add_argument("--cache-dir", default=str(ROOT / ".cache" / "vllm-bench"))
    ap.add_argument("--repeats", type=int, default=3, help="each variant this often, order rotated per repeat")
    ap.add_argument(
        "--prefix-caching",
        action="store_true",
        help="keep vLLM's prefix cache on (off by default: later variants would reuse earlier prefills)",
    )
    args = ap.parse_args()

    generation, dgm = validated_sections(
        {"output_fraction": args.max_tokens / args.max_model_len},
        {
            "hf_id": args.model,
            "max_model_len": args.max_model_len,
            "gpus": 0,
            "engine_overrides": {} if args.prefix_caching else {"enable_prefix_caching": False},
        },
    )
    budgets = G.Budgets.from_settings(args.max_model_len, generation)
    rows = demo_rows(args.n)

    t = time.perf_counter()
    tok = E.load_tokenizer(dgm, args.model)
    engine = E.load_engine(
        dgm,
        generation["engine"],
        seed=generation["seed"],
        batch_conversations=generation["batch_conversations"],
        cache_dir=args.cache_dir,
        what="bench",
        model_path=args.model,
    )
    llm = engine.llm
    engine_s = time.perf_counter() - t
    from vllm import SamplingParams

    # The exact messages and seeds rewild sends, in request order.
    states = G.prepare_conversations(rows, tok, budgets, generation["reencode"])
    reqs = G.next_requests(states, tok, budgets, generation, None)
    convs = [r.prompt.messages for r in reqs]
    same = [G.sampling_params(generation, budgets, r.seed) for r in reqs]
    plain = SamplingParams(max_tokens=budgets.max_tokens, seed=generation["seed"])
    seeds_only = [SamplingParams(max_tokens=budgets.max_tokens, seed=r.seed) for r in reqs]
    logprobs_only = SamplingParams(max_tokens=budgets.max_tokens, seed=generation["seed"], logprobs=0)

    # Warm-up on the full prompt set (the CPU backend pays one-off costs for new batch shapes).
    llm.chat(convs, plain, use_tqdm=False)

    texts: dict[str, list[str]] = {}

    def unseeded(requests: list) -> list:
        kw = {k: generation[k] for k in ("temperature", "top_p", "top_k")}
        params = [SamplingParams(max_tokens=budgets.max_tokens, logprobs=0, **kw) for _ in requests]  # no seed
        return engine.generate([{"prompt_token_ids": r.prompt.token_ids} for r in requests], params)

    def v_rewild(name: str = "rewild", generate_fn=None) -> dict:
        c0, t0 = time.process_time(), time.perf_counter()
        res = G.generate_chunk(
            engine,
            tok,
            rows,
            dgm_key="bench",
            dgm_id=args.model,
            budgets=budgets,
            settings=generation,
            generate_fn=generate_fn,
        )
        s, cpu = time.perf_counter() - t0, time.process_time() - c0
        by_turn = {
            (r["row_id"], j // 2): t_["content"] for r in res.rows for j, t_ in enumerate(r["conversation"]) if j % 2
        }
        texts[name] = [by_turn[(r.row_id, r.turn_index)] for r in reqs]
        return {
            "s": s,
            "cpu_s": cpu,
            "out": res.stats["output_tokens"],
            "in": res.stats["input_tokens"],
            "requests": res.stats["n_requests"],
            "engine_s": res.stats["generate_seconds"],
        }

    def v_chat(name: str, params) -> dict:
        c0, t0 = time.process_time(), time.perf_counter()
        outs = llm.chat(convs, params, use_tqdm=False)
        s, cpu = time.perf_counter() - t0, time.process_time() - c0
        if name == "chat_same":
            texts[name] = [o.outputs[0].text for o in outs]
        return _measure(outs, s, cpu)

    variants = {
        "rewild": v_rewild,
        "rewild_unseeded": lambda: v_rewild("rewild_unseeded", unseeded),
        "chat_same": lambda: v_chat("chat_same", same),
        "chat_plain": lambda: v_chat("chat_plain", plain),
        "chat_seeds_only": lambda: v_chat("chat_seeds_only", seeds_only),
        "chat_logprobs_only": lambda: v_chat("chat_logprobs_only", logprobs_only),
    }
    names = list(variants)
    results: dict[str, list[dict]] = {n: [] for n in names}
    same_text = True
    for rep in range(args.repeats):
        for name in names[rep % len(names) :] + names[: rep % len(names)]:
            results[name].append(variants[name]())
        same_text = same_text and texts["rewild"] == texts["chat_same"]

    def best(name: str) -> dict:
        r = min(results[name], key=lambda x: x["s"])
        return {
            **r,
            "s": round(r["s"], 3),
            "tok_per_s": round((r["in"] + r["out"]) / r["s"], 1),
            "out_tok_per_s": round(r["out"] / r["s"], 1),
        }

    summary = {name: best(name) for name in results}
    summary["all_seconds"] = {name: [round(r["s"], 3) for r in results[name]] for name in results}
    # CPU seconds of this process (vLLM runs single-process here): far less sensitive to other jobs on a shared
    # machine than wall time. Minimum over repeats.
    summary["cpu_seconds_min"] = {name: round(min(r["cpu_s"] for r in results[name]), 3) for name in results}
    summary["ratio_cpu_rewild_over_chat_same"] = round(
        summary["cpu_seconds_min"]["rewild"] / summary["cpu_seconds_min"]["chat_same"], 3
    )
    summary["ratio_time_rewild_over_chat_same"] = round(summary["rewild"]["s"] / summary["chat_same"]["s"], 3)
    per_tok = {k: summary[k]["s"] / max(1, summary[k]["out"]) for k in ("rewild", "rewild_unseeded", "chat_plain")}
    summary["ratio_time_per_output_token_rewild_over_chat_plain"] = round(per_tok["rewild"] / per_tok["chat_plain"], 3)
    # What per-request seeds cost: seeded vs unseeded rewild runs in this process, on the same warm engine. Per
    # output token (lengths differ once the seeds do); each repeat's pair is also given, the median is the figure.
    pairs = [
        (a["s"] / max(1, a["out"])) / (b["s"] / max(1, b["out"]))
        for a, b in zip(results["rewild"], results["rewild_unseeded"])
    ]
    summary["ratio_seeded_over_unseeded"] = {
        "best_runs_per_output_token": round(per_tok["rewild"] / per_tok["rewild_unseeded"], 3),
        "cpu_seconds_min": round(
            summary["cpu_seconds_min"]["rewild"] / summary["cpu_seconds_min"]["rewild_unseeded"], 3
        ),
        "per_repeat_per_output_token": [round(x, 3) for x in pairs],
        "median_per_output_token": round(sorted(pairs)[len(pairs) // 2], 3),
    }
    overhead = [r["s"] - r["engine_s"] for r in results["rewild"]]
    summary["rewild_overhead_s"] = {  # rewild's own work around the engine call (prep, seeds, row assembly)
        "min": round(min(overhead), 3),
        "max": round(max(overhead), 3),
        "fraction_of_best_run": round(
            summary["rewild"]["s"]
            and (summary["rewild"]["s"] - summary["rewild"]["engine_s"]) / summary["rewild"]["s"],
            4,
        ),
    }
    summary["same_text_as_chat_same"] = same_text
    summary["settings"] = {
        "model": args.model,
        "n_conversations": args.n,
        "max_model_len": args.max_model_len,
        "max_tokens": budgets.max_tokens,
        "repeats": args.repeats,
        "prefix_caching": args.prefix_caching,
        "engine_start_s": round(engine_s, 1),
        "engine": {k: v for k, v in engine.settings.items() if k != "model"},
        "peak_rss_mb": round(rio.peak_rss_mb(), 1),
        "load_average": os.getloadavg(),
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
