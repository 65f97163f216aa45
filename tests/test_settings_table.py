"""docs/settings.md, the one table of what each setting reruns, checked against the schema and against Snakemake.

The table must name every key of the schema. Then, on a finished run of a mini-sized config, each neutral setting
must plan nothing and each result setting must rerun exactly the rules the table lists. The finished run is
faked, so the test is dry runs only: every output of the DAG is created empty and `snakemake --touch --forceall`
records each job's metadata (params included) as a real run would; a dry run then compares params as after a
real run (tests/test_rerun.py does the same on a real run of the mini config).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from rewild_testlib import REPO, run_snakemake, workdir_copy

from rewild import config as rc

TABLE = REPO / "docs" / "settings.md"
PARAMS_CHANGED = "Params have changed since last execution"
JOB_HEADER = re.compile(r"^(?:local)?rule (\S+):$")


# ------------------------------------------------------------------------------------------------ the table


def table_rows() -> list[tuple[list[str], str, set[str]]]:
    """(keys, class, rules it reruns) per row of docs/settings.md."""
    rows = []
    for line in TABLE.read_text().splitlines():
        if not line.startswith("| `"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        keys = re.findall(r"`([^`]+)`", cells[0])
        rules = {r.strip() for r in cells[2].split(",") if r.strip()}
        rows.append((keys, cells[1], rules))
    return rows


def table() -> dict[str, tuple[str, set[str]]]:
    out: dict[str, tuple[str, set[str]]] = {}
    for keys, cls, rules in table_rows():
        for key in keys:
            assert key not in out, f"{key} is in two rows of docs/settings.md"
            out[key] = (cls, rules)
    return out


def schema_keys(node: dict, root: dict, path: tuple[str, ...] = ()) -> set[str]:
    """Dotted leaf keys of the schema: `*` for registry entries, `[]` for list items."""
    node = rc.resolve_ref(node, root) if "$ref" in node else node
    props, extra = node.get("properties"), node.get("additionalProperties")
    items = node.get("items") if node.get("type") == "array" else None
    if isinstance(items, dict):
        items = rc.resolve_ref(items, root) if "$ref" in items else items
        if items.get("properties"):
            return schema_keys(items, root, (*path, "[]"))
    out: set[str] = set()
    for key, sub in (props or {}).items():
        out |= schema_keys(sub, root, (*path, key))
    if isinstance(extra, dict):
        out |= schema_keys(extra, root, (*path, "*"))
    return out or {".".join(path)}


def test_table_names_every_schema_key_once():
    schema = rc.load_schema()
    documented = set(table())  # also fails on a key listed twice
    keys = schema_keys(schema, schema)
    assert not keys - documented, f"settings missing from docs/settings.md: {sorted(keys - documented)}"
    assert not documented - keys, f"docs/settings.md names keys the schema lacks: {sorted(documented - keys)}"
    assert {cls for cls, _ in table().values()} == {"result", "neutral", "plan"}


def test_readme_links_the_table():
    assert "docs/settings.md" in (REPO / "README.md").read_text()


# ------------------------------------------------------------------------------------------------ a faked run

CONFIG_NAME = "config.test.yaml"


def settings_config() -> dict:
    """The mini config, with one mix in `mixes` (sft_overrides exist only there) and decontamination on."""
    cfg = yaml.safe_load((REPO / "config" / "mini.yaml").read_text())
    cfg["mix_grid"] = [{"sizes": {"all": 1.0}, "dgms": ["tiny-random"]}]
    cfg["mixes"] = {"gpt-all": {"components": [{"dgm": "gpt", "select": {"first_fraction": 1.0}}]}}
    cfg["filters"] = {"decontaminate": {"enabled": True}}
    cfg["dgms"]["tiny-random"]["abbrev"] = "TR"
    return cfg


def smk_args(workdir: Path, config: Path) -> list[str]:
    return ["--profile", "profiles/local", "-d", str(workdir), "--configfile", str(config)]


def job_blocks(output: str) -> dict[str, dict[str, str]]:
    """`rule[wildcards]` -> {output, reason, ...} from the per-job blocks of a dry run."""
    jobs: dict[str, dict[str, str]] = {}
    block: dict[str, str] | None = None

    def close() -> None:
        if block is not None:
            wc = block.get("wildcards", "").replace(" ", "")
            jobs[f"{block['rule']}[{wc}]" if wc else block["rule"]] = block

    for line in output.splitlines():
        m = JOB_HEADER.match(line)
        if m:
            close()
            block = {"rule": m.group(1)}
        elif block is not None and line.startswith("    "):
            key, _, value = line.strip().partition(": ")
            block[key] = value
        elif block is not None:
            close()
            block = None
    close()
    return jobs


def dry_run(workdir: Path, config: Path) -> tuple[dict[str, dict[str, str]], str]:
    proc = run_snakemake(smk_args(workdir, config) + ["-n"])
    return job_blocks(proc.stdout + proc.stderr), proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def faked_run(tmp_path_factory) -> tuple[Path, dict]:
    """A work directory whose every output exists and whose metadata says each job ran with this config."""
    workdir, cfg_path = workdir_copy(tmp_path_factory.mktemp("settings"), settings_config(), name=CONFIG_NAME)
    jobs, _ = dry_run(workdir, cfg_path)
    assert len(jobs) > 10, jobs
    for job in jobs.values():
        for out in filter(None, (o.strip() for o in job.get("output", "").split(","))):
            path = workdir / out
            if path.suffix:  # files; the rules' directory outputs (model folders) have no suffix
                path.parent.mkdir(parents=True, exist_ok=True)
                path.touch()
            else:
                path.mkdir(parents=True, exist_ok=True)
    run_snakemake(smk_args(workdir, cfg_path) + ["--touch", "--forceall"])
    jobs, out = dry_run(workdir, cfg_path)
    assert jobs == {} and "Nothing to be done" in out, out[-3000:]
    return workdir, {job["rule"] for job in job_blocks(run_snakemake(
        smk_args(workdir, cfg_path) + ["-n", "--forceall"]).stdout).values()}


# One edit per setting; `*` and `[]` name the test config's entries below.
ENTRY = {"dgms": "tiny-random", "mixes": "gpt-all", "tasks": "demo-mc"}
NEUTRAL_EDITS: dict[str, object] = {
    "run.log_level": "DEBUG",
    "generation.checkpoint_every": 3,
    "dgms.*.abbrev": "TINY",
    "dgms.*.runtime_per_shard_min": 77,
    "sft.cpus": 2,
    "sft.trl.save_strategy": "no",
    "sft.trl.save_steps": 7,
    "sft.trl.save_total_limit": 1,
    "sft.trl.logging_steps": 2,
    "sft.trl.logging_first_step": False,
    "sft.trl.disable_tqdm": False,
    "sft.trl.report_to": "tensorboard",
    "eval.cpus": 2,
    "eval.judge.concurrency": 2,
    "eval.judge.timeout_s": 60,
    "eval.judge.max_retries": 1,
    "resources.caps.gpu.mem_mb": 64_000,
    "resources.caps.gpu.runtime": 600,
    "resources.caps.cpu.mem_mb": 1_000,
    "resources.caps.cpu.runtime": 20,
}
RESULT_EDITS: dict[str, object] = {
    "run.name": "another-run",
    "prompts.source.format": "messages",
    "prompts.shard_size": 6,
    "generation.temperature": 0.7,
    "generation.output_fraction": 0.3,
    "generation.system_prompt": "Be brief.",
    "generation.batch_conversations": 8,
    "generation.engine.enforce_eager": True,
    "dgms.*.revision": "abc123",
    "dgms.*.max_model_len": 150,
    "dgms.*.params_b": 0.01,
    "dgms.*.local_build.seed": 2,
    "filters.dedup": True,
    "filters.decontaminate.ngram": 8,
    "mixes.*.components.[].select.first_fraction": 0.5,
    "mixes.*.sft_overrides": {"learning_rate": 5.0e-5},
    "mix_grid.[].sizes.*": 0.5,
    "student.eos_token": "<|im_end|>",
    "student.local_build.seed": 3,
    "sft.heldout_fraction": 0.2,
    "sft.micro_batch": 2,
    "sft.trl.learning_rate": 3.0e-4,
    "eval.seed": 7,
    "eval.max_gen_toks": 4,
    "eval.tasks.*.num_fewshot": 1,
    "analyses.similarity_k": 3,
    "analyses.metric": "demo-mc",
}
PLAN_EDITS: dict[str, object] = {
    "eval.evaluate_base": False,
    "eval.evaluate_dgms": ["tiny-random"],
}


def apply_edit(cfg: dict, key: str, value: object) -> None:
    """Set dotted `key` (with `*`/`[]` standing for the test config's entries) in `cfg`."""
    parts = key.split(".")
    node: object = cfg
    for i, part in enumerate(parts[:-1]):
        if part == "*":
            part = ENTRY.get(parts[i - 1]) or next(iter(node))  # mix_grid sizes: the one size label
        elif part == "[]":
            part = 0
        nxt = node[part] if isinstance(node, list) or part in node else None
        if nxt is None:
            node[part] = nxt = {}
        node = nxt
    last = parts[-1]
    if last == "*":
        last = next(iter(node))
    node[last] = copy.deepcopy(value)


def edited_run(faked_run, tmp_path: Path, edit: Callable[[dict], None]) -> tuple[dict[str, dict[str, str]], str]:
    workdir, _ = faked_run
    cfg = yaml.safe_load((workdir / CONFIG_NAME).read_text())
    edit(cfg)
    path = tmp_path / "edited.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return dry_run(workdir, path)


def test_every_neutral_setting_is_tested_and_documented():
    documented = table()
    neutral = {k for k, (cls, _) in documented.items() if cls == "neutral"}
    assert neutral == set(NEUTRAL_EDITS)
    for key in RESULT_EDITS:
        assert documented[key][0] == "result", key
    for key in PLAN_EDITS:
        assert documented[key][0] == "plan", key


def test_neutral_settings_rerun_nothing(faked_run, tmp_path):
    """All neutral settings changed at once: nothing to do (a job's reason names the params that changed)."""
    def edit(cfg):
        for key, value in NEUTRAL_EDITS.items():
            apply_edit(cfg, key, value)

    jobs, out = edited_run(faked_run, tmp_path, edit)
    assert jobs == {} and "Nothing to be done" in out, {k: v.get("reason") for k, v in jobs.items()}


def test_cadence_in_a_mixs_sft_overrides_reruns_nothing(faked_run, tmp_path):
    jobs, out = edited_run(faked_run, tmp_path, lambda cfg: apply_edit(cfg, "mixes.*.sft_overrides", {"save_steps": 3}))
    assert jobs == {} and "Nothing to be done" in out, {k: v.get("reason") for k, v in jobs.items()}


@pytest.mark.parametrize("key", sorted(RESULT_EDITS))
def test_result_setting_reruns_its_rules(faked_run, tmp_path, key):
    _, rules_in_dag = faked_run
    jobs, out = edited_run(faked_run, tmp_path, lambda cfg: apply_edit(cfg, key, RESULT_EDITS[key]))
    by_params = {job["rule"] for job in jobs.values() if PARAMS_CHANGED in job.get("reason", "")}
    listed = table()[key][1]
    assert listed & rules_in_dag, f"{key}: none of its rules is in the test DAG"
    # Rules listed for a registry key may be another kind of entry's (source_responses for a source DGM), and a
    # listed rule downstream of another is planned for its updated input (Snakemake reports only that reason):
    # so some listed rule reruns for its params, and no rule outside the list does.
    assert by_params and by_params <= listed, {k: v.get("reason") for k, v in jobs.items()}


@pytest.mark.parametrize("key", sorted(PLAN_EDITS))
def test_plan_setting_adds_or_removes_jobs_only(faked_run, tmp_path, key):
    jobs, out = edited_run(faked_run, tmp_path, lambda cfg: apply_edit(cfg, key, PLAN_EDITS[key]))
    assert not [k for k, v in jobs.items() if PARAMS_CHANGED in v.get("reason", "")], jobs
