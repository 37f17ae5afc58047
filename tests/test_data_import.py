"""Imports into a project: duplicates, names, folders, sample data, disk full; listing, checks and the catalog."""

from __future__ import annotations

import errno
import io
import re
from pathlib import Path

import pytest
import yaml
from PIL import Image

from genmix_core import data as data_mod
from genmix_core import fileio
from genmix_core.data import (ImportReport, check_dataset, import_folder, import_uploads, scan_folder, scan_project,
                              scan_split, use_sample_data)
from genmix_core.errors import UserError
from genmix_core.i18n import catalog, t
from genmix_core.paths import SAMPLE_DATA_DIR
from genmix_core.data.project import open_project

GENMIX = Path(data_mod.__file__).parent.parent
MY_MODULES = ["data/importing.py", "data/dataset.py", "data/imageio.py", "data/colour.py", "data/archive.py",
              "data/project.py"]


def png(colour=(10, 20, 30), size=(16, 16), fmt="PNG") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, fmt)
    return buf.getvalue()


def make_tree(root: Path, spec: dict[str, bytes]) -> Path:
    for rel, content in spec.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return root


@pytest.fixture
def project():
    return open_project("imports")


def files_of(project, split="train") -> dict[str, bytes]:
    root = project.data_dir(split)
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_valid_files_kept_whatever_else_fails(project):
    upload = [("good1.jpg", png((200, 0, 0), fmt="JPEG")), ("zero.png", b""), ("notes.jpg", b"just text\n" * 9),
              ("tiny.png", png(size=(1, 1))), ("good2.bmp", png((0, 0, 200), fmt="BMP")),
              ("../escape.png", png()), ("cut.png", png(size=(64, 64))[:60])]
    report = import_uploads(project, upload, label="ok")
    assert sorted(report.added) == ["ok/good1.png", "ok/good2.png"]
    assert {r.name: r.key for r in report.rejected} == {
        "zero.png": "err.image.empty", "notes.jpg": "err.image.text_file", "tiny.png": "err.image.too_small",
        "../escape.png": "err.path.outside", "cut.png": report.rejected[-1].key}
    assert report.rejected[-1].key in ("err.image.truncated", "err.image.corrupt")
    for name, content in files_of(project).items():
        with Image.open(io.BytesIO(content)) as im:
            assert im.format == "PNG" and im.mode == "RGB"


def test_duplicates_skipped_and_names_suffixed_never_overwritten(project):
    first = import_uploads(project, [("a.png", png((1, 1, 1))), ("b.png", png((2, 2, 2)))], label="ok")
    before = files_of(project)
    again = import_uploads(project, [("a.png", png((1, 1, 1))), ("copy_of_b.jpg", png((2, 2, 2)))], label="ok")
    assert again.added == [] and [w.key for w in again.warnings] == ["data.warn.duplicate"] * 2
    assert "ok/b.png" in again.warnings[1].message("en")
    clash = import_uploads(project, [("a.png", png((9, 9, 9))), ("a.jpg", png((8, 8, 8), fmt="BMP"))], label="ok")
    assert clash.added == ["ok/a_2.png", "ok/a_3.png"]
    assert [w.key for w in clash.warnings] == ["data.warn.renamed"] * 2
    after = files_of(project)
    assert {k: after[k] for k in before} == before  # nothing overwritten
    assert sorted(after) == sorted(first.added + clash.added)


def test_japanese_class_and_file_names(project):
    report = import_uploads(project, [("傷_01.png", png()), ("ok/良品.png", png((5, 5, 5)))], label="キズ")
    assert sorted(report.added) == ["ok/良品.png", "キズ/傷_01.png"]
    df = scan_split(project)
    assert list(df["label"]) == ["ok", "キズ"]


def test_disk_full_stops_with_key_and_keeps_earlier_files(project, monkeypatch):
    calls = {"n": 0}
    real_fsync = fileio.os.fsync

    def fsync(fd):
        calls["n"] += 1
        if calls["n"] > 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_fsync(fd)

    monkeypatch.setattr(fileio.os, "fsync", fsync)
    upload = [(f"{i}.png", png((i, 0, 0))) for i in range(5)]
    report = import_uploads(project, upload, label="ok")
    monkeypatch.undo()
    assert report.stopped is not None and report.stopped.key == "err.io.disk_full"
    assert report.added == ["ok/0.png", "ok/1.png"]
    stored = files_of(project)
    assert sorted(stored) == ["ok/0.png", "ok/1.png"]  # no half-written or .incomplete file left
    assert Image.open(io.BytesIO(stored["ok/1.png"])).getpixel((0, 0)) == (1, 0, 0)
    assert "disk" in report.stopped.message("en") and "ディスク" in report.stopped.message("ja")


def test_import_folder_layout_and_hidden_files(project, tmp_path):
    src = make_tree(tmp_path / "export", {
        "wrap/ok/a.png": png(), "wrap/scratch/b.png": png((255, 0, 0)), "wrap/scratch/.c.png": png(),
        "wrap/.git/config": b"[core]", "wrap/scratch/Thumbs.db": b"\x00", "wrap/loose.png": png((3, 3, 3)),
    })
    report = import_folder(project, src, label=None)
    assert sorted(report.added) == ["ok/a.png", "scratch/b.png"]
    assert [r.key for r in report.rejected] == ["err.data.needs_label"]
    with pytest.raises(UserError) as info:
        import_folder(project, tmp_path / "missing")
    assert info.value.key == "err.data.no_folder"
    assert project.meta()["data_source"] == "folder"


