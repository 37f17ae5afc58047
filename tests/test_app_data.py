"""Data page: sample data, uploads (valid, zip, corrupt), summary, delete with confirmation."""

import io
import re

import pytest
from PIL import Image
from test_app_helpers import (add_images, app_at, image_captions, navigation_mode,  # noqa: F401
                              png_bytes, zip_bytes)

from genmix_core.data import scan_split
from genmix_core.paths import SAMPLE_DATA_DIR
from genmix_core.data.project import open_project

PAGE = "pages/1_data.py"


def _data_page(locale=None, **state):
    return app_at(locale, PAGE, **state)


@pytest.mark.parametrize("locale, title, empty_text", [
    (None, "Data", "No photos yet"), ("ja-JP", "データ", "まだ写真がありません")])
def test_empty_project_says_what_to_do(locale, title, empty_text):
    at = _data_page(locale)
    assert not at.exception
    assert at.title[0].value == title
    assert any(empty_text in i.value for i in at.info)
    assert len(at.get("file_uploader")) == 2          # training photos and on-site photos


def test_sample_data_button_fills_both_splits():
    if not any(SAMPLE_DATA_DIR.glob("*/*/*.png")):
        pytest.fail("sample_data/ holds no images: run scripts/make_sample_data.py")
    at = _data_page()
    at.button(key="data_use_sample").click().run()
    assert not at.exception
    proj = open_project("default")
    train, onsite = scan_split(proj, "train"), scan_split(proj, "onsite")
    assert len(train) > 0 and len(onsite) > 0
    assert any(f"{len(train) + len(onsite)} image(s)" in s.value for s in at.success)
    table = at.dataframe[0].value
    assert set(table.iloc[:, 0]) == set(train["label"]) | set(onsite["label"])
    assert int(table["Training photos"].sum()) == len(train)


def test_upload_keeps_valid_files_and_lists_rejected_ones_with_reason():
    at = _data_page()
    at.selectbox(key="data_class_train").set_value("__new__").run()
    at.text_input(key="data_new_class_train").input("scratch").run()
    archive = zip_bytes({"dent/d1.png": png_bytes(1), "dent/d2.png": png_bytes(2)})
    at.get("file_uploader")[0].set_value([("a.png", png_bytes(3), "image/png"),
                                          ("parts.zip", archive, "application/zip"),
                                          ("broken.png", b"this is not an image", "image/png")]).run()
    assert not at.exception
    stored = scan_split(open_project("default"), "train")
    assert sorted(stored["label"]) == ["dent", "dent", "scratch"]
    assert any("3" in s.value for s in at.success)
    rejected = [e.value for e in at.error]
    assert any("broken.png" in e for e in rejected)
    assert not any("a.png" in e or "d1.png" in e for e in rejected)
    # The uploader was replaced by an empty one, so a rerun does not import the files twice.
    at.run()
    assert len(scan_split(open_project("default"), "train")) == 3


def test_rejection_reasons_are_shown_in_japanese():
    at = _data_page("ja-JP")
    at.selectbox(key="data_class_train").set_value("__new__").run()
    at.text_input(key="data_new_class_train").input("ok").run()
    at.get("file_uploader")[0].set_value([("broken.jpg", b"\x00\x01garbage", "image/jpeg")]).run()
    messages = " ".join(e.value for e in at.error)
    assert "broken.jpg" in messages
    assert any("\u3040" <= ch <= "\u30ff" for ch in messages)      # kana: the reason is in Japanese


def test_onsite_upload_goes_to_the_onsite_split():
    add_images(classes=("ok",), per_class=5)
    at = _data_page()
    at.selectbox(key="data_class_onsite").set_value("ok").run()
    at.get("file_uploader")[1].set_value([("line.png", png_bytes(50), "image/png")]).run()
    assert not at.exception
    assert len(scan_split(open_project("default"), "onsite")) == 1
    assert len(scan_split(open_project("default"), "train")) == 5


def test_summary_counts_and_warnings():
    add_images(classes=("ok", "scratch"), per_class=5)
    add_images(classes=("dent",), per_class=1)      # too few images: check_dataset warns about it
    at = _data_page()
    assert not at.exception
    table = at.dataframe[0].value
    counts = dict(zip(table.iloc[:, 0], table["Training photos"]))
    assert counts == {"dent": 1, "ok": 5, "scratch": 5}
    assert any("dent" in w.value for w in at.warning)
    captions = image_captions(at)
    assert len(captions) == 1 + 5 + 5                 # thumbnails: up to 6 per class, here all of them
    assert sum(c.startswith("ok_") for c in captions) == 5


