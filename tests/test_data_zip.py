"""Uploaded zips: layout, junk, hostile names, bombs and other crafted archives (genmix_core.data.archive via data)."""

from __future__ import annotations

import io
import os
import stat
import struct
import unicodedata
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from genmix_core.data import archive
from genmix_core.data import import_uploads
from genmix_core.data.project import open_project


def png(colour=(10, 20, 30), size=(16, 16)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "PNG")
    return buf.getvalue()


def make_zip(members: dict[str, bytes], method=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name), data, compress_type=method)
    return buf.getvalue()


def patch_headers(data: bytes, name: bytes, *, flags_or: int = 0, size: int | None = None,
                  new_name: bytes | None = None) -> bytes:
    """Edit a member's local header and central-directory record in place (what a crafted zip does)."""
    out = bytearray(data)
    for sig, flag_at, size_at, name_at in ((b"PK\x03\x04", 6, 22, 30), (b"PK\x01\x02", 8, 24, 46)):
        pos = out.find(sig)
        while pos != -1:
            if out[pos + name_at:pos + name_at + len(name)] == name:
                flags = struct.unpack_from("<H", out, pos + flag_at)[0] | flags_or
                struct.pack_into("<H", out, pos + flag_at, flags)
                if size is not None:
                    struct.pack_into("<I", out, pos + size_at, size)
                if new_name is not None:
                    assert len(new_name) == len(name)
                    out[pos + name_at:pos + name_at + len(name)] = new_name
            pos = out.find(sig, pos + 4)
    return bytes(out)


@pytest.fixture
def project():
    return open_project("zips")


def stored(project, split="train") -> set[str]:
    root = project.data_dir(split)
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def keys(report) -> dict[str, str]:
    return {r.name: r.key for r in report.rejected}


def test_class_folders_wrapper_and_junk(project):
    data = make_zip({
        "dataset/ok/a.png": png((0, 255, 0)), "dataset/scratch/b.jpg": png((255, 0, 0)),
        "dataset/scratch/.hidden.png": png(), "dataset/.DS_Store": b"\x00\x00\x00\x01Bud1",
        "__MACOSX/dataset/ok/._a.png": b"\x00\x05\x16\x07", "dataset/ok/Thumbs.db": b"\xd0\xcf\x11\xe0",
    })
    report = import_uploads(project, [("dataset.zip", data)])
    assert report.rejected == [] and report.warnings == []
    assert stored(project) == {"ok/a.png", "scratch/b.png"}
    assert len(report.skipped) == 4
    assert Image.open(project.data_dir() / "scratch" / "b.png").getpixel((1, 1)) == (255, 0, 0)


def test_single_class_folder_is_a_class_not_a_wrapper(project):
    report = import_uploads(project, [("scratch.zip", make_zip({"scratch/a.png": png(), "scratch/b.png": png((1, 1, 1))}))])
    assert sorted(report.added) == ["scratch/a.png", "scratch/b.png"]


def test_loose_images_need_a_label(project):
    data = make_zip({"a.png": png(), "ok/b.png": png((5, 5, 5))})
    report = import_uploads(project, [("mixed.zip", data)])
    assert keys(report) == {"mixed.zip/a.png": "err.data.needs_label"}
    assert "class" in report.rejected[0].message("en") and "クラス" in report.rejected[0].message("ja")
    assert stored(project) == {"ok/b.png"}
    report = import_uploads(project, [("mixed.zip", data)], label="dent")
    assert "dent/a.png" in report.added


def test_path_traversal_never_writes_outside(project, tmp_path):
    evil = png((255, 0, 255))
    data = make_zip({"../evil1.png": evil, "/tmp/evil2.png": evil, "ok/../../evil3.png": evil,
                     "..\\evil4.png": evil, "C:/evil5.png": evil, "ok/good.png": png()})
    report = import_uploads(project, [("evil.zip", data)], label="ok")
    assert set(keys(report).values()) == {"err.zip.unsafe_path"} and len(report.rejected) == 5
    assert report.added == ["ok/good.png"]
    written = [p for p in tmp_path.parent.rglob("evil*")] + [p for p in Path("/tmp").glob("evil2.png")]
    assert written == []
    assert stored(project) == {"ok/good.png"}


def test_zip_bomb_by_ratio_is_not_unpacked(project):
    zeros = b"\x00" * (3 * 2**20)
    data = make_zip({"ok/bomb.bmp": zeros, "ok/fine.png": png()})
    assert len(data) < 20_000  # small on disk, 3 MiB inside
    report = import_uploads(project, [("bomb.zip", data)])
    assert keys(report) == {"bomb.zip/ok/bomb.bmp": "err.zip.bomb"}
    assert report.added == ["ok/fine.png"]


def test_falsified_small_size_is_caught_while_reading(project, monkeypatch):
    reads = []
    real = archive._reader

    def spy(*a):
        inner = real(*a)

        def read():
            reads.append(a[2])
            return inner()
        return read

    monkeypatch.setattr(archive, "_reader", spy)
    data = make_zip({"ok/liar.bmp": b"\x00" * (3 * 2**20), "ok/fine.png": png()})
    data = patch_headers(data, b"ok/liar.bmp", size=1000)  # ratio looks harmless from the directory
    report = import_uploads(project, [("liar.zip", data)])
    assert keys(report) == {"liar.zip/ok/liar.bmp": "err.zip.bomb"}
    assert "liar.zip/ok/liar.bmp" in reads  # caught by counting while decompressing, not from the header
    assert report.added == ["ok/fine.png"]


