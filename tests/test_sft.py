"""rewild.sft: the assistant-only mask, batch arithmetic, config mapping, device and kernel choices, checkpoint
fingerprints, training, kill -9 resume (same settings: resumed; other settings: discarded)."""

from __future__ import annotations

import copy
import functools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from rewild_testlib import REALISTIC_DATA, REPO, run_snakemake, workdir_copy

from rewild import chat_template as T
from rewild import config as rc
from rewild import engine, plan
from rewild import sft as S
from rewild.io import write_json

TINY = REPO / ".cache" / "tiny-random-hf"

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
STUDENT = {"hf_id": "tiny", "revision": None, "chat_template": "chatml", "pad_token": None, "eos_token": None}


@functools.cache
def _validated(name: str) -> dict:
    path = REPO / ("config.yaml" if name == "paper" else f"config/{name}.yaml")
    return rc.validate(yaml.safe_load(path.read_text()))


def sft_section(base: str = "demo", trl: dict | None = None, **top) -> dict:
    """A validated sft section (schema defaults filled in), with overrides."""
    sft = copy.deepcopy(_validated(base)["sft"])
    sft.update(top)
    sft["trl"].update(trl or {})
    return sft


def _tok():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(TINY)


# ----------------------------------------------------------------------------------------------- the mask


@needs_tiny
def test_assistant_only_mask_through_trl_data_path(tmp_path):
    """TRL's own preprocessing (SFTTrainer → tokenize → labels) masks exactly the assistant content tokens plus the
    end-of-turn token <|im_end|>; the system/user turns, role headers and the newline after <|im_end|> get -100."""
    import datasets
    from trl import SFTTrainer

    tok, _ = S.load_tokenizer(str(TINY), STUDENT)
    sft = sft_section(global_batch=1, micro_batch=1, trl={"packing": False, "max_length": None})
    args = S.build_sft_config(sft, STUDENT, tmp_path / "out", 1, "cpu", fsdp=False)
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
    tok.chat_template = T.resolve("chatml").text
    convs = [CONV, VARIANTS[2], CONV[:2]]
    sft = sft_section(global_batch=1, micro_batch=1, trl={"packing": True, "max_length": 512})
    args = S.build_sft_config(sft, STUDENT, tmp_path, 1, "cpu", fsdp=False)
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


@needs_tiny
def test_tokenizer_gets_marked_template_and_saves_plain(tmp_path):
    tok, plain = S.load_tokenizer(str(TINY), STUDENT)
    assert tok.chat_template == T.resolve("chatml").text and plain == T.resolve("chatml").plain
    (tmp_path / "t.jinja").write_text(plain)
    with pytest.raises(ValueError, match="no {% generation %} markers"):
        S.load_tokenizer(str(TINY), {**STUDENT, "chat_template": str(tmp_path / "t.jinja")})


# ------------------------------------------------------------------------------------------- batch / config


@pytest.mark.parametrize("world,accum", [(1, 32), (2, 16), (4, 8), (8, 4)])
def test_derive_accumulation_holds_global_batch(world, accum):
    assert S.derive_accumulation(64, 2, world) == accum
    k = S.sft_config_kwargs(sft_section("paper"), STUDENT, "/tmp/x", world, "cuda", fsdp=world > 1)
    assert k["per_device_train_batch_size"] * k["gradient_accumulation_steps"] * world == 64


def test_derive_accumulation_rejects_indivisible():
    with pytest.raises(ValueError, match="not divisible"):
        S.derive_accumulation(64, 3, 1)
    with pytest.raises(ValueError, match="not divisible"):
        S.derive_accumulation(8, 2, 8)
    with pytest.raises(ValueError, match="positive"):
        S.derive_accumulation(8, 0, 1)


