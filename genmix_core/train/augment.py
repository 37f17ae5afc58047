"""Batch augmentation kernels for training: sample the parameters, then apply them deterministically.

Flips and random resized crops (every condition), Mixup (Zhang et al., 2018) and CutMix (Yun et al., 2019).
Written in plain torch because torchvision is not a dependency. Images ``(N, 3, H, W)`` float in [0, 1];
labels one-hot or soft ``(N, C)``. Every random draw takes an explicit ``torch.Generator``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


# --- augmentation kernels: sample parameters, then apply deterministically -------------------------------

def hflip(x: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
    """Mirror the images whose ``flip`` flag is set. ``x``: (N, C, H, W); ``flip``: (N,) bool. New tensor."""
    return torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)


def sample_crop_boxes(gen: torch.Generator, n: int, scale: tuple[float, float] = (0.6, 1.0),
                      ratio: tuple[float, float] = (3 / 4, 4 / 3)) -> torch.Tensor:
    """Random crop boxes as ``(N, 4)`` rows ``(cx, cy, w, h)`` in normalised [-1, 1] coordinates.

    The box covers ``scale`` of the image area with aspect ``ratio`` (log-uniform), clipped to the image
    (the "random resized crop" of Szegedy et al., 2015, with a milder default scale range for small sets).
    """
    area = torch.empty(n).uniform_(scale[0], scale[1], generator=gen)
    log_r = torch.empty(n).uniform_(math.log(ratio[0]), math.log(ratio[1]), generator=gen)
    r = torch.exp(log_r)
    w = torch.sqrt(area * r).clamp(max=1.0)
    h = torch.sqrt(area / r).clamp(max=1.0)
    cx = (torch.rand(n, generator=gen) * 2 - 1) * (1 - w)
    cy = (torch.rand(n, generator=gen) * 2 - 1) * (1 - h)
    return torch.stack([cx, cy, w, h], dim=1)


def resized_crop(x: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """Cut each box out of its image and resize it back to the full size (bilinear).

    Args:
        x: (N, C, H, W) images.
        boxes: (N, 4) ``(cx, cy, w, h)`` from :func:`sample_crop_boxes`; ``(0, 0, 1, 1)`` is the identity.
    """
    cx, cy, w, h = boxes.to(x.device, x.dtype).unbind(1)
    zero = torch.zeros_like(cx)
    theta = torch.stack([torch.stack([w, zero, cx], 1), torch.stack([zero, h, cy], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def mixup(x: torch.Tensor, y: torch.Tensor, lam: float, perm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mixup: ``λ·x + (1−λ)·x[perm]`` and the same for the soft targets ``y`` (N, C)."""
    return lam * x + (1 - lam) * x[perm], lam * y + (1 - lam) * y[perm]


def sample_cutmix_box(gen: torch.Generator, height: int, width: int,
                      alpha: float = 1.0) -> tuple[int, int, int, int]:
    """A CutMix box ``(top, bottom, left, right)`` whose area is about ``1 − λ``, ``λ ~ Beta(α, α)``."""
    lam = _beta(gen, alpha)
    cut = math.sqrt(1.0 - lam)
    ch, cw = int(round(height * cut)), int(round(width * cut))
    cy = int(torch.randint(height, (1,), generator=gen))
    cx = int(torch.randint(width, (1,), generator=gen))
    top, bottom = max(cy - ch // 2, 0), min(cy + (ch - ch // 2), height)
    left, right = max(cx - cw // 2, 0), min(cx + (cw - cw // 2), width)
    return top, bottom, left, right


def cutmix(x: torch.Tensor, y: torch.Tensor, box: tuple[int, int, int, int],
           perm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """CutMix: paste ``box`` of ``x[perm]`` into ``x``; targets mixed by the pasted area fraction.

    Returns new tensors; the label weight of the pasted image equals the exact pixel fraction of the box.
    """
    top, bottom, left, right = box
    out = x.clone()
    out[:, :, top:bottom, left:right] = x[perm][:, :, top:bottom, left:right]
    lam = 1.0 - (bottom - top) * (right - left) / (x.shape[-2] * x.shape[-1])
    return out, lam * y + (1 - lam) * y[perm]


def _beta(gen: torch.Generator, alpha: float) -> float:
    """One draw of Beta(α, α), reproducible from ``gen``."""
    # torch.distributions takes no generator; a numpy generator seeded from ``gen`` keeps the draw replayable.
    rng = np.random.default_rng(int(torch.randint(2**62, (1,), generator=gen)))
    return float(rng.beta(alpha, alpha))


def sample_mixup(gen: torch.Generator, n: int, alpha: float = 0.2) -> tuple[float, torch.Tensor]:
    """Mixup parameters for a batch of ``n``: ``λ ~ Beta(α, α)`` and a random pairing permutation."""
    return _beta(gen, alpha), torch.randperm(n, generator=gen)


# --- the training pool: what one condition draws its samples from -----------------------------------------
