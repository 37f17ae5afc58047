"""Generation through the real editors: the offline style filter via the CLI, a tiny diffusers InstructPix2Pix."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from genmix_core.generate import manifest
from genmix_core.generate import GenerateConfig, run_generation
from genmix_core.generate.cli import main
from test_generate_fakes import make_data


def test_cli_with_the_offline_editor_then_resume(tmp_path, capsys):
    data = make_data(tmp_path / "data", per_class=2, size=(40, 32))
    out = tmp_path / "out"
    argv = ["--data", str(data), "--out", str(out), "--prompts", "snowy,sunset", "--editor", "offline",
            "--per-image", "1", "--seed", "5"]
    assert main(argv) == 0
    first = capsys.readouterr()
    assert "0 of 4 items already done" in first.out and "done: 4 of 4 items done" in first.out
    df = pd.read_csv(out / "manifest.csv")
    assert (df["status"] == "done").all() and set(df["editor"]) == {"offline"}
    assert df.groupby("image").size().eq(1).all()
    assert main(argv) == 0
    assert "4 of 4 items already done" in capsys.readouterr().out


def test_offline_editor_refuses_prompts_it_cannot_render(tmp_path, capsys):
    data = make_data(tmp_path / "data", per_class=1)
    assert main(["--data", str(data), "--out", str(tmp_path / "o"), "--prompts", "a purple giraffe"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "a purple giraffe" in err and err.count("\n") == 1


@pytest.fixture(scope="module")
def tiny_pix2pix(tmp_path_factory):
    pytest.importorskip("diffusers")
    from genmix_core.editing.testing import make_tiny_pix2pix

    return make_tiny_pix2pix(tmp_path_factory.mktemp("tiny") / "pix2pix")


def test_pix2pix_item_edited_alone_equals_the_item_in_a_batch(tmp_path, tiny_pix2pix):
    data = make_data(tmp_path / "data", classes=("ok",), per_class=2, size=(32, 32))
    common = dict(data=str(data), prompts=["snowy", "sunset"], editor="instruct-pix2pix", model=str(tiny_pix2pix),
                  steps=2, size=32)
    alone = run_generation(GenerateConfig(out=str(tmp_path / "alone"), batch_size=1, **common))
    batched = run_generation(GenerateConfig(out=str(tmp_path / "batched"), batch_size=4, **common))
    assert alone.editor_calls >= 4 and batched.editor_calls == 1
    a, b = manifest.load_manifest(tmp_path / "alone"), manifest.load_manifest(tmp_path / "batched")
    assert (a["status"] == "done").all() and a["seed"].tolist() == b["seed"].tolist()
    assert set(a["model"]) == {str(tiny_pix2pix)}
    for ea, eb in zip(a["edit_path"], b["edit_path"]):
        x = np.asarray(Image.open(tmp_path / "alone" / ea), dtype=np.int16)
        y = np.asarray(Image.open(tmp_path / "batched" / eb), dtype=np.int16)
        # float noise between batched and single matmuls may move a pixel by one 8-bit step, never more
        assert np.abs(x - y).max() <= 1
    assert not np.array_equal(np.asarray(Image.open(tmp_path / "alone" / a["edit_path"][0])),
                              np.asarray(Image.open(tmp_path / "alone" / a["edit_path"][1])))


@pytest.mark.parametrize("switch, ahead", [(None, True), ("0", False), ("1", True)])
def test_compile_means_compiled_ahead_of_time_unless_switched_off(tmp_path, monkeypatch, switch, ahead):
    # --compile compiles each shape once and keeps it on disk (editing/precompiled.py: a later run loads it);
    # GENMIX_PRECOMPILE=0 is the benchmark's switch back to torch.compile traced in every process.
    from genmix_core.editing import registry
    from genmix_core.generate.run import create_editor_for

    asked = []
    monkeypatch.setattr(registry, "create_editor", lambda editor, **settings: asked.append((editor, settings)))
    if switch is None:
        monkeypatch.delenv("GENMIX_PRECOMPILE", raising=False)
    else:
        monkeypatch.setenv("GENMIX_PRECOMPILE", switch)
    cfg = GenerateConfig(data=str(tmp_path), out=str(tmp_path / "run"), prompts=["snowy"],
                         editor="instruct-pix2pix", model="some/model", steps=3)
    create_editor_for(cfg)
    cfg.compile = True
    create_editor_for(cfg)
    assert asked == [("instruct-pix2pix", {"model": "some/model", "steps": 3}),
                     ("instruct-pix2pix", {"model": "some/model", "steps": 3, "compile": True,
                                           "precompile": ahead})]


def test_compile_request_on_a_cpu_runs_eagerly_and_the_job_record_says_so(tmp_path, tiny_pix2pix):
    from genmix_core.jobs import read_job

    data = make_data(tmp_path / "data", classes=("ok",), per_class=1, size=(32, 32))
    out = tmp_path / "run"
    summary = run_generation(GenerateConfig(data=str(data), out=str(out), prompts=["snowy"],
                                            editor="instruct-pix2pix", model=str(tiny_pix2pix), steps=1, size=32,
                                            compile=True))
    assert summary.done == 1
    extra = read_job(out).extra
    assert extra["editor"]["device"] == "cpu" and extra["editor"]["compiled"] is False
    assert {"event": "compile_skipped", "device": "cpu"} in extra["editor_events"]
