"""A project: one folder in the workspace holding a data set, prompt sets, an edit cache and runs.

Layout (see :mod:`genmix_core.paths`)::

    <workspace>/projects/<name>/project.json   {"name", "created", "data_source", "imports": [...]}
                               data/<split>/<class>/*.png
                               prompts/  cache/  runs/<timestamp>-<kind>/

Every path built from a user-supplied name (project, class, file, run kind) goes through
``paths.safe_name`` / ``paths.safe_join``, so nothing can land outside the project folder.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from genmix_core.errors import StorageError, UserError
from genmix_core.fileio import atomic_write_json, read_json
from genmix_core.paths import safe_join, safe_name, workspace_root

SPLITS = ("train", "onsite")
"""Data splits: ``train`` (lab photos to train on) and ``onsite`` (optional second test domain)."""
PROJECT_FILE = "project.json"
MAX_IMPORT_RECORDS = 200


def _now() -> str:
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")


def check_split(split: str) -> str:
    """Return ``split`` if it is one of :data:`SPLITS`.

    Raises:
        UserError: ``err.project.bad_split`` otherwise.
    """
    if split not in SPLITS:
        raise UserError("err.project.bad_split", split=split, choices=", ".join(SPLITS))
    return split


def projects_root() -> Path:
    """``<workspace>/projects`` (created on demand)."""
    root = workspace_root() / "projects"
    root.mkdir(parents=True, exist_ok=True)
    return root


@dataclass(frozen=True)
class Project:
    """Handle on a project folder. Cheap to create; it reads ``project.json`` only when asked."""

    root: Path

    @property
    def name(self) -> str:
        return self.root.name

    def data_dir(self, split: str = "train") -> Path:
        """``data/<split>`` (not created here)."""
        return self.root / "data" / check_split(split)

    @property
    def prompts_dir(self) -> Path:
        return self.root / "prompts"

    @property
    def cache_dir(self) -> Path:
        return self.root / "cache"

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    def new_run_dir(self, kind: str) -> Path:
        """Create and return a fresh run folder ``runs/<YYYYmmdd-HHMMSS>-<kind>`` (``-2``, ``-3`` ... if taken).

        Creation is exclusive (``mkdir`` without ``exist_ok``), so two runs started in the same second by two
        sessions still get different folders.
        """
        stem = f"{time.strftime('%Y%m%d-%H%M%S')}-{safe_name(kind, fallback='run')}"
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        for n in range(1, 10_000):
            path = safe_join(self.runs_dir, stem if n == 1 else f"{stem}-{n}")
            try:
                path.mkdir()
                return path
            except FileExistsError:
                continue
        raise StorageError("err.io.write_failed", path=str(self.runs_dir / stem), reason="too many runs this second")

    # project.json ------------------------------------------------------------------------------------------

    def meta(self) -> dict[str, Any]:
        """Contents of ``project.json`` (defaults filled in when the file is missing or damaged)."""
        data = read_json(self.root / PROJECT_FILE, default=None)
        if not isinstance(data, dict):
            data = {}
        data.setdefault("name", self.name)
        data.setdefault("created", None)
        data.setdefault("data_source", None)
        data.setdefault("imports", [])
        return data

    def record_import(self, source: str, split: str, added: int, detail: str = "") -> None:
        """Note an import in ``project.json``: ``data_source`` becomes ``source``; a history entry is kept."""
        meta = self.meta()
        meta["data_source"] = source
        meta["imports"] = (meta["imports"] + [{"at": _now(), "source": source, "split": split, "added": added,
                                               "detail": detail}])[-MAX_IMPORT_RECORDS:]
        atomic_write_json(self.root / PROJECT_FILE, meta)

    # editing the data set ----------------------------------------------------------------------------------

    def delete_image(self, rel: str, split: str = "train") -> None:
        """Delete one stored image, ``rel`` being ``"<class>/<file>.png"`` as in :func:`data.scan_split`.

        Raises:
            UserError: ``err.path.outside`` for names leaving the split folder, ``err.project.no_image`` when
                there is no such image.
        """
        split_dir = self.data_dir(split)
        path = safe_join(split_dir, str(rel))
        if not path.is_file() or path.parent.parent != split_dir.resolve():
            raise UserError("err.project.no_image", rel=str(rel), split=split)
        path.unlink()

    def clear_split(self, split: str) -> int:
        """Remove every image and class folder of ``split``; returns how many files were removed."""
        split_dir = safe_join(self.root, "data", check_split(split))
        if not split_dir.exists():
            return 0
        count = sum(1 for p in split_dir.rglob("*") if p.is_file())
        shutil.rmtree(split_dir)
        split_dir.mkdir(parents=True)
        return count


def open_project(name: str = "default", create: bool = True) -> Project:
    """Open (and by default create) the project called ``name`` (made safe with ``paths.safe_name``).

    Raises:
        UserError: ``err.path.bad_name`` for unusable names; ``err.project.not_found`` when ``create`` is
            false and the project does not exist.
    """
    root = safe_join(projects_root(), safe_name(name))
    project = Project(root)
    if not (root / PROJECT_FILE).exists():
        if not create:
            raise UserError("err.project.not_found", name=name, choices=", ".join(list_projects()) or "-")
        for split in SPLITS:
            project.data_dir(split).mkdir(parents=True, exist_ok=True)
        for folder in (project.prompts_dir, project.cache_dir, project.runs_dir):
            folder.mkdir(parents=True, exist_ok=True)
        atomic_write_json(root / PROJECT_FILE, {"name": project.name, "created": _now(), "data_source": None,
                                                "imports": []})
    return project


def list_projects() -> list[str]:
    """Names of the projects in the workspace, sorted."""
    return sorted(p.name for p in projects_root().iterdir() if (p / PROJECT_FILE).is_file())
