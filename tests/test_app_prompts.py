"""Prompts page: choose a set, edit it, save it (never over a curated set), choose active prompts, try one."""

import pandas as pd
import pytest
import streamlit
from test_app_helpers import add_images, app_at, image_captions, navigation_mode  # noqa: F401

from genmix_core.errors import UserError
from genmix_core.data.project import open_project
from genmix_core.prompts import load_prompt_set

PAGE = "pages/2_prompts.py"


@pytest.fixture
def user_edits(monkeypatch):
    """Stand in for the person typing into the table: AppTest cannot edit an st.data_editor (1.67).

    Set ``edit["fn"]`` to a function DataFrame -> DataFrame; the page receives its result, exactly what
    ``st.data_editor`` returns after the user's edits.
    """
    edit = {"fn": None}
    real = streamlit.data_editor

    def fake(data, *args, **kwargs):
        shown = real(data, *args, **kwargs)
        return edit["fn"](shown.copy()) if edit["fn"] else shown

    monkeypatch.setattr(streamlit, "data_editor", fake)
    return edit


def _rows(df):
    return [tuple(r) for r in df[["text", "ja", "filter"]].itertuples(index=False)]


def _on_set(at, name="classification"):
    at.selectbox(key="prompts_set_select").set_value(name).run()
    return at


@pytest.mark.parametrize("locale, title", [(None, "Prompts"), ("ja-JP", "プロンプト")])
def test_a_new_project_starts_on_the_factory_set_in_both_languages(locale, title):
    at = app_at(locale, PAGE)
    assert not at.exception
    assert at.title[0].value == title
    assert at.selectbox(key="prompts_set_select").value == "factory"
    table = at.data_editor[0].value
    assert list(table["text"])[:2] == ["dim lighting", "harsh overhead lighting with glare"] and len(table) == 8
    assert table["use"].all()                              # nothing chosen yet: all checked
    _on_set(at)
    assert list(at.data_editor[0].value["text"])[:2] == ["Autumn", "snowy"]


def test_edit_and_save_as_a_new_set(user_edits):
    def edit(df):
        df = df[df["text"] != "rainbow"].copy()                      # remove
        df.loc[df["text"] == "Autumn", "text"] = "autumn leaves"      # reword
        extra = pd.DataFrame([{"use": True, "text": "dusty lens", "ja": "ほこりの付いたレンズ",
                               "filter": "dusty_lens"}])
        return pd.concat([df, extra], ignore_index=True)             # add, with a Japanese gloss

    user_edits["fn"] = edit
    at = _on_set(app_at(None, PAGE))
    at.text_input(key="prompts_new_name").input("Line 3 set").run()
    at.button(key="prompts_save").click().run()
    assert not at.exception, at.exception
    path = open_project("default").prompts_dir / "Line 3 set.yaml"
    saved = load_prompt_set(path)
    texts = [p.text for p in saved.prompts]
    assert texts[0] == "autumn leaves" and "rainbow" not in texts and texts[-1] == "dusty lens"
    assert (saved.prompts[-1].ja, saved.prompts[-1].filter) == ("ほこりの付いたレンズ", "dusty_lens")
    assert at.selectbox(key="prompts_set_select").value == "Line 3 set"   # the new set is now selected
    assert not saved.curated


def test_curated_name_is_refused_with_the_reason_in_japanese():
    at = app_at("ja-JP", PAGE)
    at.text_input(key="prompts_new_name").input("factory").run()
    at.button(key="prompts_save").click().run()
    assert not at.exception
    expected = UserError("err.prompts.curated_name", name="factory").message("ja")
    assert expected in [e.value for e in at.error]
    assert not (open_project("default").prompts_dir / "factory.yaml").exists()


def test_invalid_table_shows_the_error_and_disables_saving(user_edits):
    user_edits["fn"] = lambda df: pd.concat([df, df.head(1)], ignore_index=True)   # duplicate "Autumn"
    at = _on_set(app_at(None, PAGE))
    assert not at.exception
    assert any("Autumn" in e.value for e in at.error)
    assert at.button(key="prompts_save").disabled and at.button(key="prompts_use").disabled


