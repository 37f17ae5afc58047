"""GenMix mixing kernels: masks, hybrid, fractals, fractal blend, and the replayable mix record.

Pure functions on float32 arrays ``(H, W, 3)`` / ``(N, H, W, 3)`` in [0, 1]; PIL only at the boundary
(:func:`to_array`, :func:`to_image`). A mix is ``A = (1 − λ)·(M·I + (1 − M)·E) + λ·F`` (GenMix, arXiv
2412.02366; DiffuseMix, arXiv 2405.14881).

Example:
    >>> import numpy as np
    >>> from genmix_core.mixing import sample_mix_params, apply_mix
    >>> original = np.zeros((64, 64, 3), np.float32); edited = np.ones((64, 64, 3), np.float32)
    >>> params = sample_mix_params(np.random.default_rng(0))
    >>> apply_mix(original, edited, params).final.shape
    (64, 64, 3)
"""

from genmix_core.mixing.blend import DEFAULT_LAM, DEFAULT_LAM_RANGE, fractal_blend, hybrid
from genmix_core.mixing.fractal_folder import FractalFolder
from genmix_core.mixing.fractals import FRACTAL_RENDER, RENDER_SIDE, procedural_fractal
from genmix_core.mixing.masks import (
    DEFAULT_RADIUS,
    DEFAULT_RAMP,
    DEFAULT_SOFTNESS,
    MASK_KINDS,
    MASK_SETS,
    make_mask,
)
from genmix_core.mixing.params import (
    FRACTAL_SOURCES,
    MixParams,
    MixResult,
    apply_mix,
    check_lam_range,
    sample_mix_params,
    to_array,
    to_image,
)

__all__ = [
    "DEFAULT_LAM",
    "DEFAULT_LAM_RANGE",
    "DEFAULT_RADIUS",
    "DEFAULT_RAMP",
    "DEFAULT_SOFTNESS",
    "FRACTAL_RENDER",
    "FRACTAL_SOURCES",
    "MASK_KINDS",
    "MASK_SETS",
    "FractalFolder",
    "MixParams",
    "MixResult",
    "RENDER_SIDE",
    "apply_mix",
    "check_lam_range",
    "fractal_blend",
    "hybrid",
    "make_mask",
    "procedural_fractal",
    "sample_mix_params",
    "to_array",
    "to_image",
    # Torch twins (genmix_core.mixing.torch_ops), imported on first use so that numpy users never load torch.
    "FRACTAL_POOL_SIZE",
    "FractalBank",
    "fractal_pool_seeds",
    "make_masks_torch",
    "mask_set_torch",
    "mix_torch",
    "prefetch_fractal_bank",
]

_TORCH_NAMES = ("FRACTAL_POOL_SIZE", "FractalBank", "fractal_pool_seeds", "make_masks_torch", "mask_set_torch",
                "mix_torch", "prefetch_fractal_bank")


def __getattr__(name: str):
    if name in _TORCH_NAMES:
        from genmix_core.mixing import torch_ops

        return getattr(torch_ops, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
