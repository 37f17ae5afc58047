"""GenMix pools from TrainingData: re-drawn on the device vs stored (--no-redraw), and what a run records."""

import numpy as np
import pandas as pd
import pytest
import torch

from genmix_core.train.models import build_model
from genmix_core.train.loop import Budget, TrainConfig, train_model
from genmix_core.train.conditions import build_pool
from genmix_core.train.data import TrainingData

SIZE = 16


def _data(n=6, seed=0):
    """``n`` originals of 2 classes, one raw edit and one stored GenMix image per original."""
    rng = np.random.default_rng(seed)
    pix = lambda: rng.integers(0, 256, (n, SIZE, SIZE, 3), dtype=np.uint8)  # noqa: E731
    edits = pd.DataFrame({"orig_index": range(n), "label": [str(i % 2) for i in range(n)],
                          "prompt": "p", "edit_path": "", "mix_path": "", "key": [f"h{i}\x1fp" for i in range(n)]})
    return TrainingData(classes=["0", "1"], train=pd.DataFrame(), test=pd.DataFrame(), train_images=pix(),
                        train_labels=np.arange(n) % 2, test_x=torch.zeros(0), test_y=torch.zeros(0),
                        edits=edits, edit_images=pix(), mix_images=pix())


def test_redrawn_genmix_pool_mixes_original_and_edit():
    data = _data()
    pool = build_pool(data, "genmix", seed=1)
    assert len(pool) == 12 and pool.mixes
    x, labels = pool.batch(np.arange(12), np.zeros(12, int))
    assert labels.tolist() == [i % 2 for i in range(6)] * 2
    orig = torch.from_numpy(data.train_images).permute(0, 3, 1, 2) / np.float32(255)
    assert torch.equal(x[:6], orig)
    # A mixed item is neither its original nor its edit nor the stored mix: a fresh mix of the first two.
    edit = torch.from_numpy(data.edit_images).permute(0, 3, 1, 2) / np.float32(255)
    for k in range(6):
        assert not torch.equal(x[6 + k], orig[k]) and not torch.equal(x[6 + k], edit[k])
        p = pool.mix_params(6 + k, 0)
        assert p.fractal_seed in pool.fractal_seeds


def test_no_redraw_trains_on_the_stored_genmix_images():
    data = _data()
    pool = build_pool(data, "genmix", seed=1, redraw=False)
    assert not pool.mixes
    x, _ = pool.batch(np.arange(6, 12), np.full(6, 3))
    stored = torch.from_numpy(data.mix_images).permute(0, 3, 1, 2) / np.float32(255)
    assert torch.equal(x, stored)


@pytest.mark.parametrize("redraw", [True, False])
def test_run_records_its_fractal_pool(redraw):
    pool = build_pool(_data(), "genmix", seed=2, redraw=redraw)
    stats = train_model(build_model("small_cnn", 2, size=SIZE), pool, TrainConfig(condition="genmix"),
                        Budget(2, 4), seed=2, num_classes=2)
    assert stats.fractal_seeds == (pool.fractal_seeds if redraw else [])
    if redraw:
        assert len(stats.fractal_seeds) == 256


def test_folder_fractals_without_a_folder_is_a_teaching_error():
    from genmix_core.errors import UserError

    pool = build_pool(_data(), "genmix", seed=1, mix_options={"fractal_source": "folder"})
    with pytest.raises(UserError) as err:
        pool.batch(np.arange(6, 12), np.zeros(6, int))
    assert err.value.key == "err.mix.needs_fractal_folder"


@pytest.mark.parametrize("device, redraw, expected",
                         [("cuda", True, 7), ("cuda", False, None), ("cpu", True, None)])
def test_compare_prefetches_the_fractals_of_the_first_run_that_blends_them(monkeypatch, device, redraw, expected):
    from types import SimpleNamespace

    from genmix_core.mixing import fractal_pool_seeds, torch_ops
    from genmix_core.train import compare
    from genmix_core.train.arms import Arm

    started = []
    monkeypatch.setattr(torch_ops, "prefetch_fractal_bank", lambda seeds, h, w: started.append((seeds, h, w)))
    monkeypatch.setattr(compare, "pick_device", lambda name: torch.device(device))
    cfg = SimpleNamespace(device=device, redraw=redraw)
    seeds = {s: SimpleNamespace(data=SimpleNamespace(train_images=np.zeros((2, 20, 24, 3), np.uint8)))
             for s in (3, 7)}
    todo = [(None, Arm("baseline"), 3, {}, None), (None, Arm("mixup"), 7, {}, None),
            (None, Arm("genmix"), 7, {}, None), (None, Arm("genmix"), 3, {}, None)]
    compare._prefetch_fractals(cfg, seeds, todo)
    # only the first run that re-draws fractals (GenMix re-draws unless told to train on stored images)
    assert started == ([] if expected is None else [(fractal_pool_seeds(expected), 20, 24)])