def test_use_sample_data_with_a_tiny_folder(project, tmp_path):
    src = make_tree(tmp_path / "sd", {"lab/ok/1.png": png(), "lab/dent/2.png": png((1, 1, 1)),
                                      "line/ok/3.png": png((2, 2, 2))})
    report = use_sample_data(project, src)
    assert sorted(report.added) == ["dent/2.png", "ok/1.png", "ok/3.png"]
    assert sorted(files_of(project)) == ["dent/2.png", "ok/1.png"]
    assert sorted(files_of(project, "onsite")) == ["ok/3.png"]
    assert project.meta()["data_source"] == "sample_data"
    with pytest.raises(UserError, match="sample data"):
        use_sample_data(project, tmp_path / "nothing")


@pytest.mark.skipif(not (SAMPLE_DATA_DIR / "lab").is_dir(), reason="sample_data not generated yet")
def test_use_sample_data_real(project):
    report = use_sample_data(project)
    assert report.rejected == [] and report.stopped is None
    expected = sum(1 for p in (SAMPLE_DATA_DIR / "lab").rglob("*.png"))
    assert len(scan_split(project, "train")) == expected
    assert len(scan_split(project, "train")["label"].unique()) >= 2


def test_scan_is_sorted_and_reads_sizes(project, tmp_path):
    import_uploads(project, [("z.png", png(size=(30, 20))), ("a.png", png(size=(10, 40)))], label="b")
    import_uploads(project, [("m.png", png(size=(12, 12)))], label="a")
    df = scan_split(project, "train")
    assert list(df.columns) == ["path", "rel", "label", "split", "width", "height"]
    assert list(df["rel"]) == ["a/m.png", "b/a.png", "b/z.png"]
    assert list(zip(df["width"], df["height"])) == [(12, 12), (10, 40), (30, 20)]
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in df["path"])
    assert set(df["split"]) == {"train"}
    assert scan_split(project, "onsite").empty
    bare = scan_folder(project.data_dir("train"))
    assert list(bare["rel"]) == list(df["rel"])


def test_check_dataset_findings(project, tmp_path):
    import_uploads(project, [(f"{i}.png", png((i, 0, 0))) for i in range(6)], label="ok")
    df = scan_project(project)
    assert [f.key for f in check_dataset(df)] == ["data.check.summary", "data.check.single_class"]
    import_uploads(project, [("s.png", png((0, 1, 0)))], label="scratch")
    import_uploads(project, [("x.png", png((0, 0, 1)))], split="onsite", label="unknown")
    (project.data_dir("train") / "empty_class").mkdir()
    (project.data_dir("train") / "stray.txt").write_text("?")
    (project.data_dir("train") / "ok" / "broken.png").write_bytes(b"garbage")
    findings = check_dataset(scan_project(project))
    by_key = {}
    for f in findings:
        by_key.setdefault(f.key, []).append(f)
    assert [f.name for f in by_key["data.check.empty_class"]] == ["empty_class"]
    assert [f.name for f in by_key["data.check.few_images"]] == ["scratch", "unknown"]
    assert "data.check.single_class" not in by_key
    assert [f.name for f in by_key["data.check.onsite_unknown_class"]] == ["unknown"]
    assert [f.name for f in by_key["data.check.unreadable"]] == ["ok/broken.png"]
    assert [f.name for f in by_key["data.check.loose_file"]] == ["stray.txt"]
    summary = by_key["data.check.summary"][0].message("en")
    assert "7 images" in summary and "ok 6" in summary and "scratch 1" in summary
    assert findings[0].level == "info" and all(f.level == "warning" for f in findings[2:])


# --- the catalog --------------------------------------------------------------------------------------------

def _my_keys() -> dict:
    return yaml.safe_load((GENMIX / "locales" / "data.yaml").read_text(encoding="utf-8"))


def test_every_message_exists_in_both_languages_with_the_same_placeholders():
    for key, texts in _my_keys().items():
        assert texts.get("en") and texts.get("ja"), key
        assert texts["en"] != texts["ja"], key
        assert re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", texts["ja"]), key
        fields = [set(re.findall(r"\{(\w+)", texts[lang])) for lang in ("en", "ja")]
        assert fields[0] == fields[1], key


def test_every_key_used_in_code_is_in_the_catalog():
    cat = catalog()
    used = set()
    for module in MY_MODULES:
        used |= set(re.findall(r'"((?:err|data)\.[a-z_]+\.[a-z_]+)"', (GENMIX / module).read_text(encoding="utf-8")))
    assert len(used) > 30
    assert sorted(k for k in used if k not in cat) == []


def test_rejections_format_fully(project):
    report = import_uploads(project, [("a.png", b""), ("b.png", png(size=(2, 2))), ("c.png", png())])
    report.extend(ImportReport(warnings=check_dataset(scan_project(project))))
    for item in report.rejected + report.warnings:
        for lang in ("en", "ja"):
            text = item.message(lang)
            assert "{" not in text and item.key not in text, (item.key, text)
    assert t("data.check.summary", "ja", split="train", images=3, classes=1, per_class="ok 3").startswith("train")
