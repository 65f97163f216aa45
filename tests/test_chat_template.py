"""rewild.chat_template: one resolver (packaged name or path), one identity (source + SHA-256), used alike by
validation, params hashing, generation, judging, evaluation and SFT."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from rewild_testlib import REPO

from rewild import chat_template as T
from rewild import config as rc
from rewild import plan

TINY = REPO / ".cache" / "tiny-random-hf"
needs_tiny = pytest.mark.skipif(not (TINY / "config.json").is_file(), reason="tiny random student not built")

PACKAGED = REPO / "rewild" / "templates"

CONV = [
    {"role": "user", "content": "What is the capital of France?"},
    {"role": "assistant", "content": "Paris is the capital of France."},
    {"role": "user", "content": "Und die Hauptstadt von Italien? 还有日本的首都呢？"},
    {"role": "assistant", "content": "Rom. 東京です。\n\nΑθήνα δεν ρωτήθηκε."},
]
VARIANTS = [
    CONV,
    [{"role": "system", "content": "Be brief."}, *CONV],
    [{"role": "user", "content": "  padded  "}, {"role": "assistant", "content": " spaced \n"}],
    [{"role": "user", "content": "only a question, no answer yet"}],
]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tok():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(TINY)


# ----------------------------------------------------------------------------------------------- resolution


@pytest.mark.parametrize("name", ["llama3", "chatml"])
def test_packaged_by_name(name):
    t = T.resolve(name)
    assert t.packaged and t.path == PACKAGED / f"{name}.jinja" and t.source == name
    assert t.sha256 == _digest(PACKAGED / f"{name}.jinja")
    assert t.identity() == {"source": name, "sha256": t.sha256}
    assert t.has_generation_markers and not T.has_generation_markers(t.plain)
    assert "generation %}" not in t.plain


def test_path_absolute_and_relative_to_the_working_directory(tmp_path, monkeypatch):
    body = "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}{% endfor %}"
    (tmp_path / "tpl").mkdir()
    f = tmp_path / "tpl" / "mine.jinja"
    f.write_text(body, encoding="utf-8")
    t = T.resolve(str(f))
    assert not t.packaged and t.text == body and t.plain == body and t.sha256 == _digest(f)
    monkeypatch.chdir(tmp_path)
    rel = T.resolve("tpl/mine.jinja")
    assert rel.source == "tpl/mine.jinja" and rel.sha256 == t.sha256
    assert T.for_inference("tpl/mine.jinja") == body


def test_bare_packaged_name_wins_over_a_file_of_that_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "chatml").write_text("not a template")
    assert T.resolve("chatml").path == PACKAGED / "chatml.jinja"
    assert T.resolve("./chatml").text == "not a template"  # with a path separator it is a path


def test_null_and_missing(tmp_path):
    assert T.resolve(None) is None and T.for_inference(None) is None
    with pytest.raises(T.TemplateNotFoundError, match=r"'no-such'.*\['chatml', 'llama3'\]"):
        T.resolve("no-such")
    with pytest.raises(FileNotFoundError):
        T.resolve(str(tmp_path / "absent.jinja"))
    assert T.template_file("no-such") is None


def test_identity_follows_the_bytes(tmp_path):
    f = tmp_path / "t.jinja"
    f.write_text("{{ messages[0]['content'] }}")
    before = T.sha256(str(f))
    f.write_text("{{ messages[-1]['content'] }}")
    assert T.sha256(str(f)) != before == hashlib.sha256(b"{{ messages[0]['content'] }}").hexdigest()


# ------------------------------------------------------------------------------------------- rendering


@needs_tiny
@pytest.mark.parametrize("name", ["llama3", "chatml"])
def test_plain_template_renders_like_marked(name):
    tok = _tok()
    t = T.resolve(name)
    for msgs in VARIANTS:
        for agp in (False, True):
            a = tok.apply_chat_template(msgs, chat_template=t.text, tokenize=False, add_generation_prompt=agp)
            b = tok.apply_chat_template(msgs, chat_template=t.plain, tokenize=False, add_generation_prompt=agp)
            assert a == b


@needs_tiny
def test_llama3_template_is_metas():
    """Without markers our llama3 template renders exactly like the original Llama-3 template (TRL's copy)."""
    import trl

    original = (Path(trl.__file__).parent / "chat_templates" / "llama3.jinja").read_text()
    tok = _tok()
    plain = T.for_inference("llama3")
    for msgs in VARIANTS:
        for agp in (False, True):
            assert tok.apply_chat_template(msgs, chat_template=plain, tokenize=False, add_generation_prompt=agp) == (
                tok.apply_chat_template(msgs, chat_template=original, tokenize=False, add_generation_prompt=agp)
            )


# ------------------------------------------------------------------------- every stage, one answer


def test_dgm_with_packaged_template_by_name(demo_config):
    """A DGM with `chat_template: chatml`: validation accepts it, its params carry the packaged file's digest, and
    generation renders with the same template, markers removed. Before, generation read only paths and failed."""
    from rewild import generate

    dgm = next(iter(demo_config["dgms"]))
    demo_config["dgms"][dgm]["chat_template"] = "chatml"
    rc.validate(demo_config)
    params = plan.dgm_params(demo_config, dgm)
    assert params["chat_template"] == "chatml"
    assert params["chat_template_sha256"] == _digest(PACKAGED / "chatml.jinja") == T.sha256("chatml")
    rendered = generate.load_chat_template(demo_config["dgms"][dgm])
    assert rendered == T.resolve("chatml").plain and not T.has_generation_markers(rendered)


def test_student_params_and_validation_agree(demo_config, tmp_path, monkeypatch):
    f = tmp_path / "student.jinja"
    f.write_text((PACKAGED / "chatml.jinja").read_text() + "\n")
    demo_config["student"]["chat_template"] = str(f)
    rc.validate(demo_config)
    assert plan.student_params(demo_config)["chat_template_sha256"] == _digest(f) != T.sha256("chatml")
    demo_config["student"]["chat_template"] = "no-such-template"
    with pytest.raises(rc.ConfigError) as err:
        rc.validate(demo_config)
    assert err.value.key == "student.chat_template"


def test_evaluation_digest_is_the_applied_text():
    from rewild import evaluate

    plain = T.for_inference("chatml")
    assert evaluate.chat_template_hash(plain) == T.text_sha256(plain) == hashlib.sha256(plain.encode()).hexdigest()
    assert evaluate.chat_template_hash(None) is None