def test_paper_recipe_mapping_gpu():
    """The paper preset, every value from the validated config (the schema is the one source of defaults)."""
    sft = sft_section("paper")
    student = {**STUDENT, "pad_token": "<|finetune_right_pad_id|>", "eos_token": "<|eot_id|>", "revision": "abc"}
    k = S.sft_config_kwargs(sft, student, "/ckpt", 1, "cuda", fsdp=False)
    assert k["learning_rate"] == 2e-5 and k["lr_scheduler_type"] == "cosine" and k["warmup_steps"] == 100
    assert k["weight_decay"] == 0.0 and k["num_train_epochs"] == 1 and k["max_length"] == 8192
    assert k["packing"] and k["assistant_only_loss"] and k["bf16"] and k["gradient_checkpointing"]
    assert k["per_device_train_batch_size"] == 2 and k["gradient_accumulation_steps"] == 32 and not k["use_cpu"]
    assert k["pad_token"] == "<|finetune_right_pad_id|>" and k["eos_token"] == "<|eot_id|>"
    assert k["output_dir"] == "/ckpt" and "model_init_kwargs" not in k  # rewild loads the model itself
    assert k["include_num_input_tokens_seen"] == "all"  # bfd packing is padding-free
    # every schema default reaches the job as is: no second default in rewild.sft
    schema_trl = rc.load_schema()["properties"]["sft"]["properties"]["trl"]["properties"]
    for key, spec in schema_trl.items():
        if key not in ("bf16", "gradient_checkpointing"):  # derived per device (tested below)
            assert k[key] == sft["trl"][key], key
        if key not in yaml.safe_load((REPO / "config.yaml").read_text())["sft"]["trl"]:
            assert k[key] == spec["default"], key


def test_cpu_mapping_and_overrides():
    sft = sft_section(global_batch=4, micro_batch=2, trl={"learning_rate": 1e-3, "max_steps": 7,
                                                          "gradient_checkpointing": True, "bf16": True})
    cfg = S.build_sft_config(sft, STUDENT, "/tmp/rewild-test-out", 1, "cpu", fsdp=False)
    assert cfg.use_cpu and cfg.bf16 is False and cfg.gradient_checkpointing is False
    assert cfg.learning_rate == 1e-3 and cfg.max_steps == 7 and cfg.gradient_accumulation_steps == 2
    assert cfg.assistant_only_loss and cfg.packing


def test_unknown_and_reserved_trl_keys():
    with pytest.raises(ValueError, match=r"unknown SFTConfig key\(s\) \['lernrate', 'max_seq_length'\]"):
        S.sft_config_kwargs(sft_section(trl={"lernrate": 1, "max_seq_length": 5}), STUDENT, "/x", 1, "cpu", fsdp=False)
    with pytest.raises(ValueError, match="per_device_train_batch_size.*sft.micro_batch"):
        S.sft_config_kwargs(sft_section(trl={"per_device_train_batch_size": 4}), STUDENT, "/x", 1, "cpu", fsdp=False)


# ------------------------------------------------------------------ device, attention, checkpointing (GPU path)


@pytest.mark.parametrize(
    "requested, device, fsdp, expected",
    [
        (True, "cpu", False, (False, False)),
        (True, "cuda", False, (True, False)),
        (True, "cuda", True, (False, True)),
        (False, "cuda", True, (False, False)),
        (False, "cuda", False, (False, False)),
    ],
)
def test_checkpointing_is_fsdps_under_fsdp(requested, device, fsdp, expected):
    assert S.checkpointing(requested, device, fsdp) == expected
    k = S.sft_config_kwargs(
        sft_section("paper", trl={"gradient_checkpointing": requested}), STUDENT, "/c", 4 if fsdp else 1, device,
        fsdp=fsdp,
    )
    assert k["gradient_checkpointing"] is expected[0]


NEEDS_A_DEVICE = ("FSDP_SYNC_MODULE_STATES", "FSDP_CPU_RAM_EFFICIENT_LOADING")


