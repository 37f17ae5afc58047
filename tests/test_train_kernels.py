"""Augmentation kernels (genmix_core.train.augment) and the budget sampler (train_pool): properties, not examples."""

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from genmix_core.train.augment import (cutmix, hflip, mixup, resized_crop, sample_crop_boxes, sample_cutmix_box,
                                  sample_mixup)
from genmix_core.train.pool import budget_order


def _batch(n=4, h=8, w=10, seed=0):
    return torch.rand((n, 3, h, w), generator=torch.Generator().manual_seed(seed))


def _onehot(n=4, c=3):
    return torch.nn.functional.one_hot(torch.arange(n) % c, c).float()


def test_hflip_mirrors_only_flagged_images_and_keeps_input():
    x = _batch()
    before = x.clone()
    flags = torch.tensor([True, False, True, False])
    out = hflip(x, flags)
    assert torch.equal(x, before)
    assert torch.equal(out[0], x[0].flip(-1)) and torch.equal(out[1], x[1])
    assert torch.equal(hflip(out, flags), x)


def test_resized_crop_identity_box_returns_image():
    x = _batch()
    boxes = torch.tensor([[0.0, 0.0, 1.0, 1.0]]).repeat(4, 1)
    assert torch.allclose(resized_crop(x, boxes), x, atol=1e-5)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31), lo=st.floats(0.05, 1.0))
def test_crop_boxes_stay_inside_the_image(seed, lo):
    boxes = sample_crop_boxes(torch.Generator().manual_seed(seed), 16, scale=(lo, 1.0))
    cx, cy, w, h = boxes.unbind(1)
    assert (w > 0).all() and (h > 0).all()
    assert (cx.abs() + w <= 1 + 1e-6).all() and (cy.abs() + h <= 1 + 1e-6).all()
    out = resized_crop(_batch(16, 12, 12, seed % 7), boxes)
    assert out.shape == (16, 3, 12, 12) and out.min() >= 0 and out.max() <= 1


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31), alpha=st.floats(0.1, 2.0))
def test_mixup_is_a_convex_combination_with_matching_targets(seed, alpha):
    gen = torch.Generator().manual_seed(seed)
    x, y = _batch(6), _onehot(6)
    lam, perm = sample_mixup(gen, 6, alpha)
    assert 0.0 <= lam <= 1.0 and sorted(perm.tolist()) == list(range(6))
    xm, ym = mixup(x, y, lam, perm)
    assert torch.allclose(xm, lam * x + (1 - lam) * x[perm])
    assert torch.allclose(ym.sum(1), torch.ones(6))
    assert torch.allclose(ym, lam * y + (1 - lam) * y[perm])


def test_mixup_lambda_one_is_identity():
    x, y = _batch(), _onehot()
    xm, ym = mixup(x, y, 1.0, torch.tensor([3, 2, 1, 0]))
    assert torch.equal(xm, x) and torch.equal(ym, y)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31), h=st.integers(4, 20), w=st.integers(4, 20))
def test_cutmix_label_weight_equals_pasted_area(seed, h, w):
    gen = torch.Generator().manual_seed(seed)
    x, y = _batch(4, h, w, seed % 5), _onehot(4, 4)
    box = sample_cutmix_box(gen, h, w, 1.0)
    top, bottom, left, right = box
    assert 0 <= top <= bottom <= h and 0 <= left <= right <= w
    perm = torch.tensor([1, 2, 3, 0])
    before = x.clone()
    xm, ym = cutmix(x, y, box, perm)
    assert torch.equal(x, before)
    inside = torch.zeros(h, w, dtype=torch.bool)
    inside[top:bottom, left:right] = True
    assert torch.equal(xm[..., inside], x[perm][..., inside])
    assert torch.equal(xm[..., ~inside], x[..., ~inside])
    area = inside.float().mean().item()
    # Weight of the pasted image (class perm[i]) equals the fraction of its pixels.
    assert np.allclose(ym[0, 1].item(), area, atol=1e-6) and np.allclose(ym.sum(1), 1.0)


@settings(max_examples=40, deadline=None)
@given(pool=st.integers(1, 30), n=st.integers(1, 100), seed=st.integers(0, 1000))
def test_budget_order_cycles_permutations(pool, n, seed):
    idx, passes = budget_order(pool, n, np.random.default_rng(seed))
    assert len(idx) == len(passes) == n
    for p in range(passes.max() + 1):
        chunk = idx[passes == p]
        assert len(set(chunk.tolist())) == len(chunk)          # no repeat inside a pass
        if p < passes.max():
            assert sorted(chunk.tolist()) == list(range(pool))  # a full pass sees every item once
    again, _ = budget_order(pool, n, np.random.default_rng(seed))
    assert np.array_equal(idx, again)
