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


@pytest.mark.parametrize("offline", ["1", "0"])
def test_editors_without_their_files_say_so_with_a_command_that_copies_exactly(monkeypatch, tmp_path, offline):
    """Issue 16.5: on a PC without the model files Home says "needs the model files" (online or not), and the
    download command sits in a code block with its ``*`` intact; no raw exception text."""
    monkeypatch.setenv("HF_HUB_OFFLINE", offline)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))        # an empty hub cache: no model on this PC
    at = app_at()
    table = at.dataframe[0].value
    diffusion = table[table["Kind"] == "AI edit (diffusion model)"]
    assert list(diffusion["Available"]) == ["📦 needs the model files"] * len(diffusion)
    commands = [c.value for c in at.code]
    assert any("\nhf download timbrooks/instruct-pix2pix" in c and '"*.json"' in c and '"*/*.txt"' in c
               for c in commands), commands
    shown = " ".join(m.value for m in at.caption)
    assert "Error" not in shown and "hf download" not in shown
