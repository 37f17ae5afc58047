"""The text catalog is complete: every key in English and Japanese, same placeholders, no key missing."""

import re
import string
from pathlib import Path

import pytest

from genmix_core import i18n

REPO = Path(__file__).resolve().parent.parent
# Literal keys passed to t(...) / UserError(...) in the app shell, the ui package and the pages.
KEY_CALL = re.compile(r"""\b(?:t|UserError)\(\s*["']([a-z][a-z0-9_]*(?:\.[a-z0-9_]+)+)["']""")


def _placeholders(text: str) -> set[str]:
    return {field.split(".")[0].split("[")[0].split("!")[0]
            for _, field, _, _ in string.Formatter().parse(text) if field is not None}


def _app_sources() -> list[Path]:
    return [REPO / "app.py", *sorted((REPO / "ui").glob("*.py")), *sorted((REPO / "pages").glob("*.py"))]


def test_every_key_has_english_and_japanese():
    missing = [(key, lang) for key, texts in i18n.catalog().items() for lang in i18n.LANGS
               if not str(texts.get(lang, "")).strip()]
    assert missing == []


def test_placeholders_match_between_languages():
    mismatched = {key: (_placeholders(texts["en"]), _placeholders(texts["ja"]))
                  for key, texts in i18n.catalog().items()
                  if "en" in texts and "ja" in texts and _placeholders(texts["en"]) != _placeholders(texts["ja"])}
    assert mismatched == {}


def test_japanese_texts_are_japanese():
    # A copy-pasted English text in the ja column is the commonest catalog slip; UI texts of the app must
    # contain at least one kana/kanji (names like "GenMix" alone are the exception).
    ui_keys = [k for k in i18n.catalog() if k.startswith("ui.")]
    jp = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
    bare = {k: re.sub(r"\{[^}]*\}", "", i18n.catalog()[k]["ja"]) for k in ui_keys}
    english_only = [k for k, text in bare.items() if not jp.search(text) and re.search(r"[a-z]{4,}", text)]
    assert english_only == []


def test_every_literal_key_used_by_the_app_exists():
    sources = _app_sources()
    assert any(p.name == "app.py" for p in sources) and len(sources) >= 6
    used = {(p.relative_to(REPO).as_posix(), key) for p in sources
            for key in KEY_CALL.findall(p.read_text(encoding="utf-8"))}
    assert len(used) > 50
    missing = sorted((path, key) for path, key in used if key not in i18n.catalog())
    assert missing == []


@pytest.mark.parametrize("prefix, names", [
    ("ui.data.split.", ("train", "onsite")),
    ("ui.job.status.", ("running", "done", "failed", "cancelled", "interrupted")),
])
def test_keys_built_at_run_time_exist(prefix, names):
    assert [prefix + n for n in names if prefix + n not in i18n.catalog()] == []


def test_mask_labels_exist_for_every_mask_kind():
    from genmix_core.mixing import MASK_KINDS

    assert [k for k in MASK_KINDS if f"mix.mask.{k}" not in i18n.catalog()] == []


def test_key_pattern_finds_keys_and_ignores_other_calls():
    sample = 't("ui.home.title") st.write("x.y") UserError("err.editor.needs_diffusion", prompt=p) t(key)'
    assert KEY_CALL.findall(sample) == ["ui.home.title", "err.editor.needs_diffusion"]


def test_a_key_parameter_is_shown_in_the_readers_language():
    # A training job records the condition's catalog key; each reader sees its name, never the raw id.
    params = dict(condition_key="train.cond.baseline", k="", seed=0, step=1, steps=4, loss="0.500")
    ja = i18n.t("train.job.training", "ja", **params)
    en = i18n.t("train.job.training", "en", **params)
    assert ja.startswith("ベースライン（反転＋切り抜き） を学習中") and "baseline" not in ja
    assert en.startswith("Training Baseline (flips + crops) (random seed 0)")
