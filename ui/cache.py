"""Cached editors and edits for the interactive pages (Home, Prompts, Preview).

The editor object is one shared resource (``st.cache_resource``: a diffusion pipeline is large and is not
copied). An edit is data (``st.cache_data``), keyed on the image's content hash, the prompt, the editor's
settings and the seed, and bounded, so moving a mixing slider never recomputes it.
"""

from __future__ import annotations

import json

import streamlit as st

from genmix_core import preview

# A few dozen 512² PNG edits (~0.5 MB each) at most: enough for browsing one class and one prompt set.
EDIT_CACHE_ENTRIES = 64
# Interactive pages take InstructPix2Pix's 20-step preset (performance.md: 20 steps to the preview); the batch
# job on the Generate page keeps the paper's 100 steps unless the user sets fewer.


Filters = tuple[tuple[str, str], ...]


def filter_pairs(prompts) -> Filters:
    """``((text, recipe id), ...)`` of prompts that name an offline style-filter recipe (hashable, sorted)."""
    return tuple(sorted((p.text, p.filter) for p in prompts or () if getattr(p, "filter", None)))


@st.cache_resource(show_spinner=False, max_entries=8)
def get_editor(editor_id: str = "offline", model: str | None = None, filters: Filters = ()):
    """The editor backend ``editor_id`` (created once per process and shared by all sessions).

    Args:
        filters: for the offline editor, prompt → recipe assignments of the user's prompt set.

    Raises:
        UserError: from the registry when the backend or its model is not available.
    """
    from genmix_core.editing import create_editor, editor_spec

    spec = editor_spec(editor_id)
    settings = {"filters": dict(filters)} if not spec.is_diffusion and filters else {}
    settings.update(spec.preview_settings)
    return create_editor(editor_id, model=model, **settings) if model else create_editor(editor_id, **settings)


@st.cache_data(show_spinner=False, max_entries=EDIT_CACHE_ENTRIES)
def _cached_edit(image_sha256: str, path: str, prompt: str, editor_id: str, model: str | None,
                 filters: Filters, settings_json: str, seed: int) -> bytes:
    # image_sha256 and settings_json are only part of the cache key: the same file name with new content,
    # or the same editor with other settings, must not reuse an old edit.
    return preview.edit_png(path, prompt, get_editor(editor_id, model, filters), seed)


def edit_png(path: str, prompt: str, editor_id: str = "offline", model: str | None = None,
             seed: int | None = None, filters: Filters = ()) -> tuple[bytes, int]:
    """The preview edit of ``path`` as PNG bytes, from the cache when possible; returns ``(png, seed)``.

    Raises:
        UserError: ``err.editor.needs_diffusion`` when the editor cannot render ``prompt``.
    """
    image_sha256 = preview.file_key(path)
    if seed is None:
        seed = preview.preview_seed(image_sha256, prompt)
    editor = get_editor(editor_id, model, filters)
    settings_json = json.dumps(editor.settings(), sort_keys=True, default=str)
    png = _cached_edit(image_sha256, str(path), prompt, editor_id, model, filters, settings_json, int(seed))
    return png, int(seed)