def test_delete_class_needs_confirmation():
    add_images(classes=("ok", "scratch"), per_class=5)
    at = _data_page()
    at.selectbox(key="data_manage_class").set_value("scratch").run()
    assert at.button(key="data_delete_class").disabled
    at.checkbox(key="data_confirm_class").check().run()
    at.button(key="data_delete_class").click().run()
    assert not at.exception
    assert sorted(set(scan_split(open_project("default"), "train")["label"])) == ["ok"]


def test_clear_all_needs_confirmation():
    add_images(classes=("ok",), per_class=5)
    at = _data_page()
    assert at.button(key="data_clear").disabled
    at.checkbox(key="data_confirm_clear").check().run()
    at.button(key="data_clear").click().run()
    assert len(scan_split(open_project("default"), "train")) == 0
    assert any("No photos yet" in i.value for i in at.info)


def test_uploader_accepts_every_format_the_messages_name():
    from genmix_core.i18n import t

    at = _data_page()
    named = set(re.findall(r"\b(PNG|JPEG|BMP|GIF|TIFF|WebP)\b", t("err.image.not_image", "en", file="x")))
    assert named == {"PNG", "JPEG", "BMP", "GIF", "TIFF", "WebP"}
    for uploader in at.get("file_uploader"):
        allowed = {s.lstrip(".").lower() for s in uploader.allowed_type}
        assert {n.lower() for n in named} <= allowed
    gif = io.BytesIO()
    Image.new("P", (24, 20), 3).save(gif, "GIF")
    at.selectbox(key="data_class_train").set_value("__new__").run()
    at.text_input(key="data_new_class_train").input("ok").run()
    at.get("file_uploader")[0].set_value([("anim.gif", gif.getvalue(), "image/gif")]).run()
    assert not at.exception
    assert list(scan_split(open_project("default"), "train")["rel"]) == ["ok/anim.png"]


def test_odd_folder_names_are_explained_in_japanese():
    at = _data_page("ja-JP")
    archive = zip_bytes({"a?b/x.png": png_bytes(1), "..../y.png": png_bytes(2), "ok/.DS_Store": b"junk",
                         "ok/z.png": png_bytes(3)})
    at.get("file_uploader")[0].set_value([("parts.zip", archive, "application/zip")]).run()
    assert not at.exception
    assert sorted(scan_split(open_project("default"), "train")["rel"]) == ["a_b/x.png", "ok/z.png"]
    warnings = " ".join(w.value for w in at.warning)
    assert "'a?b'" in warnings and "'a_b'" in warnings and "保存しました" in warnings
    errors = " ".join(e.value for e in at.error)
    assert "'....'" in errors and "クラス名として使えません" in errors
    assert any(".DS_Store" in i.value and "読み飛ばしました" in i.value for i in at.info)


def test_on_site_photos_of_only_some_classes_are_named_in_both_languages():
    add_images(classes=("ok", "scratch", "dent"), per_class=3)
    add_images(classes=("ok",), per_class=2, split="onsite")
    for locale, text in ((None, "The on-site photos cover 1 of 3 classes; there are none of: dent, scratch."),
                         ("ja-JP", "現場の写真は 3 クラス中 1 クラス分です。次のクラスの現場の写真はありません：dent, scratch。")):
        at = _data_page(locale)
        assert not at.exception
        assert any(i.value.startswith(text) for i in at.info), [i.value for i in at.info]


@pytest.mark.parametrize("locale, word", [(None, "21 more like this"), ("ja-JP", "ほかに同様のものが 21 件")])
def test_24_duplicates_are_one_short_list_not_24_warnings(locale, word):
    """Issue 16.6: uploading the same 24 photos again gives a few lines and one "21 more like this" line."""
    files = [(f"p{i}.png", png_bytes(200 + i), "image/png") for i in range(24)]
    at = _data_page(locale)
    at.selectbox(key="data_class_train").set_value("__new__").run()
    at.text_input(key="data_new_class_train").input("ok").run()
    at.get("file_uploader")[0].set_value(files).run()
    at.selectbox(key="data_class_train").set_value("ok").run()
    at.get("file_uploader")[0].set_value(files).run()
    assert not at.exception
    shown = " ".join(w.value for w in at.warning)
    assert shown.count("\n- ") == 4 and word in shown and "p3.png, p4.png" in shown
