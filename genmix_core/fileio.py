"""Atomic, crash-safe file writes.

Every output is written to a temporary name in the same folder, flushed to disk, then ``os.replace``d onto
its final name, so a reader (or a resumed job) sees either the whole old file or the whole new one, never a
half-written one. Temporary files end in ``.incomplete`` and are ignored / cleaned by readers.
Pattern from huggingface_hub ``file_download.py``.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from genmix_core.errors import UserError
from genmix_core.paths import MAX_NAME_BYTES

INCOMPLETE_SUFFIX = ".incomplete"
_RANDOM_CHARS = 8  # what tempfile adds between prefix and suffix


def temp_prefix(name: str) -> str:
    """The ``mkstemp`` prefix of a temporary file for final name ``name``: ``.<name>.``, or ``.<hash>.``.

    A final name may use all 255 bytes a file system allows; its temporary name adds 21 more (dot, dot, 8
    random characters, ``.incomplete``), so a long name gets a short hashed prefix instead. Readers find
    temporary files by their suffix only.
    """
    prefix = f".{name}."
    if len(prefix.encode("utf-8")) + _RANDOM_CHARS + len(INCOMPLETE_SUFFIX) <= MAX_NAME_BYTES:
        return prefix
    return f".{hashlib.sha256(name.encode('utf-8')).hexdigest()[:16]}."


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; creates parent folders. Returns the final path.

    Raises:
        UserError: ``err.io.disk_full`` when the disk is full, ``err.io.write_failed`` for other OS errors.
            The previous content of ``path`` (if any) is untouched in both cases.
    """
    path = Path(path)
    tmp_name = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(path.name), suffix=INCOMPLETE_SUFFIX)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, path)
        tmp_name = None
        return path
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise UserError("err.io.disk_full", path=str(path)) from exc
        raise UserError("err.io.write_failed", path=str(path), reason=exc.strerror or str(exc)) from exc
    finally:
        if tmp_name is not None:
            try:
                os.unlink(tmp_name)
            except OSError:
                pass


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 text atomically (see :func:`atomic_write_bytes`)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as pretty UTF-8 JSON atomically (non-ASCII kept readable)."""
    return atomic_write_text(path, json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=True, default=str))


def atomic_save_image(path: str | os.PathLike, image, format: str | None = None, **save_kwargs) -> Path:
    """Encode a PIL image (PNG by default, from the suffix otherwise) and write it atomically."""
    path = Path(path)
    fmt = format or {".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}.get(path.suffix.lower(), "PNG")
    buf = io.BytesIO()
    image.save(buf, format=fmt, **save_kwargs)
    return atomic_write_bytes(path, buf.getvalue())


def read_json(path: str | os.PathLike, default: Any = None) -> Any:
    """Read JSON, returning ``default`` when the file is missing or unreadable (e.g. cut by a crash)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return default
