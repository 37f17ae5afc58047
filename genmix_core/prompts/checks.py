"""Checks of prompt texts shared by prompt files, the prompt table and the CLI (no file access here).

Each failed check is a :class:`~genmix_core.errors.UserError` (``err.prompts.*``) naming the source (file
name or "table"), the entry and the fix.
"""

from __future__ import annotations

import unicodedata
from typing import Any, Sequence

from genmix_core.errors import UserError

# InstructPix2Pix reads prompts through CLIP's text encoder, which stops at 77 tokens (start and end
# included). English runs at about 4 characters per token, so 120 characters (~30-40 tokens) always fits and
# still allows a descriptive phrase; the authors' prompts are 1-3 words.
MAX_PROMPT_CHARS = 120


def prompt_key(text: str) -> str:
    """Comparison key of a prompt: Unicode-NFKC, case-folded, inner whitespace collapsed.

    ``"Snowy "``, ``"snowy"`` and full-width ``"ｓｎｏｗｙ"`` share one key, so they count as duplicates.
    """
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def has_control(text: str) -> bool:
    """Whether ``text`` holds control characters or line/paragraph separators (tabs and line breaks too)."""
    return any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in text)


def validate_prompts(texts: Sequence[str], *, source: str = "") -> list[str]:
    """Strip and check prompt texts.

    Args:
        texts: prompt strings, in order.
        source: where they came from (file name or "table"), shown in error messages.

    Returns:
        The stripped texts, same order.

    Raises:
        UserError: ``err.prompts.wrong_type`` (not a string), ``err.prompts.empty``,
            ``err.prompts.control_chars``, ``err.prompts.too_long`` (over :data:`MAX_PROMPT_CHARS`),
            ``err.prompts.duplicate`` (same text up to case, width and whitespace), ``err.prompts.none``
            (no prompt at all).
    """
    where = source or "-"
    out: list[str] = []
    seen: dict[str, str] = {}
    for i, raw in enumerate(texts, start=1):
        if not isinstance(raw, str):
            raise UserError("err.prompts.wrong_type", file=where, field=f"prompts[{i}].text",
                            expected="text", got=type(raw).__name__, value=repr(raw))
        text = raw.strip()
        if not text:
            raise UserError("err.prompts.empty", file=where, index=i)
        if has_control(text):
            raise UserError("err.prompts.control_chars", file=where, index=i, prompt=repr(text))
        if len(text) > MAX_PROMPT_CHARS:
            raise UserError("err.prompts.too_long", file=where, index=i, prompt=text[:40] + "…",
                            length=len(text), max=MAX_PROMPT_CHARS)
        key = prompt_key(text)
        if key in seen:
            raise UserError("err.prompts.duplicate", file=where, index=i, prompt=text, first=seen[key])
        seen[key] = text
        out.append(text)
    if not out:
        raise UserError("err.prompts.none", file=where)
    return out


def text_pair(value: Any, *, where: str, field_name: str, required: bool) -> dict[str, str]:
    """Accept ``"text"`` or ``{en: ..., ja: ...}`` and return ``{lang: text}``."""
    if value is None:
        if required:
            raise UserError("err.prompts.wrong_type", file=where, field=field_name,
                            expected="text or {en: ..., ja: ...}", got="nothing", value="-")
        return {}
    if isinstance(value, str):
        return {"en": value.strip()}
    if isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        return {k: v.strip() for k, v in value.items()}
    raise UserError("err.prompts.wrong_type", file=where, field=field_name,
                    expected="text or {en: ..., ja: ...}", got=type(value).__name__, value=repr(value)[:60])


def optional_str(value: Any, *, where: str, field_name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise UserError("err.prompts.wrong_type", file=where, field=field_name, expected="text",
                        got=type(value).__name__, value=repr(value)[:60])
    value = value.strip()
    if has_control(value):
        raise UserError("err.prompts.control_chars", file=where, index=field_name, prompt=repr(value))
    return value or None
