"""The controls that take GenMix apart (issue #15): each uses GenMix's pool and the very same draws, with one
part of A = (1 − λ)·(M·I + (1 − M)·E) + λ·F switched off."""

import numpy as np
import pytest
import torch

from genmix_core.mixing import apply_mix
from genmix_core.train import CONDITIONS
from genmix_core.train.conditions import build_pool
from genmix_core.train.pool import TrainPool
from test_train_pool import SIZE, _data

pytestmark = pytest.mark.usefixtures("one_torch_thread")
N = 6


def _batch(condition: str, data):
    pool = build_pool(data, condition, seed=3)
    x, _ = pool.batch(np.arange(N, 2 * N), np.full(N, 2))
    return pool, x.permute(0, 2, 3, 1).numpy()


def test_each_control_is_genmix_with_one_part_switched_off():
    data = _data(N)
    gen_pool, genmix = _batch("genmix", data)
    orig = data.train_images.astype(np.float32) / 255
    edit = data.edit_images.astype(np.float32) / 255
    out = {c: _batch(c, data) for c in ("hybrid_only", "contrast_only", "fractal_only")}
    for k in range(N):
        params = gen_pool.mix_params(N + k, 2)
        for c, (pool, _) in out.items():
            assert pool.mix_params(N + k, 2) == params, c          # the same mask, λ and fractal draw
        ref = apply_mix(orig[k], edit[k], params)
        lam, fractal = params.lam, np.rint(ref.fractal * 255) / np.float32(255)   # the bank holds uint8
        np.testing.assert_allclose(out["hybrid_only"][1][k], ref.hybrid, atol=1e-6)
        np.testing.assert_allclose(out["contrast_only"][1][k], (1 - lam) * ref.hybrid, atol=1e-6)
        np.testing.assert_allclose(out["fractal_only"][1][k], (1 - lam) * orig[k] + lam * fractal, atol=1e-6)
        np.testing.assert_allclose(genmix[k], (1 - lam) * ref.hybrid + lam * fractal, atol=1e-6)
        # genmix − contrast_only is exactly the fractal picture λ·F.
        np.testing.assert_allclose(genmix[k] - out["contrast_only"][1][k], lam * fractal, atol=1e-6)
    for c, (pool, _) in out.items():
        assert len(pool) == len(gen_pool) == 2 * N and CONDITIONS[c].needs_edits, c


def test_a_fractal_without_the_contrast_scaling_is_refused():
    with pytest.raises(ValueError, match="contrast"):
        TrainPool(np.zeros((1, SIZE, SIZE, 3), np.uint8), [], parts=("edit", "fractal"))


def test_fractal_only_needs_no_edit_pixels():
    data = _data(N)
    data.edit_images = None
    pool, x = _batch("fractal_only", data)
    assert x.shape == (N, SIZE, SIZE, 3) and np.isfinite(x).all()
    assert CONDITIONS["fractal_only"].edit_data(True) == set()
    assert not torch.equal(torch.from_numpy(x), torch.from_numpy(data.train_images[:N] / np.float32(255)))