def test_fsdp_launch_derives_activation_checkpointing(monkeypatch):
    """The paper's 4-GPU job, parsed by accelerate's own launcher: FSDP does the activation checkpointing, the
    Trainer does not (transformers raises when both are on), and turning it off in sft.trl turns it off in FSDP."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils import FullyShardedDataParallelPlugin
    from accelerate.utils.launch import prepare_multi_gpu_env

    for requested in (True, False):
        sft = sft_section("paper", trl={"gradient_checkpointing": requested})
        cmd = S.command_for(sft, "/ck/launch_args.json", python="py")
        assert cmd[:3] == ["py", "-m", "accelerate.commands.launch"]
        assert cmd[-4:] == ["-m", "rewild.sft", "--args-file", "/ck/launch_args.json"]
        args = launch_command_parser().parse_args(cmd[3:])
        _validate_launch_command(args)
        env = prepare_multi_gpu_env(args)
        assert env["ACCELERATE_USE_FSDP"] == "true" and env["FSDP_OFFLOAD_PARAMS"] == "true"
        assert args.num_processes == 4 and args.num_machines == 1
        # what each training process sees (less the two loading settings that need a GPU to build the plugin)
        for key, value in env.items():
            if key.startswith(("FSDP_", "ACCELERATE_USE_FSDP")) and key not in NEEDS_A_DEVICE:
                monkeypatch.setenv(key, value)
        plugin = FullyShardedDataParallelPlugin()
        trainer_gc = S.sft_config_kwargs(sft, STUDENT, "/c", 4, "cuda", fsdp=S.under_fsdp())["gradient_checkpointing"]
        assert plugin.activation_checkpointing is requested
        assert not (plugin.activation_checkpointing and trainer_gc)  # Trainer.__init__'s ValueError condition
        assert trainer_gc is False


def test_accelerate_config_is_fsdp_full_shard_offload():
    from accelerate.commands.config.config_args import load_config_from_file

    c = load_config_from_file(str(REPO / "config" / "accelerate" / "fsdp_llama8b.yaml"))
    assert c.distributed_type.value == "FSDP" and c.num_processes == 4 and c.mixed_precision == "bf16"
    assert c.fsdp_config["fsdp_reshard_after_forward"] == "FULL_SHARD"
    assert c.fsdp_config["fsdp_offload_params"] is True
    assert c.fsdp_config["fsdp_activation_checkpointing"] is True


@pytest.mark.parametrize(
    "init, device, installed, expected",
    [
        ({}, "cuda", True, "flash_attention_2"),
        ({}, "cuda", False, "sdpa"),
        ({}, "cpu", True, "sdpa"),
        ({"attn_implementation": "eager"}, "cuda", True, "eager"),
    ],
)
def test_attention_implementation(init, device, installed, expected):
    assert S.attention_implementation(init, device, installed) == expected
    got = S.model_init_kwargs(sft_section("paper", trl={"model_init_kwargs": init}), device, installed)
    assert got["attn_implementation"] == expected and got["dtype"] == "float32"


def test_flash_attn_pinned_for_the_train_env():
    """envs/train.yaml documents FlashAttention-2; its post-deploy script (which Snakemake runs after creating the
    env) installs the pinned flash-attn against the env's CUDA torch and skips it on a CPU torch."""
    env = REPO / "envs" / "train.yaml"
    post = REPO / "envs" / "train.post-deploy.sh"  # Snakemake's name for it: the env file's, .post-deploy.sh
    text = post.read_text()
    pin = next(tok for tok in text.split() if tok.startswith("FLASH_ATTN=")).split("=", 1)[1]
    assert pin.startswith("flash-attn==") and len(pin.split("==")[1].split(".")) >= 3
    assert pin in env.read_text()
    assert "--no-build-isolation" in text and "torch.version.cuda" in text
    subprocess.run(["bash", "-n", str(post)], check=True)


def test_gpu_job_without_cuda_fails_fast(tmp_path):
    """sft.gpus > 0 on a machine without CUDA: an error that says why, before any data or model is read."""
    kw = dict(
        train_path=str(tmp_path / "absent.parquet"),
        heldout_path=None,
        student_path_or_id=str(TINY),
        student=STUDENT,
        sft=sft_section(gpus=1),
        out_dir=str(tmp_path / "model"),
        metrics_path=str(tmp_path / "m.json"),
        checkpoint_dir=str(tmp_path / "ckpt"),
        config_hash=None,
    )
    with pytest.raises(engine.DeviceError, match=r"SFT \(sft.gpus\) asks for 1 GPU.*gpus: 0"):
        S.run(**kw)
    with pytest.raises(engine.DeviceError, match="asks for 4 GPU"):
        S.launch({**kw, "sft": sft_section(gpus=4, global_batch=8, micro_batch=2)}, None, "INFO")
    assert not (tmp_path / "ckpt").exists()  # nothing launched


