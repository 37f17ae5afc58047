"""The originals of a generation run: listing, content hashes, and the files that cannot be used.

One unusable file in a data folder (cut off, not a picture, unreadable, too small ...) must not cost the user
the whole run: every usable photo is processed, and each skipped file is listed with its reason on the
console, in ``job.json`` (``extra.skipped``) and in ``<out>/skipped.csv``. With ``--strict`` the run is refused
instead, before any work, naming the files.

A photo is checked the way the run will read it (:func:`genmix_core.generate.batch.load_source`, a full
decode), but only when it still has work to do: a photo whose items are all done was read successfully before
and its bytes (content hash) have not changed since.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from genmix_core.errors import UserError
from genmix_core.fileio import atomic_write_text
from genmix_core.i18n import t

SKIPPED_FILE = "skipped.csv"
_SHOWN = 10  # files named in a one-line message; skipped.csv and job.json list them all


@dataclass(frozen=True)
class SourceImage:
    """One original: its path, path relative to the data folder, class label and content hash (sha256)."""

    path: str
    rel: str
    label: str
    image_hash: str


@dataclass(frozen=True)
class Skipped:
    """A file of the data folder that the run leaves out: ``file`` (relative to the data folder) and the
    catalog ``key`` + ``params`` of the reason (its ``{file}`` names the file with its class folder)."""

    file: str
    key: str
    params: dict[str, Any] = field(default_factory=dict)

    def message(self, lang: str = "en") -> str:
        return t(self.key, lang, **{**self.params, "file": self.file})

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "key": self.key, "reason": self.message("en"), "reason_ja": self.message("ja")}


def _problem(path: Path, rel: str) -> Skipped | None:
    """Why the run cannot use ``path`` (decoded as the run decodes it), or None when it can."""
    from genmix_core.data import load_image_bytes

    try:
        load_image_bytes(path.read_bytes(), name=path.name)   # as the run reads it (generate.batch.load_source)
    except UserError as exc:
        return Skipped(rel, exc.key, {k: str(v) for k, v in exc.params.items()})
    except OSError as exc:
        return Skipped(rel, "err.gen.unreadable_file", {"reason": exc.strerror or str(exc)})
    return None


def scan_data(data_dir: str | os.PathLike) -> tuple[list[SourceImage], list[Skipped]]:
    """The usable-looking images of a folder of class folders, with content hashes, and the skipped files.

    Images are sorted by (label, relative path). Skipped here: files whose header is no picture, files that
    cannot be read, other files in the class folders and files outside them (hidden files and OS clutter are
    ignored silently). Pictures that only fail a full decode are found by :func:`check_sources`.

    Raises:
        UserError: from :func:`genmix_core.data.scan_folder`; ``err.gen.no_images`` when no image is found.
    """
    from genmix_core.data import IMAGE_SUFFIXES, scan_folder
    from genmix_core.data.archive import is_junk
    from genmix_core.fileio import INCOMPLETE_SUFFIX

    root = Path(data_dir)
    df = scan_folder(root)
    sources: list[SourceImage] = []
    skipped = [Skipped(name, "err.gen.loose_file", {}) for name in df.attrs.get("loose", [])
               if not is_junk((name,))]
    rows = list(df.sort_values(["label", "rel"]).itertuples(index=False))
    for row, digest in zip(rows, _in_threads(_content_hash, [row.path for row in rows])):
        if isinstance(digest, OSError):
            reason = digest.strerror or str(digest)
            skipped.append(Skipped(str(row.rel), "err.gen.unreadable_file", {"reason": reason}))
            continue
        sources.append(SourceImage(str(row.path), str(row.rel), str(row.label), digest))
    listed = set(df["rel"]) | set(df.attrs.get("unreadable", []))
    for rel in df.attrs.get("unreadable", []):
        skipped.append(_problem(root / rel, rel) or Skipped(rel, "err.image.not_image", {}))
    for label in df.attrs.get("classes", {}).get("", []):
        folder = root / label
        for path in sorted(folder.iterdir(), key=lambda p: p.name) if folder.is_dir() else []:
            rel = f"{label}/{path.name}"
            if rel in listed or is_junk((path.name,)) or path.name.endswith(INCOMPLETE_SUFFIX):
                continue
            if path.is_dir():
                skipped.append(Skipped(rel, "err.gen.nested_folder", {}))
            elif path.suffix.lower() not in IMAGE_SUFFIXES:
                skipped.append(Skipped(rel, "err.image.not_image", {}))
    if not sources:
        if skipped:
            raise UserError("err.gen.no_usable_images", path=str(data_dir), count=len(skipped),
                            files=summary_line(skipped))
        raise UserError("err.gen.no_images", path=str(data_dir))
    return sources, sorted(skipped, key=lambda s: s.file)


def scan_sources(data_dir: str | os.PathLike) -> list[SourceImage]:
    """The images of a folder of class folders, sorted by (label, relative path), with content hashes (the
    files :func:`scan_data` skips are left out)."""
    return scan_data(data_dir)[0]


def check_sources(sources: Iterable[SourceImage]) -> list[Skipped]:
    """The ``sources`` that do not decode (each read in full, as the run reads it), with the reason."""
    unique = list(dict.fromkeys(sources))
    return [p for p in _in_threads(lambda s: _problem(Path(s.path), s.rel), unique) if p is not None]


def _content_hash(path: str) -> str | OSError:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError as exc:
        return exc


def _in_threads(fn, args: list) -> list:
    """``[fn(a) for a in args]`` on a thread per core: reading, hashing and decoding release the GIL, and a run of
    several processes waits for its rank 0 to scan tens of thousands of photos before any GPU starts."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    if cores < 2 or len(args) < 8:
        return [fn(a) for a in args]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(cores, 32), thread_name_prefix="genmix-scan") as pool:
        return list(pool.map(fn, args))


def summary_line(skipped: Sequence[Skipped]) -> str:
    """The names of the first few skipped files, on one line (the reasons go to the log and skipped.csv)."""
    text = ", ".join(s.file for s in skipped[:_SHOWN])
    return text + (f", … (+{len(skipped) - _SHOWN})" if len(skipped) > _SHOWN else "")


def write_skipped(out_dir: str | os.PathLike, skipped: Sequence[Skipped]) -> Path:
    """``<out>/skipped.csv``: one row per skipped file (``file, reason, reason_ja, key``), UTF-8; header only
    when nothing was skipped, so the file always describes the latest run."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=["file", "reason", "reason_ja", "key"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(s.to_dict() for s in skipped)
    return atomic_write_text(Path(out_dir) / SKIPPED_FILE, buf.getvalue())
