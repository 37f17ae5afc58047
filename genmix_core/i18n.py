"""Text catalog for the UI and for user-facing errors, in English and Japanese.

The catalog is plain data: every ``genmix_core/locales/*.yaml`` file maps a dotted key to
``{en: ..., ja: ...}``. Files are split by area (``data.yaml``, ``mixing.yaml`` ...) so that each part of the
product keeps its own texts; keys must be unique across files. ``{name}`` placeholders are filled with
``str.format``.
"""

from __future__ import annotations

import functools
from pathlib import Path

import yaml

LANGS = ("en", "ja")
DEFAULT_LANG = "en"
LOCALES_DIR = Path(__file__).with_name("locales")


@functools.lru_cache(maxsize=1)
def catalog() -> dict[str, dict[str, str]]:
    """All keys of all locale files, ``{key: {lang: text}}``. Raises on a key defined twice."""
    merged: dict[str, dict[str, str]] = {}
    for path in sorted(LOCALES_DIR.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for key, texts in data.items():
            if key in merged:
                raise ValueError(f"i18n key {key!r} is defined twice (again in {path.name})")
            if not isinstance(texts, dict):
                raise ValueError(f"i18n key {key!r} in {path.name} must map languages to texts")
            merged[key] = {str(k): str(v) for k, v in texts.items()}
    return merged


def lang_from_locale(locale: str | None) -> str:
    """Pick the UI language from a browser locale such as ``"ja-JP"``; English otherwise."""
    if locale and locale.lower().startswith("ja"):
        return "ja"
    return DEFAULT_LANG


class Term(str):
    """A catalog key used as a message parameter (``file=Term("prompts.source.table")``): it reads as its English
    text (``str(err)``, logs, JSON) and is rendered in the message's own language by :func:`t`."""

    def __new__(cls, key: str) -> "Term":
        obj = super().__new__(cls, t(key, DEFAULT_LANG))
        obj.key = key
        return obj

    def __reduce__(self):  # pickles (session state) as the key
        return (Term, (self.key,))


def _render(value: object, lang: str) -> object:
    """A :class:`Term` (or a tuple of them, joined with commas) in ``lang``; any other value unchanged."""
    if isinstance(value, Term):
        return t(value.key, lang)
    if isinstance(value, tuple) and value and all(isinstance(v, Term) for v in value):
        return ("、" if lang == "ja" else ", ").join(t(v.key, lang) for v in value)
    return value


def t(key: str, lang: str = DEFAULT_LANG, **params: object) -> str:
    """The text for ``key`` in ``lang`` (falling back to English, then to the key itself), formatted.

    Parameters that are :class:`Term` (or tuples of them) are rendered in ``lang`` too.
    """
    texts = catalog().get(key)
    if texts is None:
        text = key
    else:
        text = texts.get(lang) or texts.get(DEFAULT_LANG) or key
    if params:
        # A parameter named ``<name>_key`` holds a catalog key, filled in as ``{name}`` in the same language (a job
        # records the key of a condition's name, and each reader sees that name in their own language).
        params = {**params, **{k[:-4]: t(v, lang) for k, v in params.items()
                               if k.endswith("_key") and isinstance(v, str)}}
        params = {k: _render(v, lang) for k, v in params.items()}
        try:
            return text.format(**params)
        except (KeyError, IndexError, ValueError):
            return text
    return text
