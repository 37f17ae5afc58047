"""Names from users: long Japanese/emoji names fit the disk, odd class folders are stored safely and reported.

Issue #12 items 4 and 8: a name may use 255 UTF-8 bytes (80 Japanese characters are 240, 80 emoji 320);
names that already fitted must keep exactly the name they had, so older projects and runs stay valid.
"""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from PIL import Image

from genmix_core import fileio
from genmix_core.data import import_uploads, open_project, scan_split
from genmix_core.paths import MAX_NAME_BYTES, safe_join, safe_name, utf8_len


def png(seed: int = 0, size=(16, 16)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (seed * 37 % 256, seed * 91 % 256, 90)).save(buf, "PNG")
    return buf.getvalue()


def zip_of(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.fixture
def project():
    return open_project("names")


def _stored(project, split="train") -> list[str]:
    root = project.data_dir(split)
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


# ---------------------------------------------------------------------------------------- long names

def test_eighty_character_japanese_file_names_are_all_imported_under_their_own_names(project):
    # 80 kanji = 240 bytes: with ".png" the name fits, but its temporary ".incomplete" name did not, and the
    # first such file stopped the whole import ("File name too long").
    names = [f"{c}" * 80 + ".jpg" for c in "傷汚割"]
    report = import_uploads(project, [(f"ok/{n}", png(i)) for i, n in enumerate(names)])
    assert report.stopped is None and report.rejected == []
    assert report.added == [f"ok/{n[:-4]}.png" for n in names]
    assert all(utf8_len(p.split("/")[1]) <= MAX_NAME_BYTES for p in _stored(project))
    assert not list(project.data_dir("train").rglob(f"*{fileio.INCOMPLETE_SUFFIX}"))


def test_emoji_class_name_over_255_bytes_is_shortened_and_the_upload_kept(project):
    long_class = "🔩" * 70                      # 280 bytes: a raw OSError lost the whole upload before
    other_long = "🔩" * 69 + "🔧"               # same beginning: must stay a different class
    upload = [("parts.zip", zip_of({f"{long_class}/a.png": png(1), f"{long_class}/b.png": png(2),
                                    f"{other_long}/c.png": png(3)})),
              ("ok/d.png", png(4))]
    report = import_uploads(project, upload)
    assert report.stopped is None and report.rejected == []
    classes = sorted(set(scan_split(project, "train")["label"]))
    assert len(classes) == 3 and "ok" in classes
    long_ones = [c for c in classes if c != "ok"]
    assert all(utf8_len(c) <= MAX_NAME_BYTES and c.startswith("🔩" * 40) for c in long_ones)
    assert len(set(long_ones)) == 2
    renamed = {w.params["name"]: w.params["stored"] for w in report.warnings if w.key == "data.warn.class_renamed"}
    assert set(renamed) == {long_class, other_long} and set(renamed.values()) == set(long_ones)
    assert "255" in report.warnings[0].message("ja")


def test_long_file_names_are_cut_on_a_character_boundary_with_a_note(project):
    stem = "😀" * 63 + "x"                        # 253 bytes + ".png" does not fit: cut, marked, still distinct
    report = import_uploads(project, [(f"ok/{stem}.png", png(1)), (f"ok/{stem[:-1]}y.png", png(2))])
    assert report.rejected == [] and len(report.added) == 2
    stored = [p.split("/")[1] for p in report.added]
    assert len(set(stored)) == 2
    for name in stored:
        assert utf8_len(name) <= MAX_NAME_BYTES and re.search(r"~[0-9a-f]{8}\.png$", name)
        assert name.encode("utf-8").decode("utf-8") == name and name.startswith("😀" * 50)
    notes = [w for w in report.warnings if w.key == "data.warn.name_shortened"]
    assert len(notes) == 2 and stored[0] in notes[0].message("en")


def _old_safe_name(name: str) -> str | None:
    """``safe_name`` before issue #12 (80 characters, no byte limit), to prove that fitting names never change."""
    text = unicodedata.normalize("NFC", str(name))
    text = re.sub(r'[\x00-\x1f\x7f/\\:*?"<>|]', "_", text).strip().lstrip(".").strip()
    text = text[:80].strip()
    return None if not text or set(text) <= {"_", "."} else text


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("abcXYZ _-.:?/長傷キズ🔩é\u0301ｱ"), max_size=120))
@example("🔩" * 70)
@example("長" * 85)
@example("a" * 30 + "🔩" * 60)
def test_names_that_fitted_keep_their_exact_name_and_every_name_fits(name):
    old = _old_safe_name(name)
    new = safe_name(name, fallback="")
    if old is None:
        assert new == ""
        return
    assert utf8_len(new) <= MAX_NAME_BYTES and len(new) <= 80
    if utf8_len(old) <= MAX_NAME_BYTES:
        assert new == old
    else:
        assert new != old and new.startswith(old[:20]) and safe_name(new) == new   # idempotent