def test_checked_prompts_become_active_for_the_project(user_edits):
    def uncheck(df):
        df["use"] = df["text"].isin(["snowy", "sunset"])
        return df

    user_edits["fn"] = uncheck
    at = _on_set(app_at(None, PAGE))
    at.button(key="prompts_use").click().run()
    assert not at.exception
    assert at.session_state["active_prompts"] == ["snowy", "sunset"]
    from ui.state import ACTIVE_PROMPTS_FILE
    from genmix_core.fileio import read_json

    stored = read_json(open_project("default").root / ACTIVE_PROMPTS_FILE)
    assert stored["prompts"] == ["snowy", "sunset"] and stored["set"] == "classification"
    # A new session (reload) gets them back from the project file.
    user_edits["fn"] = None
    again = app_at(None, PAGE)
    assert list(again.data_editor[0].value["use"]) == [t in ("snowy", "sunset")
                                                        for t in again.data_editor[0].value["text"]]


def test_try_a_prompt_on_the_users_photos():
    add_images(classes=("ok", "scratch"))
    at = _on_set(app_at(None, PAGE))
    assert not at.exception
    at.selectbox(key="prompts_try_prompt").set_value("snowy").run()
    captions = image_captions(at)
    assert captions[:2] == ["Original (ok)", "Original (scratch)"]
    assert captions[2:] == ["Style filter (not an AI model): snowy"] * 2


def test_try_a_prompt_the_filter_cannot_render_says_it_needs_a_diffusion_model(user_edits):
    add_images(classes=("ok",))
    user_edits["fn"] = lambda df: pd.DataFrame([{"use": True, "text": "a robot arm", "ja": "", "filter": ""}])
    at = app_at(None, PAGE)
    assert not at.exception
    expected = UserError("err.editor.needs_diffusion", prompt="a robot arm").message("en")
    assert expected in [i.value for i in at.info]
    assert image_captions(at) == []


def test_saving_as_a_new_set_keeps_the_ticks(user_edits):
    """Issue 16.2: 6 of 8 ticked, saved as new -> the new set shows the same 6 ticked, and 6 become active."""
    def untick_two(df):
        df["use"] = ~df["text"].isin(["motion blur", "out of focus"])
        return df

    at = app_at(None, PAGE)
    user_edits["fn"] = untick_two
    at.run()
    at.text_input(key="prompts_new_name").input("line 2").run()
    at.button(key="prompts_save").click().run()
    assert not at.exception
    user_edits["fn"] = None
    at.run()
    assert at.selectbox(key="prompts_set_select").value == "line 2"
    table = at.data_editor[0].value
    assert table["use"].sum() == 6 and not table.loc[table["text"] == "motion blur", "use"].any()
    at.button(key="prompts_use").click().run()
    assert len(at.session_state["active_prompts"]) == 6


@pytest.mark.parametrize("locale, words", [(None, ("cannot draw", "“oil film on the surface”", "dim light")),
                                           ("ja-JP", ("描けません", "“oil film on the surface”", "暗い照明"))])
def test_a_prompt_the_style_filter_cannot_draw_is_refused_on_use(user_edits, locale, words):
    """Issue 16.1: the custom row without a style is refused at "use", naming it and the styles; nothing saved."""
    def add_row(df):
        extra = pd.DataFrame([{"use": True, "text": "oil film on the surface", "ja": "", "filter": ""}])
        return pd.concat([df, extra], ignore_index=True)

    user_edits["fn"] = add_row
    at = app_at(locale, PAGE)
    at.button(key="prompts_use").click().run()
    assert not at.exception
    message = " ".join(e.value for e in at.error)
    assert all(w in message for w in words), message
    assert not at.session_state["active_prompts"]
    # With a style chosen in the row, the same prompt is accepted.
    user_edits["fn"] = lambda df: add_row(df).assign(filter=lambda d: d["filter"].replace("", "glare"))
    at.run()
    at.button(key="prompts_use").click().run()
    assert "oil film on the surface" in at.session_state["active_prompts"]


def test_empty_project_try_section_points_to_data():
    at = app_at(None, PAGE)
    assert any("no training photos" in i.value for i in at.info)
    assert at.button(key="prompts_go_data")
