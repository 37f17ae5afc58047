"""Bring photos into a project (uploads, zips, folders, sample data), list them, and check the data set.

Listing and checking a data set on disk live in :mod:`genmix_core.data.dataset` (re-exported here).

Every picture is validated and normalised by :mod:`genmix_core.data.imageio` (upright, RGB, at most
``imageio.MAX_SIDE`` px) and stored as ``data/<split>/<class>/<name>.png``. Zips are read by
:mod:`genmix_core.data.archive`. One bad file never costs the user the good ones: each problem becomes a
:class:`Rejection` in the :class:`ImportReport` and the import goes on. The exception is a full disk (or
another write failure): the import stops, ``ImportReport.stopped`` says why, and everything stored before it
stays intact (files are written atomically).

Layout accepted, for zips, multi-file uploads (names may hold folders) and folders alike:
``<class>/<image>``, optionally inside wrapper folders (``dataset/<class>/<image>``); images outside any
class folder take the ``label`` argument, or are rejected with ``err.data.needs_label``.

Duplicates: a new image whose pixels equal an image already in the same class folder is skipped with a note;
a different image with a taken name is stored as ``<name>_2.png`` (``_3`` ...). Nothing is overwritten.

Names: a class folder or file name that the disk cannot hold as it is (characters Windows forbids, a leading
dot, more than 255 UTF-8 bytes) is stored under a safe name (``paths.safe_name`` / ``paths.fit_name``) and
the report says so; two folders that become the same class are reported too. Decoding is bounded per picture
and per import (:class:`genmix_core.data.imageio.DecodeBudget`); when the import's budget runs out it stops
there, keeping what was stored.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from genmix_core import fileio
from genmix_core.data import archive
from genmix_core.data.archive import Listing, Member
from genmix_core.data.dataset import Rejection
from genmix_core.data.imageio import DecodeBudget, DecodeBudgetSpent, decode_image, encode_png
from genmix_core.data.project import Project, check_split
from genmix_core.errors import StorageError, UserError
from genmix_core.paths import SAMPLE_DATA_DIR, fit_name, safe_join, safe_name

MAX_FILE_BYTES = archive.MAX_MEMBER_BYTES


@dataclass
class ImportReport:
    """Outcome of one import: ``added`` holds ``"<class>/<file>.png"`` paths relative to the split folder."""

    added: list[str] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    warnings: list[Rejection] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    stopped: Rejection | None = None

    def extend(self, other: ImportReport) -> ImportReport:
        self.added += other.added
        self.rejected += other.rejected
        self.warnings += other.warnings
        self.skipped += other.skipped
        self.stopped = self.stopped or other.stopped
        return self


def _rejection(name: str, err: UserError, level: str = "error") -> Rejection:
    params = {k: v for k, v in err.params.items() if k != "file"}
    return Rejection(name, err.key, params, level)


class _Importer:
    """Stores members of one import into one split, keeping the report, the duplicate index and the budget."""

    def __init__(self, project: Project, split: str, label: str | None) -> None:
        self.split_dir = project.data_dir(split)
        self.raw_label = label if label not in (None, "") else None
        self.label = safe_name(label) if self.raw_label is not None else None
        self.report = ImportReport()
        self.budget = DecodeBudget()
        self._hashes: dict[str, dict[str, str]] = {}
        self._class_sources: dict[str, set[str]] = {}  # stored class -> the names it came from in this import

    def _class_hashes(self, class_dir: Path) -> dict[str, str]:
        """sha256 of every stored PNG in the class folder → file name (built once per class and import)."""
        key = str(class_dir)
        if key not in self._hashes:
            found = {}
            if class_dir.is_dir():
                for p in sorted(class_dir.glob("*.png")):
                    found.setdefault(hashlib.sha256(p.read_bytes()).hexdigest(), p.name)
            self._hashes[key] = found
        return self._hashes[key]

    def run(self, listing: Listing) -> None:
        self.report.rejected += [_rejection(name, err) for name, err in listing.rejected]
        self.report.skipped += listing.skipped
        members = archive.strip_wrappers(listing.members)
        for i, member in enumerate(members):
            if self.report.stopped:
                return
            try:
                self._store(member)
            except DecodeBudgetSpent as err:
                self.report.stopped = Rejection(member.name, "err.data.budget_stopped",
                                                {**_rejection(member.name, err).params, "left": len(members) - i})
                self.report.rejected.append(self.report.stopped)

    def _class_of(self, raw: str, member: Member) -> str:
        """The stored class for folder name (or label) ``raw``; notes a renamed class or two merged ones once."""
        stored = safe_name(raw)
        sources = self._class_sources.setdefault(stored, set())
        if raw in sources:
            return stored
        others = sorted(sources) or ([stored] if raw != stored and (self.split_dir / stored).is_dir() else [])
        sources.add(raw)
        if others:
            self.report.warnings.append(Rejection(member.name, "data.warn.class_merged",
                                                  {"name": raw, "other": others[0], "stored": stored}, "warning"))
        elif raw != stored:
            self.report.warnings.append(Rejection(member.name, "data.warn.class_renamed",
                                                  {"name": raw, "stored": stored}, "warning"))
        return stored

    def _store(self, member: Member) -> None:
        try:
            if len(member.parts) == 1:
                if self.label is None:
                    raise UserError("err.data.needs_label", file=member.name)
                class_name = self._class_of(self.raw_label, member)
            elif len(member.parts) == 2:
                try:
                    class_name = self._class_of(member.parts[0], member)
                except UserError:
                    raise UserError("err.data.bad_class_name", file=member.name, name=member.parts[0]) from None
            else:
                raise UserError("err.data.too_deep", file=member.name, path="/".join(member.parts))
            data = member.read()
            if archive.looks_like_zip(data):
                raise UserError("err.zip.nested", file=member.name)
            decoded = decode_image(data, member.name, budget=self.budget)
        except DecodeBudgetSpent:
            raise
        except UserError as err:
            self.report.rejected.append(_rejection(member.name, err))
            return
        self.report.warnings += [Rejection(member.name, key, params, "warning") for key, params in decoded.notes]
        png = encode_png(decoded.image)
        try:
            self._write(member, class_name, png)
        except OSError as exc:  # a name or path the disk refuses: this file only, never the whole upload
            self.report.rejected.append(Rejection(member.name, "err.io.write_failed", {
                "path": f"{class_name}/{member.parts[-1]}", "reason": exc.strerror or str(exc)}))

    def _write(self, member: Member, class_name: str, png: bytes) -> None:
        digest = hashlib.sha256(png).hexdigest()
        class_dir = safe_join(self.split_dir, class_name)
        known = self._class_hashes(class_dir)
        if digest in known:
            self.report.warnings.append(Rejection(member.name, "data.warn.duplicate",
                                                  {"existing": f"{class_name}/{known[digest]}"}, "info"))
            return
        stem = safe_name(os.path.splitext(member.parts[-1])[0], fallback="image", max_bytes=None)
        file_name, n = fit_name(stem, ".png"), 1
        while (class_dir / file_name).exists() or file_name in known.values():
            n += 1
            file_name = fit_name(stem, f"_{n}.png")
        if n > 1:
            self.report.warnings.append(Rejection(member.name, "data.warn.renamed",
                                                  {"stored": f"{class_name}/{file_name}"}, "info"))
        elif file_name != f"{stem}.png":
            self.report.warnings.append(Rejection(member.name, "data.warn.name_shortened",
                                                  {"stored": f"{class_name}/{file_name}"}, "info"))
        try:
            fileio.atomic_write_bytes(safe_join(class_dir, file_name), png)
        except UserError as err:
            # A full disk (or a read-only folder) fails every following file too: stop and say so once.
            self.report.rejected.append(_rejection(member.name, err))
            if isinstance(err, StorageError):
                self.report.stopped = self.report.rejected[-1]
            return
        known[digest] = file_name
        self.report.added.append(f"{class_name}/{file_name}")


def _record(project: Project, report: ImportReport, source: str, split: str, detail: str) -> None:
    """Note the import in project.json; a failure there (disk full) must not hide what was imported."""
    try:
        project.record_import(source, split, len(report.added), detail)
    except UserError as err:
        if report.stopped is None:
            report.stopped = _rejection("project.json", err)


def _bytes_member(name: str, data: bytes) -> Member:
    return Member(archive.split_parts(name) or ("image",), name, lambda: data)


def import_uploads(project: Project, files: list[tuple[str, bytes]], split: str = "train",
                   label: str | None = None) -> ImportReport:
    """Import uploaded files: pictures and/or zips (detected from the bytes, not the name).

    Args:
        project: Target project.
        files: ``(name, bytes)`` pairs as the uploader gives them; names may hold folders (``cls/a.png``).
        split: ``"train"`` or ``"onsite"``.
        label: Class for pictures outside any class folder (loose uploads, zip root); ``None`` rejects them.

    Returns:
        :class:`ImportReport`. Raises only for a bad ``split`` or ``label``.
    """
    importer = _Importer(project, check_split(split), label)
    loose = Listing()
    zips: list[tuple[str, bytes]] = []
    for name, data in files:
        name = str(name)
        if archive.looks_like_zip(data) or name.lower().endswith(".zip"):
            zips.append((name, data))
            continue
        parts = archive.split_parts(name)
        if parts is None:
            loose.rejected.append((name, UserError("err.path.outside", name=name)))
        elif archive.is_junk(parts):
            loose.skipped.append(name)
        else:
            loose.members.append(_bytes_member(name, data))
    importer.run(loose)
    for name, data in zips:
        if importer.report.stopped:
            break
        try:
            listing = archive.list_zip(data, name)
        except UserError as err:
            importer.report.rejected.append(_rejection(name, err))
            continue
        importer.run(listing)
    _record(project, importer.report, "upload", split, f"{len(files)} file(s)")
    return importer.report


def _file_reader(path: Path, display: str):
    def read() -> bytes:
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                raise UserError("err.data.file_too_big", file=display, size_mb=path.stat().st_size // 2**20,
                                limit_mb=MAX_FILE_BYTES // 2**20)
            return path.read_bytes()
        except OSError as exc:
            raise UserError("err.image.corrupt", file=display, reason=exc.strerror or str(exc)) from exc

    return read


def _folder_listing(folder: Path) -> Listing:
    listing = Listing()
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for file_name in sorted(filenames):
            path = Path(dirpath) / file_name
            parts = archive.split_parts(path.relative_to(folder).as_posix()) or ()
            if archive.is_junk(parts) or file_name.endswith(fileio.INCOMPLETE_SUFFIX):
                listing.skipped.append(str(path))
            else:
                listing.members.append(Member(parts, "/".join(parts), _file_reader(path, "/".join(parts))))
    return listing


def import_folder(project: Project, folder: str | os.PathLike, split: str = "train",
                  label: str | None = None) -> ImportReport:
    """Import a folder of class folders (same layout rules and checks as zips; hidden files skipped).

    Raises:
        UserError: ``err.data.no_folder`` when ``folder`` is not a folder.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError("err.data.no_folder", path=str(folder))
    importer = _Importer(project, check_split(split), label)
    importer.run(_folder_listing(folder))
    _record(project, importer.report, "folder", split, str(folder))
    return importer.report


def use_sample_data(project: Project, source: str | os.PathLike | None = None) -> ImportReport:
    """Copy the bundled sample data: ``sample_data/lab`` → ``train``, ``sample_data/line`` → ``onsite``.

    Raises:
        UserError: ``err.data.no_sample_data`` when ``sample_data/lab`` is missing.
    """
    root = Path(source) if source is not None else SAMPLE_DATA_DIR
    if not (root / "lab").is_dir():
        raise UserError("err.data.no_sample_data", path=str(root / "lab"))
    report = ImportReport()
    for sub, split in (("lab", "train"), ("line", "onsite")):
        if (root / sub).is_dir() and not report.stopped:
            report.extend(import_folder(project, root / sub, split))
    _record(project, report, "sample_data", "train+onsite", str(root))
    return report
