"""Faster previews on a GPU (editing/fast_preview.py): the pages' editor loads functions compiled ahead of time
by a process of its own, and runs the eager UNet until they exist.

Through the real diffusers path with the tests' tiny InstructPix2Pix, on the CPU here: ``GENMIX_FAST_PREVIEW=1``
and ``GENMIX_COMPILE_ON_CPU=1`` stand for "a CUDA GPU", and the preparing process is started as the page starts
it (``python -m genmix_core.editing.fast_preview_main --run DIR``).
"""

import json
import os
import shutil
import sys
import time

import numpy as np
import pytest
from PIL import Image

from genmix_core.editing import ensure_fast_preview, fast_preview, precompiled, preview_editor_settings
from genmix_core.editing.diffusion import precompiled_folder
from genmix_core.editing.fast_preview import FastPreviewConfig, plan, preparing_editor, run_folder
from genmix_core.editing.registry import create_editor
from genmix_core.i18n import t
from genmix_core.jobs import read_job

_CXX = sys.platform != "win32" and any(shutil.which(c) for c in (os.environ.get("CXX", "g++"), "c++", "clang++"))
needs_aot = pytest.mark.skipif(not precompiled.available(), reason="this PyTorch has no aot_compile")
needs_cxx = pytest.mark.skipif(not _CXX, reason="no C++ compiler for torch.compile on the CPU")

EDITOR = "instruct-pix2pix"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    pytest.importorskip("diffusers")
    from genmix_core.editing.testing import make_tiny_pix2pix

    return str(make_tiny_pix2pix(tmp_path_factory.mktemp("tiny") / "pix2pix"))


@pytest.fixture
def gpu_like(monkeypatch, tmp_path):
    """What a CUDA GPU would give: the pages' editors load compiled functions, and compiling is allowed."""
    monkeypatch.setenv("GENMIX_FAST_PREVIEW", "1")
    monkeypatch.setenv("GENMIX_COMPILE_ON_CPU", "1")
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "torch_compile"))   # the editor sets it otherwise


def _photo(size=(40, 30)):
    return Image.fromarray((np.indices(size[::-1]).sum(0) * 5 % 256).astype(np.uint8)).convert("RGB")


