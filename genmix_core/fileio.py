"""Atomic, crash-safe file writes, and clear messages for disk and permission failures.

Every output is written to a temporary name in the same folder, flushed to disk, then ``os.replace``d onto
its final name, so a reader (or a resumed job) sees either the whole old file or the whole new one, never a
half-written one. Pattern from huggingface_hub ``file_download.py``.

Temporary files end in ``.incomplete`` and carry their writer in the name (``.<name>.<pid>-<tag>-h<host>.<random>
.incomplete``, ``tag`` = a hash of the process's boot id and start time, ``host`` = a hash of the host name), so a
cleaner can tell the file of a killed writer (delete) from that of a live one in a shared folder (keep):
:func:`temp_writer_gone`. A file written on another server (a shared filesystem) cannot be checked from here.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from genmix_core.errors import DiskFullError, StorageError
from genmix_core.paths import MAX_NAME_BYTES

INCOMPLETE_SUFFIX = ".incomplete"
PNG_LEVEL = 3
"""zlib level of every PNG the project stores (imported photos, edits, mixed images). Measured on the 2-core
development machine: level 3 encodes 3-4x faster than PIL's default 6 (2.4 against 6.9 ms a 160-px picture,
25 against 63 ms at 683x512) for files 10-17 % larger; in a CPU generation run the encoding was a fifth of the
CPU."""
_RANDOM_CHARS = 8  # what tempfile adds between prefix and suffix
_TEMP_WRITER = re.compile(r"\.(\d+)-([0-9a-f]{8}|x)(?:-h([0-9a-f]{6}))?\.[a-z0-9_]+" + re.escape(INCOMPLETE_SUFFIX)
                          + "$")
_FULL = (errno.ENOSPC, errno.EDQUOT)
_NO_PERMISSION = (errno.EACCES, errno.EPERM)
_OWN_TAG: tuple[int, str] | None = None
#: errno values of disk and permission failures that :func:`io_error` explains with their fix (EEXIST: a folder
#: could not be made because a file has its name).
DISK_ERRNOS = frozenset({*_FULL, *_NO_PERMISSION, errno.EROFS, errno.ENOTDIR, errno.EEXIST})


def io_error(exc: OSError, path: str | os.PathLike | None = None) -> StorageError:
    """The :class:`~genmix_core.errors.StorageError` for a failed disk operation, with the fix for its cause.

    ``err.io.disk_full`` (no space or quota left), ``err.io.read_only`` (read-only disk),
    ``err.io.no_permission`` (no write permission), ``err.io.not_a_folder`` (a file stands where a folder
    must be), else ``err.io.write_failed`` with the system's reason.
    """
    where = str(path if path is not None else (exc.filename or "?"))
    if exc.errno in _FULL:
        return DiskFullError("err.io.disk_full", path=where)
    if exc.errno == errno.EROFS:
        return StorageError("err.io.read_only", path=where)
    if exc.errno in _NO_PERMISSION:
        return StorageError("err.io.no_permission", path=where)
    if exc.errno in (errno.ENOTDIR, errno.EEXIST):
        return StorageError("err.io.not_a_folder", path=where)
    return StorageError("err.io.write_failed", path=where, reason=exc.strerror or str(exc))


def ensure_dir(path: str | os.PathLike) -> Path:
    """``mkdir -p path``; a failure becomes the :func:`io_error` naming the folder."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:  # a file of that name is in the way
        raise io_error(exc, path) from exc
    except OSError as exc:
        raise io_error(exc, path) from exc
    return path


def _writer_tag() -> str:
    """``<pid>-<tag>-h<host>`` of this process for temp names (recomputed after a fork)."""
    global _OWN_TAG
    pid = os.getpid()
    if _OWN_TAG is None or _OWN_TAG[0] != pid:
        from genmix_core.processes import process_token

        token = process_token(pid)
        _OWN_TAG = (pid, hashlib.sha256(token.encode()).hexdigest()[:8] if token else "x")
    return f"{pid}-{_OWN_TAG[1]}-h{_host_tag()}"


def _host_tag() -> str:
    import socket

    return hashlib.sha256(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:6]