def test_command_for_one_process():
    assert S.command_for(sft_section(gpus=1), "/ck/args.json", python="py") == [
        "py", "-m", "rewild.sft", "--args-file", "/ck/args.json"
    ]


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


# ---------------------------------------------------------------------------- checkpoints and fingerprints


def test_fingerprint_leaves_out_cadence_and_job_size():
    a = sft_section(trl={"save_steps": 2, "logging_steps": 1})
    b = sft_section(cpus=8, trl={"save_steps": 50, "logging_steps": 7, "save_total_limit": 5, "disable_tqdm": False})
    assert plan.sft_result_settings(a) == plan.sft_result_settings(b)
    c = sft_section(trl={"learning_rate": 1e-3})
    assert S.changed_settings(plan.sft_result_settings(a), plan.sft_result_settings(c)) == ["trl.learning_rate"]
    assert S.changed_settings({"x": {"y": 1}}, {"x": {"y": 1, "z": 2}}) == ["x.z"]


def _fake_checkpoint(d: Path, step: int) -> None:
    (d / f"checkpoint-{step}").mkdir(parents=True)
    (d / f"checkpoint-{step}" / "trainer_state.json").write_text(json.dumps({"global_step": step}))


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


def test_checkpoints_from_other_settings_are_discarded(tmp_path, caplog):
    ckpt = tmp_path / "ckpt"
    settings = {"sft": plan.sft_result_settings(sft_section()), "data": {"train_sha256": "aa"}}
    assert S.prepare_checkpoint_dir(ckpt, settings) is None  # nothing yet: settings recorded
    _fake_checkpoint(ckpt, 2)
    _fake_checkpoint(ckpt, 4)
    (ckpt / "checkpoint-6").mkdir()  # a save that was killed
    S.record_attempt(ckpt, False)
    assert S.prepare_checkpoint_dir(ckpt, copy.deepcopy(settings)).name == "checkpoint-4"  # same settings: resume
    assert not (ckpt / "checkpoint-6").exists()

    other = copy.deepcopy(settings)
    other["sft"]["trl"]["learning_rate"] = 1e-3
    other["data"]["train_sha256"] = "bb"
    with caplog.at_level("WARNING", logger="rewild.sft"):
        assert S.prepare_checkpoint_dir(ckpt, other) is None
    assert "discarding stale checkpoint(s) ['checkpoint-2', 'checkpoint-4']" in caplog.text
    assert "made with other settings (changed: data.train_sha256, sft.trl.learning_rate)" in caplog.text
    assert S.complete_checkpoints(ckpt) == [] and not (ckpt / S.RESUMES_FILE).exists()
    assert json.loads((ckpt / S.SETTINGS_FILE).read_text())["settings"] == other

    # a checkpoint directory without recorded settings (older rewild) is not trusted either
    (ckpt / S.SETTINGS_FILE).unlink()
    _fake_checkpoint(ckpt, 2)
    assert S.prepare_checkpoint_dir(ckpt, other) is None and S.complete_checkpoints(ckpt) == []


def test_whole_run_train_loss():
    # steps 1..6, per-step losses 6,5,4,3,2,1; logged every 2 steps; resumed at 4
    hist = [
        {"loss": 5.5, "step": 2},
        {"eval_loss": 9.0, "step": 2},
        {"loss": 3.5, "step": 4},
        {"loss": 1.5, "step": 6},  # logged by the resumed attempt
    ]
    assert S.whole_run_train_loss(hist, 4, 1.5, 6) == pytest.approx(3.5)  # (6+5+4+3+2+1)/6
    assert S.whole_run_train_loss(hist, 0, 2.25, 6) == 2.25  # no resume: the Trainer's own value
    assert S.whole_run_train_loss(hist, 4, None, 6) is None


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