def _wait_for_end(folder, timeout=900):
    """Until the preparing process has recorded its end (the deadline only guards against a hang)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = read_job(folder)
        if job is not None and job.status not in ("running",):
            return job
        time.sleep(0.2)
    raise AssertionError(f"the preparation did not end: {read_job(folder)}")


def _unfused(unet) -> bool:
    return not any("Fused" in type(p).__name__ for p in unet.attn_processors.values())


def test_the_pages_editor_loads_only_on_a_gpu_and_never_without_one(monkeypatch):
    monkeypatch.setenv("GENMIX_FAST_PREVIEW", "0")
    assert preview_editor_settings(EDITOR) == {"preset": "fast"}
    monkeypatch.delenv("GENMIX_FAST_PREVIEW")
    # This machine has no CUDA GPU: the pages keep the eager UNet, as before.
    assert preview_editor_settings(EDITOR) == {"preset": "fast"}
    monkeypatch.setenv("GENMIX_FAST_PREVIEW", "1")
    expected = {"preset": "fast"}
    if precompiled.available():
        expected.update(compile=True, precompile="load", pad=False)
    assert preview_editor_settings(EDITOR) == expected
    assert preview_editor_settings("offline") == {}   # the style filter has nothing to compile


@needs_aot
def test_the_plan_is_the_photos_bucket_at_the_rows_batch_and_at_one_prompt(tiny, gpu_like):
    editor = create_editor(EDITOR, model=tiny, **preview_editor_settings(EDITOR))
    assert editor.speed["precompile"] == "load"
    # 40x30 is 4:3: the 576x448 bucket at 512; a row of 3 prompts runs as 3 (the pages' editor does not pad: an
    # eager row of 3 would do a third more work as 4, for good on a GPU without room for the preparation).
    assert editor.padded_size(3) == 3 and editor.padded_size(5) == 5
    # ... and the process that compiles for it runs the same batches (a function for 4 would never be asked for).
    worker = preparing_editor(FastPreviewConfig(editor=EDITOR, shapes=["576x448"], batches=[3, 1], model=tiny))
    assert worker.speed["precompile"] is True and worker.padded_size(3) == 3 and worker.size == editor.size
    assert plan(editor, (40, 30), 3) == (["576x448"], [3, 1])
    assert plan(editor, (30, 40), 1) == (["448x576"], [1])
    assert plan(editor, (512, 512), 8) == (["512x512"], [8, 1])
    # The project's other photos: their shapes after this one's, the most frequent first, four at most.
    others = [(300, 400)] * 2 + [(1600, 900)] * 3 + [(640, 480), (500, 500), (1000, 500)]
    assert plan(editor, (40, 30), 4, others) == (["576x448", "704x384", "448x576", "512x512"], [4, 1])


@needs_aot
@needs_cxx
def test_the_editor_runs_eagerly_until_the_shape_is_prepared_then_loads_it(tiny, gpu_like):
    editor = create_editor(EDITOR, model=tiny, **preview_editor_settings(EDITOR))
    photo = _photo()
    first = editor.edit(photo, "snowy", 3)
    unet = editor.pipe.unet
    # Nothing saved yet: the eager UNet in its eager layout, nothing compiled in this process.
    assert [e["event"] for e in editor.events] == ["precompile_missing"]
    assert _unfused(unet) and not list((precompiled_dir := precompiled_folder()).glob("*"))

    # The Preview page with its row of prompts off (one prompt at a time, to keep this test short), in a project
    # whose photos come in two shapes: this photo's shape first, then the other one.
    others = [(30, 40), (40, 30), (30, 40)]
    status = ensure_fast_preview(editor, EDITOR, tiny, photo.size, row=1, other_sizes=others)
    assert status.state == "preparing" and status.params == {"done": 0, "total": 2}
    folder = run_folder(EDITOR, tiny)
    assert json.loads((folder / "config.json").read_text())["args"]["shapes"] == ["576x448", "448x576"]
    # A second look while it runs starts nothing more (the job says "running"; one claim per folder).
    again = ensure_fast_preview(editor, EDITOR, tiny, photo.size, row=1, other_sizes=others)
    assert again.state in ("preparing", "ready")
    job = _wait_for_end(folder)
    assert job.status == "done", (job.error, (folder / "log.txt").read_text()[-3000:])
    made = [e for e in job.extra["events"] if e["event"] == "precompiled"]
    assert len(made) == 2 and len(list(precompiled_dir.glob(f"*{precompiled.SUFFIX}"))) == 2
    ready_file = json.loads((folder / "ready.json").read_text())
    assert [(e["shape"], e["batch"]) for e in ready_file["ready"]] == [("576x448", 1), ("448x576", 1)]

    ready = ensure_fast_preview(editor, EDITOR, tiny, photo.size, row=1, other_sizes=others)
    assert ready.state == "ready" and t(ready.message_key, "ja", **ready.params).startswith("高速プレビュー")
    # The page's next edit of that shape loads the saved function, changes the layout once, and gives the
    # same edit as the eager UNet did (to float rounding).
    second = editor.edit(photo, "snowy", 3)
    assert [e["event"] for e in editor.events] == ["precompile_missing", "precompile_loaded"]
    assert editor.events[1]["key"] == made[0]["key"] and not _unfused(unet)
    assert np.abs(np.asarray(first, np.int16) - np.asarray(second, np.int16)).max() <= 2
    # A photo of the project's other shape was prepared in the same go: it runs compiled at once.
    editor.edit(_photo((30, 40)), "snowy", 3)
    assert editor.events[-1]["event"] == "precompile_loaded" and editor.events[-1]["key"] == made[1]["key"]
    # Two prompts in one call are another input shape: eager until prepared (the plan test covers its plan).
    editor.edit_batch([photo] * 2, ["snowy", "sunset"], [3, 4])
    assert editor.events[-1]["event"] == "precompile_missing"


@needs_aot
def test_a_failed_preparation_says_why_and_is_not_started_again(tiny, gpu_like, tmp_path):
    model = tmp_path / "copy"
    shutil.copytree(tiny, model)
    editor = create_editor(EDITOR, model=str(model), **preview_editor_settings(EDITOR))
    editor.load()
    shutil.rmtree(model)   # the model folder went away after the page loaded it: the process cannot load it
    status = ensure_fast_preview(editor, EDITOR, str(model), (64, 64), row=1)
    assert status.state == "preparing"
    folder = run_folder(EDITOR, str(model))
    first = _wait_for_end(folder)
    assert first.status == "failed" and first.error_key.startswith("err.editor.model")
    failed = ensure_fast_preview(editor, EDITOR, str(model), (64, 64), row=1)
    assert failed.state == "failed" and failed.log.endswith("log.txt")
    text = t(failed.message_key, "en", **failed.params)
    assert "could not be prepared" in text and "usual speed" in text and str(folder) in text
    assert read_job(folder).pid == first.pid   # not started again
    # Another shape is another plan: that one is tried.
    assert ensure_fast_preview(editor, EDITOR, str(model), (64, 32), row=1).state == "preparing"
    assert _wait_for_end(folder).pid != first.pid


@needs_aot
def test_too_little_free_gpu_memory_starts_nothing(tiny, gpu_like, monkeypatch):
    editor = create_editor(EDITOR, model=tiny, **preview_editor_settings(EDITOR))
    monkeypatch.setattr(fast_preview, "_free_gib", lambda editor: 3.5)
    status = ensure_fast_preview(editor, EDITOR, tiny, (64, 64), row=4)
    assert status.state == "no_memory" and status.params == {"need": "10", "free": "3.5"}
    assert "10 GB" in t(status.message_key, "en", **status.params)
    assert not run_folder(EDITOR, tiny).exists()


def test_an_editor_that_does_not_load_compiled_functions_starts_nothing(tiny, monkeypatch):
    monkeypatch.setenv("GENMIX_FAST_PREVIEW", "0")
    editor = create_editor(EDITOR, model=tiny, **preview_editor_settings(EDITOR))
    assert ensure_fast_preview(editor, EDITOR, tiny, (64, 64), row=4).state == "off"
    assert ensure_fast_preview(create_editor("offline"), "offline", None, (64, 64), row=4).state == "off"
    assert not run_folder(EDITOR, tiny).exists()


def test_the_preparation_has_one_config_and_a_command_line(tmp_path):
    from genmix_core.jobconfig import read_config, to_argv, write_config

    cfg = FastPreviewConfig(editor=EDITOR, shapes=["576x448"], batches=[4, 1], model="/models/p2p")
    write_config(tmp_path, cfg)
    assert read_config(tmp_path, FastPreviewConfig) == cfg
    assert "--shapes" in to_argv(cfg) and "--batches" in to_argv(cfg)
