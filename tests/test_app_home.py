"""Home page: the live example (honestly labelled), this machine, the getting-started path, the patent note."""

import pytest
from test_app_helpers import app_at, image_captions, navigation_mode  # noqa: F401

from genmix_core.paths import SAMPLE_DATA_DIR


def _needs_sample_data():
    if not any(SAMPLE_DATA_DIR.glob("*/*/*.png")):
        pytest.fail("sample_data/ holds no images: run scripts/make_sample_data.py")


@pytest.mark.parametrize("locale, edit_label, patent", [
    (None, "style filter, not an AI model", "US patent 12,657,783 B1"),
    ("ja-JP", "AI モデルではありません", "米国特許 12,657,783 B1")])
def test_home_shows_the_method_on_a_sample_photo(locale, edit_label, patent):
    _needs_sample_data()
    at = app_at(locale)
    assert not at.exception
    captions = image_captions(at)
    assert len(captions) == 4
    assert captions[0].startswith("①") and captions[3].startswith("④")
    assert edit_label in captions[1]
    assert any(patent in w.value for w in at.warning)


def test_home_describes_this_machine_and_the_editors():
    at = app_at()
    markdown = " ".join(m.value for m in at.markdown)
    assert "CPU only" in markdown or "GPU" in markdown
    table = at.dataframe[0].value
    assert "Style filter (no AI model)" in set(table["Kind"])
    offline = table[table["Kind"] == "Style filter (no AI model)"]
    assert list(offline["Available"]) == ["✅ yes"]


def test_getting_started_buttons_open_the_pages_in_order():
    at = app_at("ja-JP")
    expected = ["データ", "プロンプト", "プレビュー"]
    for number, title in enumerate(expected, start=1):
        at = app_at("ja-JP")
        at.button(key=f"home_open_{number}").click().run()
        assert not at.exception
        assert at.title[0].value == title
