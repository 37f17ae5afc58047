"""The two GenMix blends: hybrid (mask join of original and edit) and fractal blend.

Source: Islam et al., GenMix (arXiv 2412.02366) and DiffuseMix (arXiv 2405.14881), eqs. for the hybrid image
``H = M ⊙ I + (1 − M) ⊙ E`` and the final image ``A = (1 − λ)·H + λ·F`` (λ = 0.2 in the released code).

Images are float32 arrays ``(H, W, 3)`` or batches ``(N, H, W, 3)`` with values in [0, 1]. Both functions
return new float32 arrays and never write into their inputs. The formulas are evaluated literally (not as
``E + M·(I − E)``) so that M = 1, M = 0, λ = 0 and λ = 1 reproduce an input exactly, bit for bit.
"""

from __future__ import annotations

import numpy as np

from genmix_core.errors import UserError
from genmix_core.mixing.masks import check_fraction

DEFAULT_LAM = 0.2
"""Fractal blend weight λ of the released DiffuseMix/GenMix code."""
DEFAULT_LAM_RANGE = (0.1, 0.3)
"""λ range of the mixes re-drawn during training (``sample_mix_params(lam_range=...)``): a fresh λ for every
draw, like the fresh mask and fractal, centred on the authors' 0.2 so that its mean stays theirs."""


def as_image_array(value: object, name: str) -> np.ndarray:
    """``value`` as a float32 array of shape ``(..., H, W, 3)``; refuses integer pixels and other shapes.

    Integer arrays (e.g. uint8 0–255) are refused rather than guessed at: use :func:`to_array` for PIL or
    uint8 input.

    Raises:
        UserError: ``err.mix.int_pixels`` or ``err.mix.bad_shape`` (both ``ValueError``).
    """
    array = np.asarray(value)
    if array.dtype.kind in "biu":
        raise UserError("err.mix.int_pixels", name=name, dtype=str(array.dtype))
    if array.dtype.kind != "f" or array.ndim < 3 or array.shape[-1] != 3:
        raise UserError("err.mix.bad_shape", name=name, shape=tuple(array.shape))
    return array.astype(np.float32, copy=False)


def hybrid(original: np.ndarray, edited: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Join the original and its edit through a mask: ``H = M·I + (1 − M)·E``.

    Args:
        original: ``I``, float32 ``(H, W, 3)`` or ``(N, H, W, 3)`` in [0, 1].
        edited: ``E``, same shape as ``original``.
        mask: ``M`` in [0, 1], 1 = keep the original. ``(H, W)`` (shared by the batch) or ``(N, H, W)`` (one
            per image); see :func:`genmix_core.mixing.masks.make_mask`.

    Returns:
        A new float32 array of the shape of ``original``.

    Raises:
        UserError: (``ValueError``) on mismatched shapes, integer pixels, or a mask outside [0, 1].
    """
    original = as_image_array(original, "original")
    edited = as_image_array(edited, "edited")
    if original.shape != edited.shape:
        raise UserError("err.mix.size_mismatch", original=tuple(original.shape), edited=tuple(edited.shape))
    m = np.asarray(mask)
    image_hw = original.shape[-3:-1]
    if m.dtype.kind not in "fbiu" or m.ndim < 2 or m.shape[-2:] != image_hw or (
        m.ndim > 2 and m.shape != original.shape[:-1]
    ):
        expected = f"{image_hw} or {original.shape[:-1]}"
        raise UserError("err.mix.mask_shape", shape=tuple(m.shape), expected=expected)
    m = m.astype(np.float32, copy=False)
    low, high = float(m.min()), float(m.max())
    if not (0.0 <= low and high <= 1.0):
        raise UserError("err.mix.mask_range", low=low, high=high)
    m = m[..., None]
    return m * original + (np.float32(1.0) - m) * edited


def fractal_blend(hyb: np.ndarray, fractal: np.ndarray, lam: float = DEFAULT_LAM) -> np.ndarray:
    """Blend a fractal into the hybrid: ``A = (1 − λ)·H + λ·F``.

    Args:
        hyb: the hybrid ``H``, float32 ``(H, W, 3)`` or ``(N, H, W, 3)`` in [0, 1].
        fractal: ``F``, the same shape as ``hyb``, or ``(H, W, 3)`` to share one fractal over a batch.
        lam: λ in [0, 1]; 0 returns the hybrid, 1 the fractal. Default 0.2 (the authors' value).

    Returns:
        A new float32 array of the shape of ``hyb``.

    Raises:
        UserError: (``ValueError``) for λ outside [0, 1] or mismatched shapes.
    """
    lam = check_fraction("lam", lam)
    hyb = as_image_array(hyb, "hybrid")
    fractal = as_image_array(fractal, "fractal")
    if fractal.shape != hyb.shape and fractal.shape != hyb.shape[-3:]:
        raise UserError("err.mix.fractal_shape", shape=tuple(fractal.shape), expected=tuple(hyb.shape))
    weight = np.float32(lam)
    return (np.float32(1.0) - weight) * hyb + weight * fractal
