"""Shape buckets: a photo set of any mix of shapes is edited at a few fixed shapes, and every photo comes back
at its own size; the generation job forms one-shape batches."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from PIL import Image

from genmix_core.editing.diffusion import BUCKET_ASPECTS, bucket_for, shape_buckets
from genmix_core.editing.pix2pix import InstructPix2PixEditor
from genmix_core.editing.testing import make_tiny_pix2pix
from genmix_core.generate import GenerateConfig, manifest, run_generation
from test_generate_fakes import FakeEditor

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# 4:3, 3:4, 16:9, 1:1 and two odd shapes, as phone and line-camera photos come.
MIXED = [(80, 60), (60, 80), (96, 54), (64, 64), (97, 33), (50, 41)]


def test_buckets_at_512_are_few_multiples_of_64_of_about_the_same_pixel_count():
    buckets = shape_buckets(512)
    assert 5 <= len(buckets) <= len(BUCKET_ASPECTS)
    assert (512, 512) in buckets and (576, 448) in buckets and (448, 576) in buckets
    for w, h in buckets:
        assert w % 64 == 0 and h % 64 == 0
        assert 0.85 <= w * h / 512**2 <= 1.15
    assert shape_buckets(64) == sorted(set(shape_buckets(64)), key=shape_buckets(64).index)   # no duplicates


def test_each_shape_goes_to_its_nearest_bucket_and_the_choice_is_deterministic():
    assert bucket_for((4000, 3000), 512) == (576, 448)
    assert bucket_for((3000, 4000), 512) == (448, 576)
    assert bucket_for((1920, 1080), 512) == (704, 384)
    assert bucket_for((1000, 1000), 512) == (512, 512)
    assert bucket_for((194, 160), 512) == bucket_for((388, 320), 512)    # the shape, not the size, decides


@settings(max_examples=200, deadline=None)
@given(st.integers(8, 5000), st.integers(8, 5000), st.sampled_from([64, 256, 512, 768]))
def test_no_bucket_is_nearer_in_aspect_ratio_than_the_chosen_one(w, h, size):
    chosen = bucket_for((w, h), size)
    assert chosen in shape_buckets(size)
    error = abs(math.log(chosen[0] / chosen[1]) - math.log(w / h))
    assert all(error <= abs(math.log(b[0] / b[1]) - math.log(w / h)) + 1e-12 for b in shape_buckets(size))
    assert bucket_for((w, h), size) == chosen


@pytest.fixture(scope="module")
def editor(tmp_path_factory):
    folder = make_tiny_pix2pix(tmp_path_factory.mktemp("tiny") / "p2p")
    return InstructPix2PixEditor(str(folder), steps=2, size=64)


def _photos(sizes, seed=0):
    rng = np.random.default_rng(seed)
    return [Image.fromarray((rng.random((h, w, 3)) * 255).astype(np.uint8)) for (w, h) in sizes]


def test_every_photo_of_a_mixed_set_returns_at_its_own_size(editor):
    images = _photos(MIXED)
    out = editor.edit_batch(images, ["snowy"] * len(images), list(range(len(images))))
    assert [o.size for o in out] == [im.size for im in images]
    assert {editor.batch_key(im.size) for im in images} <= set(shape_buckets(64))
    assert editor.settings()["shapes"] == "buckets"


def test_an_item_alone_equals_the_same_item_inside_a_mixed_batch(editor):
    images = _photos(MIXED, seed=1)
    batch = editor.edit_batch(images, ["snowy", "rain"] * 3, [5, 6, 7, 8, 9, 10])
    for i in (0, 4):
        alone = editor.edit(images[i], ["snowy", "rain"][i % 2], 5 + i)
        assert np.abs(np.asarray(batch[i], np.int16) - np.asarray(alone, np.int16)).max() <= 2


class ShapeRecordingEditor(FakeEditor):
    """A fake diffusion editor with buckets: records the working shapes of every call."""

    def __init__(self):
        super().__init__(diffusion=True)
        self.call_shapes: list[set] = []

    def batch_key(self, image_size):
        return bucket_for(image_size, 64)

    def _edit_batch(self, images, prompts, seeds):
        self.call_shapes.append({self.batch_key(im.size) for im in images})
        return super()._edit_batch(images, prompts, seeds)


def test_the_job_forms_one_shape_batches_from_a_mixed_set(tmp_path):
    data = tmp_path / "data"
    for label in ("ok", "scratch"):
        (data / label).mkdir(parents=True)
        for i, im in enumerate(_photos(MIXED, seed=2 + len(label))):
            im.save(data / label / f"img{i}.png")
    editor = ShapeRecordingEditor()
    cfg = GenerateConfig(data=str(data), out=str(tmp_path / "run"), prompts=["snowy", "rain"], batch_size=3,
                         workers=1)
    summary = run_generation(cfg, editor=editor)
    assert summary.done == 24 and summary.failed == 0
    assert all(len(shapes) == 1 for shapes in editor.call_shapes)
    # Batches are cut inside a bucket: full ones of 3, and at most one short tail per bucket.
    buckets = len({bucket_for(s, 64) for s in MIXED})
    assert len(editor.call_shapes) <= 24 // 3 + buckets
    df = manifest.load_manifest(tmp_path / "run")
    assert len(df) == 24 and set(df["status"]) == {"done"}
