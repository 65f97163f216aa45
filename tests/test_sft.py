"""rewild.sft: templates and the assistant-only mask, batch arithmetic, config mapping, training, kill -9 resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rewild import sft as S
from rewild.io import write_json

REPO = Path(__file__).resolve().parent.parent
TINY = REPO / ".cache" / "tiny-random-hf"
TRL_TEMPLATES = None  # resolved lazily (needs trl)

needs_tiny = pytest.mark.skipif(not (TINY / "config.json").is_file(), reason="tiny random student not built")

CONV = [
    {"role": "user", "content": "What is the capital of France?"},
    {"role": "assistant", "content": "Paris is the capital of France."},
    {"role": "user", "content": "And of Italy?"},
    {"role": "assistant", "content": "Rome."},
]
VARIANTS = [
    CONV,
    [{"role": "system", "content": "Be brief."}, *CONV],
    [{"role": "user", "content": "  padded  "}, {"role": "assistant", "content": " spaced \n"}],
]


def _tok():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(TINY)


# ----------------------------------------------------------------------------------------------- templates


@needs_tiny
@pytest.mark.parametrize("name", ["llama3", "chatml"])
def test_plain_template_renders_like_marked(name):
    tok = _tok()
    marked = S.resolve_chat_template(name)
    plain = S.strip_generation_markers(marked)
    assert S.has_generation_markers(marked) and not S.has_generation_markers(plain)
    assert "generation %}" not in plain
    for msgs in VARIANTS:
        for agp in (False, True):
            a = tok.apply_chat_template(msgs, chat_template=marked, tokenize=False, add_generation_prompt=agp)
            b = tok.apply_chat_template(msgs, chat_template=plain, tokenize=False, add_generation_prompt=agp)
            assert a == b


@needs_tiny
def test_llama3_template_is_metas():
    """Without markers our llama3 template renders exactly like the original Llama-3 template (TRL's copy)."""
    import trl

    original = (Path(trl.__file__).parent / "chat_templates" / "llama3.jinja").read_text()
    tok = _tok()
    plain = S.strip_generation_markers(S.resolve_chat_template("llama3"))
    for msgs in VARIANTS:
        for agp in (False, True):
            assert tok.apply_chat_template(msgs, chat_template=plain, tokenize=False, add_generation_prompt=agp) == (
                tok.apply_chat_template(msgs, chat_template=original, tokenize=False, add_generation_prompt=agp)
            )


def test_resolve_chat_template_errors(tmp_path):
    assert S.resolve_chat_template(None) is None
    f = tmp_path / "t.jinja"
    f.write_text("{% for m in messages %}{{ m['content'] }}{% endfor %}")
    assert S.resolve_chat_template(str(f)).startswith("{% for")
    with pytest.raises(FileNotFoundError, match="llama3"):
        S.resolve_chat_template("no-such-template")


@needs_tiny
def test_assistant_only_mask_through_trl_data_path(tmp_path):
    """TRL's own preprocessing (SFTTrainer → tokenize → labels) masks exactly the assistant content tokens plus the
    end-of-turn token <|im_end|>; the system/user turns, role headers and the newline after <|im_end|> get -100."""
    import datasets
    from trl import SFTTrainer

    tok = _tok()
    tok.chat_template = S.resolve_chat_template("chatml")
    args = S.build_sft_config(
        {"global_batch": 1, "micro_batch": 1, "trl": {"packing": False, "max_length": None}},
        {},
        tmp_path / "out",
        1,
        "cpu",
    )
    msgs = [{"role": "system", "content": "Be brief."}, *CONV]
    trainer = SFTTrainer(
        model=str(TINY), args=args, train_dataset=datasets.Dataset.from_list([{"messages": msgs}]), processing_class=tok
    )
    row = trainer.train_dataset[0]
    ids, labels = row["input_ids"], row["labels"]

    # Expected, built independently: tokenize the rendered pieces one by one (every boundary is a special token or
    # a newline, so the pieces tokenize as in the whole string) and mark the assistant pieces.
    def enc(text):
        return tok(text, add_special_tokens=False)["input_ids"]

    pieces = [
        ("<|im_start|>system\nBe brief.<|im_end|>\n", False),
        ("<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n", False),
        ("Paris is the capital of France.<|im_end|>", True),
        ("\n<|im_start|>user\nAnd of Italy?<|im_end|>\n<|im_start|>assistant\n", False),
        ("Rome.<|im_end|>", True),
        ("\n", False),
    ]
    exp_ids, exp_labels = [], []
    for text, trained in pieces:
        t = enc(text)
        exp_ids += t
        exp_labels += t if trained else [-100] * len(t)
    assert ids == exp_ids
    assert labels == exp_labels
    trained = [i for i, lab in zip(ids, labels) if lab != -100]
    assert tok.decode(trained) == "Paris is the capital of France.<|im_end|>Rome.<|im_end|>"
    assert trained.count(tok.convert_tokens_to_ids("<|im_end|>")) == 2  # the model learns to stop


@needs_tiny
def test_assistant_mask_survives_packing(tmp_path):
    """With packing (bfd) the packed rows keep the same -100 pattern per conversation."""
    import datasets
    from trl import SFTTrainer

    tok = _tok()
    tok.chat_template = S.resolve_chat_template("chatml")
    convs = [CONV, VARIANTS[2], CONV[:2]]
    args = S.build_sft_config(
        {"global_batch": 1, "micro_batch": 1, "trl": {"packing": True, "max_length": 512}}, {}, tmp_path, 1, "cpu"
    )
    trainer = SFTTrainer(
        model=str(TINY),
        args=args,
        train_dataset=datasets.Dataset.from_list([{"messages": m} for m in convs]),
        processing_class=tok,
    )
    assert len(trainer.train_dataset) == 1  # all three fit one packed row
    row = trainer.train_dataset[0]
    n_trained = sum(lab != -100 for lab in row["labels"])
    expected = 0
    for m in convs:
        out = tok.apply_chat_template(m, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
        expected += sum(out["assistant_masks"])
    assert n_trained == expected and len(row["input_ids"]) == sum(row["seq_lengths"])


# ------------------------------------------------------------------------------------------- batch / config


@pytest.mark.parametrize("world,accum", [(1, 32), (2, 16), (4, 8), (8, 4)])
def test_derive_accumulation_holds_global_batch(world, accum):
    assert S.derive_accumulation(64, 2, world) == accum
    k = S.sft_config_kwargs({"global_batch": 64, "micro_batch": 2}, {}, "/tmp/x", world, "cuda")
    assert k["per_device_train_batch_size"] * k["gradient_accumulation_steps"] * world == 64


def test_derive_accumulation_rejects_indivisible():
    with pytest.raises(ValueError, match="not divisible"):
        S.derive_accumulation(64, 3, 1)
    with pytest.raises(ValueError, match="not divisible"):
        S.derive_accumulation(8, 2, 8)
    with pytest.raises(ValueError, match="positive"):
        S.derive_accumulation(8, 0, 1)


def test_paper_recipe_mapping_gpu():
    k = S.sft_config_kwargs(
        {"global_batch": 64, "micro_batch": 2, "trl": {}},
        {"pad_token": "<|finetune_right_pad_id|>", "eos_token": "<|eot_id|>", "revision": "abc"},
        "/ckpt",
        4,
        "cuda",
    )
    assert k["learning_rate"] == 2e-5 and k["lr_scheduler_type"] == "cosine" and k["warmup_steps"] == 100
    assert k["weight_decay"] == 0.0 and k["num_train_epochs"] == 1 and k["max_length"] == 8192
    assert k["packing"] and k["assistant_only_loss"] and k["bf16"] and k["gradient_checkpointing"]
    assert k["per_device_train_batch_size"] == 2 and k["gradient_accumulation_steps"] == 8 and not k["use_cpu"]
    assert k["pad_token"] == "<|finetune_right_pad_id|>" and k["eos_token"] == "<|eot_id|>"
    assert k["model_init_kwargs"]["revision"] == "abc" and k["output_dir"] == "/ckpt"
    assert k["include_num_input_tokens_seen"] == "all"  # bfd packing is padding-free


def test_cpu_mapping_and_overrides():
    cfg = S.build_sft_config(
        {
            "global_batch": 4,
            "micro_batch": 2,
            "trl": {"learning_rate": 1e-3, "max_steps": 7, "gradient_checkpointing": True},
        },
        {},
        "/tmp/rewild-test-out",
        1,
        "cpu",
    )
    assert cfg.use_cpu and cfg.bf16 is False and cfg.gradient_checkpointing is False
    assert cfg.learning_rate == 1e-3 and cfg.max_steps == 7 and cfg.gradient_accumulation_steps == 2
    assert cfg.model_init_kwargs["dtype"] == "float32"
    assert cfg.assistant_only_loss and cfg.packing


def test_unknown_and_reserved_trl_keys():
    with pytest.raises(ValueError, match=r"unknown SFTConfig key\(s\) \['lernrate', 'max_seq_length'\]"):
        S.sft_config_kwargs({"trl": {"lernrate": 1, "max_seq_length": 5}}, {}, "/x", 1, "cpu")
    with pytest.raises(ValueError, match="per_device_train_batch_size.*sft.micro_batch"):
        S.sft_config_kwargs({"trl": {"per_device_train_batch_size": 4}}, {}, "/x", 1, "cpu")


def test_command_for():
    one = S.command_for({"gpus": 1}, "/ck/args.json", python="py")
    assert one == ["py", "-m", "rewild.sft", "--args-file", "/ck/args.json"]
    four = S.command_for({"gpus": 4, "accelerate_config": None}, "/ck/args.json", python="py")
    assert four[:3] == ["py", "-m", "accelerate.commands.launch"]
    assert four[four.index("--num_processes") + 1] == "4"
    cfg = Path(four[four.index("--config_file") + 1])
    assert cfg.is_file() and cfg.name == "fsdp_llama8b.yaml"
    assert four[-4:] == ["-m", "rewild.sft", "--args-file", "/ck/args.json"]


THREADS_PROBE = """
import os, sys
from rewild import sft
set_before = sft.limit_threads(int(sys.argv[1]), {"gpus": int(sys.argv[2])})
import torch
before = torch.get_num_threads()
sft.limit_threads(3, {"gpus": 0})  # torch already imported: resized in place
print(set_before, before, torch.get_num_threads(), os.environ["OMP_NUM_THREADS"])
"""


@pytest.mark.parametrize(("threads", "gpus", "per_process"), [(2, 0, 2), (1, 0, 1), (32, 4, 8), (3, 4, 1)])
def test_training_threads_follow_the_job(threads, gpus, per_process):
    """torch would otherwise take every core of the machine, whatever Snakemake or Slurm gave the job."""
    out = subprocess.run([sys.executable, "-c", THREADS_PROBE, str(threads), str(gpus)], capture_output=True,
                         text=True, check=True, env={k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"})
    cores = len(os.sched_getaffinity(0))  # torch starts at most one thread per core from OMP_NUM_THREADS
    assert out.stdout.split() == [str(per_process), str(min(per_process, cores)), "3", "3"]


def test_accelerate_config_is_fsdp_full_shard_offload():
    from accelerate.commands.config.config_args import load_config_from_file

    c = load_config_from_file(str(REPO / "config" / "accelerate" / "fsdp_llama8b.yaml"))
    assert c.distributed_type.value == "FSDP" and c.num_processes == 4 and c.mixed_precision == "bf16"
    assert c.fsdp_config["fsdp_reshard_after_forward"] == "FULL_SHARD"
    assert c.fsdp_config["fsdp_offload_params"] is True


def test_checkpoint_bookkeeping(tmp_path):
    for n, complete in [(2, True), (4, True), (6, False)]:
        d = tmp_path / f"checkpoint-{n}"
        d.mkdir()
        if complete:
            (d / "trainer_state.json").write_text("{}")
    assert S.latest_checkpoint(tmp_path).name == "checkpoint-4"
    assert [p.name for p in S.remove_partial_checkpoints(tmp_path)] == ["checkpoint-6"]
    assert S.record_attempt(tmp_path, False)["resumes"] == 0
    assert S.record_attempt(tmp_path, True)["resumes"] == 1
    S.clean_checkpoints(tmp_path)
    assert not tmp_path.exists()


def test_loss_curve_from_log_history():
    hist = [
        {"loss": 2.0, "learning_rate": 1e-5, "step": 1, "epoch": 0.1},
        {"eval_loss": 1.9, "step": 1},
        {"loss": 1.5, "learning_rate": 2e-5, "step": 2, "epoch": 0.2},
        {"train_loss": 1.7, "train_runtime": 3.0, "step": 2},
    ]
    assert S.loss_curve(hist) == [
        {"step": 1, "loss": 2.0, "lr": 1e-5, "epoch": 0.1},
        {"step": 2, "loss": 1.5, "lr": 2e-5, "epoch": 0.2},
    ]


# ------------------------------------------------------------------------------------------- real training


def _write_mix(d: Path, n_train: int = 24, n_heldout: int = 4) -> tuple[Path, Path]:
    import pandas as pd

    topics = ["the sea", "mountains", "bread", "rivers", "music", "chess", "gardens", "the moon"]
    rows = []
    for i in range(n_train + n_heldout):
        t = topics[i % len(topics)]
        msgs = [
            {"role": "user", "content": f"Tell me something about {t}. ({i})"},
            {"role": "assistant", "content": f"Here is a fact about {t}: it matters, number {i}. " * (1 + i % 3)},
        ]
        if i % 2 == 0:
            msgs += [
                {"role": "user", "content": "More, briefly."},
                {"role": "assistant", "content": f"More about {t}: {i}."},
            ]
        rows.append({"id": str(i), "source": "test", "messages": msgs})
    d.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows[:n_train]).to_parquet(d / "train.parquet")
    pd.DataFrame(rows[n_train:]).to_parquet(d / "heldout.parquet")
    return d / "train.parquet", d / "heldout.parquet"


STUDENT = {"hf_id": "tiny", "revision": None, "chat_template": "chatml", "pad_token": None, "eos_token": None}


@needs_tiny
@pytest.mark.slow
def test_train_tiny_student(tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    train, heldout = _write_mix(tmp_path / "mix")
    sft = {
        "global_batch": 4,
        "micro_batch": 2,
        "gpus": 0,
        "split_seed": 0,
        "trl": {"max_length": 256, "logging_steps": 1, "warmup_steps": 1, "learning_rate": 1e-3, "max_steps": 4},
    }
    out, metrics_path, ckpt = tmp_path / "model", tmp_path / "model.metrics.json", tmp_path / "ckpt"
    m = S.run(train, heldout, str(TINY), STUDENT, sft, out, metrics_path, ckpt, "cfg123", tmp_path / "sft.log")

    saved = json.loads(metrics_path.read_text())
    assert saved["optimizer_steps"] == 4 and [p["step"] for p in saved["loss_curve"]] == [1, 2, 3, 4]
    assert all(isinstance(p["loss"], float) and p["lr"] is not None for p in saved["loss_curve"])
    assert saved["effective_batch"] == 4 and saved["grad_accumulation"] == 2 and saved["world_size"] == 1
    assert saved["tokens_seen"] > 0 and saved["eval_loss"] is not None and saved["resumes"] == 0
    assert saved["provenance"]["config_hash"] == "cfg123" and saved["provenance"]["world_size"] == 1
    assert m["optimizer_steps"] == 4
    assert not ckpt.exists()  # checkpoints deleted after success
    assert "tok/s" in (tmp_path / "sft.log").read_text()

    model = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
    assert model.config.num_hidden_layers == 2
    tok = AutoTokenizer.from_pretrained(out)
    assert not S.has_generation_markers(tok.chat_template)
    text = tok.apply_chat_template(CONV[:1], tokenize=False, add_generation_prompt=True)
    assert text == "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"
    # the trained weights differ from the initial ones
    init = AutoModelForCausalLM.from_pretrained(TINY, dtype=torch.float32)
    assert not torch.equal(model.model.embed_tokens.weight, init.model.embed_tokens.weight)


@needs_tiny
@pytest.mark.slow
def test_kill9_resume_matches_uninterrupted(tmp_path):
    train, heldout = _write_mix(tmp_path / "mix", n_train=20, n_heldout=2)
    sft = {
        "global_batch": 2,
        "micro_batch": 1,
        "gpus": 0,
        "split_seed": 0,
        "trl": {"max_length": 96, "logging_steps": 1, "warmup_steps": 1, "save_steps": 2},
    }

    def args_file(tag: str) -> Path:
        d = tmp_path / tag
        kw = dict(
            train_path=str(train),
            heldout_path=str(heldout),
            student_path_or_id=str(TINY),
            student=STUDENT,
            sft=sft,
            out_dir=str(d / "model"),
            metrics_path=str(d / "metrics.json"),
            checkpoint_dir=str(d / "ckpt"),
            config_hash="h",
            log_path=str(d / "sft.log"),
        )
        write_json(d / "args.json", kw)
        return d / "args.json"

    def cmd(f: Path) -> list[str]:
        return [sys.executable, "-m", "rewild.sft", "--args-file", str(f)]

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run(cmd(args_file("plain")), check=True, env=env, capture_output=True)
    plain = json.loads((tmp_path / "plain" / "metrics.json").read_text())
    n_steps = plain["optimizer_steps"]
    assert n_steps >= 5  # packed rows / (micro 1 x accum 2): enough steps to kill after the first checkpoint

    f = args_file("killed")
    ckpt = tmp_path / "killed" / "ckpt"
    # A short sleep per step keeps the run alive long enough to be killed between checkpoints.
    proc = subprocess.Popen(
        cmd(f), env={**env, "REWILD_SFT_STEP_DELAY": "0.5"}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 300
    while not list(ckpt.glob("checkpoint-*/trainer_state.json")):
        assert proc.poll() is None, "training ended before its first checkpoint"
        assert time.time() < deadline
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    assert not (tmp_path / "killed" / "metrics.json").exists()

    subprocess.run(cmd(f), check=True, env=env, capture_output=True)
    resumed = json.loads((tmp_path / "killed" / "metrics.json").read_text())
    assert resumed["resumes"] == 1 and resumed["resumed_from"].startswith("checkpoint-")
    assert resumed["optimizer_steps"] == n_steps
    assert resumed["tokens_seen"] == plain["tokens_seen"]
    assert [p["step"] for p in resumed["loss_curve"]] == list(range(1, n_steps + 1))
    assert resumed["final_loss"] == pytest.approx(plain["final_loss"], rel=1e-5)
    assert resumed["provenance"]["resumes"] == 1
    assert not ckpt.exists()
