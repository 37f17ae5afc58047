"""Procedural fractals (determinism, distinctness, sizes, coverage) and FractalFolder."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from genmix_core.errors import UserError
from genmix_core.mixing import FractalFolder, procedural_fractal
from genmix_core.mixing import fractals as fractals_module


def _lit(image: np.ndarray) -> float:
    """Share of pixels clearly brighter than the (dark) background."""
    background = np.median(image[[0, 0, -1, -1], [0, -1, 0, -1]], axis=0)
    return float(np.mean(np.abs(image - background).max(axis=-1) > 0.15))


def test_same_seed_gives_bit_identical_images_even_after_the_cache_is_cleared():
    first = procedural_fractal(1234, 96, 80)
    procedural_fractal.cache_clear()
    fractals_module._good_attempt.cache_clear()
    fractals_module._ifs_for.cache_clear()
    again = procedural_fractal(1234, 96, 80)
    assert first.tobytes() == again.tobytes()


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**63 - 1), h=st.integers(1, 48), w=st.integers(1, 48))
def test_any_seed_and_size_gives_float32_rgb_in_unit_range(seed, h, w):
    image = procedural_fractal(seed, h, w)
    assert image.shape == (h, w, 3) and image.dtype == np.float32
    assert np.isfinite(image).all() and image.min() >= 0.0 and image.max() <= 1.0


def test_seeds_give_distinct_fractals():
    images = [procedural_fractal(seed, 64, 64) for seed in range(40)]
    flat = np.stack([i.ravel() for i in images])
    distances = np.abs(flat[:, None, :] - flat[None, :, :]).mean(axis=-1)
    off_diagonal = distances[~np.eye(len(images), dtype=bool)]
    assert off_diagonal.min() > 0.01
    assert len({i.tobytes() for i in images}) == len(images)


def test_fractals_are_not_empty_and_not_flat():
    for seed in range(60):
        image = procedural_fractal(seed, 96, 96)
        assert 0.03 < _lit(image) < 0.95, seed
        # Colourful: some pixels clearly away from grey (less so than a direct render: the 512-px render is
        # shrunk, which averages neighbouring colours).
        assert (image.max(axis=-1) - image.min(axis=-1)).max() > 0.2, seed


def test_degenerate_attempts_are_retried_deterministically():
    retried = [seed for seed in range(400) if fractals_module._good_attempt(seed) > 0]
    assert retried, "the coverage test should reject some random IFS"
    assert len(retried) < 40
    for seed in retried[:3]:
        attempt = fractals_module._good_attempt(seed)
        fractals_module._good_attempt.cache_clear()
        assert fractals_module._good_attempt(seed) == attempt


def test_returned_array_is_a_private_copy():
    image = procedural_fractal(7, 32, 32)
    image[:] = 0.0
    assert procedural_fractal(7, 32, 32).max() > 0.0


def test_same_seed_is_the_same_picture_at_another_size():
    small = procedural_fractal(99, 64, 64)
    large = procedural_fractal(99, 256, 256)
    shrunk = np.asarray(Image.fromarray((large * 255).astype(np.uint8)).resize((64, 64), Image.BOX)) / 255.0
    other = procedural_fractal(100, 64, 64)
    assert np.abs(shrunk - small).mean() < np.abs(shrunk - other).mean()


@pytest.mark.parametrize("h, w", [(1, 1), (1, 300), (300, 1), (33, 517)])
def test_odd_and_extreme_sizes(h, w):
    image = procedural_fractal(5, h, w)
    assert image.shape == (h, w, 3) and 0.0 <= image.min() <= image.max() <= 1.0


@pytest.mark.parametrize("seed", [-1, 1.5, "7", True, None])
def test_bad_seed_is_refused(seed):
    with pytest.raises(UserError, match="seed") as info:
        procedural_fractal(seed, 8, 8)
    assert info.value.key == "err.mix.bad_seed"


def test_bad_size_is_refused():
    with pytest.raises(UserError, match="width=0"):
        procedural_fractal(1, 8, 0)


# --- FractalFolder ----------------------------------------------------------------------------------------


def _write(folder, name, size, colour):
    folder.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(folder / name)


def test_folder_picks_deterministically_and_covers_without_distortion(tmp_path):
    _write(tmp_path, "a.png", (40, 20), (255, 0, 0))
    _write(tmp_path / "sub", "b.JPG", (30, 30), (0, 0, 255))
    # A wide image with a green centre square: cover + centre crop to a square keeps only green.
    wide = Image.new("RGB", (300, 100), (0, 0, 0))
    wide.paste((0, 255, 0), (100, 0, 200, 100))
    wide.save(tmp_path / "c.png")
    (tmp_path / "notes.txt").write_text("not an image")

    folder = FractalFolder(tmp_path)
    assert folder.count == 3
    assert [p.name for p in folder.files] == ["a.png", "c.png", "b.JPG"]
    first = folder.get(12345, 24, 24)
    np.testing.assert_array_equal(first, FractalFolder(tmp_path).get(12345, 24, 24))
    assert first.shape == (24, 24, 3) and first.dtype == np.float32

    green = folder.get(1, 50, 50)  # 1 % 3 == 1 -> c.png
    # (A squash would leave two thirds black; the bicubic kernel may touch the crop's outer pixels.)
    assert green[:, 2:-2, 1].min() > 0.99 and green[..., 1].mean() > 0.97 and green[..., 0].max() < 0.05
    assert folder.get(0, 10, 17)[..., 0].min() > 0.95  # a.png, red, any target shape


def test_folder_skips_an_unreadable_file(tmp_path):
    (tmp_path / "a_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    _write(tmp_path, "b.png", (8, 8), (0, 0, 255))
    folder = FractalFolder(tmp_path)
    assert folder.get(0, 8, 8)[..., 2].min() > 0.95


def test_returned_folder_image_is_a_private_copy(tmp_path):
    _write(tmp_path, "a.png", (8, 8), (255, 255, 255))
    folder = FractalFolder(tmp_path)
    folder.get(0, 8, 8)[:] = 0
    assert folder.get(0, 8, 8).min() == 1.0


def test_folder_errors_teach(tmp_path):
    with pytest.raises(UserError, match="does not exist") as info:
        FractalFolder(tmp_path / "missing")
    assert info.value.key == "err.mix.fractal_folder_missing"
    with pytest.raises(UserError, match="contains no images") as info:
        FractalFolder(tmp_path)
    assert info.value.key == "err.mix.fractal_folder_empty"
    (tmp_path / "x.png").write_bytes(b"garbage")
    (tmp_path / "y.jpg").write_bytes(b"")
    with pytest.raises(UserError, match="None of the 2 image files") as info:
        FractalFolder(tmp_path)
    assert info.value.key == "err.mix.fractal_folder_unreadable"
    assert "フォルダ" in info.value.message("ja")
