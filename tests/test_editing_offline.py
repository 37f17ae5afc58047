"""Offline style-filter editor: honest label, prompt matching, every recipe renders, sizes, determinism, speed."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from genmix_core.editing import Editor
from genmix_core.editing.offline import RECIPES, OfflineStyleEditor, normalise_prompt, recipe_for
from genmix_core.errors import UserError
from genmix_core.i18n import t
from genmix_core.prompts import Prompt, list_prompt_sets

JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
CURATED = [p for s in list_prompt_sets() for p in s.prompts]


def scene(w: int = 97, h: int = 71) -> Image.Image:
    """A small picture with a sky gradient, a coloured part, a hole and a dark line (odd size on purpose)."""
    im = Image.new("RGB", (w, h))
    draw = ImageDraw.Draw(im)
    for y in range(h):
        draw.line((0, y, w, y), fill=(90 + y, 110 + y // 2, 160 - y // 2))
    draw.rectangle((w * 0.2, h * 0.3, w * 0.8, h * 0.75), fill=(200, 170, 60), outline=(20, 20, 20), width=2)
    draw.ellipse((w * 0.35, h * 0.4, w * 0.6, h * 0.65), fill=(40, 90, 160))
    draw.line((w * 0.1, h * 0.9, w * 0.5, h * 0.5), fill=(15, 15, 15), width=2)
    return im


def arr(im: Image.Image) -> np.ndarray:
    return np.asarray(im, dtype=np.float32) / 255


@pytest.fixture(scope="module")
def editor() -> OfflineStyleEditor:
    return OfflineStyleEditor()


def test_is_an_honestly_labelled_editor(editor):
    assert isinstance(editor, Editor)
    assert editor.info.id == "offline" and editor.info.is_diffusion is False and editor.info.model is None
    assert editor.info.label_key == "editor.offline.name"
    assert t("editor.offline.name", "en") == "Style filter (offline, no AI model)"
    assert "AIモデル不使用" in t("editor.offline.name", "ja")
    assert editor.settings()["editor"] == "offline" and "recipes_version" in editor.settings()


@pytest.mark.parametrize("prompt", CURATED, ids=lambda p: p.text)
def test_curated_prompts_match_by_filter_text_and_gloss(prompt):
    assert recipe_for(prompt) == prompt.filter
    assert recipe_for(prompt.text) == prompt.filter
    assert recipe_for(prompt.ja) == prompt.filter
    assert recipe_for(f"  Make it {prompt.text.upper()}! ") == prompt.filter


@pytest.mark.parametrize("text, rid", [
    ("make it snowy", "snowy"), ("in the style of ukiyo-e", "ukiyo_e"), ("Ukiyo-e style", "ukiyo_e"),
    ("turn it into a watercolor painting", "watercolor"), ("雪景色にして", "snowy"), ("浮世絵風", "ukiyo_e"),
    ("rain", "rain"), ("雨", "rain"), ("ｄｉｍ ｌｉｇｈｔｉｎｇ", "dim_light"), ("cartoon", "cartoon"),
])
def test_instruction_forms_and_aliases(text, rid):
    assert recipe_for(text) == rid


@pytest.mark.parametrize("text", ["a photo of a cat", "make it rusty", "rainbows and unicorns", "", "style"])
def test_unknown_prompts_need_a_diffusion_model(editor, text):
    assert recipe_for(text) is None and not editor.can_edit(text)
    with pytest.raises(UserError, match="AI editor") as info:
        editor.edit_batch([scene(), scene()], ["snowy", text], [1, 2])
    err = info.value
    assert err.key == "err.editor.needs_diffusion" and err.params["prompt"] == text
    assert "InstructPix2Pix" in str(err) and "スタイルフィルタ" in err.message("ja")


def test_filter_id_of_a_prompt_and_editor_filters_win_over_text(editor):
    assert recipe_for(Prompt("make it rusty", filter="tungsten")) == "tungsten"
    assert recipe_for(Prompt("snowy", filter="not-a-recipe")) == "snowy"
    own = OfflineStyleEditor({"Rusty bolts": "tungsten"})
    assert own.can_edit("rusty  BOLTS") and not editor.can_edit("rusty bolts")
    assert own.settings()["filters"] == {"rusty bolts": "tungsten"}
    from_prompts = OfflineStyleEditor([Prompt("oily floor", filter="glare"), Prompt("snowy", filter="snowy"),
                                       Prompt("Autumn", filter="sunset")])
    assert from_prompts.recipe_for("oily floor") == "glare" and from_prompts.recipe_for("snowy") == "snowy"
    assert from_prompts.recipe_for("Autumn") == "sunset"
    assert from_prompts.settings()["filters"] == {"oily floor": "glare", "autumn": "sunset"}
    assert OfflineStyleEditor(CURATED).settings() == editor.settings(), "curated hints change no pixel"
    with pytest.raises(ValueError, match="not a recipe id"):
        OfflineStyleEditor({"rust": "rust"})


@pytest.mark.parametrize("rid", list(RECIPES))
def test_every_recipe_renders_a_visible_change_of_the_same_size(editor, rid):
    im = scene()
    before = im.tobytes()
    out = editor.edit(im, rid, seed=7)
    assert out.mode == "RGB" and out.size == im.size
    assert im.tobytes() == before, "the input is never modified"
    diff = np.abs(arr(out) - arr(im))
    assert diff.mean() > 0.015 and diff.max() > 0.1, f"{rid} barely changes the picture"


@pytest.mark.parametrize("prompt", CURATED, ids=lambda p: p.text)
def test_every_curated_prompt_renders_through_the_editor(editor, prompt):
    out = editor.edit_batch([scene(64, 48)], [prompt.text], [3])[0]
    expected = editor.edit(scene(64, 48), prompt.filter, seed=3)
    assert out.tobytes() == expected.tobytes()


@given(rid=st.sampled_from(sorted(RECIPES)), w=st.integers(1, 40), h=st.integers(1, 40),
       seed=st.integers(0, 2**63 - 1), mode=st.sampled_from(["RGB", "L", "RGBA"]))
@settings(max_examples=80, deadline=None)
def test_any_size_and_mode_gives_the_input_size(rid, w, h, seed, mode):
    im = scene(w, h).convert(mode)
    out = OfflineStyleEditor().edit(im, rid, seed=seed)
    assert out.size == (w, h) and out.mode == "RGB"
    assert np.isfinite(arr(out)).all()


@pytest.mark.parametrize("rid", list(RECIPES))
def test_same_seed_same_pixels(editor, rid):
    a = editor.edit(scene(), rid, seed=123)
    b = editor.edit(scene(), rid, seed=123)
    assert a.tobytes() == b.tobytes()


def test_seed_changes_random_details(editor):
    for rid in ("snowy", "autumn", "rainbow", "aurora", "mosaic", "dusty_lens", "rain"):
        a, b = editor.edit(scene(), rid, seed=1), editor.edit(scene(), rid, seed=2)
        assert a.tobytes() != b.tobytes(), rid


def test_batch_equals_one_by_one(editor):
    images = [scene(), scene(50, 80), scene().transpose(Image.Transpose.FLIP_LEFT_RIGHT), scene()]
    prompts = ["snowy", "Autumn", "snowy", "motion blur"]
    seeds = [5, 6, 5, 2**63 - 1]
    batch = editor.edit_batch(images, prompts, seeds)
    alone = [editor.edit(i, p, s) for i, p, s in zip(images, prompts, seeds)]
    assert [b.tobytes() for b in batch] == [a.tobytes() for a in alone]
    assert batch[0].tobytes() != batch[3].tobytes()


def test_catalog_texts_exist_in_both_languages():
    for key in ("editor.offline.name", "editor.offline.help", "err.editor.needs_diffusion"):
        assert t(key, "en") != key and JAPANESE.search(t(key, "ja")), key
    assert "AI" in t("editor.offline.help", "en") and "not an AI edit" in t("editor.offline.help", "en")


def test_normalise_prompt():
    assert normalise_prompt("  Ukiyo-e!  ") == "ukiyo e"
    assert normalise_prompt("ＳＮＯＷＹ。") == "snowy"


def test_each_recipe_fits_the_time_budget():
    """≤ 0.1 s per 512² edit on one core; CPU time of this thread, 2x margin for slow CI machines."""
    rng = np.random.default_rng(0)
    base = np.asarray(scene(512, 512), dtype=np.float32) / 255
    x = np.clip(base + rng.normal(0, 0.05, base.shape).astype(np.float32), 0, 1)
    slow = {}
    for rid, recipe in RECIPES.items():
        best = min(_cpu_seconds(recipe.apply, x, np.random.default_rng(k)) for k in range(2))
        if best > 0.2:
            slow[rid] = round(best, 3)
    assert not slow, f"recipes over budget (s): {slow}"


def _cpu_seconds(fn, *args) -> float:
    start = time.thread_time()
    fn(*args)
    return time.thread_time() - start
