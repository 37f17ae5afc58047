"""Preview: the core (genmix_core.preview) and the page (sliders re-mix without re-editing)."""

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_app_helpers import add_images, app_at, image_captions, navigation_mode  # noqa: F401

from genmix_core import preview
from genmix_core.editing.offline import OfflineStyleEditor
from genmix_core.errors import UserError
from genmix_core.mixing import MixParams

PAGE = "pages/3_preview.py"


def _params(**kw):
    base = dict(mask="left_right", ramp=0.1, radius=0.35, softness=0.15, lam=0.2, fractal_seed=3)
    return MixParams(**{**base, **kw})


@pytest.fixture
def photo(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "part.png"
    Image.fromarray(rng.integers(0, 256, (300, 700, 3), dtype=np.uint8)).save(path)
    return path


# --- core ---------------------------------------------------------------------------------------------------

def test_render_preview_gives_every_stage_at_preview_size(photo):
    stages = preview.render_preview(photo, "dim lighting", OfflineStyleEditor(), _params())
    assert stages.original.size == (512, 219)        # longer side capped, aspect kept
    for name in ("edited", "hybrid", "fractal", "final"):
        image = getattr(stages, name)
        assert image.size == stages.original.size and image.mode == "RGB", name
    assert stages.mask.mode == "L" and stages.mask.size == stages.original.size
    mask = np.asarray(stages.mask)
    assert mask[:, 0].min() == 255 and mask[:, -1].max() == 0   # left_right: original on the left


def test_lambda_zero_final_is_the_hybrid_and_record_rebuilds_the_final(photo):
    editor = OfflineStyleEditor()
    stages = preview.render_preview(photo, "snowy", editor, _params(lam=0.0))
    assert np.array_equal(np.asarray(stages.final), np.asarray(stages.hybrid))
    record = json.loads(json.dumps(preview.render_preview(photo, "snowy", editor, _params()).record))
    assert record["image_sha256"] == preview.file_key(photo) and record["prompt"] == "snowy"
    again = preview.render_preview(photo, record["prompt"], editor, MixParams.from_dict(record["mix"]),
                                   seed=record["edit_seed"])
    first = preview.render_preview(photo, "snowy", editor, _params())
    assert np.array_equal(np.asarray(again.final), np.asarray(first.final))


def test_edit_seed_depends_on_image_content_and_prompt(photo, tmp_path):
    key = preview.file_key(photo)
    assert preview.preview_seed(key, "snowy") == preview.preview_seed(key, "snowy")
    assert preview.preview_seed(key, "snowy") != preview.preview_seed(key, "sunset")
    other = tmp_path / "other.png"
    Image.new("RGB", (8, 8)).save(other)
    assert preview.file_key(other) != key


def test_prompt_the_filter_cannot_render_raises_needs_diffusion(photo):
    with pytest.raises(UserError) as info:
        preview.render_preview(photo, "a cat wearing a hat", OfflineStyleEditor(), _params())
    assert info.value.key == "err.editor.needs_diffusion"


def test_edit_pngs_gives_each_prompt_its_single_edit_in_one_call(photo):
    editor = OfflineStyleEditor()
    calls = []
    real = editor.edit_batch
    editor.edit_batch = lambda *a: calls.append(len(a[0])) or real(*a)
    prompts, seeds = ["snowy", "sunset", "dim lighting"], [5, 6, 7]
    together = preview.edit_pngs(photo, prompts, editor, seeds)
    assert calls == [3]
    assert together == [preview.edit_png(photo, p, editor, s) for p, s in zip(prompts, seeds)]
    assert len(set(together)) == 3
    with pytest.raises(UserError):
        preview.edit_pngs(photo, ["snowy", "a cat wearing a hat"], editor, [1, 2])


# --- page ---------------------------------------------------------------------------------------------------

class EditCalls(list):
    """``(path, prompt, seed)`` of every prompt edited (cache misses); ``batches``: editor calls made for them."""
    batches = 0


@pytest.fixture
def edit_calls(monkeypatch):
    """Count real edits (cache misses) of the project's photos; start from an empty edit cache.

    The Home page's live example (rendered first, from sample_data) is not counted.
    """
    import ui.cache
    from genmix_core.paths import SAMPLE_DATA_DIR

    ui.cache.clear_edits()
    calls = EditCalls()
    real = preview.edit_pngs

    def counting(path, prompts, editor, seeds, *args, **kwargs):
        if SAMPLE_DATA_DIR not in Path(path).resolve().parents:
            calls.extend((str(path), p, s) for p, s in zip(prompts, seeds))
            calls.batches += 1
        return real(path, prompts, editor, seeds, *args, **kwargs)

    monkeypatch.setattr(preview, "edit_pngs", counting)
    return calls


def _stage_captions(at):
    return [c for c in image_captions(at) if c[0] in "①②③④⑤⑥"]


def _row_captions(at):
    return [c for c in image_captions(at) if c[0] not in "①②③④⑤⑥"]


def _final_url(at):
    return next(el.value[0] for el in at.get("image") if el.captions[0].startswith("⑥"))


def _url(at, prefix):
    return next(el.value[0] for el in at.get("image") if el.captions[0].startswith(prefix))


@pytest.mark.parametrize("locale, hint", [(None, "no training photos"),
                                          ("ja-JP", "学習用の写真がありません")])
def test_empty_project_points_to_the_data_page(locale, hint):
    at = app_at(locale, PAGE)
    assert not at.exception
    assert any(hint in i.value for i in at.info)
    at.button(key="preview_go_data").click().run()
    assert not at.exception
    assert at.title[0].value in ("Data", "データ")


def test_shows_all_six_stages_with_honest_captions(edit_calls):
    add_images(classes=("ok", "scratch"))
    at = app_at(None, PAGE)
    assert not at.exception
    captions = _stage_captions(at)
    assert len(captions) == 6
    assert captions[0].startswith("① Original (ok)")
    assert "Style filter, not an AI model" in captions[1]
    assert captions[5] == "⑥ Final GenMix image (label: ok)"
    # Below: every active prompt on this photo, edited in one editor call; the chosen prompt's edit came from it.
    chosen = at.selectbox(key="preview_prompt").value
    edited = [prompt for _, prompt, _ in edit_calls]
    assert edit_calls.batches == 1 and len(edited) == len(set(edited)) >= 3 and chosen in edited
    row = _row_captions(at)
    assert len(row) == len(edited) and [c for c in row if c.startswith("▶")] == [f"▶ “{chosen}”"]
    assert any("style filter, not an AI model" in h.value for h in at.subheader)
    record = json.loads(at.code[0].value)
    assert record["mix"] == at.session_state["mix_params"]
    assert record["editor"]["editor"] == "offline" and record["label"] == "ok"


def test_a_prompt_of_the_row_shows_its_steps_without_editing_again(edit_calls):
    add_images(classes=("ok",))
    at = app_at(None, PAGE)
    edited = [p for _, p, _ in edit_calls]
    chosen = at.selectbox(key="preview_prompt").value
    other = next(p for p in edited if p != chosen)
    pick = at.button(key=f"preview_pick_{edited.index(other)}")
    assert not pick.disabled and at.button(key=f"preview_pick_{edited.index(chosen)}").disabled
    pick.click().run()
    assert not at.exception
    assert at.selectbox(key="preview_prompt").value == other
    assert f"“{other}”" in _stage_captions(at)[1]
    assert [c for c in _row_captions(at) if c.startswith("▶")] == [f"▶ “{other}”"]
    assert len(edit_calls) == len(edited)                 # its edit came from the row's batch


def test_sliders_remix_without_editing_again(edit_calls):
    add_images(classes=("ok",))
    at = app_at(None, PAGE)
    final_before, edit_before = _final_url(at), _url(at, "②")
    at.slider(key="preview_lam").set_value(0.6).run()
    at.slider(key="preview_ramp").set_value(0.3).run()
    at.selectbox(key="preview_mask").set_value("radial").run()
    at.slider(key="preview_radius").set_value(0.5).run()
    at.button(key="preview_random").click().run()
    assert not at.exception
    edited = len(edit_calls)
    assert edited == len(_row_captions(at))              # the edits came from the cache every time
    assert _url(at, "②") == edit_before
    assert _final_url(at) != final_before
    mix = at.session_state["mix_params"]
    assert (mix["lam"], mix["mask"], mix["radius"]) == (0.6, "radial", 0.5)
    assert json.loads(at.code[0].value)["mix"] == mix
    # Another prompt of the row was edited with it; with the row off, another prompt is one more edit.
    options = at.selectbox(key="preview_prompt").options
    at.selectbox(key="preview_prompt").set_value(options[1]).run()
    assert len(edit_calls) == edited and not at.exception
    at.toggle(key="preview_all_prompts_filter").set_value(False).run()
    import ui.cache

    ui.cache.clear_edits()
    at.selectbox(key="preview_prompt").set_value(options[2]).run()
    assert [p for _, p, _ in edit_calls[edited:]] == [options[2]] and _row_captions(at) == []


def test_download_is_the_final_png(edit_calls, monkeypatch):
    add_images(classes=("ok",))
    encoded = []
    real = preview.png_bytes
    monkeypatch.setattr(preview, "png_bytes", lambda image: encoded.append(real(image)) or encoded[-1])
    at = app_at(None, PAGE)
    (button,) = at.get("download_button")
    assert button.proto.url.endswith(".png")
    assert len(encoded) == 1
    final = Image.open(io.BytesIO(encoded[0]))
    assert final.format == "PNG" and final.size == (40, 32)       # the stored photo's size (under the cap)


def test_language_switch_relabels_the_stages(edit_calls):
    add_images(classes=("ok",))
    at = app_at(None, PAGE)
    at.sidebar.selectbox(key="app_lang").set_value("ja").run()
    assert not at.exception
    captions = _stage_captions(at)
    assert captions[0] == "① 元の写真（ok）"
    assert "AI モデルではありません" in captions[1]
    assert any("AI モデルではありません" in h.value for h in at.subheader)
    assert len(edit_calls) == len(_row_captions(at))     # a language switch does not edit again


def test_prompt_without_a_filter_recipe_asks_for_a_diffusion_model(edit_calls):
    proj = add_images(classes=("ok",))
    from ui.state import ACTIVE_PROMPTS_FILE
    from genmix_core.fileio import atomic_write_json

    atomic_write_json(proj.root / ACTIVE_PROMPTS_FILE, {"set": "mine", "prompts": ["a cat wearing a hat"]})
    at = app_at(None, PAGE)
    assert not at.exception
    assert any("a cat wearing a hat" in e.value for e in at.error)
    assert edit_calls == []


def test_diffusion_editor_with_a_local_model_folder_is_labelled_as_an_ai_edit(edit_calls, tmp_path):
    """The real diffusers path: a tiny random InstructPix2Pix folder entered as the model on the page."""
    from genmix_core.editing.testing import make_tiny_pix2pix

    folder = make_tiny_pix2pix(tmp_path / "tiny-pix2pix")
    add_images(classes=("ok",))
    at = app_at(None, PAGE)
    offline_edits = len(edit_calls)
    at.selectbox(key="preview_editor").set_value("instruct-pix2pix").run()
    at.text_input(key="preview_model").set_value(str(folder)).run()
    assert not at.exception
    captions = image_captions(at)      # no GPU here: the row of every prompt starts off for an AI model
    assert len(captions) == 6 and "AI edit" in captions[1] and "not an AI model" not in captions[1]
    assert json.loads(at.code[0].value)["editor"]["editor"] == "instruct-pix2pix"
    assert len(edit_calls) == offline_edits + 1
    at.slider(key="preview_lam").set_value(0.5).run()       # re-mixing reuses the diffusion edit
    assert len(edit_calls) == offline_edits + 1
    # Turned on: the other prompts in one batch (the chosen one is cached), labelled as AI edits.
    batches = edit_calls.batches
    at.toggle(key="preview_all_prompts_ai").set_value(True).run()
    assert not at.exception
    row = _row_captions(at)
    assert edit_calls.batches == batches + 1 and len(edit_calls) == offline_edits + len(row) and len(row) >= 3
    assert any("AI edit, diffusion" in h.value for h in at.subheader)
    at.selectbox(key="preview_prompt").set_value(at.selectbox(key="preview_prompt").options[1]).run()
    assert len(edit_calls) == offline_edits + len(row) and not at.exception


def test_diffusion_editor_without_the_model_offline_says_how_to_get_it(edit_calls, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    add_images(classes=("ok",))
    at = app_at(None, PAGE)
    offline_edits = len(edit_calls)
    at.selectbox(key="preview_editor").set_value("instruct-pix2pix").run()
    assert not at.exception
    assert any("hf download" in w.value or "huggingface" in w.value for w in at.warning), \
        [w.value for w in at.warning]
    assert image_captions(at) == [] and len(edit_calls) == offline_edits


def test_on_a_gpu_the_page_prepares_its_shape_in_the_background_and_then_runs_it_compiled(edit_calls, tmp_path,
                                                                                          monkeypatch):
    """The page's path to a preview under 1 s on a GPU (editing/fast_preview.py). On the CPU here,
    ``GENMIX_FAST_PREVIEW=1`` and ``GENMIX_COMPILE_ON_CPU=1`` stand for the GPU; the process the page starts
    compiles the tiny model's UNet for real."""
    import shutil
    import sys
    import time

    import ui.cache
    from genmix_core.editing import precompiled
    from genmix_core.editing.fast_preview import run_folder
    from genmix_core.editing.testing import make_tiny_pix2pix
    from genmix_core.jobs import read_job

    if not precompiled.available() or sys.platform == "win32" or not shutil.which("g++"):
        pytest.skip("compiling ahead of time needs PyTorch's aot_compile and a C++ compiler")
    monkeypatch.setenv("GENMIX_FAST_PREVIEW", "1")
    monkeypatch.setenv("GENMIX_COMPILE_ON_CPU", "1")
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "torch_compile"))
    folder = str(make_tiny_pix2pix(tmp_path / "tiny-pix2pix"))
    add_images(classes=("ok",))
    at = app_at(None, PAGE)
    at.selectbox(key="preview_editor").set_value("instruct-pix2pix").run()
    at.text_input(key="preview_model").set_value(folder).run()
    assert not at.exception
    assert any("being prepared in the background" in c.value for c in at.caption), [c.value for c in at.caption]
    assert len(image_captions(at)) == 6   # the preview itself did not wait

    deadline = time.monotonic() + 900   # only against a hang: the loop waits for the job's recorded end
    while (job := read_job(run_folder("instruct-pix2pix", folder))).status == "running":
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
    assert job.status == "done", job.error
    # The next prompt is a new edit of the same shape: the page's editor loads what the process saved.
    prompt = at.selectbox(key="preview_prompt")
    prompt.set_value(prompt.options[1]).run()
    assert not at.exception
    editor = ui.cache.get_editor("instruct-pix2pix", folder, ())
    assert [e["event"] for e in editor.events] == ["precompile_missing", "precompile_loaded"]
    assert any("runs compiled on this GPU" in c.value for c in at.caption), [c.value for c in at.caption]
    at.sidebar.selectbox(key="app_lang").set_value("ja").run()
    assert any("コンパイル済み" in c.value for c in at.caption), [c.value for c in at.caption]
