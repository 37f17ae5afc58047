"""Read uploaded zip files defensively, and the folder-layout rules shared by zips, uploads and folders.

A zip is attacker-shaped input even when a colleague made it, so nothing in it is trusted:

* member names: ``../`` or absolute names are refused (nothing is ever written from a name directly; the
  importer re-builds every path with ``paths.safe_join``); names without the UTF-8 flag are decoded as UTF-8,
  then CP932 (Japanese Windows "send to zip"), then CP437 (the zip standard); all names are NFC-normalised
  (macOS writes NFD, which would split ``キズ`` into two different folders);
* sizes: the entry count, each member's size, the total size and the compression ratio are checked from the
  central directory first, then again **while** decompressing, because a falsified header can claim any
  size; reading stops as soon as a limit is passed, so a bomb is never expanded in memory;
* members that are encrypted, symbolic links, nested archives, or use a compression method other than
  stored/deflate (bzip2/lzma cannot be decompressed in bounded steps by ``zipfile``) are refused with a reason;
* ``__MACOSX/``, ``.DS_Store``, ``Thumbs.db``, ``desktop.ini`` and hidden files are skipped (the report counts
  them); a folder named only with dots (``....``) is no hidden folder and is refused with a message.
"""

from __future__ import annotations

import copy
import io
import re
import stat
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import Callable

from genmix_core.errors import UserError

MAX_ENTRIES = 20_000
"""Most entries (files + folders) one zip may list."""
MAX_MEMBER_BYTES = 256 * 2**20
"""Largest uncompressed member (256 MiB; a 40 MP BMP is 120 MiB)."""
MAX_TOTAL_BYTES = 2 * 2**30
"""Largest total uncompressed size of one zip (2 GiB)."""
MAX_RATIO = 200
"""Highest compression ratio accepted for members above :data:`RATIO_MIN_BYTES`. Photos compress ~1-3:1;
deflate tops out near 1032:1, which only long runs of equal bytes (bombs, or flat synthetic pictures) reach."""
RATIO_MIN_BYTES = 2**20
"""Members smaller than this (1 MiB) are too small to matter, whatever their ratio."""
CHUNK = 2**20

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
NESTED_SUFFIXES = (".zip", ".7z", ".rar", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".lzh", ".cab")
JUNK_NAMES = frozenset({"__macosx", ".ds_store", "thumbs.db", "desktop.ini", "ehthumbs.db"})
_UTF8_FLAG = 0x800
_ENCRYPTED_FLAG = 0x1


@dataclass
class Member:
    """One file to import: its path parts (NFC) and a reader that returns its bytes or raises UserError."""

    parts: tuple[str, ...]
    name: str
    read: Callable[[], bytes]


