"""List a data set on disk (a folder of class folders) and check it before training.

:func:`scan_folder` reads only image headers, so listing a few thousand pictures takes well under a second.
:func:`check_dataset` turns the listing into findings (:class:`Rejection` with ``level`` ``info`` or
``warning``) that the data page shows and the CLI prints. The public names are re-exported by
:mod:`genmix_core.data`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from PIL import Image

from genmix_core.data import archive
from genmix_core.errors import UserError
from genmix_core.i18n import Term, t
from genmix_core.data.project import SPLITS, Project, check_split

MIN_IMAGES_PER_CLASS = 5
"""Below this many images a class gets a warning: too few to learn from or to measure accuracy on."""
IMBALANCE_RATIO = 10
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
COLUMNS = ["path", "rel", "label", "split", "width", "height"]


@dataclass(frozen=True)
class Rejection:
    """A message about one file, class or split: ``key`` in the catalog, filled with ``file=name`` + params.

    ``level`` is ``"error"`` (file not imported), ``"warning"`` or ``"info"``.
    """

    name: str
    key: str
    params: dict = field(default_factory=dict)
    level: str = "error"

    def message(self, lang: str = "en") -> str:
        return t(self.key, lang, **{"file": self.name, **self.params})




def _empty_frame() -> pd.DataFrame:
    return pd.DataFrame({"path": pd.Series(dtype=str), "rel": pd.Series(dtype=str), "label": pd.Series(dtype=str),
                         "split": pd.Series(dtype=str), "width": pd.Series(dtype="int64"),
                         "height": pd.Series(dtype="int64")})


def scan_folder(folder: str | os.PathLike, split: str = "") -> pd.DataFrame:
    """List the images of a folder of class folders (``<folder>/<class>/<image>``), one row per image.

    Only file headers are read (fast). Hidden files and unfinished ``.incomplete`` files are ignored.

    Returns:
        DataFrame ``[path, rel, label, split, width, height]`` sorted by ``(label, rel)``; ``path`` absolute,
        ``rel`` = ``"<class>/<file>"``. ``df.attrs`` holds ``classes`` (``{split: [class folders, empty ones
        included]}``), ``unreadable`` (rel paths that are not images) and ``loose`` (files outside classes),
        which :func:`check_dataset` reports.

    Raises:
        UserError: ``err.data.no_folder`` when ``folder`` does not exist.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError("err.data.no_folder", path=str(folder))
    rows, classes, unreadable, loose = [], [], [], []
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if entry.name.startswith(".") or archive.is_junk((entry.name,)):
            continue
        if not entry.is_dir():
            loose.append(entry.name)
            continue
        classes.append(entry.name)
        for path in sorted(entry.iterdir(), key=lambda p: p.name):
            if path.name.startswith(".") or not path.is_file() or path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            rel = f"{entry.name}/{path.name}"
            try:
                with Image.open(path) as im:
                    width, height = im.size
            except Exception:  # noqa: BLE001 - any unreadable file is reported, never fatal for the listing
                unreadable.append(rel)
                continue
            rows.append({"path": str(path.resolve()), "rel": rel, "label": entry.name, "split": split,
                         "width": int(width), "height": int(height)})
    df = pd.DataFrame(rows, columns=COLUMNS) if rows else _empty_frame()
    df = df.sort_values(["label", "rel"], kind="mergesort").reset_index(drop=True)
    df.attrs = {"classes": {split: classes}, "unreadable": unreadable, "loose": loose}
    return df


def scan_split(project_or_folder: Project | str | os.PathLike, split: str = "train") -> pd.DataFrame:
    """:func:`scan_folder` of a project's ``data/<split>`` (or ``<folder>/<split>``); empty if it is missing."""
    check_split(split)
    if isinstance(project_or_folder, Project):
        folder = project_or_folder.data_dir(split)
    else:
        folder = Path(project_or_folder) / split
    if not folder.is_dir():
        df = _empty_frame()
        df.attrs = {"classes": {split: []}, "unreadable": [], "loose": []}
        return df
    return scan_folder(folder, split=split)


def scan_project(project: Project) -> pd.DataFrame:
    """All splits of a project in one frame (attrs merged), for :func:`check_dataset`."""
    frames = [scan_split(project, split) for split in SPLITS]
    df = pd.concat(frames, ignore_index=True)
    df.attrs = {"classes": {s: f.attrs["classes"][s] for s, f in zip(SPLITS, frames)},
                "unreadable": [u for f in frames for u in f.attrs["unreadable"]],
                "loose": [x for f in frames for x in f.attrs["loose"]]}
    return df


def check_dataset(df: pd.DataFrame) -> list[Rejection]:
    """Findings about a scanned data set: a summary per split (``info``) first, then ``warning``s.

    Warnings: no images, a single class in the training data (training needs at least two), empty class
    folders (named), classes under :data:`MIN_IMAGES_PER_CLASS` images, strong imbalance (largest class at least
    :data:`IMBALANCE_RATIO` × the smallest), on-site classes unknown to training, unreadable and loose files.
    """
    attrs = getattr(df, "attrs", {}) or {}
    class_dirs: dict[str, list[str]] = attrs.get("classes", {})
    splits = [s for s in dict.fromkeys([*SPLITS, *class_dirs, *df["split"].unique()]) if
              s in class_dirs or (df["split"] == s).any()]
    infos, warns = [], []
    train_labels = set(df.loc[df["split"].isin(["train", ""]), "label"])
    for split in splits:
        counts = df.loc[df["split"] == split, "label"].value_counts().sort_index()
        name = Term(f"data.split.{split or 'data'}") if split in (*SPLITS, "") else split  # in the user's language
        if counts.empty:
            if split != "onsite":
                warns.append(Rejection(name, "data.check.no_images", {"split": name}, "warning"))
            continue
        per_class = ", ".join(f"{label} {n}" for label, n in counts.items())
        infos.append(Rejection(name, "data.check.summary", {"split": name, "images": int(counts.sum()),
                                                             "classes": len(counts), "per_class": per_class}, "info"))
        for label in sorted(set(class_dirs.get(split, [])) - set(counts.index)):
            warns.append(Rejection(label, "data.check.empty_class", {"label": label, "split": name}, "warning"))
        if split != "onsite" and len(counts) == 1:
            warns.append(Rejection(name, "data.check.single_class", {"label": counts.index[0], "split": name},
                                   "warning"))
        for label, n in counts.items():
            if n < MIN_IMAGES_PER_CLASS:
                warns.append(Rejection(label, "data.check.few_images", {"label": label, "count": int(n), "split": name,
                                                                         "min": MIN_IMAGES_PER_CLASS}, "warning"))
        if len(counts) > 1 and counts.max() >= IMBALANCE_RATIO * counts.min():
            warns.append(Rejection(name, "data.check.imbalanced", {"split": name, "largest": counts.idxmax(),
                                                                    "smallest": counts.idxmin(),
                                                                    "ratio": int(counts.max() // counts.min())},
                                   "warning"))
        if split == "onsite" and train_labels:
            for label in sorted(set(counts.index) - train_labels):
                warns.append(Rejection(label, "data.check.onsite_unknown_class", {"label": label}, "warning"))
    for rel in attrs.get("unreadable", []):
        warns.append(Rejection(rel, "data.check.unreadable", {}, "warning"))
    for name in attrs.get("loose", []):
        warns.append(Rejection(name, "data.check.loose_file", {}, "warning"))
    return infos + warns
