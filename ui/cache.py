"""Cached editors and edits for the interactive pages (Home, Prompts, Preview).

The editor object is one shared resource (``st.cache_resource``: a diffusion pipeline is large and is not
copied). An edit is data: PNG bytes in one bounded store shared by all sessions, keyed on the image's content
hash, the prompt, the editor's settings and the seed, so moving a mixing slider never recomputes it, and an edit
made in the Preview page's row of every prompt (one batch) is not made again when that prompt is chosen.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict

import streamlit as st

from genmix_core import preview

# A few dozen 512² PNG edits (~0.5 MB each) at most: enough for browsing a dozen photos with every prompt of a set.
EDIT_CACHE_ENTRIES = 96
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
    from genmix_core.editing import create_editor, editor_spec, preview_editor_settings

    spec = editor_spec(editor_id)
    settings = {"filters": dict(filters)} if not spec.is_diffusion and filters else {}
    settings.update(preview_editor_settings(editor_id))   # its faster preset; on a GPU, compiled shapes when prepared
    return create_editor(editor_id, model=model, **settings) if model else create_editor(editor_id, **settings)


class _EditStore:
    """Bounded, thread-safe store of edit PNGs, least recently used first out. One store serves single edits and
    the Preview page's row of every prompt (one batch), so an edit computed in either is not computed again."""

    def __init__(self, entries: int) -> None:
        self.entries = entries
        self._data: OrderedDict[tuple, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> bytes | None:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: tuple, value: bytes) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.entries:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


@st.cache_resource(show_spinner=False)
def _edit_store() -> _EditStore:
    return _EditStore(EDIT_CACHE_ENTRIES)


def clear_edits() -> None:
    """Forget every cached edit (tests; the next view edits again)."""
    _edit_store().clear()


def _edits(path: str, prompts: list[str], seeds: list[int] | None, editor_id: str, model: str | None,
           filters: Filters) -> tuple[list[bytes], list[int]]:
    """PNG edits of ``path`` for ``prompts`` (with ``seeds``; None: each prompt's preview seed) and the seeds:
    cached ones from the store, the rest in one editor call. The file is read and hashed once.

    The key holds the image's content hash and the editor's settings: the same file name with new content, or
    the same editor with other settings, must not reuse an old edit.
    """
    image_sha256 = preview.file_key(path)
    if seeds is None:
        seeds = [preview.preview_seed(image_sha256, p) for p in prompts]
    editor = get_editor(editor_id, model, filters)
    settings_json = json.dumps(editor.settings(), sort_keys=True, default=str)
    keys = [(image_sha256, prompt, editor_id, model, filters, settings_json, int(seed))
            for prompt, seed in zip(prompts, seeds)]
    store = _edit_store()
    found = [store.get(k) for k in keys]
    missing = list(dict.fromkeys(k for k, v in zip(keys, found) if v is None))
    if missing:
        made = dict(zip(missing, preview.edit_pngs(path, [k[1] for k in missing], editor, [k[-1] for k in missing])))
        for k, png in made.items():
            store.put(k, png)
        found = [v if v is not None else made[k] for k, v in zip(keys, found)]
    return found, [int(s) for s in seeds]


def edit_png(path: str, prompt: str, editor_id: str = "offline", model: str | None = None,
             seed: int | None = None, filters: Filters = ()) -> tuple[bytes, int]:
    """The preview edit of ``path`` as PNG bytes, from the cache when possible; returns ``(png, seed)``.

    Raises:
        UserError: ``err.editor.needs_diffusion`` when the editor cannot render ``prompt``.
    """
    pngs, seeds = _edits(str(path), [prompt], None if seed is None else [int(seed)], editor_id, model, filters)
    return pngs[0], seeds[0]


def edit_pngs(path: str, prompts: list[str], editor_id: str = "offline", model: str | None = None,
              filters: Filters = ()) -> dict[str, bytes]:
    """The preview edits of ``path`` for every prompt, those not cached in one editor call (one batch on a GPU);
    each is the edit :func:`edit_png` gives for that prompt, and is cached for it.

    Raises:
        UserError: ``err.editor.needs_diffusion`` when the editor cannot render one of the prompts.
    """
    prompts = list(dict.fromkeys(prompts))
    pngs, _ = _edits(str(path), prompts, None, editor_id, model, filters)
    return dict(zip(prompts, pngs))
