"""Diffusion editors on tiny random pipelines: real diffusers path, sizes, seeding, bad edits, OOM back-off."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from PIL import Image

from genmix_core.editing.diffusion import generators, is_bad_edit, working_size
from genmix_core.editing.img2img import Img2ImgEditor
from genmix_core.editing.pix2pix import InstructPix2PixEditor
from genmix_core.editing.testing import make_tiny_img2img, make_tiny_pix2pix
from genmix_core.errors import UserError

SIZES = [(33, 97), (50, 40), (64, 64)]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    return {"pix2pix": make_tiny_pix2pix(root / "p2p"), "img2img": make_tiny_img2img(root / "i2i")}


@pytest.fixture(scope="module")
def editors(folders):
    return {"pix2pix": InstructPix2PixEditor(str(folders["pix2pix"]), steps=2, size=32),
            "img2img": Img2ImgEditor(str(folders["img2img"]), steps=2, size=32)}


def _photos(n=3, seed=0):
    rng = np.random.default_rng(seed)
    return [Image.fromarray((rng.random((h, w, 3)) * 255).astype(np.uint8)) for (w, h) in SIZES[:n]]


@pytest.mark.parametrize("kind", ["pix2pix", "img2img"])
def test_edits_come_back_at_the_exact_input_size(editors, kind):
    images = _photos()
    out = editors[kind].edit_batch(images, ["snowy", "rain", "snowy"], [1, 2, 3])
    assert [o.size for o in out] == [im.size for im in images]
    assert all(o.mode == "RGB" for o in out)
    # Random weights still produce varied pictures, not blank ones.
    assert not any(is_bad_edit(o) for o in out)


@pytest.mark.parametrize("kind", ["pix2pix", "img2img"])
def test_seeded_item_alone_equals_inside_a_batch(editors, kind):
    ed = editors[kind]
    images = _photos()
    # Same image twice with two prompts exercises the encode-once path of pix2pix.
    batch = ed.edit_batch([images[1], images[0], images[1]], ["snowy", "rain", "sunset"], [11, 12, 13])
    alone = ed.edit(images[1], "sunset", 13)
    diff = np.abs(np.asarray(batch[2], np.int16) - np.asarray(alone, np.int16))
    assert diff.max() <= 2
    other_seed = ed.edit(images[1], "sunset", 14)
    assert np.abs(np.asarray(other_seed, np.int16) - np.asarray(alone, np.int16)).max() > 2


def test_pix2pix_batched_path_matches_a_plain_pipeline_call(editors):
    # Cached embeddings + pre-encoded latents must be the same arithmetic as diffusers' own call.
    ed = editors["pix2pix"]
    im = _photos(1)[0].resize(working_size(SIZES[0], 32), Image.LANCZOS)
    ours = ed._edit_group([im], ["autumn"], [5])[0]
    ref = ed.pipe(prompt=["autumn"], image=[im], num_inference_steps=2, guidance_scale=4.0,
                  image_guidance_scale=1.5, generator=generators([5]), output_type="np").images[0]
    np.testing.assert_allclose(ours, ref, atol=1e-4)


def test_pix2pix_presets_and_settings(folders):
    paper = InstructPix2PixEditor(str(folders["pix2pix"]))
    s = paper.settings()
    got = (s["steps"], s["guidance_scale"], s["image_guidance_scale"], s["scheduler"])
    assert got == (100, 4.0, 1.5, "euler_a")
    fast = InstructPix2PixEditor(str(folders["pix2pix"]), preset="fast", image_guidance_scale=1.2)
    assert fast.settings()["steps"] == 20 and fast.settings()["image_guidance_scale"] == 1.2
    assert type(paper.load().scheduler).__name__ == "EulerAncestralDiscreteScheduler"
    assert paper.info.is_diffusion and paper.info.dtype == "float32"
    with pytest.raises(UserError) as exc:
        InstructPix2PixEditor(str(folders["pix2pix"]), preset="slow")
    assert exc.value.key == "err.editor.diffusion.bad_preset"
    with pytest.raises(UserError, match="from 1 to 1000"):
        InstructPix2PixEditor(str(folders["pix2pix"]), steps=0)


def test_img2img_family_defaults_and_steps_times_strength(folders):
    ed = Img2ImgEditor(str(folders["img2img"]))
    assert ed.family == "sd15" and ed.settings()["guidance_scale"] == 7.5 and ed.size == 512
    turbo = Img2ImgEditor(str(folders["img2img"]), family="turbo")
    assert turbo.params["guidance_scale"] == 0.0
    assert int(turbo.params["steps"] * turbo.params["strength"]) >= 1
    with pytest.raises(UserError, match="at least 4 steps") as exc:
        Img2ImgEditor(str(folders["img2img"]), steps=3, strength=0.25)
    assert exc.value.key == "err.editor.diffusion.steps_strength"


class _OomOnce:
    """Stands in for the pipeline: raises CUDA out-of-memory on the first call of a batch > 1, then delegates."""

    def __init__(self, pipe):
        self._pipe, self.calls = pipe, []

    def __getattr__(self, name):
        return getattr(self._pipe, name)

    def __call__(self, *args, **kwargs):
        n = len(kwargs["generator"])
        self.calls.append(n)
        if len(self.calls) == 1 and n > 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return self._pipe(*args, **kwargs)


def test_out_of_memory_halves_the_micro_batch_and_retries(folders):
    ed = InstructPix2PixEditor(str(folders["pix2pix"]), steps=2, size=32, micro_batch=4)
    real = ed.load()
    ed.pipe = fake = _OomOnce(real)
    images = [_photos(1)[0]] * 4
    out = ed.edit_batch(images, ["a", "b", "c", "d"], [1, 2, 3, 4])
    assert len(out) == 4 and fake.calls == [4, 2, 2]
    assert ed.micro_batch == 2
    assert ed.events == [{"event": "oom_backoff", "stage": "denoise", "from": 4, "to": 2}]
    ed.pipe = real
    np.testing.assert_allclose(np.asarray(ed.edit(images[0], "c", 3), float), np.asarray(out[2], float), atol=2)


class _AlwaysOom(_OomOnce):
    def __call__(self, *args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")


def test_out_of_memory_at_one_item_is_a_user_error(folders):
    ed = InstructPix2PixEditor(str(folders["pix2pix"]), steps=1, size=32, micro_batch=1)

    ed.pipe = _AlwaysOom(ed.load())
    with pytest.raises(UserError) as exc:
        ed._edit_group([_photos(1)[0].resize((16, 32))], ["x"], [0])
    assert exc.value.key == "err.editor.diffusion.out_of_memory"


def test_compiled_unet_gets_few_fixed_shapes_by_padding_short_batches(folders):
    # With compile on, a short batch is padded to the next power of two, so a bucket needs one or two compiled
    # graphs; the padding must not change any item's edit.
    ed = InstructPix2PixEditor(str(folders["pix2pix"]), steps=1, size=32, micro_batch=4)
    rng = np.random.default_rng(3)
    images = [Image.fromarray((rng.random((h, w, 3)) * 255).astype(np.uint8))
              for w, h in ((50, 40), (33, 97), (64, 64), (60, 50))]
    plain = ed.edit_batch(images, ["a", "b", "c", "d"], [1, 2, 3, 4])
    ed.speed["compile"] = True  # the padding logic only; compiling a UNet on this CPU would take minutes
    assert [ed.padded_size(n) for n in (1, 2, 3, 4, 5)] == [1, 2, 4, 4, 5]
    ed.pipe = recorder = _OomOnce(ed.load())
    recorder.calls = [0]  # past its first call: it only records from now on
    padded = ed.edit_batch(images, ["a", "b", "c", "d"], [1, 2, 3, 4])
    # Two shape buckets at this size: three photos near 1:1 (padded from 3 to 4), then 33x97 alone.
    assert [ed.batch_key(im.size) for im in images] == [(32, 32), (24, 48), (32, 32), (32, 32)]
    assert recorder.calls[1:] == [4, 1]
    for p, q in zip(plain, padded):
        assert np.abs(np.asarray(p, np.int16) - np.asarray(q, np.int16)).max() <= 2


def test_is_bad_edit():
    rng = np.random.default_rng(0)
    assert is_bad_edit(Image.new("RGB", (20, 10)))                       # black
    assert is_bad_edit(Image.new("RGB", (20, 10), (128, 128, 128)))      # flat grey
    arr = rng.random((8, 8, 3)).astype(np.float32)
    assert not is_bad_edit(arr)
    arr[3, 4, 1] = np.nan
    assert is_bad_edit(arr)
    assert is_bad_edit(torch.full((3, 8, 8), float("inf")))
    assert not is_bad_edit(Image.fromarray((rng.random((10, 20, 3)) * 255).astype(np.uint8)))
    dark = np.zeros((8, 8, 3), np.uint8)
    dark[2:4, 2:4] = 40                                                  # a dark but real picture
    assert not is_bad_edit(dark)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 3000), st.integers(1, 3000), st.sampled_from([32, 64, 256, 512, 1024]))
def test_working_size_keeps_aspect_and_multiples_of_8(w, h, long_side):
    ww, hh = working_size((w, h), long_side)
    assert ww % 8 == 0 and hh % 8 == 0 and ww >= 8 and hh >= 8
    assert max(ww, hh) == long_side
    # Aspect kept up to the rounding of the short side to a multiple of 8.
    short_exact = min(w, h) * long_side / max(w, h)
    assert abs(min(ww, hh) - max(8.0, short_exact)) <= 4 + 1e-9


def test_compile_is_skipped_off_cuda_and_recorded(folders):
    ed = InstructPix2PixEditor(str(folders["pix2pix"]), steps=1, size=32, compile=True)
    assert ed.speed["compile"] is False
    assert {"event": "compile_skipped", "device": "cpu"} in ed.events
    assert ed.info.extra["compiled"] is False


def test_a_failing_torch_compile_falls_back_to_the_eager_unet(folders):
    # A PC without Triton or a C compiler fails inside torch.compile at the first call: the edit must still
    # come out (the same as without compiling) and the run record must say what happened.
    ed = InstructPix2PixEditor(str(folders["pix2pix"]), steps=1, size=32)
    image = _photos(1)[0]
    plain = ed.edit(image, "snowy", 5)
    pipe = ed.load()
    eager_unet = pipe.unet

    def broken_backend(gm, example_inputs):
        raise RuntimeError("Cannot find a working triton installation")

    pipe.unet = torch.compile(eager_unet, backend=broken_backend)
    ed.speed["compile"] = True
    again = ed.edit(image, "snowy", 5)
    assert pipe.unet is eager_unet and ed.speed["compile"] is False
    assert [e["event"] for e in ed.events] == ["compile_failed"]
    assert "triton" in ed.events[0]["error"]
    assert np.array_equal(np.asarray(plain), np.asarray(again))
