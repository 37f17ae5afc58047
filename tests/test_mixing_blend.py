"""hybrid / fractal_blend: the formulas, exact limits, batches, no in-place writes, shape and range errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from genmix_core.errors import UserError
from genmix_core.mixing import MASK_KINDS, fractal_blend, hybrid, make_mask

FAST = settings(max_examples=40, deadline=None)
unit = st.floats(0.0, 1.0, width=32, allow_nan=False)


@st.composite
def image_triples(draw, batch=False):
    """(original, edited, mask) with random shapes and values in [0, 1]."""
    h, w = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    lead = (draw(st.integers(1, 4)),) if batch else ()
    images = [draw(arrays(np.float32, lead + (h, w, 3), elements=unit)) for _ in range(2)]
    mask = draw(arrays(np.float32, (h, w), elements=unit))
    return images[0], images[1], mask


@FAST
@given(image_triples())
def test_hybrid_is_the_mask_weighted_sum_and_stays_in_range(triple):
    original, edited, mask = triple
    out = hybrid(original, edited, mask)
    assert out.dtype == np.float32 and out.shape == original.shape
    expected = mask[..., None].astype(np.float64) * original + (1 - mask[..., None].astype(np.float64)) * edited
    np.testing.assert_allclose(out, expected, atol=1e-6)
    assert out.min() >= -1e-6 and out.max() <= 1 + 1e-6


@FAST
@given(image_triples())
def test_mask_of_ones_returns_the_original_and_zeros_the_edit(triple):
    original, edited, mask = triple
    np.testing.assert_array_equal(hybrid(original, edited, np.ones_like(mask)), original)
    np.testing.assert_array_equal(hybrid(original, edited, np.zeros_like(mask)), edited)


@FAST
@given(image_triples(), unit)
def test_fractal_blend_limits_are_exact(triple, lam):
    hyb, fractal, _ = triple
    np.testing.assert_array_equal(fractal_blend(hyb, fractal, 0.0), hyb)
    np.testing.assert_array_equal(fractal_blend(hyb, fractal, 1.0), fractal)
    out = fractal_blend(hyb, fractal, float(lam))
    np.testing.assert_allclose(out, (1 - lam) * hyb.astype(np.float64) + lam * fractal, atol=1e-6)


@FAST
@given(image_triples(batch=True))
def test_batched_equals_one_by_one(triple):
    original, edited, mask = triple
    batched = fractal_blend(hybrid(original, edited, mask), edited[0], 0.3)
    for i in range(len(original)):
        single = fractal_blend(hybrid(original[i], edited[i], mask), edited[0], 0.3)
        np.testing.assert_array_equal(batched[i], single)


def test_per_image_masks_in_a_batch():
    rng = np.random.default_rng(0)
    original, edited = rng.random((2, 3, 10, 12, 3), dtype=np.float32)
    masks = np.stack([make_mask(k, 10, 12) for k in MASK_KINDS[:3]])
    out = hybrid(original, edited, masks)
    for i in range(3):
        np.testing.assert_array_equal(out[i], hybrid(original[i], edited[i], masks[i]))


def test_inputs_are_never_modified():
    rng = np.random.default_rng(1)
    original, edited, fractal = rng.random((3, 16, 20, 3), dtype=np.float32)
    mask = make_mask("radial", 16, 20)
    copies = [a.copy() for a in (original, edited, fractal, mask)]
    hyb = hybrid(original, edited, mask)
    hyb_copy = hyb.copy()
    out = fractal_blend(hyb, fractal, 0.2)
    assert out is not hyb
    for before, after in zip(copies + [hyb_copy], (original, edited, fractal, mask, hyb)):
        np.testing.assert_array_equal(before, after)


def test_float64_inputs_give_float32_output():
    a = np.full((4, 4, 3), 0.25)
    assert hybrid(a, a, np.ones((4, 4))).dtype == np.float32
    assert fractal_blend(a, a, 0.5).dtype == np.float32


@pytest.mark.parametrize("lam", [-0.01, 1.01, float("nan"), float("inf")])
def test_lam_outside_unit_range_is_refused(lam):
    a = np.zeros((4, 4, 3), np.float32)
    with pytest.raises(ValueError, match="lam"):
        fractal_blend(a, a, lam)


def test_shape_and_dtype_errors_teach():
    a = np.zeros((8, 8, 3), np.float32)
    with pytest.raises(UserError, match=r"different sizes") as info:
        hybrid(a, np.zeros((8, 9, 3), np.float32), np.ones((8, 8)))
    assert info.value.key == "err.mix.size_mismatch"
    with pytest.raises(UserError, match=r"mask has shape \(8, 9\)"):
        hybrid(a, a, np.ones((8, 9)))
    with pytest.raises(UserError, match=r"range from -0.5"):
        hybrid(a, a, np.full((8, 8), -0.5))
    with pytest.raises(UserError, match="to_array") as info:
        hybrid((a * 255).astype(np.uint8), a, np.ones((8, 8)))
    assert info.value.key == "err.mix.int_pixels"
    with pytest.raises(UserError, match=r"shape \(8, 8\)"):
        hybrid(a[..., 0], a[..., 0], np.ones((8, 8)))
    with pytest.raises(UserError, match=r"fractal has shape \(4, 4, 3\)") as info:
        fractal_blend(a, np.zeros((4, 4, 3), np.float32), 0.2)
    assert info.value.key == "err.mix.fractal_shape"
