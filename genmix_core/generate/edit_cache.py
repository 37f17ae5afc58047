"""Content-addressed cache of edits, shared by runs.

An edit is a pure function of (image bytes, prompt, seed, editor settings), so it is stored under a hash of
exactly those: ``<cache>/<key>.png``. The UI points every run of a project at ``<project>/cache/edits``, so a
second run with more prompts or other mixing settings reuses the edits it already has. Files are written
atomically; a cached file is decoded (and its size checked) before reuse and deleted when it is unreadable.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from PIL import Image

from genmix_core.fileio import INCOMPLETE_SUFFIX, atomic_save_image, temp_writer_gone
from genmix_core.seeds import content_key

LEGACY_TEMP_AGE_S = 3600.0


def clean_incomplete(folder: str | os.PathLike, min_age_s: float = LEGACY_TEMP_AGE_S, recursive: bool = True) -> int:
    """Delete the temporary ``*.incomplete`` files of writers that are gone (killed); returns how many.

    A temp name records its writer's pid and process token (:func:`genmix_core.fileio.temp_writer_gone`), so in
    a cache shared by several runs the file of a live writer is kept whatever its age, and that of a killed one
    goes at once. Names whose writer cannot be checked from here (older versions without one, a writer on another
    server of a shared filesystem) go once older than ``min_age_s``.

    Args:
        folder: searched recursively.
        min_age_s: age after which a temp file without a writer in its name is deleted.
        recursive: False looks at ``folder`` itself only (a run folder's ``job.json`` and ``quality.json``).
    """
    root = Path(folder)
    if not root.is_dir():
        return 0
    now = time.time()
    removed = 0
    for path in (root.rglob if recursive else root.glob)(f"*{INCOMPLETE_SUFFIX}"):
        try:
            gone = temp_writer_gone(path)
            if gone or (gone is None and now - path.stat().st_mtime >= min_age_s):
                path.unlink()
                removed += 1
        except OSError:
            pass
    return removed


class EditCache:
    """Edits on disk, keyed by content.

    Example:
        cache = EditCache(project.cache_dir)
        key = cache.key(image_hash, "snowy", seed, editor.settings())
        edit = cache.get(key, size=image.size) or cache.put(key, editor.edit(image, "snowy", seed))
    """

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)

    @staticmethod
    def key(image_hash: str, prompt: str, seed: int, settings: dict[str, Any]) -> str:
        """The cache key of an edit: sha256 over image content hash, prompt, seed and editor settings."""
        return content_key(image_hash, prompt, int(seed), json.dumps(settings, sort_keys=True, default=str))

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.png"

    def get(self, key: str, size: tuple[int, int] | None = None) -> Image.Image | None:
        """The cached edit, fully decoded, or None. A file that does not decode or has the wrong size is deleted."""
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            with Image.open(path) as im:
                im.load()
                image = im.convert("RGB")
            if size is not None and image.size != tuple(size):
                raise ValueError(f"cached edit has size {image.size}, expected {tuple(size)}")
            return image
        except (OSError, ValueError, SyntaxError):
            try:
                path.unlink(missing_ok=True)
            except OSError:   # a read-only shared cache: redo the edit, keep the file
                pass
            return None

    def put(self, key: str, image: Image.Image) -> Path:
        """Store an edit (PNG, atomically) and return its path."""
        return atomic_save_image(self.path(key), image)
