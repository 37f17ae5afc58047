"""Masks: range, orientation, mirrors, binary ramp, odd / tiny / non-square sizes, argument errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genmix_core.errors import UserError
from genmix_core.mixing import DEFAULT_RAMP, MASK_KINDS, MASK_SETS, make_mask

sizes = st.integers(min_value=1, max_value=70)
fractions = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
FAST = settings(max_examples=60, deadline=None)


@FAST
@given(kind=st.sampled_from(MASK_KINDS), h=sizes, w=sizes, ramp=fractions, radius=fractions, softness=fractions)
def test_mask_is_float32_in_unit_range_with_requested_shape(kind, h, w, ramp, radius, softness):
    mask = make_mask(kind, h, w, ramp=ramp, radius=radius, softness=softness)
    assert mask.shape == (h, w)
    assert mask.dtype == np.float32
    assert np.isfinite(mask).all()
    assert mask.min() >= 0.0 and mask.max() <= 1.0


@FAST
@given(h=sizes, w=sizes, ramp=fractions)
def test_flipped_masks_are_exact_mirrors(h, w, ramp):
    left_right, top_bottom = make_mask("left_right", h, w, ramp=ramp), make_mask("top_bottom", h, w, ramp=ramp)
    np.testing.assert_array_equal(make_mask("right_left", h, w, ramp=ramp), left_right[:, ::-1])
    np.testing.assert_array_equal(make_mask("bottom_top", h, w, ramp=ramp), top_bottom[::-1, :])


@FAST
@given(h=sizes, w=sizes)
def test_zero_ramp_and_zero_softness_give_binary_masks(h, w):
    for kind in MASK_KINDS:
        values = np.unique(make_mask(kind, h, w, ramp=0.0, softness=0.0))
        assert set(values.tolist()) <= {0.0, 1.0}


@pytest.mark.parametrize("h, w", [(64, 64), (31, 97), (100, 40), (7, 5)])
def test_split_masks_put_the_original_on_the_named_side(h, w):
    lr = make_mask("left_right", h, w)
    assert (lr[:, 0] == 1).all() and (lr[:, -1] == 0).all()
    rl = make_mask("right_left", h, w)
    assert (rl[:, 0] == 0).all() and (rl[:, -1] == 1).all()
    tb = make_mask("top_bottom", h, w)
    assert (tb[0] == 1).all() and (tb[-1] == 0).all()
    bt = make_mask("bottom_top", h, w)
    assert (bt[0] == 0).all() and (bt[-1] == 1).all()


@pytest.mark.parametrize("h, w", [(64, 64), (31, 97), (100, 40), (9, 9)])
def test_radial_mask_keeps_the_centre_and_edits_the_corners(h, w):
    mask = make_mask("radial", h, w)
    assert mask[h // 2, w // 2] == 1.0
    for corner in (mask[0, 0], mask[0, -1], mask[-1, 0], mask[-1, -1]):
        assert corner == 0.0
    # Monotone along a ray from the centre to the right edge.
    row = mask[h // 2, w // 2:]
    assert (np.diff(row) <= 0).all()


@FAST
@given(h=st.integers(8, 80), w=st.integers(8, 80), ramp=st.floats(0.0, 1.0))
def test_split_ramp_is_monotone_and_symmetric(h, w, ramp):
    row = make_mask("left_right", h, w, ramp=ramp)[0]
    assert (np.diff(row) <= 0).all()
    # Left half kept + right half edited: the mean is one half up to the centre pixel of odd widths.
    assert abs(row.mean() - 0.5) <= 0.5 / w + 1e-6


def test_ramp_width_matches_the_fraction_of_the_side():
    w = 1000
    row = make_mask("left_right", 10, w, ramp=0.1)[0]
    transition = np.count_nonzero((row > 0) & (row < 1))
    assert abs(transition - 0.1 * w) <= 1
    assert np.count_nonzero((make_mask("left_right", 10, w, ramp=DEFAULT_RAMP)[0] % 1) != 0) > 0


def test_radial_radius_and_softness_are_fractions_of_the_shorter_side():
    mask = make_mask("radial", 401, 801, radius=0.25, softness=0.0)
    centre_row = mask[200]
    kept = np.count_nonzero(centre_row)
    assert abs(kept - 2 * 0.25 * 401) <= 2
    soft = make_mask("radial", 401, 801, radius=0.25, softness=0.1)[200]
    assert abs(np.count_nonzero((soft > 0) & (soft < 1)) - 2 * 0.1 * 401) <= 3


@pytest.mark.parametrize("kind", MASK_KINDS)
@pytest.mark.parametrize("h, w", [(1, 1), (1, 17), (17, 1), (2, 3)])
def test_degenerate_sizes_work(kind, h, w):
    mask = make_mask(kind, h, w)
    assert mask.shape == (h, w) and 0.0 <= mask.min() <= mask.max() <= 1.0


def test_each_call_returns_a_fresh_writable_array():
    a = make_mask("left_right", 8, 8)
    a[:] = 0.5
    assert make_mask("left_right", 8, 8)[0, 0] == 1.0


def test_mask_sets():
    assert MASK_SETS["genmix"] == MASK_KINDS and len(MASK_KINDS) == 5
    assert set(MASK_SETS["diffusemix"]) == {"left_right", "top_bottom"}


@pytest.mark.parametrize(
    "kwargs, key, match",
    [
        (dict(kind="diagonal"), "err.mix.mask_kind", "diagonal.*left_right"),
        (dict(height=0), "err.mix.bad_size", "height=0"),
        (dict(width=2.5), "err.mix.bad_size", "width=2.5"),
        (dict(ramp=-0.1), "err.mix.out_of_range", r"ramp = -0.1 .*\[0, 1\]"),
        (dict(radius=1.5), "err.mix.out_of_range", r"radius = 1.5"),
        (dict(softness=float("nan")), "err.mix.out_of_range", "softness"),
        (dict(ramp="wide"), "err.mix.not_a_number", "ramp.*'wide'"),
        (dict(ramp=True), "err.mix.not_a_number", "ramp"),
    ],
)
def test_bad_arguments_raise_teaching_errors(kwargs, key, match):
    args = dict(kind="left_right", height=16, width=16)
    args.update(kwargs)
    kind, h, w = args.pop("kind"), args.pop("height"), args.pop("width")
    with pytest.raises(ValueError, match=match) as info:
        make_mask(kind, h, w, **args)
    assert isinstance(info.value, UserError) and info.value.key == key
    assert info.value.message("ja") != info.value.message("en")
