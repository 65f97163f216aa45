"""Benchmark: rewild's generation path vs a bare `LLM.chat` on the same prompts, same model, same engine, same
process.

    .venv/bin/python bench/generation.py                        # SmolLM2 (demo folder), 32 demo conversations
    .venv/bin/python bench/generation.py --model .cache/tiny-random-hf --n 64 --max-tokens 64

Variants, each timed on the warm engine (after one warm-up call):
- rewild:      `rewild.generate.generate_chunk` = validation, paper truncation, templating, per-request seeds,
               logprobs=0 (for cumulative_logprob), one `LLM.generate` call, output-row assembly.
- chat_same:   `LLM.chat` on the messages rewild sent, with the same per-request SamplingParams (same seeds,
               logprobs=0): the same tokens are generated, so the difference is rewild's own overhead.
- chat_plain:  `LLM.chat` with one SamplingParams(max_tokens, seed) and no logprobs: what a bare script does.
- chat_seeds_only / chat_logprobs_only: `LLM.chat` with only one of rewild's two sampling differences, to
  attribute their cost.
Prints seconds, output tokens, tokens/s and the ratios rewild / chat_same and rewild / chat_plain (time per
output token for the latter, since sampled lengths differ).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rewild import generate as G  # noqa: E402
from rewild import io as rio  # noqa: E402


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(ROOT / ".cache" / "smollm2-hf"))
    ap.add_argument("--n", type=int, default=32, help="conversations")
    ap.add_argument("--max-model-len", type=int, default=1024)
    ap.add_argument("--max-tokens", type=int, default=64, help="overrides round(0.2*L) to keep the run short")
    ap.add_argument("--cache-dir", default=str(ROOT / ".cache" / "vllm-bench"))
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args()

    dgm = {"hf_id": args.model, "max_model_len": args.max_model_len, "gpus": 1, "dtype": "bfloat16"}
    generation = G.generation_settings({"output_fraction": args.max_tokens / args.max_model_len})
    budgets = G.Budgets.from_settings(args.max_model_len, generation)
    rows = demo_rows(args.n)

    t = time.perf_counter()
    tok = G.load_tokenizer(dgm)
    llm = G.load_engine(dgm, generation, args.cache_dir)
    engine_s = time.perf_counter() - t
    from vllm import SamplingParams

    # Warm-up (first calls pay one-off costs on the CPU backend).
    G.generate_chunk(llm, tok, rows[:4], dgm_key="bench", dgm_id=args.model, budgets=budgets, settings=generation)

    results: dict[str, list[dict]] = {n: [] for n in
                                      ("rewild", "chat_same", "chat_plain", "chat_seeds_only", "chat_logprobs_only")}
    same_text = None
    for _ in range(args.repeats):
        t = time.perf_counter()
        res = G.generate_chunk(llm, tok, rows, dgm_key="bench", dgm_id=args.model, budgets=budgets,
                               settings=generation)
        results["rewild"].append({"s": time.perf_counter() - t, "out": res.stats["output_tokens"],
                                  "in": res.stats["input_tokens"], "requests": res.stats["n_requests"]})
        # The exact messages and seeds rewild sent, in request order.
        states = G.prepare_conversations(rows, tok, budgets, generation["reencode"])
        reqs = G.next_requests(states, tok, budgets, generation, None)
        convs = [r.prompt.messages for r in reqs]
        params = [G.sampling_params(generation, budgets, r.seed) for r in reqs]

        t = time.perf_counter()
        outs = llm.chat(convs, params, use_tqdm=False)
        results["chat_same"].append({"s": time.perf_counter() - t,
                                     "out": sum(len(o.outputs[0].token_ids) for o in outs),
                                     "in": sum(len(o.prompt_token_ids) for o in outs), "requests": len(outs)})
        ours = [t_["content"] for r in res.rows for t_ in r["conversation"][1::2]]
        by_req = {(r.row_id, r.turn_index): o.outputs[0].text for r, o in zip(reqs, outs)}
        theirs = [by_req[(r["row_id"], k)] for r in res.rows for k in range(len(r["conversation"]) // 2)]
        same_text = ours == theirs if same_text is None else (same_text and ours == theirs)

        plain = SamplingParams(max_tokens=budgets.max_tokens, seed=generation["seed"])
        seeds_only = [SamplingParams(max_tokens=budgets.max_tokens, seed=r.seed) for r in reqs]
        logprobs_only = SamplingParams(max_tokens=budgets.max_tokens, seed=generation["seed"], logprobs=0)
        for name, sp in (("chat_plain", plain), ("chat_seeds_only", seeds_only), ("chat_logprobs_only", logprobs_only)):
            t = time.perf_counter()
            outs = llm.chat(convs, sp, use_tqdm=False)
            results[name].append({"s": time.perf_counter() - t,
                                  "out": sum(len(o.outputs[0].token_ids) for o in outs),
                                  "in": sum(len(o.prompt_token_ids) for o in outs), "requests": len(outs)})

    def best(name: str) -> dict:
        r = min(results[name], key=lambda x: x["s"])
        return {**r, "s": round(r["s"], 3), "tok_per_s": round((r["in"] + r["out"]) / r["s"], 1),
                "out_tok_per_s": round(r["out"] / r["s"], 1)}

    summary = {name: best(name) for name in results}
    summary["all_seconds"] = {name: [round(r["s"], 3) for r in results[name]] for name in results}
    summary["ratio_time_rewild_over_chat_same"] = round(summary["rewild"]["s"] / summary["chat_same"]["s"], 3)
    per_tok = {k: summary[k]["s"] / max(1, summary[k]["out"]) for k in ("rewild", "chat_plain")}
    summary["ratio_time_per_output_token_rewild_over_chat_plain"] = round(per_tok["rewild"] / per_tok["chat_plain"], 3)
    summary["same_text_as_chat_same"] = same_text
    summary["settings"] = {"model": args.model, "n_conversations": args.n, "max_model_len": args.max_model_len,
                           "max_tokens": budgets.max_tokens, "repeats": args.repeats,
                           "engine_start_s": round(engine_s, 1), "peak_rss_mb": round(rio.peak_rss_mb(), 1)}
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