@dataclass
class Listing:
    """What a zip (or a group of uploads) holds: members to import, refused ones, silently skipped ones."""

    members: list[Member] = field(default_factory=list)
    rejected: list[tuple[str, UserError]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def looks_like_zip(data: bytes) -> bool:
    """True when the bytes start like a zip (local header, empty archive or spanned marker)."""
    return data[:4] in ZIP_MAGIC


def split_parts(name: str) -> tuple[str, ...] | None:
    """Split a member or upload name into NFC path parts; ``None`` when it is absolute or climbs with ``..``.

    Both ``/`` and ``\\`` separate parts (Windows tools write either). Only a drive *root* (``C:/…``, ``C:``)
    counts as absolute: ``a:b/img.png`` is a folder called ``a:b`` (made on macOS or Linux), whose class is then
    stored under a safe name with a note.
    """
    raw = unicodedata.normalize("NFC", name).replace("\\", "/")
    if raw.startswith("/") or re.match(r"^[A-Za-z]:(/|$)", raw):
        return None
    parts = tuple(p for p in raw.split("/") if p not in ("", "."))
    if any(p == ".." for p in parts):
        return None
    return parts


def is_junk(parts: tuple[str, ...]) -> bool:
    """OS clutter and hidden files (``.DS_Store``, ``.git/``): skipped, and counted in the report.

    A name of dots only (``....``) is no hidden file but an unusable folder name: it is not junk, so the importer
    refuses it with a message.
    """
    return any((p.startswith(".") and set(p) != {"."}) or p.lower() in JUNK_NAMES for p in parts)


def strip_wrappers(members: list[Member]) -> list[Member]:
    """Remove top folders that merely wrap the class folders (``dataset/cls/img.png`` → ``cls/img.png``).

    A top folder is a wrapper when every member sits under the same one and at least one member is two levels
    deeper (so a zip holding only ``scratch/a.png`` keeps ``scratch`` as its class). Repeated for several
    wrappers (``export/dataset/cls/img.png``).
    """
    while members:
        tops = {m.parts[0] for m in members}
        if len(tops) != 1 or any(len(m.parts) < 2 for m in members) or not any(len(m.parts) >= 3 for m in members):
            return members
        members = [Member(m.parts[1:], m.name, m.read) for m in members]
    return members


def _member_name(info: zipfile.ZipInfo) -> str:
    """The member's real name: UTF-8 flag honoured, else UTF-8, CP932, CP437 in that order."""
    if info.flag_bits & _UTF8_FLAG:
        return info.filename
    raw = info.filename.encode("cp437")  # zipfile decoded with cp437, which maps all 256 bytes: reversible
    for encoding in ("utf-8", "cp932"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return info.filename


class _Budget:
    """Uncompressed bytes still allowed for this zip, shared by all its members."""

    def __init__(self, total: int) -> None:
        self.left = total


def _bomb(display: str, size: int, ratio: float) -> UserError:
    return UserError("err.zip.bomb", file=display, size_mb=round(size / 2**20, 1), ratio=int(ratio),
                     limit_mb=MAX_MEMBER_BYTES // 2**20, max_ratio=MAX_RATIO)


def _reader(zf: zipfile.ZipFile, info: zipfile.ZipInfo, display: str, budget: _Budget) -> Callable[[], bytes]:
    def read() -> bytes:
        limit = min(MAX_MEMBER_BYTES, budget.left)
        # Do not let zipfile stop at the declared size: read until the compressed stream really ends, counting.
        probe = copy.copy(info)
        probe.file_size = limit + 1
        out = bytearray()
        try:
            with zf.open(probe) as fh:
                while chunk := fh.read(CHUNK):
                    out += chunk
                    ratio = len(out) / max(info.compress_size, 1)
                    if len(out) > limit or len(out) > info.file_size or (
                            len(out) > RATIO_MIN_BYTES and ratio > MAX_RATIO):
                        raise _bomb(display, len(out), ratio)
        except UserError:
            raise
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, RuntimeError) as exc:
            raise UserError("err.zip.member_corrupt", file=display, reason=str(exc)[:160]) from exc
        if len(out) != info.file_size:
            raise UserError("err.zip.member_corrupt", file=display,
                            reason=f"{len(out)} bytes instead of the declared {info.file_size}")
        budget.left -= len(out)
        return bytes(out)

    return read


def _check_info(info: zipfile.ZipInfo, display: str) -> UserError | None:
    """Reasons to refuse a member from its central-directory record alone."""
    if info.flag_bits & _ENCRYPTED_FLAG:
        return UserError("err.zip.encrypted", file=display)
    if stat.S_ISLNK(info.external_attr >> 16):
        return UserError("err.zip.symlink", file=display)
    if display.lower().endswith(NESTED_SUFFIXES):
        return UserError("err.zip.nested", file=display)
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        return UserError("err.zip.unsupported_method", file=display, method=info.compress_type)
    ratio = info.file_size / max(info.compress_size, 1)
    if info.file_size > MAX_MEMBER_BYTES or (info.file_size > RATIO_MIN_BYTES and ratio > MAX_RATIO):
        return _bomb(display, info.file_size, ratio)
    return None


def list_zip(data: bytes, zip_name: str) -> Listing:
    """List a zip's importable members (read lazily, with the limits above) and the refused ones.

    Args:
        data: The zip file's bytes.
        zip_name: The upload's name, used to label members as ``"<zip_name>/<member>"`` in messages.

    Raises:
        UserError: ``err.zip.bad_zip`` (not a readable zip), ``err.zip.too_many_entries``,
            ``err.zip.too_big`` (declared total above :data:`MAX_TOTAL_BYTES`). Per-member problems do not
            raise: they are listed in ``Listing.rejected`` and the other members stay importable.
    """
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
        raise UserError("err.zip.bad_zip", file=zip_name, reason=str(exc)[:160]) from exc
    if len(infos) > MAX_ENTRIES:
        raise UserError("err.zip.too_many_entries", file=zip_name, count=len(infos), limit=MAX_ENTRIES)
    listing = Listing()
    budget = _Budget(MAX_TOTAL_BYTES)
    declared_total = 0
    for info in infos:
        member = _member_name(info)
        display = f"{zip_name}/{member}"
        if info.is_dir() or member.endswith(("/", "\\")):
            continue
        parts = split_parts(member)
        if parts is None:
            listing.rejected.append((display, UserError("err.zip.unsafe_path", file=display)))
            continue
        if not parts or is_junk(parts):
            listing.skipped.append(display)
            continue
        problem = _check_info(info, display)
        if problem is not None:
            listing.rejected.append((display, problem))
            continue
        declared_total += info.file_size
        listing.members.append(Member(parts, display, _reader(zf, info, display, budget)))
    if declared_total > MAX_TOTAL_BYTES:
        raise UserError("err.zip.too_big", file=zip_name, size_mb=declared_total // 2**20,
                        limit_mb=MAX_TOTAL_BYTES // 2**20)
    return listing