def temp_writer_gone(path: str | os.PathLike) -> bool | None:
    """Whether the process that wrote temp file ``path`` is gone: True (dead), False (alive), None (unknown: the
    name carries no writer, as files of older versions or other tools, or the writer ran on another server)."""
    match = _TEMP_WRITER.search(Path(path).name)
    if match is None or (match.group(3) is not None and match.group(3) != _host_tag()):
        return None
    from genmix_core.processes import process_alive, process_token

    pid, tag = int(match.group(1)), match.group(2)
    if not process_alive(pid):
        return True
    if tag == "x":
        return False
    token = process_token(pid)
    return bool(token) and hashlib.sha256(token.encode()).hexdigest()[:8] != tag


def _write_file(fh, data: bytes) -> None:
    """Write, flush and fsync (one place, so tests can make the disk 'full')."""
    fh.write(data)
    fh.flush()
    os.fsync(fh.fileno())


def temp_prefix(name: str, tag: str = "") -> str:
    """The ``mkstemp`` prefix of a temporary file for final name ``name``: ``.<name>.<tag>``, or
    ``.<hash>.<tag>`` when that would not fit.

    A final name may use all 255 bytes a file system allows; its temporary name adds the writer's tag, 8
    random characters and ``.incomplete``, so a long name gets a short hashed prefix instead. Readers find
    temporary files by their suffix only.
    """
    prefix = f".{name}.{tag}"
    if len(prefix.encode("utf-8")) + _RANDOM_CHARS + len(INCOMPLETE_SUFFIX) <= MAX_NAME_BYTES:
        return prefix
    return f".{hashlib.sha256(name.encode('utf-8')).hexdigest()[:16]}.{tag}"


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; creates parent folders. Returns the final path.

    Raises:
        StorageError: from :func:`io_error` (``err.io.disk_full`` as a ``DiskFullError``, ``err.io.read_only``
            ...). The previous
            content of ``path`` (if any) is untouched, and no temp file is left behind.
    """
    path = Path(path)
    tmp_name = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(path.name, f"{_writer_tag()}."),
                                        suffix=INCOMPLETE_SUFFIX)
        with os.fdopen(fd, "wb") as fh:
            _write_file(fh, data)
        os.replace(tmp_name, path)
        tmp_name = None
        return path
    except OSError as exc:
        raise io_error(exc, path) from exc
    finally:
        if tmp_name is not None:
            try:
                os.unlink(tmp_name)
            except OSError:
                pass


def overwrite_in_place(path: str | os.PathLike, data: bytes) -> bool:
    """Overwrite the start of an existing file with ``data`` and blank out the rest with spaces.

    The fallback of a small record (``job.json``) when the disk is full: rewriting blocks the file already
    holds needs no free space. Not atomic (a reader may see a mix for a moment); JSON allows the trailing
    spaces. Returns False when the file is missing or shorter than ``data``, or the write fails.
    """
    try:
        with open(path, "r+b") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size < len(data):
                return False
            fh.write(data + b" " * (size - len(data)))
            fh.flush()
            os.fsync(fh.fileno())
        return True
    except OSError:
        return False


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 text atomically (see :func:`atomic_write_bytes`)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as pretty UTF-8 JSON atomically (non-ASCII kept readable)."""
    return atomic_write_text(path, json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=True, default=str))


def atomic_save_image(path: str | os.PathLike, image, format: str | None = None, **save_kwargs) -> Path:
    """Encode a PIL image (PNG by default, from the suffix otherwise; PNG at :data:`PNG_LEVEL` unless
    ``compress_level`` is given) and write it atomically."""
    path = Path(path)
    fmt = format or {".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}.get(path.suffix.lower(), "PNG")
    if fmt == "PNG":
        save_kwargs.setdefault("compress_level", PNG_LEVEL)
    buf = io.BytesIO()
    image.save(buf, format=fmt, **save_kwargs)
    return atomic_write_bytes(path, buf.getvalue())


def read_json(path: str | os.PathLike, default: Any = None) -> Any:
    """Read JSON, returning ``default`` when the file is missing or unreadable (e.g. cut by a crash)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return default
