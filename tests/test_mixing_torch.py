"""Torch twins of the mixing kernels: the same masks, mixes and fractals as the numpy source of truth."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from genmix_core.errors import UserError
from genmix_core.mixing import (
    MASK_KINDS,
    FractalBank,
    MixParams,
    apply_mix,
    fractal_blend,
    fractal_pool_seeds,
    hybrid,
    make_mask,
    make_masks_torch,
    mask_set_torch,
    mix_torch,
    prefetch_fractal_bank,
    procedural_fractal,
)
from genmix_core.mixing import torch_ops

fractions = st.floats(0.0, 1.0, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(kind=st.sampled_from(MASK_KINDS), h=st.integers(1, 41), w=st.integers(1, 41),
       ramp=st.one_of(st.just(0.0), st.just(1e-300), fractions), radius=fractions,
       softness=st.one_of(st.just(0.0), fractions))
def test_mask_kernel_equals_make_mask(kind, h, w, ramp, radius, softness):
    expected = make_mask(kind, h, w, ramp=ramp, radius=radius, softness=softness)
    got = make_masks_torch([kind], h, w, ramp=ramp, radius=radius, softness=softness)
    assert got.shape == (1, h, w) and got.dtype == torch.float32
    np.testing.assert_allclose(got[0].numpy(), expected, rtol=0, atol=1e-7)


@pytest.mark.parametrize("h,w", [(7, 9), (112, 112), (33, 17)])
@pytest.mark.parametrize("ramp,softness", [(0.0, 0.0), (0.08, 0.15)])
def test_every_kind_at_odd_and_even_sizes(h, w, ramp, softness):
    bank = mask_set_torch(h, w, ramp=ramp, radius=0.35, softness=softness)
    for k, kind in enumerate(MASK_KINDS):
        expected = make_mask(kind, h, w, ramp=ramp, radius=0.35, softness=softness)
        np.testing.assert_allclose(bank[k].numpy(), expected, rtol=0, atol=1e-7)


def test_batch_of_masks_follows_each_items_kind_and_params():
    kinds = ["radial", "left_right", "bottom_top", "radial", "right_left", "top_bottom"]
    ramps = [0.0, 0.08, 0.3, 0.08, 0.0, 1.0]
    softness = [0.15, 0.0, 0.15, 0.5, 0.15, 0.15]
    got = make_masks_torch(kinds, 10, 13, ramp=ramps, radius=0.35, softness=softness)
    for k, kind in enumerate(kinds):
        expected = make_mask(kind, 10, 13, ramp=ramps[k], radius=0.35, softness=softness[k])
        np.testing.assert_allclose(got[k].numpy(), expected, rtol=0, atol=1e-7)


def test_mask_kernel_refuses_what_make_mask_refuses():
    with pytest.raises(UserError):
        make_masks_torch(["diagonal"], 8, 8, ramp=0.1, radius=0.3, softness=0.1)
    with pytest.raises(UserError):
        make_masks_torch(["radial"], 8, 8, ramp=1.5, radius=0.3, softness=0.1)
    with pytest.raises(UserError):
        make_masks_torch(["radial", "radial"], 8, 8, ramp=[0.1], radius=0.3, softness=0.1)
    with pytest.raises(UserError):
        mask_set_torch(0, 8, ramp=0.1, radius=0.3, softness=0.1)


def _nchw(a):
    return torch.from_numpy(np.ascontiguousarray(a)).permute(0, 3, 1, 2)


def test_mix_equals_numpy_hybrid_then_fractal_blend():
    rng = np.random.default_rng(0)
    orig, edit, frac = (rng.random((3, 9, 11, 3), dtype=np.float32) for _ in range(3))
    kinds, lams = ["radial", "left_right", "bottom_top"], [0.2, 0.0, 1.0]
    masks = make_masks_torch(kinds, 9, 11, ramp=0.08, radius=0.35, softness=0.15)
    before = [t.clone() for t in (_nchw(orig), _nchw(edit), _nchw(frac))]
    got = mix_torch(*before[:2], masks, before[2], torch.tensor(lams))
    for k, kind in enumerate(kinds):
        m = make_mask(kind, 9, 11)
        expected = fractal_blend(hybrid(orig[k], edit[k], m), frac[k], lams[k])
        np.testing.assert_allclose(got[k].permute(1, 2, 0).numpy(), expected, rtol=0, atol=1e-6)
    # λ = 0 keeps the hybrid, λ = 1 the fractal, exactly; the inputs are untouched.
    assert torch.equal(got[2], before[2][2])
    assert torch.equal(before[0], _nchw(orig)) and torch.equal(before[2], _nchw(frac))


def test_fractal_pool_is_seeded_and_distinct():
    a, b = fractal_pool_seeds(3), fractal_pool_seeds(3)
    assert a == b and len(a) == 256 and len(set(a)) == 256
    assert all(0 <= s < 2**63 for s in a)
    assert not set(a) & set(fractal_pool_seeds(4))


def test_fractal_bank_holds_the_procedural_fractals_quantised():
    seeds = fractal_pool_seeds(0, 5)
    bank = FractalBank(seeds, 13, 17)
    got = bank.take([4, 0, 4])
    assert got.shape == (3, 3, 13, 17) and got.dtype == torch.float32
    for row, k in enumerate([4, 0, 4]):
        expected = procedural_fractal(seeds[k], 13, 17)
        diff = np.abs(got[row].permute(1, 2, 0).numpy() - expected).max()
        assert diff <= 0.5 / 255 + 1e-6
    assert torch.equal(got[0], got[2])
    assert torch.equal(bank.take([4]), got[:1])                      # rendered once, read again


def test_prefetched_bank_is_the_bank_that_training_renders(monkeypatch):
    seeds = fractal_pool_seeds(11, 6)
    rendered = []
    real = FractalBank._render
    monkeypatch.setattr(FractalBank, "_render", lambda self, s: rendered.append(s) or real(self, s))
    thread = prefetch_fractal_bank(seeds, 9, 14, processes=0)       # rendered on threads of this process
    assert thread is not None
    thread.join()
    assert sorted(rendered) == sorted(seeds)
    assert prefetch_fractal_bank(seeds, 9, 14, processes=0) is None   # rendered already: nothing to start
    got = FractalBank(seeds, 9, 14).take(range(6))                    # a new bank of the same pool renders nothing
    assert len(rendered) == 6
    torch_ops._SHARED_BANKS.clear()
    fresh = FractalBank(seeds, 9, 14).take(range(6))
    assert len(rendered) == 12 and torch.equal(got, fresh)


def test_take_waits_for_a_prefetch_of_its_pool_instead_of_rendering_twice(monkeypatch):
    import threading

    seeds = fractal_pool_seeds(12, 4)
    gate, rendered = threading.Event(), []
    real = FractalBank._render

    def slow(self, s):
        gate.wait()
        rendered.append(s)
        return real(self, s)

    monkeypatch.setattr(FractalBank, "_render", slow)
    thread = prefetch_fractal_bank(seeds, 8, 8, processes=0)
    done = []
    reader = threading.Thread(target=lambda: done.append(FractalBank(seeds, 8, 8).take([0, 3])))
    reader.start()
    assert not done                                                   # held until the prefetch's renders end
    gate.set()
    reader.join()
    thread.join()
    assert sorted(rendered) == sorted(seeds) and done[0].shape == (2, 3, 8, 8)


def test_a_pool_prefetched_in_processes_is_bit_for_bit_the_pool_rendered_here(monkeypatch):
    """The processes (python -m genmix_core.mixing.render_main) give every row, in seed order, as this process
    renders it; a bank of that pool then renders nothing itself."""
    seeds = fractal_pool_seeds(13, 5)
    rendered = []
    real = FractalBank._render
    monkeypatch.setattr(FractalBank, "_render", lambda self, s: rendered.append(s) or real(self, s))
    thread = prefetch_fractal_bank(seeds, 10, 7, processes=2)       # rows 0, 2, 4 in one, 1, 3 in the other
    thread.join()
    got = FractalBank(seeds, 10, 7).take(range(5))
    assert rendered == []                                             # nothing rendered in this process
    torch_ops._SHARED_BANKS.clear()
    assert torch.equal(got, FractalBank(seeds, 10, 7).take(range(5)))
    assert sorted(rendered) == sorted(seeds)


def test_the_render_process_does_not_load_torch():
    """Each render process starts in a fraction of a second because it imports numpy and PIL only."""
    import subprocess
    import sys

    from genmix_core.paths import REPO_ROOT, child_env

    code = "import sys, genmix_core.mixing.render_main; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(REPO_ROOT),
                         env=child_env(), check=True)
    assert out.stdout.strip() == "False"


def test_a_failed_render_process_leaves_its_rows_to_this_process(monkeypatch):
    """A child that fails (here: its module cannot be found) loses nothing: the prefetch renders those rows on
    its own threads, and the pool is the same."""
    import subprocess

    seeds = fractal_pool_seeds(14, 4)
    real_popen = subprocess.Popen
    started = []

    def broken(cmd, **kw):
        started.append(cmd)
        return real_popen([cmd[0], "-m", "genmix_core.mixing.no_such_module"], **kw)

    monkeypatch.setattr(subprocess, "Popen", broken)
    rendered = []
    real = FractalBank._render
    monkeypatch.setattr(FractalBank, "_render", lambda self, s: rendered.append(s) or real(self, s))
    prefetch_fractal_bank(seeds, 6, 6, processes=2).join()
    assert len(started) == 2 and sorted(rendered) == sorted(seeds)
    got = FractalBank(seeds, 6, 6).take(range(4))
    torch_ops._SHARED_BANKS.clear()
    assert torch.equal(got, FractalBank(seeds, 6, 6).take(range(4)))


@pytest.mark.parametrize("kind", MASK_KINDS)
def test_torch_mix_rebuilds_the_records_apply_mix_within_one_level(kind):
    """A record drawn from the pool rebuilds through apply_mix to the same picture (fractal quantised to 1/255)."""
    rng = np.random.default_rng(1)
    orig, edit = rng.random((2, 21, 19, 3), dtype=np.float32)
    seeds = fractal_pool_seeds(7, 4)
    record = MixParams(mask=kind, ramp=0.08, radius=0.35, softness=0.15, lam=0.2, fractal_seed=seeds[2])
    masks = make_masks_torch([kind], 21, 19, ramp=0.08, radius=0.35, softness=0.15)
    got = mix_torch(_nchw(orig[None]), _nchw(edit[None]), masks, FractalBank(seeds, 21, 19).take([2]), 0.2)
    expected = apply_mix(orig, edit, record).final
    assert np.abs(got[0].permute(1, 2, 0).numpy() - expected).max() <= 1 / 255
