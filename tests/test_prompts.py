"""Prompt sets: curated files, validation errors that teach, user sets (save/load/protection), table helpers."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genmix_core import prompts as P
from genmix_core.errors import UserError
from genmix_core.i18n import catalog
from genmix_core.paths import CURATED_PROMPTS_DIR

AUTHORS_CLASSIFICATION = ["Autumn", "snowy", "watercolor art", "sunset", "rainbow", "aurora", "mosaic",
                          "ukiyo-e", "a sketch with crayon"]
AUTHORS_DOMAIN = ["graffiti", "retro comic", "chalk drawing", "digital art", "cartoon style"]
JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


def write(tmp_path: Path, text: str | bytes, name: str = "mine.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def load_error(tmp_path: Path, text: str | bytes) -> UserError:
    with pytest.raises(UserError) as info:
        P.load_prompt_set(write(tmp_path, text))
    return info.value


# --- curated sets --------------------------------------------------------------------------------------------

def test_curated_sets_hold_the_authors_prompts_verbatim():
    sets = {s.name: s for s in P.list_prompt_sets()}
    assert list(sets) == ["classification", "domain_adaptation", "factory"]
    assert sets["classification"].texts == AUTHORS_CLASSIFICATION
    assert sets["domain_adaptation"].texts == AUTHORS_DOMAIN
    assert all(s.curated and s.source for s in sets.values())


def test_factory_set_is_short_and_explained_in_both_languages():
    factory = P.load_prompt_set(CURATED_PROMPTS_DIR / "factory.yaml")
    assert 6 <= len(factory.prompts) <= 10
    for p in factory.prompts:
        assert len(p.text) <= 40, "factory prompts stay short and filter-like"
        assert p.note and p.note["en"] and JAPANESE.search(p.note["ja"])


def test_every_curated_prompt_has_a_japanese_gloss_and_a_known_filter():
    from genmix_core.editing.offline import RECIPES

    for s in P.list_prompt_sets():
        assert s.title["en"] and JAPANESE.search(s.title["ja"])
        for p in s.prompts:
            assert p.ja and JAPANESE.search(p.ja), p
            assert p.filter in RECIPES, p


def test_label_shows_the_gloss_in_japanese_only():
    p = P.Prompt("snowy", ja="雪景色")
    assert p.label("en") == "snowy"
    assert p.label("ja") == "snowy（雪景色）"
    assert P.Prompt("rain").label("ja") == "rain"


# --- validation of files -------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, line", [
    ("name: a\nprompts:\n  - text: \"abc\n", 4),
    ("prompts:\n  - text: a\n   - text: b\n", 3),
    ("x: [1,\n  2\nprompts:\n", 3),
])
def test_yaml_syntax_error_names_the_line(tmp_path, text, line):
    err = load_error(tmp_path, text)
    assert err.key == "err.prompts.yaml_syntax"
    assert err.params["line"] == line
    assert f"line {line}" in str(err) and "mine.yaml" in str(err)
    assert f"{line} 行目" in err.message("ja")


@pytest.mark.parametrize("text, key, fragment", [
    ("name: a\n", "err.prompts.missing_prompts", "prompts:"),
    ("name: a\nprompts:\n", "err.prompts.missing_prompts", "prompts:"),
    ("- snowy\n- rain\n", "err.prompts.not_mapping", "list"),
    ("", "err.prompts.not_mapping", "NoneType"),
    ("prompts: snowy\n", "err.prompts.wrong_type", "'prompts'"),
    ("prompts:\n  - 42\n", "err.prompts.wrong_type", "prompts[1]"),
    ("prompts:\n  - text: [a, b]\n", "err.prompts.wrong_type", "prompts[1].text"),
    ("prompts:\n  - text: yes\n", "err.prompts.wrong_type", "bool"),
    ("prompts:\n  - text: snowy\n    ja: 3\n", "err.prompts.wrong_type", "prompts[1].ja"),
    ("title: [a]\nprompts:\n  - snowy\n", "err.prompts.wrong_type", "'title'"),
    ("prompts:\n  - text: snowy\n    txt: rain\n", "err.prompts.unknown_field", "prompts[1].txt"),
    ("prompt:\n  - snowy\n", "err.prompts.unknown_field", "'prompt'"),
    ("prompts: []\n", "err.prompts.none", "at least one"),
    ("prompts:\n  - text: '   '\n", "err.prompts.empty", "prompt 1 is empty"),
    ("prompts:\n  - snowy\n  - ''\n", "err.prompts.empty", "prompt 2 is empty"),
    ("prompts:\n  - ja: 雪\n", "err.prompts.empty", "prompt 1 is empty"),
    ("prompts:\n  - snowy\n  - ' Snowy  '\n", "err.prompts.duplicate", "repeats \"snowy\""),
    ("prompts:\n  - dim  lighting\n  - DIM LIGHTING\n", "err.prompts.duplicate", "DIM LIGHTING"),
    ("prompts:\n  - snowy\n  - ｓｎｏｗｙ\n", "err.prompts.duplicate", "prompt 2"),
    ("prompts:\n  - \"snow\\ty\"\n", "err.prompts.control_chars", "control character"),
    ("prompts:\n  - \"snowy\\nrain\"\n", "err.prompts.control_chars", "one line"),
    ("prompts:\n  - text: snowy\n    ja: \"雪\\u0007\"\n", "err.prompts.control_chars", "prompts[1].ja"),
    ("prompts:\n  - text: snowy\n    filter: snowy_v2\n", "err.prompts.unknown_filter", "'snowy_v2'"),
])
def test_malformed_files_raise_teaching_errors(tmp_path, text, key, fragment):
    err = load_error(tmp_path, text)
    assert err.key == key
    assert fragment in str(err), str(err)
    assert "mine.yaml" in str(err)
    ja = err.message("ja")
    assert JAPANESE.search(ja) and ja != str(err)


def test_unknown_filter_error_lists_the_real_ids(tmp_path):
    err = load_error(tmp_path, "prompts:\n  - text: rust\n    filter: rust\n")
    assert "dim_light" in str(err) and "snowy" in str(err)


def test_prompt_length_limit_is_inclusive(tmp_path):
    ok = "a" * P.MAX_PROMPT_CHARS
    assert P.load_prompt_set(write(tmp_path, f"prompts:\n  - {ok}\n")).texts == [ok]
    err = load_error(tmp_path, f"prompts:\n  - {ok}b\n")
    assert err.key == "err.prompts.too_long"
    assert err.params["length"] == P.MAX_PROMPT_CHARS + 1 and str(P.MAX_PROMPT_CHARS) in str(err)


def test_not_utf8_and_missing_files(tmp_path):
    assert load_error(tmp_path, "prompts:\n  - caf\xe9\n".encode("latin-1")).key == "err.prompts.not_utf8"
    with pytest.raises(UserError, match="Could not read") as info:
        P.load_prompt_set(tmp_path / "nope.yaml")
    assert info.value.key == "err.prompts.not_found"


def test_plain_string_entries_and_bom_are_accepted(tmp_path):
    s = P.load_prompt_set(write(tmp_path, "\ufeffprompts:\n  - ' snowy '\n  - text: rain\n    ja: 雨\n"))
    assert s.texts == ["snowy", "rain"] and s.prompts[1].ja == "雨"
    assert s.name == "mine" and not s.curated and s.title == {"en": "mine"}


@given(st.lists(st.text(alphabet=st.characters(categories=["L", "N", "Zs", "P"]), min_size=1, max_size=30),
                min_size=1, max_size=8))
@settings(max_examples=60, deadline=None)
def test_validate_prompts_keeps_distinct_texts_and_rejects_repeats(texts):
    stripped = [t.strip() for t in texts]
    keys = [P.prompt_key(t) for t in stripped]
    if any(not t for t in stripped):
        with pytest.raises(UserError, match="empty"):
            P.validate_prompts(texts)
    elif len(set(keys)) < len(keys):
        with pytest.raises(UserError, match="repeats"):
            P.validate_prompts(texts)
    else:
        assert P.validate_prompts(texts) == stripped
        with pytest.raises(UserError, match="repeats"):
            P.validate_prompts(texts + [f"  {stripped[0]}  "])


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz ", min_size=1, max_size=30).filter(str.strip))
@settings(max_examples=40, deadline=None)
def test_case_and_spacing_variants_are_duplicates(text):
    variant = "  " + "  ".join(text.upper().split()) + " "
    with pytest.raises(UserError, match="repeats") as info:
        P.validate_prompts([text, variant])
    assert info.value.params["first"] == text.strip()


# --- user sets ------------------------------------------------------------------------------------------------

def test_save_then_load_round_trips_with_japanese(tmp_path):
    prompts = [P.Prompt("rusty bolts", ja="さびたボルト", filter="tungsten"), "oily floor", P.Prompt("雪の工場")]
    title = {"en": "Line 2", "ja": "2号ライン"}
    path = P.save_user_prompt_set(tmp_path / "user", "ライン 2 / 冬", prompts, title=title)
    assert path.parent == (tmp_path / "user").resolve() and path.suffix == ".yaml"
    assert "/" not in path.stem and "冬" in path.stem
    back = P.load_prompt_set(path)
    assert back.prompts == [P.Prompt("rusty bolts", "さびたボルト", "tungsten"), P.Prompt("oily floor"),
                            P.Prompt("雪の工場")]
    assert back.title == {"en": "Line 2", "ja": "2号ライン"} and not back.curated
    assert "さびたボルト" in path.read_text(encoding="utf-8"), "Japanese is stored readable, not escaped"
    assert not list(path.parent.glob("*.incomplete"))


def test_a_long_japanese_or_emoji_set_name_is_saved_under_a_name_that_fits(tmp_path):
    # 85 kanji = 255 bytes: with ".yaml" (and its temporary name) the file could not be written before.
    for name in ("冬" * 85, "🧊" * 70):
        path = P.save_user_prompt_set(tmp_path / "user", name, ["snowy"])
        assert len(path.name.encode("utf-8")) <= 255 and path.suffix == ".yaml"
        assert P.load_prompt_set(path).prompts == [P.Prompt("snowy")]


@pytest.mark.parametrize("name", ["factory", "Classification", " domain_adaptation "])
def test_curated_names_are_protected(tmp_path, name):
    before = (CURATED_PROMPTS_DIR / "factory.yaml").read_bytes()
    with pytest.raises(UserError, match="built-in prompt set") as info:
        P.save_user_prompt_set(tmp_path, name, ["snowy"])
    assert info.value.key == "err.prompts.curated_name" and "組み込み" in info.value.message("ja")
    assert not list(tmp_path.glob("*.yaml"))
    assert (CURATED_PROMPTS_DIR / "factory.yaml").read_bytes() == before


def test_saving_never_overwrites_unless_asked(tmp_path):
    path = P.save_user_prompt_set(tmp_path, "mine", ["snowy"])
    with pytest.raises(UserError, match="already exists") as info:
        P.save_user_prompt_set(tmp_path, "mine", ["rain"])
    assert info.value.key == "err.prompts.exists"
    assert P.load_prompt_set(path).texts == ["snowy"]
    P.save_user_prompt_set(tmp_path, "mine", ["rain"], overwrite=True)
    assert P.load_prompt_set(path).texts == ["rain"]


def test_saving_validates_before_writing(tmp_path):
    with pytest.raises(UserError, match="repeats"):
        P.save_user_prompt_set(tmp_path, "bad", ["snowy", "Snowy"])
    with pytest.raises(UserError, match="does not exist"):
        P.save_user_prompt_set(tmp_path, "bad", [P.Prompt("snowy", filter="nope")])
    with pytest.raises(UserError) as info:
        P.save_user_prompt_set(tmp_path, "../..", ["snowy"])
    assert info.value.key == "err.path.bad_name"
    assert not list(tmp_path.rglob("*.yaml"))


def test_list_prompt_sets_skips_broken_and_shadowing_user_files(tmp_path):
    P.save_user_prompt_set(tmp_path, "b_mine", ["snowy"])
    P.save_user_prompt_set(tmp_path, "a_mine", ["rain"])
    write(tmp_path, "prompts: [\n", "broken.yaml")
    write(tmp_path, "prompts:\n  - my fake factory\n", "Factory.yaml")
    problems: list[UserError] = []
    names = [s.name for s in P.list_prompt_sets(tmp_path, problems=problems)]
    assert names == ["classification", "domain_adaptation", "factory", "a_mine", "b_mine"]
    assert sorted(e.key for e in problems) == ["err.prompts.curated_name", "err.prompts.yaml_syntax"]
    assert [s.name for s in P.list_prompt_sets(tmp_path / "missing")] == list(P.CURATED_NAMES)


# --- table helpers (st.data_editor) --------------------------------------------------------------------------

def test_table_round_trip_through_dicts_and_pandas():
    s = P.load_prompt_set(CURATED_PROMPTS_DIR / "classification.yaml")
    rows = P.prompt_set_to_table(s)
    assert list(rows[0]) == list(P.TABLE_COLUMNS) and rows[0]["text"] == "Autumn"
    expected = [P.Prompt(p.text, p.ja, p.filter) for p in s.prompts]
    assert P.table_to_prompts(rows) == expected
    assert P.table_to_prompts(pd.DataFrame(rows, columns=P.TABLE_COLUMNS)) == expected


def test_table_from_a_data_editor_with_blank_cells_and_rows():
    df = pd.DataFrame({"text": [" snowy ", "rain", None, float("nan")],
                       "ja": ["雪", float("nan"), None, ""], "filter": [None, "", None, None]})
    assert P.table_to_prompts(df) == [P.Prompt("snowy", "雪"), P.Prompt("rain")]
    assert P.prompt_set_to_table(["a"]) == [{"text": "a", "ja": "", "filter": ""}]


def test_table_errors():
    with pytest.raises(UserError, match="Row 2 of the prompt table has no prompt text.*delete the row"):
        P.table_to_prompts([{"text": "snowy"}, {"text": "", "ja": "雨"}])
    with pytest.raises(UserError, match="repeats"):
        P.table_to_prompts(pd.DataFrame({"text": ["snowy", "SNOWY"]}))
    with pytest.raises(UserError, match="'text' column") as info:
        P.table_to_prompts(pd.DataFrame({"prompt": ["snowy"]}))
    assert info.value.key == "err.prompts.table_columns"
    with pytest.raises(UserError, match="contains no prompts"):
        P.table_to_prompts([{"text": None, "ja": None, "filter": None}])


# --- catalog ---------------------------------------------------------------------------------------------------

def test_every_prompts_error_key_has_english_and_japanese():
    from genmix_core.prompts import checks as prompt_checks

    source = "".join(Path(m.__file__).read_text(encoding="utf-8") for m in (P.sets, prompt_checks))
    keys = set(re.findall(r'"(err\.prompts\.[a-z_]+)"', source))
    assert len(keys) >= 14
    for key in keys:
        texts = catalog()[key]
        assert texts["en"] and JAPANESE.search(texts["ja"]), key
