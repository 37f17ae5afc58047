"""Which prompts an editor can draw, asked before anything runs (the Prompts page, the Generate and Train pages,
the CLIs), so that one prompt the style filter cannot draw never ends a whole run.

Diffusion editors draw any prompt. The offline style filter draws a prompt when a style (recipe) was chosen
for it, or when its words match one; :func:`style_ids` lists the styles, :func:`style_key` names each in the
text catalog.
"""

from __future__ import annotations

from typing import Iterable, Mapping


def style_ids() -> tuple[str, ...]:
    """The offline style filter's styles (recipe ids), in the order users see them."""
    from genmix_core.editing.offline import RECIPES

    return tuple(RECIPES)


def style_key(style: str | None) -> str:
    """Catalog key of a style's human name (``None``/``""``: "no style, match by text")."""
    return f"editor.offline.style.{style or 'none'}"


def undrawable(editor_id: str, prompts: Iterable[str], filters: Mapping[str, str] | None = None) -> list[str]:
    """The prompts (in order) that ``editor_id`` cannot draw with these prompt → style choices.

    Creates no model: diffusion editors draw everything; other editors are built (cheap) and asked.

    Raises:
        UserError: ``err.editor.unknown`` for an unknown editor id.
    """
    from genmix_core.editing.registry import create_editor, editor_spec

    prompts = list(prompts)
    if editor_spec(editor_id).is_diffusion:
        return []
    chosen = {text: style for text, style in (filters or {}).items() if style}
    editor = create_editor(editor_id, filters=chosen) if chosen else create_editor(editor_id)
    return [p for p in prompts if not editor.can_edit(p)]


def quoted(prompts: Iterable[str]) -> str:
    """``'a', 'b'`` for messages."""
    return ", ".join(f"“{p}”" for p in prompts)
