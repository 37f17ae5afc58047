"""A generation run that stores edits only (``no_mixes``: Train & Compare, when it mixes anew at training time).

It records each item's mix parameters but writes no GenMix picture; a later run that wants the pictures makes
them from the edit cache (no editing) and they are the pictures a run with mixes would have stored; the report's
examples are made the same way (``mix_stored_edit``)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from genmix_core.errors import UserError
from genmix_core.generate import GenerateConfig, manifest, run_generation
from genmix_core.generate.batch import mix_stored_edit
from genmix_core.train.config import CompareConfig
from genmix_core.train.seeddata import generation_config
from test_generate_fakes import make_data


def pixels(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


@pytest.fixture
def data(tmp_path):
    return make_data(tmp_path / "data", per_class=2, size=(40, 32))


def test_edits_only_then_mixes_from_the_cache_equal_a_run_with_mixes(data, tmp_path):
    base = GenerateConfig(data=str(data), out=str(tmp_path / "with"), prompts=["snowy", "sunset"], editor="offline",
                          seed=5, no_filter=True)
    run_generation(base)
    with_mixes = manifest.load_manifest(base.out).set_index("item_id")
    # A folder made with pictures (an older Train & Compare run) resumes edits-only with nothing to do.
    assert run_generation(replace(base, no_mixes=True)).already_done == 8

    only = replace(base, out=str(tmp_path / "only"), no_mixes=True)
    summary = run_generation(only)
    df = manifest.load_manifest(only.out).set_index("item_id")
    assert summary.done == len(df) == 8 and (df["status"] == "done").all()
    assert (df["mix_path"] == "").all() and not list((tmp_path / "only" / manifest.IMAGES_DIR).rglob("*.png"))
    mix_columns = ["mask", "ramp", "radius", "softness", "lam", "fractal_seed", "fractal_source"]
    assert df[mix_columns].equals(with_mixes.loc[df.index, mix_columns])     # the same recorded parameters
    assert run_generation(only).already_done == 8                             # edits only: nothing left to do
    with pytest.raises(UserError) as err:                                      # no picture to zip
        manifest.export_zip(only.out)
    assert err.value.key == "err.gen.nothing_to_export"

    # The report's example of one item: made now, the picture the run with mixes stored.
    item = df.index[0]
    made = mix_stored_edit(only.out, item)
    assert np.array_equal(pixels(made), pixels(tmp_path / "with" / with_mixes.loc[item, "mix_path"]))

    # A run that wants the pictures mixes every item from the edit cache, editing nothing again.
    again = run_generation(replace(only, no_mixes=False))
    assert again.already_done == 0 and again.cache_hits == 8 and again.editor_calls == 0
    df = manifest.load_manifest(only.out).set_index("item_id")
    for i, row in df.iterrows():
        assert row["mix_path"] == with_mixes.loc[i, "mix_path"]
        assert np.array_equal(pixels(tmp_path / "only" / row["mix_path"]),
                              pixels(tmp_path / "with" / row["mix_path"]))
    assert manifest.export_zip(only.out).is_file()


@pytest.mark.parametrize("conditions, redraw, edits_only", [
    (["baseline", "genmix"], True, True),       # GenMix re-draws: the stored pictures would never be used
    (["baseline", "genmix"], False, False),     # GenMix trains on the stored pictures
    (["baseline", "edits"], True, True),
])
def test_train_and_compare_stores_edits_only_when_it_mixes_anew(data, tmp_path, conditions, redraw, edits_only):
    cfg = CompareConfig(data=str(data), out=str(tmp_path / "cmp"), conditions=conditions, redraw=redraw).validated()
    assert generation_config(cfg, 0).no_mixes is edits_only


def test_stored_genmix_pictures_cannot_come_from_a_run_of_edits_only(data, tmp_path):
    from genmix_core.train import run_compare

    only = GenerateConfig(data=str(data), out=str(tmp_path / "only"), prompts=["snowy"], editor="offline",
                          no_filter=True, no_mixes=True)
    run_generation(only)
    cfg = CompareConfig(data=str(data), out=str(tmp_path / "cmp"), conditions=["baseline", "genmix"], seeds=[0],
                        epochs=1, batch_size=4, backbone="small_cnn", size=16, eps=["1/255"], pgd_steps=1,
                        edits=only.out, redraw=False, device="cpu")
    with pytest.raises(UserError) as err:
        run_compare(cfg)
    assert err.value.key == "err.train.edits_only" and only.out in str(err.value)
    # Re-drawn mixes (the default) train on the same folder's edits.
    assert run_compare(replace(cfg, redraw=True, out=str(tmp_path / "cmp2")))["status"] == "done"
