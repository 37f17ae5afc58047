"""MixParams record, sample_mix_params, apply_mix reproducibility, to_array / to_image."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from genmix_core.errors import UserError
from genmix_core.mixing import (
    DEFAULT_LAM,
    MASK_KINDS,
    MASK_SETS,
    FractalFolder,
    MixParams,
    apply_mix,
    fractal_blend,
    hybrid,
    make_mask,
    procedural_fractal,
    sample_mix_params,
    to_array,
    to_image,
)

unit = st.floats(0.0, 1.0, allow_nan=False)
params_strategy = st.builds(
    MixParams,
    mask=st.sampled_from(MASK_KINDS),
    ramp=unit,
    radius=unit,
    softness=unit,
    lam=unit,
    fractal_seed=st.integers(0, 2**63 - 1),
    fractal_source=st.sampled_from(["procedural", "folder"]),
)


def _pair(h=40, w=56, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((h, w, 3), dtype=np.float32), rng.random((h, w, 3), dtype=np.float32)


@settings(max_examples=80, deadline=None)
@given(params_strategy)
def test_params_survive_a_json_round_trip(params):
    assert MixParams.from_dict(json.loads(json.dumps(params.to_dict()))) == params


def test_params_are_frozen_and_normalised():
    params = MixParams("radial", np.float32(0.5), 0.3, 0.1, np.float64(0.2), np.int64(7))
    assert type(params.ramp) is float and type(params.fractal_seed) is int
    with pytest.raises(AttributeError):
        params.lam = 0.5  # type: ignore[misc]


@pytest.mark.parametrize(
    "field, value, match",
    [("mask", "stripes", "stripes"), ("lam", 1.5, "lam = 1.5"), ("fractal_seed", -3, "fractal_seed"),
     ("fractal_source", "web", "web"), ("ramp", "0.1", "ramp")],
)
def test_invalid_fields_are_refused_with_their_name(field, value, match):
    good = sample_mix_params(np.random.default_rng(0)).to_dict()
    good[field] = value
    with pytest.raises(UserError, match=match):
        MixParams.from_dict(good)


def test_from_dict_names_missing_and_unknown_fields():
    data = sample_mix_params(np.random.default_rng(0)).to_dict()
    del data["lam"]
    data["colour"] = "red"
    with pytest.raises(UserError, match=r"missing: lam; unknown: colour"):
        MixParams.from_dict(data)


def test_sampling_is_seeded_and_uses_the_requested_set():
    a = [sample_mix_params(np.random.default_rng(s)) for s in range(200)]
    b = [sample_mix_params(s) for s in range(200)]
    assert a == b
    assert {p.mask for p in a} == set(MASK_KINDS)
    assert len({p.fractal_seed for p in a}) == 200
    assert all(p.lam == DEFAULT_LAM and p.fractal_source == "procedural" for p in a)
    dm = {sample_mix_params(np.random.default_rng(s), mask_set="diffusemix").mask for s in range(100)}
    assert dm == set(MASK_SETS["diffusemix"])
    only = {sample_mix_params(s, mask_set=["radial"], lam=0.4, ramp=0.0).mask for s in range(20)}
    assert only == {"radial"}


def test_sampling_errors_teach():
    with pytest.raises(UserError, match="diffusemix"):
        sample_mix_params(0, mask_set="pixmix")
    with pytest.raises(UserError, match="Generator"):
        sample_mix_params("seed")  # type: ignore[arg-type]
    with pytest.raises(UserError, match="lam"):
        sample_mix_params(0, lam=2.0)


def test_apply_mix_rebuilds_the_same_output_from_the_record():
    original, edited = _pair()
    params = sample_mix_params(np.random.default_rng(42))
    first = apply_mix(original, edited, params)
    procedural_fractal.cache_clear()
    again = apply_mix(original, edited, MixParams.from_dict(json.loads(json.dumps(params.to_dict()))))
    for a, b in zip(first, again):
        assert a.tobytes() == b.tobytes()


@settings(max_examples=20, deadline=None)
@given(params_strategy.filter(lambda p: p.fractal_source == "procedural"))
def test_apply_mix_equals_the_kernels_composed(params):
    original, edited = _pair(17, 23)
    result = apply_mix(original, edited, params)
    mask = make_mask(params.mask, 17, 23, ramp=params.ramp, radius=params.radius, softness=params.softness)
    np.testing.assert_array_equal(result.mask, mask)
    np.testing.assert_array_equal(result.hybrid, hybrid(original, edited, mask))
    np.testing.assert_array_equal(result.fractal, procedural_fractal(params.fractal_seed, 17, 23))
    np.testing.assert_array_equal(result.final, fractal_blend(result.hybrid, result.fractal, params.lam))
    assert all(a.dtype == np.float32 for a in result)


def test_apply_mix_limits_and_no_in_place_change():
    original, edited = _pair()
    before = original.copy(), edited.copy()
    keep_all = MixParams("radial", 0.08, 1.0, 0.0, 0.0, 3)  # radius 1 of the shorter side covers 40×56
    result = apply_mix(original, edited, keep_all)
    np.testing.assert_array_equal(result.final, original)
    only_fractal = MixParams("left_right", 0.08, 0.35, 0.15, 1.0, 3)
    np.testing.assert_array_equal(apply_mix(original, edited, only_fractal).final, procedural_fractal(3, 40, 56))
    np.testing.assert_array_equal(before[0], original)
    np.testing.assert_array_equal(before[1], edited)


def test_apply_mix_takes_pil_images_and_checks_sizes():
    original = Image.new("RGB", (30, 20), (255, 0, 0))
    edited = Image.new("RGB", (30, 20), (0, 0, 255))
    params = MixParams("left_right", 0.0, 0.35, 0.15, 0.0, 1)
    final = apply_mix(original, edited, params).final
    assert final.shape == (20, 30, 3)
    assert final[:, :15, 0].min() == 1.0 and final[:, 15:, 2].min() == 1.0
    with pytest.raises(UserError, match=r"original \(30×20\).*edited image \(31×20\)") as info:
        apply_mix(original, Image.new("RGB", (31, 20)), params)
    assert info.value.key == "err.mix.size_mismatch"
    with pytest.raises(UserError, match="MixParams"):
        apply_mix(original, edited, params.to_dict())  # type: ignore[arg-type]


def test_apply_mix_with_a_fractal_folder(tmp_path):
    Image.new("RGB", (10, 10), (0, 255, 0)).save(tmp_path / "f.png")
    original, edited = _pair(12, 12)
    params = MixParams("top_bottom", 0.08, 0.35, 0.15, 1.0, 99, fractal_source="folder")
    result = apply_mix(original, edited, params, fractals=FractalFolder(tmp_path))
    assert result.fractal[..., 1].min() == 1.0 and result.fractal[..., 0].max() == 0.0
    with pytest.raises(UserError, match="no fractal folder") as info:
        apply_mix(original, edited, params)
    assert info.value.key == "err.mix.needs_fractal_folder"
    # The record decides: a procedural record ignores a folder passed along.
    procedural = MixParams("top_bottom", 0.08, 0.35, 0.15, 1.0, 99)
    np.testing.assert_array_equal(apply_mix(original, edited, procedural, FractalFolder(tmp_path)).fractal,
                                  procedural_fractal(99, 12, 12))


def test_batched_apply_mix_equals_one_by_one():
    rng = np.random.default_rng(3)
    originals, edits = rng.random((2, 4, 16, 16, 3), dtype=np.float32)
    params = sample_mix_params(rng)
    batched = apply_mix(originals, edits, params).final
    for i in range(4):
        np.testing.assert_array_equal(batched[i], apply_mix(originals[i], edits[i], params).final)


def test_to_array_and_to_image_round_trip():
    rgba = Image.new("RGBA", (5, 3), (10, 20, 30, 128))
    array = to_array(rgba)
    assert array.shape == (3, 5, 3) and array.dtype == np.float32
    assert to_image(array).tobytes() == rgba.convert("RGB").tobytes()
    grey = to_array(np.full((3, 5), 255, np.uint8))
    assert grey.shape == (3, 5, 3) and grey.min() == 1.0
    assert to_image(make_mask("left_right", 4, 4, ramp=0.0)).getpixel((0, 0)) == (255, 255, 255)
    assert to_image(np.full((2, 2, 3), 7.0)).getpixel((0, 0)) == (255, 255, 255)
    source = np.full((2, 2, 3), 0.5, np.float32)
    assert to_array(source) is not source
    with pytest.raises(UserError, match=r"shape \(2, 2, 4\)"):
        to_image(np.zeros((2, 2, 4)))


def test_lambda_range_draws_lambda_last_and_records_it():
    from genmix_core.mixing import DEFAULT_LAM_RANGE

    fixed = [sample_mix_params(s) for s in range(300)]
    drawn = [sample_mix_params(s, lam_range=DEFAULT_LAM_RANGE) for s in range(300)]
    # Same mask and fractal as without the range: λ is the only new draw.
    assert [(p.mask, p.fractal_seed) for p in fixed] == [(p.mask, p.fractal_seed) for p in drawn]
    lams = np.array([p.lam for p in drawn])
    assert lams.min() >= 0.1 and lams.max() <= 0.3 and len(set(lams)) == 300
    assert abs(lams.mean() - 0.2) < 0.02                      # the authors' λ on average
    assert drawn == [sample_mix_params(s, lam_range=(0.1, 0.3)) for s in range(300)]
    assert {sample_mix_params(s, lam_range=(0.05, 0.05)).lam for s in range(5)} == {0.05}


@pytest.mark.parametrize("bad", [(0.3, 0.1), (0.1,), (-0.1, 0.2), (0.1, 1.5), "0.1-0.3"])
def test_bad_lambda_range_teaches(bad):
    with pytest.raises(UserError) as exc:
        sample_mix_params(0, lam_range=bad)
    assert exc.value.key in ("err.mix.bad_lam_range", "err.mix.out_of_range", "err.mix.not_a_number")
    assert exc.value.message("ja") and exc.value.message("en")