# ----------------------------------------------------------------------------------- odd class names

def test_class_folder_with_a_colon_is_imported_under_a_safe_name_with_a_note(project):
    report = import_uploads(project, [("parts.zip", zip_of({"a:b/x.png": png(1), "C:/abs.png": png(2)}))])
    assert report.added == ["a_b/x.png"]
    assert [r.key for r in report.rejected] == ["err.zip.unsafe_path"]          # a drive root stays refused
    note = [w for w in report.warnings if w.key == "data.warn.class_renamed"]
    assert len(note) == 1 and "'a:b'" in note[0].message("en") and "'a_b'" in note[0].message("ja")


def test_two_folders_that_become_one_class_are_reported(project):
    report = import_uploads(project, [("p.zip", zip_of({"a?b/x.png": png(1), "a_b/y.png": png(2)}))])
    assert sorted(report.added) == ["a_b/x.png", "a_b/y.png"]
    merged = [w for w in report.warnings if w.key == "data.warn.class_merged"]
    assert len(merged) == 1
    text = merged[0].message("ja")
    assert "a?b" in text and "a_b" in text and "1 つのクラス" in text
    # The next upload of the same folder into the now existing class says so as well.
    again = import_uploads(project, [("q.zip", zip_of({"a?b/z.png": png(3)}))])
    assert [w.key for w in again.warnings] == ["data.warn.class_merged"]


def test_a_folder_of_dots_is_refused_with_a_reason_and_hidden_files_are_counted(project):
    report = import_uploads(project, [("p.zip", zip_of({"..../x.png": png(1), "ok/y.png": png(2),
                                                        ".git/z.png": png(3), "ok/.DS_Store": b"x"}))])
    assert report.added == ["ok/y.png"]
    assert [(r.name, r.key) for r in report.rejected] == [("p.zip/..../x.png", "err.data.bad_class_name")]
    assert "'....'" in report.rejected[0].message("en")
    assert sorted(report.skipped) == ["p.zip/.git/z.png", "p.zip/ok/.DS_Store"]


def test_a_label_the_user_types_with_forbidden_characters_is_reported(project):
    report = import_uploads(project, [("x.png", png(1))], label="傷?大")
    assert report.added == ["傷_大/x.png"]
    assert [(w.key, w.params) for w in report.warnings] == [
        ("data.warn.class_renamed", {"name": "傷?大", "stored": "傷_大"})]


# --------------------------------------------------------------------------------- links and folders

def test_safe_join_may_keep_an_admin_link_but_never_lets_a_name_climb_out(tmp_path):
    root = tmp_path / "models"
    (tmp_path / "other-disk" / "m").mkdir(parents=True)
    root.mkdir()
    (root / "linked").symlink_to(tmp_path / "other-disk" / "m", target_is_directory=True)
    with pytest.raises(Exception) as exc:
        safe_join(root, "linked")                        # default: the real place must be inside
    assert getattr(exc.value, "key", "") == "err.path.outside"
    assert safe_join(root, "linked", follow_links=False) == root.resolve() / "linked"
    for bad in ("../x", "/etc", "a/../../x", "C:/x"):
        with pytest.raises(Exception) as exc:
            safe_join(root, bad, follow_links=False)
        assert getattr(exc.value, "key", "") == "err.path.outside", bad