def _write_mix(d: Path, n_train: int = 20, n_heldout: int = 2) -> tuple[Path, Path]:
    """A mix's train/held-out split from the realistic WildChat rows: long multi-turn chats in several languages and
    scripts (many far over max_length: packing truncates them), pasted code, empty and odd turns."""
    import pandas as pd

    rows = []
    for line in (REPO / REALISTIC_DATA).read_text(encoding="utf-8").splitlines():
        try:
            conv = json.loads(line)["conversation"]
            msgs = [{"role": str(m["role"]), "content": str(m["content"] or "")} for m in conv]
        except (ValueError, KeyError, TypeError):
            continue  # the set's deliberately malformed rows: the prompts stage rejects them before any mix
        rows.append({"id": str(len(rows)), "source": "test", "messages": msgs})
        if len(rows) == n_train + n_heldout:
            break
    assert len(rows) == n_train + n_heldout
    d.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows[:n_train]).to_parquet(d / "train.parquet")
    pd.DataFrame(rows[n_train:]).to_parquet(d / "heldout.parquet")
    return d / "train.parquet", d / "heldout.parquet"


@needs_tiny
def test_every_hub_read_gets_the_pinned_revision(tmp_path, monkeypatch):
    """An offline node holds only the pinned snapshot: config, tokenizer and weights must all be read at that
    revision. TRL's own loader reads AutoConfig without it, so rewild loads the model (one real training step)."""
    import transformers

    rev = "0123456789abcdef0123456789abcdef01234567"
    calls: list[tuple[str, object]] = []
    missing = object()
    for cls in (transformers.AutoConfig, transformers.AutoTokenizer, transformers.AutoModelForCausalLM,
                transformers.AutoProcessor, transformers.PreTrainedModel, transformers.PreTrainedConfig,
                transformers.PreTrainedTokenizerBase, transformers.GenerationConfig):
        func = cls.from_pretrained.__func__

        def spy(klass, *args, __func=func, **kwargs):
            if args and str(args[0]) == str(TINY):
                calls.append((klass.__name__, kwargs.get("revision", missing)))
            return __func(klass, *args, **kwargs)

        monkeypatch.setattr(cls, "from_pretrained", classmethod(spy))

    train, _ = _write_mix(tmp_path / "mix", n_train=4, n_heldout=0)
    sft = sft_section(global_batch=1, micro_batch=1, trl={"max_length": 64, "max_steps": 1, "save_strategy": "no"})
    S.run(train, None, str(TINY), {**STUDENT, "revision": rev}, sft, tmp_path / "model", tmp_path / "m.json",
          tmp_path / "ckpt", None)
    names = {name for name, _ in calls}
    assert {"AutoConfig", "AutoTokenizer", "LlamaForCausalLM"} <= names, calls
    assert [c for c in calls if c[1] != rev] == []


