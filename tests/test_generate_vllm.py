"""rewild.generate with the real vLLM engine (CPU build) on the demo model folders. Slow: each test starts
engines (~20-25 s each on 2 cores). Every run is a subprocess, as under Snakemake, so a kill -9 is real."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from test_generate import demo_rows, dgm_entry, gen, write_shard

from rewild import io as rio

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
SMOLLM2 = ROOT / ".cache" / "smollm2-hf"
TINY = ROOT / ".cache" / "tiny-random-hf"
CACHE = ROOT / ".cache" / "vllm-test"

# As a rule job: logging set up by the caller (rewild.job in a real job), then the stage's run.
RUNNER = (
    "import json, sys; from rewild.io import setup_logging; from rewild.generate import run; "
    "a = json.loads(sys.argv[1]); setup_logging(a.pop('log_path')); run(**a)"
)


def _need(model: Path) -> None:
    if not (model / "config.json").exists():
        pytest.skip(f"{model} not built")
    try:
        import vllm  # noqa: F401
    except Exception as exc:  # pragma: no cover
        pytest.skip(f"vllm not importable: {exc}")


def _args(tmp: Path, shard: Path, model: Path, name: str, dgm: dict | None = None, **generation) -> dict:
    """Arguments of generate.run with validated sections (schema defaults where the test is silent)."""
    return {
        "shard_path": str(shard),
        "dgm_key": "demo",
        "dgm": dgm_entry(
            **{"hf_id": "demo/" + model.name, "max_model_len": 512, "gpus": 0, "dtype": "bfloat16", "params_b": 0.135}
            | (dgm or {})
        ),
        "generation": gen(**{"output_fraction": 0.05, "checkpoint_every": 4} | generation),
        "out_path": str(tmp / name / "s00000.parquet"),
        "rejects_path": str(tmp / name / "s00000.rejects.jsonl"),
        "efficiency_path": str(tmp / name / "s00000.json"),
        "progress_dir": str(tmp / "progress" / name),
        "cache_dir": str(CACHE),
        "config_hash": "test",
        "log_path": str(tmp / name / "log.txt"),
        "model_path": str(model),
    }


def _popen(args: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", RUNNER, json.dumps(args)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _run(args: dict, timeout: float = 240) -> None:
    proc = _popen(args)
    _, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-4000:]


def _shard(tmp: Path, n: int) -> tuple[Path, list[dict]]:
    rows = demo_rows()
    multi = [r for r in rows if len(r["conversation"]) >= 4 and len(r["conversation"]) % 2 == 0]
    single = [r for r in rows if len(r["conversation"]) == 2]
    picked = multi[:2] + single[: n - 2]
    return write_shard(picked, tmp / "s00000.parquet"), picked


def test_smollm2_generates_schema_counts_and_rejects(tmp_path: Path) -> None:
    """(1) SmolLM2 answers a small shard with non-empty text; (3) input rows = generated + rejected."""
    _need(SMOLLM2)
    rows = demo_rows()
    good = [r for r in rows if len(r["conversation"]) >= 4 and len(r["conversation"]) % 2 == 0][:2]
    good += [r for r in rows if len(r["conversation"]) == 2][:6]
    odd = next(r for r in rows if len(r["conversation"]) % 2)
    swapped = dict(good[-1], conversation=list(reversed(good[-1]["conversation"])))  # assistant first
    picked = good[:4] + [odd] + good[4:] + [swapped]
    shard = write_shard(picked, tmp_path / "s00000.parquet")

    t0 = time.time()
    args = _args(tmp_path, shard, SMOLLM2, "smol")
    _run(args)
    wall = time.time() - t0

    table = pq.read_table(args["out_path"])
    out = table.to_pylist()
    rejects = rio.read_jsonl(args["rejects_path"])
    eff = rio.read_json(args["efficiency_path"])
    assert len(out) + len(rejects) == len(picked) == 10
    assert sorted(r["reason"] for r in rejects) == ["odd_number_of_messages", "roles_not_alternating_user_assistant"]
    assert [r["row_id"] for r in out] == [0, 1, 2, 3, 5, 6, 7, 8]  # shard order, rejects left out

    n_turns = 0
    for src, row in zip([p for p in picked if p is not odd and p is not swapped], out):
        conv = row["conversation"]
        assert len(conv) == len(src["conversation"]) and len(row["messages"]) == len(conv)
        for j, turn in enumerate(conv):
            if j % 2 == 0:
                assert turn["finish_reason"] is None and turn["content"] == src["conversation"][j]["content"]
            else:
                n_turns += 1
                assert turn["finish_reason"] in ("stop", "length")
                assert isinstance(turn["cumulative_logprob"], float) and turn["cumulative_logprob"] <= 0
                assert turn["content"] != src["conversation"][j]["content"]
                assert row["messages"][j] == {"role": "assistant", "content": turn["content"]}
        assert row["dgm"] == "demo" and row["dgm_id"] == "demo/smollm2-hf" and row["model"] == src["model"]
    nonempty = sum(bool(t["content"].strip()) for r in out for t in r["conversation"][1::2])
    assert nonempty >= n_turns - 1, "SmolLM2 should answer (almost) every turn"
    assert eff["n_conversations"] == 8 and eff["n_requests"] == n_turns and eff["n_rejected"] == 2
    assert eff["max_tokens"] == 26 and eff["engine"]["dtype"] == "float32" and eff["gpus"] == 0
    assert eff["output_tokens"] > 0 and eff["input_tokens"] > eff["output_tokens"]
    assert eff["tok_per_s"] > 0 and eff["engine_start_seconds"] > 0 and eff["provenance"]["resumes"] == 0
    assert not Path(args["progress_dir"]).exists()
    log = Path(args["log_path"]).read_text()
    assert "chunk 3/3" in log and "tok/s" in log
    print(f"smollm2 shard: {wall:.1f} s wall, engine {eff['engine_start_seconds']:.1f} s, {eff['tok_per_s']:.0f} tok/s")


def test_kill9_resume_equals_uninterrupted_run(tmp_path: Path) -> None:
    """(2) kill -9 after the first committed chunk, restart: same rows, same order, nothing generated twice."""
    _need(TINY)
    shard, picked = _shard(tmp_path, 16)
    settings = {"output_fraction": 0.2, "checkpoint_every": 4}

    ref = _args(tmp_path, shard, TINY, "ref", **settings)
    _run(ref)

    args = _args(tmp_path, shard, TINY, "resumed", **settings)
    progress = Path(args["progress_dir"])
    proc = _popen(args)
    deadline = time.time() + 180
    while time.time() < deadline and proc.poll() is None and not list(progress.glob("chunk-*.json")):
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be killed: " + (proc.stderr.read() or "")[-2000:]
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stderr.close()
    committed = sorted(progress.glob("chunk-*.json"))
    assert 1 <= len(committed) < 4 and not Path(args["out_path"]).exists()
    done_before = {rid for p in committed for rid in rio.read_json(p)["row_ids"]}

    _run(args)
    eff = rio.read_json(args["efficiency_path"])
    assert eff["provenance"]["resumes"] == 1 and len(eff["engine_starts"]) >= 1
    log = Path(args["log_path"]).read_text()
    assert f"{len(done_before)} of 16 conversations already done" in log

    a = pq.read_table(ref["out_path"]).to_pylist()
    b = pq.read_table(args["out_path"]).to_pylist()
    ids = [r["row_id"] for r in b]
    assert ids == [r["row_id"] for r in a] == list(range(16)) and len(set(ids)) == 16

    def key(rows):
        return [[(t["content"], t["finish_reason"]) for t in r["conversation"]] for r in rows]

    assert key(b) == key(a)
    assert [r["messages"] for r in b] == [r["messages"] for r in a]
    eff_ref = rio.read_json(ref["efficiency_path"])
    assert eff["n_requests"] == eff_ref["n_requests"] and eff["output_tokens"] == eff_ref["output_tokens"]


def test_own_history_rollout_runs_turn_by_turn(tmp_path: Path) -> None:
    """history=own: turn k+1 is generated after (and conditioned on) the DGM's own answer to turn k."""
    _need(TINY)
    shard, picked = _shard(tmp_path, 4)
    args = _args(tmp_path, shard, TINY, "own", history="own", reencode="clean")
    _run(args)
    out = pq.read_table(args["out_path"]).to_pylist()
    assert [r["row_id"] for r in out] == [0, 1, 2, 3]
    for src, row in zip(picked, out):
        answers = [t for t in row["conversation"][1::2]]
        assert len(answers) == len(src["conversation"]) // 2
        assert all(t["finish_reason"] in ("stop", "length") for t in answers)
        assert [m["content"] for m in row["messages"][1::2]] == [t["content"] for t in answers]
    eff = rio.read_json(args["efficiency_path"])
    assert eff["sampling"]["history"] == "own" and eff["n_requests"] == sum(len(p["conversation"]) // 2 for p in picked)


# Long multi-turn conversations in several languages and scripts, as WildChat has them: user turns that ask for
# code, translations and essays, GPT answers several hundred tokens long, some turns over the message budget.
PARAGRAPHS = [
    "Can you explain, step by step, how a hash map resolves collisions with open addressing and with chaining? "
    "Please include the amortised cost of insertion, what happens on resize, and a short Python example that "
    "counts word frequencies in a large text file without loading it all into memory at once.",
    "Переведи, пожалуйста, этот текст на английский язык и объясни грамматику: «Вчера вечером мы долго гуляли по "
    "набережной, обсуждали новые книги и строили планы на лето, пока не начался сильный дождь».",
    "请帮我写一篇关于人工智能在医疗领域应用的短文，大约三百字，包括影像诊断、药物研发和个性化治疗三个方面，"
    "并在最后讨论数据隐私和算法偏见带来的伦理问题。",
    "اكتب لي رسالة رسمية إلى مدير الشركة أطلب فيها إجازة لمدة أسبوعين بسبب ظروف عائلية، مع ذكر أنني سأقوم "
    "بتسليم جميع المهام المعلقة قبل موعد الإجازة وأنني سأكون متاحاً عبر البريد الإلكتروني عند الضرورة.",
    "मुझे भारत के स्वतंत्रता संग्राम के बारे में एक निबंध लिखने में मदद करें, जिसमें प्रमुख नेताओं, आंदोलनों और "
    "उनके परिणामों का वर्णन हो। कृपया इसे सरल भाषा में लिखें ताकि स्कूल के छात्र समझ सकें।",
    "次の文章を自然な日本語に直してください。そして、敬語の使い方についても説明してください：「明日の会議、"
    "資料を準備しておいてくれる？部長も来るから、ちゃんとしたやつでお願い。」",
    "def merge(a, b):\n    out = []\n    while a and b:\n        out.append(a.pop(0) if a[0] < b[0] else b.pop(0))\n"
    "    return out + a + b\n\nWhy is this merge quadratic? Rewrite it to be linear and add type hints and tests.",
    "Écris-moi une histoire courte pour enfants sur un petit renard qui apprend à partager sa nourriture avec les "
    "autres animaux de la forêt pendant un hiver très froid, avec une morale à la fin. 🦊❄️🌲",
]


def long_multilingual_rows(n: int) -> list[dict]:
    """n conversations of 3 user turns each; every turn several paragraphs, scripts mixed, GPT answers long."""
    rows = []
    for i in range(n):
        conv = []
        for t in range(3):
            k = (i + 3 * t) % len(PARAGRAPHS)
            user = " ".join(PARAGRAPHS[(k + j) % len(PARAGRAPHS)] for j in range(2 + (i + t) % 3))
            gpt = " ".join(reversed(PARAGRAPHS[k : k + 3])) * (1 + (i % 2))
            conv += [{"role": "user", "content": user}, {"role": "assistant", "content": gpt}]
        rows.append(
            {
                "conversation_hash": f"long{i:04d}",
                "model": "gpt-4-0314",
                "timestamp": "2023-05-01T12:00:00",
                "turn": 3,
                "language": ["English", "Russian", "Chinese", "Arabic", "Hindi", "Japanese"][i % 6],
                "openai_moderation": [{"flagged": False, "categories": {"violence": False}}] * 3,
                "detoxify_moderation": [{"toxicity": 0.001}] * 3,
                "toxic": False,
                "redacted": False,
                "state": "Bavaria",
                "country": "Germany",
                "hashed_ip": f"{i:064x}",
                "header": {"accept-language": "de-DE,de;q=0.9", "user-agent": "Mozilla/5.0"},
                "conversation": [
                    {
                        **m,
                        "language": "English",
                        "redacted": False,
                        "toxic": False,
                        "turn_identifier": 100 * i + j,
                        "header": {"accept-language": "de-DE"} if j % 2 == 0 else None,
                        "country": "Germany" if j % 2 == 0 else None,
                        "state": "Bavaria" if j % 2 == 0 else None,
                        "hashed_ip": f"{i:064x}" if j % 2 == 0 else None,
                        "timestamp": f"2023-05-01T12:{j:02d}:00",
                    }
                    for j, m in enumerate(conv)
                ],
            }
        )
    return rows


def test_step_filling_shard_with_per_request_seeds_runs_on_cpu(tmp_path: Path) -> None:
    """Issue 13 #2: a shard whose prompts fill a scheduling step (vLLM's CPU default: 4,096 tokens), one seed per
    request. With chunked prefill (vLLM's default, the old engine settings) the CPU build dies rewinding a seeded
    generator ("CPU Generator does not use offset"); the project's CPU engine settings run it."""
    _need(TINY)
    rows = long_multilingual_rows(16)
    shard = write_shard(rows, tmp_path / "s00000.parquet")
    # L = 2,048: prompts up to 1,536 tokens, so the unique (not prefix-cached) tokens of one chunk are many steps
    settings = {"output_fraction": 0.02, "checkpoint_every": 16}
    dgm = {"max_model_len": 2048}

    args = _args(tmp_path, shard, TINY, "fixed", dgm=dgm, **settings)
    _run(args, timeout=400)
    eff = rio.read_json(args["efficiency_path"])
    out = pq.read_table(args["out_path"]).to_pylist()
    assert len(out) == 16 and eff["n_requests"] == 48 and eff["n_rejected"] == 0
    assert eff["input_tokens"] > 2 * 4096  # the one chunk's prompts fill more than two 4,096-token steps
    assert eff["messages_cut"] > 0  # some turns are over the message budget
    assert (
        eff["engine"]["enable_chunked_prefill"] is False
        and eff["engine"]["effective"]["enable_chunked_prefill"] is False
    )
    assert eff["engine"]["effective"]["max_num_batched_tokens"] == 4096  # vLLM's own: max(L, its CPU default)
    assert all(t["finish_reason"] in ("stop", "length") for r in out for t in r["conversation"][1::2])

    # Control: the same shard with vLLM's default CPU scheduling (what the old code ran) crashes.
    old = {"enable_chunked_prefill": True, "max_num_batched_tokens": 4096}
    control = _args(tmp_path, shard, TINY, "old", dgm=dgm | {"engine_overrides": old}, **settings)
    proc = _popen(control)
    _, err = proc.communicate(timeout=400)
    assert proc.returncode != 0 and "CPU Generator does not use offset" in err, err[-3000:]
