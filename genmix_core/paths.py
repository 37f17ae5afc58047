"""Where things live on disk, and the guard that keeps user-supplied names inside the project folder.

Layout (the *workspace* defaults to ``<repo>/workspace``; set ``GENMIX_WORKSPACE`` to move it)::

    workspace/projects/<project>/
        project.json                 name, created, data source
        data/train/<class>/*.png     training photos (validated, EXIF-rotated, RGB PNG)
        data/onsite/<class>/*.png    optional second test domain ("on-site photos")
        prompts/<set>.yaml           the user's own prompt sets
        cache/edits/<key>.png        edit cache, content-addressed
        runs/<run-id>/               generation and training runs (job.json, manifest, results)
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from pathlib import Path

from genmix_core.errors import UserError

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DATA_DIR = REPO_ROOT / "sample_data"
CURATED_PROMPTS_DIR = REPO_ROOT / "prompts"

MAX_NAME_LEN = 80
"""Characters kept of a user-supplied name (the historical cap; names within it never change)."""
MAX_NAME_BYTES = 255
"""Longest file or folder name in UTF-8 bytes (ext4, XFS, APFS; NTFS allows 255 UTF-16 units, which is more).
An 80-character Japanese name is 240 bytes and an 80-emoji name 320, so a character cap alone is not enough."""
CUT_MARK = "~"
"""Joins a cut name to the short hash of the whole name (``長い名前~1a2b3c4d``), so cut names stay distinct."""
_HASH_CHARS = 8
_FORBIDDEN = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]')


def child_env(**extra: str) -> dict[str, str]:
    """This process's environment for a ``python -m genmix_core...`` child, with the project folder first on
    ``PYTHONPATH`` (the child finds this ``genmix_core`` from any working folder) and ``extra`` set."""
    env = {**os.environ, **extra}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


def workspace_root() -> Path:
    """The folder that holds all projects (``GENMIX_WORKSPACE`` or ``<repo>/workspace``)."""
    root = Path(os.environ.get("GENMIX_WORKSPACE") or REPO_ROOT / "workspace")
    root.mkdir(parents=True, exist_ok=True)
    return root.resolve()


def utf8_len(text: str) -> int:
    """Length of ``text`` in UTF-8 bytes, the unit file systems count names in."""
    return len(text.encode("utf-8"))


def shorten(text: str, max_bytes: int, *, key: str | None = None) -> str:
    """``text`` unchanged when it fits in ``max_bytes`` UTF-8 bytes; else cut and marked with a short hash.

    The cut falls on a character boundary and keeps at most ``MAX_NAME_LEN`` characters in all; the mark is
    ``~`` plus 8 hex digits of sha256(``key`` or ``text``), so two long names that share their beginning still
    give two names. The result is never longer than ``max_bytes`` and is itself returned unchanged when
    shortened again (idempotent).
    """
    if utf8_len(text) <= max_bytes:
        return text
    mark = CUT_MARK + hashlib.sha256((key if key is not None else text).encode("utf-8")).hexdigest()[:_HASH_CHARS]
    room = max_bytes - len(mark)
    if room < 1:
        raise ValueError(f"no room for a name in {max_bytes} bytes")
    kept = text[:MAX_NAME_LEN - len(mark)].encode("utf-8")[:room].decode("utf-8", errors="ignore")
    return kept.rstrip() + mark


def fit_name(stem: str, suffix: str = "", *, max_bytes: int = MAX_NAME_BYTES) -> str:
    """``stem + suffix`` as a file name of at most ``max_bytes`` bytes, cutting (and marking) only the stem.

    Names that fit are returned exactly as they are, so files and run items named before keep their names.
    """
    return shorten(stem, max_bytes - utf8_len(suffix)) + suffix


def safe_name(name: str, *, fallback: str | None = None, max_bytes: int | None = MAX_NAME_BYTES) -> str:
    """Turn a user-supplied name (class folder, file stem, project, prompt set) into one safe path part.

    Keeps Unicode letters (Japanese class names stay readable), NFC-normalises, replaces separators and
    characters Windows forbids with ``_``, strips leading dots and spaces, and caps the length: at
    ``MAX_NAME_LEN`` characters as always, then at ``max_bytes`` UTF-8 bytes (a longer name is cut on a
    character boundary and marked with a hash of the whole name, see :func:`shorten`). Callers that add a
    suffix pass ``max_bytes=None`` and then :func:`fit_name` the whole file name.

    Raises:
        UserError: ``err.path.bad_name`` when nothing usable is left and no ``fallback`` is given.
    """
    full = _FORBIDDEN.sub("_", unicodedata.normalize("NFC", str(name))).strip().lstrip(".").strip()
    text = full[:MAX_NAME_LEN].strip()
    if not text or set(text) <= {"_", "."}:
        if fallback is not None:
            return fallback
        raise UserError("err.path.bad_name", name=str(name))
    return text if max_bytes is None else shorten(text, max_bytes, key=full)


def safe_join(root: str | os.PathLike, *parts: str, follow_links: bool = True) -> Path:
    """Join ``parts`` under ``root`` and prove the result stays inside ``root``.

    Args:
        follow_links: True (the default) resolves symbolic links and refuses a result whose real place is
            outside ``root``. False checks the names only: a link that an administrator placed inside ``root``
            (e.g. ``workspace/models/<name>`` pointing at a second disk) is then allowed, while the parts
            themselves (the user-supplied names) still cannot climb out with ``..`` or an absolute path.
            The result is then not resolved.

    Raises:
        UserError: ``err.path.outside`` for absolute parts, ``..``, or (``follow_links``) links leading out.
    """
    root_path = Path(root).resolve()
    for part in parts:
        p = str(part)
        if not p or os.path.isabs(p) or p.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", p):
            raise UserError("err.path.outside", name=p)
        if any(seg == ".." for seg in re.split(r"[/\\]", p)):
            raise UserError("err.path.outside", name=p)
    joined = root_path.joinpath(*[str(p) for p in parts])
    candidate = joined.resolve() if follow_links else Path(os.path.normpath(joined))
    if candidate != root_path and root_path not in candidate.parents:
        raise UserError("err.path.outside", name="/".join(str(p) for p in parts))
    return candidate