@needs_tiny
@pytest.mark.slow
def test_train_tiny_student(tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    train, heldout = _write_mix(tmp_path / "mix", n_train=24, n_heldout=4)
    sft = sft_section(
        global_batch=4,
        micro_batch=2,
        trl={"max_length": 256, "logging_steps": 1, "warmup_steps": 1, "learning_rate": 1e-3, "max_steps": 4},
    )
    out, metrics_path, ckpt = tmp_path / "model", tmp_path / "model.metrics.json", tmp_path / "ckpt"
    m = S.run(train, heldout, str(TINY), STUDENT, sft, out, metrics_path, ckpt, "cfg123")

    saved = json.loads(metrics_path.read_text())
    assert saved["optimizer_steps"] == 4 and [p["step"] for p in saved["loss_curve"]] == [1, 2, 3, 4]
    assert all(isinstance(p["loss"], float) and p["lr"] is not None for p in saved["loss_curve"])
    assert saved["effective_batch"] == 4 and saved["grad_accumulation"] == 2 and saved["world_size"] == 1
    assert saved["tokens_seen"] > 0 and saved["eval_loss"] is not None and saved["resumes"] == 0
    assert saved["train_loss"] == pytest.approx(sum(p["loss"] for p in saved["loss_curve"]) / 4, rel=1e-9)
    assert saved["provenance"]["config_hash"] == "cfg123" and saved["provenance"]["world_size"] == 1
    assert saved["device"] == "cpu" and saved["attn_implementation"] == "sdpa"
    assert saved["activation_checkpointing"] == {"trainer": False, "fsdp": False}
    assert saved["settings"]["sft"]["trl"]["learning_rate"] == 1e-3 == saved["sft_config"]["learning_rate"]
    assert saved["settings"]["chat_template"] == T.resolve("chatml").identity()
    assert m["optimizer_steps"] == 4
    assert not ckpt.exists()  # checkpoints deleted after success

    model = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
    assert model.config.num_hidden_layers == 2
    tok = AutoTokenizer.from_pretrained(out)
    assert not T.has_generation_markers(tok.chat_template)
    assert saved["chat_template_sha256"] == T.text_sha256(tok.chat_template)
    text = tok.apply_chat_template(CONV[:1], tokenize=False, add_generation_prompt=True)
    assert text == "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"
    # the trained weights differ from the initial ones
    init = AutoModelForCausalLM.from_pretrained(TINY, dtype=torch.float32)
    assert not torch.equal(model.model.embed_tokens.weight, init.model.embed_tokens.weight)


# kill -9 and rerun: one uninterrupted run per learning rate, shared by the tests below

LR_OLD, LR_NEW = 1e-3, 2e-4


def _kill_sft() -> dict:
    return sft_section(
        global_batch=2, micro_batch=1, gpus=0,
        trl={"max_length": 96, "logging_steps": 1, "warmup_steps": 1, "save_steps": 2, "learning_rate": LR_NEW},
    )


def _args_file(root: Path, tag: str, mix: tuple[Path, Path], sft: dict) -> Path:
    d = root / tag
    run_kwargs = dict(
        train_path=str(mix[0]),
        heldout_path=str(mix[1]),
        student_path_or_id=str(TINY),
        student=STUDENT,
        sft=sft,
        out_dir=str(d / "model"),
        metrics_path=str(d / "metrics.json"),
        checkpoint_dir=str(d / "ckpt"),
        config_hash="h",
    )
    write_json(d / "args.json", {"run": run_kwargs, "log_path": str(d / "sft.log"), "log_level": "INFO"})
    return d / "args.json"


def _child(f: Path, **env) -> list:
    return [[sys.executable, "-m", "rewild.sft", "--args-file", str(f)], {**os.environ, "PYTHONPATH": str(REPO), **env}]


def _train(f: Path) -> dict:
    cmd, env = _child(f)
    subprocess.run(cmd, check=True, env=env, capture_output=True)
    return json.loads((f.parent / "metrics.json").read_text())


def _kill_after_first_checkpoint(f: Path) -> None:
    cmd, env = _child(f, REWILD_SFT_STEP_DELAY="0.5")  # a short sleep per step keeps the kill between checkpoints
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt = f.parent / "ckpt"
    deadline = time.time() + 300
    while not list(ckpt.glob("checkpoint-*/trainer_state.json")):
        assert proc.poll() is None, "training ended before its first checkpoint"
        assert time.time() < deadline
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    assert not (f.parent / "metrics.json").exists()


def _weights(model_dir: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(model_dir / "model.safetensors"))


def _assert_same_weights(a: Path, b: Path) -> None:
    import torch

    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k


@pytest.fixture(scope="module")
def kill_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("sft-kill")
    mix = _write_mix(root / "mix")
    plain = _train(_args_file(root, "plain", mix, _kill_sft()))
    assert plain["optimizer_steps"] >= 5  # enough steps to kill after the first checkpoint
    return root, mix, plain


@needs_tiny
@pytest.mark.slow
def test_kill9_resume_matches_uninterrupted(kill_runs):
    root, mix, plain = kill_runs
    f = _args_file(root, "killed", mix, _kill_sft())
    _kill_after_first_checkpoint(f)
    resumed = _train(f)
    n_steps = plain["optimizer_steps"]
    assert resumed["resumes"] == 1 and resumed["resumed_from"].startswith("checkpoint-")
    assert resumed["optimizer_steps"] == n_steps and resumed["tokens_seen"] == plain["tokens_seen"]
    assert [p["step"] for p in resumed["loss_curve"]] == list(range(1, n_steps + 1))
    assert resumed["final_loss"] == pytest.approx(plain["final_loss"], rel=1e-6)
    # the whole run's mean loss, not the last attempt's (which averages only the steps after the resume)
    assert resumed["train_loss"] == pytest.approx(plain["train_loss"], rel=1e-6)
    assert resumed["provenance"]["resumes"] == 1
    _assert_same_weights(root / "killed" / "model", root / "plain" / "model")
    text = (root / "killed" / "sft.log").read_text()
    assert "resuming from" in text and "discarding stale" not in text
    assert not (root / "killed" / "ckpt").exists()


@needs_tiny
@pytest.mark.slow
def test_stale_checkpoint_from_other_settings_is_discarded(kill_runs):
    """Kill after a checkpoint, change the learning rate, rerun: the old checkpoint is discarded (logged), and the
    result equals a clean run with the new setting. Before, the rerun resumed the old run's schedule silently."""
    root, mix, plain = kill_runs
    old = _kill_sft()
    old["trl"]["learning_rate"] = LR_OLD
    f = _args_file(root, "changed", mix, old)
    _kill_after_first_checkpoint(f)
    _args_file(root, "changed", mix, {**_kill_sft(), "cpus": 3})  # the new rate (and a job size, which is no reason)
    rerun = _train(f)
    log_text = (root / "changed" / "sft.log").read_text()
    assert "discarding stale checkpoint" in log_text and "made with other settings" in log_text
    assert "changed: sft.trl.learning_rate" in log_text
    assert rerun["resumes"] == 0 and rerun["resumed_from"] is None
    assert rerun["sft_config"]["learning_rate"] == LR_NEW == rerun["settings"]["sft"]["trl"]["learning_rate"]
    assert rerun["settings_fingerprint"] == plain["settings_fingerprint"]
    assert rerun["train_loss"] == plain["train_loss"] and rerun["loss_curve"] == plain["loss_curve"]
    _assert_same_weights(root / "changed" / "model", root / "plain" / "model")


@needs_tiny
@pytest.mark.slow
def test_sft_rule_through_snakemake(tmp_path):
    """The rule as Snakemake runs it: scripts/sft.py on rewild.job, the cadence settings read from the validated
    config (they are not in the rule's params), the rule's log written once."""
    cfg = yaml.safe_load((REPO / "config" / "mini.yaml").read_text())
    cfg["dgms"] = {"gpt": cfg["dgms"]["gpt"]}  # mix gpt-all only
    cfg["student"] = {"hf_id": str(TINY), "chat_template": "chatml"}  # the folder itself, no local build
    cfg["sft"]["trl"].update(max_steps=3, save_steps=2, logging_steps=1)
    (tmp_path / "work").mkdir()
    workdir, cfg_path = workdir_copy(tmp_path / "work", cfg)
    _write_mix(workdir / "results" / "mixes" / "gpt-all", n_train=12, n_heldout=2)
    run_snakemake(["--profile", "profiles/local", "-s", str(REPO / "Snakefile"), "-d", str(workdir),
                   "--configfile", str(cfg_path), "--cores", "1", "results/models/gpt-all.metrics.json",
                   "--allowed-rules", "sft"])
    m = json.loads((workdir / "results/models/gpt-all.metrics.json").read_text())
    assert m["optimizer_steps"] == 3 and m["sft_config"]["save_steps"] == 2 and m["sft_config"]["learning_rate"] == 1e-4
    assert m["settings"]["sft"]["trl"]["learning_rate"] == 1e-4 and "save_steps" not in m["settings"]["sft"]["trl"]
    assert m["student"] == str(TINY) and m["device"] == "cpu"
    text = (workdir / "logs/sft/gpt-all.log").read_text()
    assert text.count("SFT " + str(TINY)) == 1 and "checkpoint at step 2" in text and "done: 3 optimizer steps" in text
    assert (workdir / "results/models/gpt-all/model.safetensors").is_file()
    assert not (workdir / "results/.progress/sft/gpt-all").exists()
