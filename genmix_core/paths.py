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

import os
import re
import unicodedata
from pathlib import Path

from genmix_core.errors import UserError

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DATA_DIR = REPO_ROOT / "sample_data"
CURATED_PROMPTS_DIR = REPO_ROOT / "prompts"

MAX_NAME_LEN = 80
_FORBIDDEN = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]')


def workspace_root() -> Path:
    """The folder that holds all projects (``GENMIX_WORKSPACE`` or ``<repo>/workspace``)."""
    root = Path(os.environ.get("GENMIX_WORKSPACE") or REPO_ROOT / "workspace")
    root.mkdir(parents=True, exist_ok=True)
    return root.resolve()


def safe_name(name: str, *, fallback: str | None = None) -> str:
    """Turn a user-supplied name (class folder, file stem, project, prompt set) into one safe path part.

    Keeps Unicode letters (Japanese class names stay readable), NFC-normalises, replaces separators and
    characters Windows forbids with ``_``, strips leading dots and spaces, and caps the length.

    Raises:
        UserError: ``err.path.bad_name`` when nothing usable is left and no ``fallback`` is given.
    """
    text = unicodedata.normalize("NFC", str(name))
    text = _FORBIDDEN.sub("_", text).strip().lstrip(".").strip()
    text = text[:MAX_NAME_LEN].strip()
    if not text or set(text) <= {"_", "."}:
        if fallback is not None:
            return fallback
        raise UserError("err.path.bad_name", name=str(name))
    return text


def safe_join(root: str | os.PathLike, *parts: str) -> Path:
    """Join ``parts`` under ``root`` and prove the result stays inside ``root`` (after resolving links).

    Raises:
        UserError: ``err.path.outside`` for absolute parts, ``..``, or links leading out of ``root``.
    """
    root_path = Path(root).resolve()
    for part in parts:
        p = str(part)
        if not p or os.path.isabs(p) or p.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", p):
            raise UserError("err.path.outside", name=p)
        if any(seg == ".." for seg in re.split(r"[/\\]", p)):
            raise UserError("err.path.outside", name=p)
    candidate = root_path.joinpath(*[str(p) for p in parts]).resolve()
    if candidate != root_path and root_path not in candidate.parents:
        raise UserError("err.path.outside", name="/".join(str(p) for p in parts))
    return candidate