def test_falsified_huge_size_rejected_from_directory(project):
    data = patch_headers(make_zip({"ok/huge.png": png(), "ok/fine.png": png((1, 2, 3))}), b"ok/huge.png",
                         size=2**31)
    report = import_uploads(project, [("huge.zip", data)])
    assert keys(report) == {"huge.zip/ok/huge.png": "err.zip.bomb"}
    assert report.added == ["ok/fine.png"]


def test_entry_count_and_total_size_caps(project, monkeypatch):
    monkeypatch.setattr(archive, "MAX_ENTRIES", 3)
    many = make_zip({f"ok/{i}.png": png((i, i, i)) for i in range(4)})
    report = import_uploads(project, [("many.zip", many), ("single.png", png())], label="ok")
    assert keys(report) == {"many.zip": "err.zip.too_many_entries"}
    assert report.added == ["ok/single.png"]
    monkeypatch.setattr(archive, "MAX_ENTRIES", 100)
    monkeypatch.setattr(archive, "MAX_TOTAL_BYTES", 100)
    report = import_uploads(project, [("many.zip", many)])
    assert keys(report) == {"many.zip": "err.zip.too_big"}


def test_nested_encrypted_symlink_method_and_corrupt_members(project):
    members = {"ok/inner.zip": make_zip({"x.png": png()}), "ok/disguised.png": make_zip({"y.png": png()}),
               "ok/secret.png": png((9, 9, 9)), "ok/good.png": png()}
    data = patch_headers(make_zip(members), b"ok/secret.png", flags_or=0x1)
    buf = io.BytesIO(data)
    with zipfile.ZipFile(buf, "a") as zf:
        link = zipfile.ZipInfo("ok/link.png")
        link.create_system = 3
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "../../../etc/passwd")
        zf.writestr(zipfile.ZipInfo("ok/bz.png"), png((3, 3, 3)), compress_type=zipfile.ZIP_BZIP2)
        zf.writestr(zipfile.ZipInfo("ok/readme.txt"), "class list: ok, scratch\n")
    report = import_uploads(project, [("odd.zip", buf.getvalue())])
    assert keys(report) == {
        "odd.zip/ok/inner.zip": "err.zip.nested", "odd.zip/ok/disguised.png": "err.zip.nested",
        "odd.zip/ok/secret.png": "err.zip.encrypted", "odd.zip/ok/link.png": "err.zip.symlink",
        "odd.zip/ok/bz.png": "err.zip.unsupported_method", "odd.zip/ok/readme.txt": "err.image.text_file",
    }
    assert stored(project) == {"ok/good.png"}
    assert not any(p.is_symlink() for p in project.root.rglob("*"))


def test_damaged_member_and_bad_zip(project):
    noisy = io.BytesIO()
    Image.effect_noise((64, 64), 50).convert("RGB").save(noisy, "BMP")
    data = bytearray(make_zip({"ok/noisy.bmp": noisy.getvalue(), "ok/fine.png": png()}))
    start = data.find(b"ok/noisy.bmp") + len("ok/noisy.bmp") + 40
    data[start:start + 20] = b"\xff" * 20  # flip compressed bytes: the CRC (or inflate) must fail
    report = import_uploads(project, [("damaged.zip", bytes(data)), ("cut.zip", make_zip({"ok/z.png": png()})[:50]),
                                      ("notazip.zip", b"hello"), ("also.png", png((7, 7, 7)))], label="ok")
    found = keys(report)
    assert found["damaged.zip/ok/noisy.bmp"] in ("err.zip.member_corrupt", "err.image.corrupt")
    assert found["cut.zip"] == "err.zip.bad_zip" and found["notazip.zip"] == "err.zip.bad_zip"
    assert sorted(report.added) == ["ok/also.png", "ok/fine.png"]


def test_too_deep_layout(project):
    data = make_zip({"a/train/ok/x.png": png(), "ok/y.png": png((1, 1, 1))})
    report = import_uploads(project, [("deep.zip", data)])
    assert keys(report) == {"deep.zip/a/train/ok/x.png": "err.data.too_deep"}
    assert report.added == ["ok/y.png"]


def test_unicode_names_nfc_and_legacy_encodings(project):
    nfc, nfd = "キズ", unicodedata.normalize("NFD", "キズ")
    assert nfc != nfd
    data = make_zip({f"{nfd}/傷1.png": png((1, 0, 0)), f"{nfc}/傷2.png": png((2, 0, 0)),
                     "XXXX/a.png": png((3, 0, 0)), "YYYYYY/b.png": png((4, 0, 0)), "caf_/c.png": png((5, 0, 0))})
    data = patch_headers(data, b"XXXX/a.png", new_name="キズ/a.png".encode("cp932"))  # Japanese Windows, no flag
    data = patch_headers(data, b"YYYYYY/b.png", new_name="キズ/b.png".encode("utf-8"))  # UTF-8 without the flag
    data = patch_headers(data, b"caf_/c.png", new_name="caf\x82/c.png".encode("latin-1"))  # CP437 'é'
    report = import_uploads(project, [("jp.zip", data)])
    assert report.rejected == []
    assert stored(project) == {"キズ/傷1.png", "キズ/傷2.png", "キズ/a.png", "キズ/b.png", "café/c.png"}
    assert sorted(os.listdir(project.data_dir())) == ["café", "キズ"]  # one NFC folder, not two


def test_zip_detected_from_content_not_name(project):
    report = import_uploads(project, [("photos.png", make_zip({"ok/a.png": png()}))])
    assert report.added == ["ok/a.png"]
