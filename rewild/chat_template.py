"""Chat templates: the one resolver for every stage that renders conversations.

A template setting (`student.chat_template`, `dgms.<key>.chat_template`, a judge subject's override) is either the
name of a template packaged in `rewild/templates/` (`llama3`, `chatml`) or the path of a Jinja file; null means the
tokenizer's own template. Resolution: a bare name (no `/`) that names a packaged template is that template;
anything else is a path, relative to the working directory (where Snakemake runs every job).

A resolved template's identity is its source (the setting as written) and the SHA-256 of the file's bytes; the
identity travels in the rules' params (`chat_template_sha256`), so editing a template reruns what it renders.

The packaged templates carry `{% generation %}` markers, which TRL turns into the assistant-only loss mask. Every
stage that renders prompts for inference (generation, judging, evaluation, the saved student folder) uses the
`plain` text with the markers removed: it renders identically (tested) and is a plain Jinja template that vLLM and
lm-eval accept. `text_sha256` is the digest of an applied template (lm-eval's `chat_template_sha`).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

PACKAGED_DIR = Path(__file__).resolve().parent / "templates"

_MARKER = re.compile(r"\{%-?\s*(?:end)?generation\s*-?%\}")
_OPEN_MARKER = re.compile(r"\{%-?\s*generation\s*-?%\}")
# A marker alone on its line: transformers renders templates with trim_blocks + lstrip_blocks, so the line's
# indentation and newline never reach the output and the whole line can go.
_MARKER_LINE = re.compile(r"^[ \t]*\{%-?\s*(?:end)?generation\s*-?%\}[ \t]*\n", re.MULTILINE)


class TemplateNotFoundError(FileNotFoundError):
    """A template setting that is neither a packaged template name nor a file."""


def packaged_names() -> list[str]:
    return sorted(p.stem for p in PACKAGED_DIR.glob("*.jinja"))


def has_generation_markers(text: str) -> bool:
    return _OPEN_MARKER.search(text) is not None


def strip_generation_markers(text: str) -> str:
    """The inference template: `text` without `{% generation %}` / `{% endgeneration %}` tags.

    The shipped templates use left-trimming tags everywhere, so removing the markers does not change the rendering.
    """
    return _MARKER.sub("", _MARKER_LINE.sub("", text))


def text_sha256(text: str) -> str:
    """SHA-256 of a template's text as applied (the digest lm-eval records as `chat_template_sha`)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def template_file(name_or_path: str) -> Path | None:
    """The file a template setting names (see the module docstring), or None if it names none."""
    if "/" not in name_or_path and (PACKAGED_DIR / f"{name_or_path}.jinja").is_file():
        return PACKAGED_DIR / f"{name_or_path}.jinja"
    path = Path(name_or_path)
    return path if path.is_file() else None


@dataclass(frozen=True)
class ChatTemplate:
    """A resolved template setting."""

    source: str  # the setting as written: a packaged name or a path
    path: Path  # the file read
    text: str  # as written (packaged templates carry generation markers)
    sha256: str  # of the file's bytes

    @property
    def packaged(self) -> bool:
        return self.path.parent == PACKAGED_DIR

    @property
    def has_generation_markers(self) -> bool:
        return has_generation_markers(self.text)

    @property
    def plain(self) -> str:
        """The text without generation markers: what generation, judging, evaluation and saved models use."""
        return strip_generation_markers(self.text)

    def identity(self) -> dict[str, str]:
        return {"source": self.source, "sha256": self.sha256}


def resolve(name_or_path: str | None) -> ChatTemplate | None:
    """Resolve a template setting; None for null (the tokenizer's own template). Raises TemplateNotFoundError."""
    if name_or_path is None:
        return None
    path = template_file(name_or_path)
    if path is None:
        raise TemplateNotFoundError(
            f"chat template {name_or_path!r} is neither a packaged template {packaged_names()} nor a file"
        )
    data = path.read_bytes()
    return ChatTemplate(
        source=name_or_path, path=path, text=data.decode("utf-8"), sha256=hashlib.sha256(data).hexdigest()
    )


def sha256(name_or_path: str) -> str:
    """The identity digest of a template setting (what params carry as `chat_template_sha256`)."""
    return resolve(name_or_path).sha256


def for_inference(name_or_path: str | None) -> str | None:
    """The plain template text a setting names, for rendering prompts; None for the tokenizer's own template."""
    template = resolve(name_or_path)
    return template.plain if template else None
