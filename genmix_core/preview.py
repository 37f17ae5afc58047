"""The interactive preview of one GenMix sample, without Streamlit: edit once, then mix many times.

The Preview page (and the Home page's three pictures) show every stage of the method for one image and one
prompt (Islam et al., GenMix, arXiv 2412.02366, Fig. 2):

    original I  →  edit E = G(I, p)  →  mask M  →  hybrid H = M·I + (1−M)·E  →  fractal F
                →  final A = (1−λ)·H + λ·F

The edit is the slow step (a diffusion model on a CPU takes a minute), while mask, ramp, radius, λ and the
fractal seed change with every slider move. So the work is split in two functions:

- :func:`edit_png` runs the editor and returns PNG bytes, a value the UI caches by content key
  (image hash, prompt, editor settings, seed); :func:`edit_pngs` edits one image with several prompts in one
  editor call (the Preview page's row of every active prompt: one batch on a GPU);
- :func:`mix_stages` rebuilds mask, hybrid, fractal and final from the cached edit in milliseconds.

:func:`render_preview` does both in one call for scripts and tests.
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from genmix_core.seeds import item_seed

# The interactive preview works on a copy whose longer side is at most this many pixels: the offline
# style filter needs ≤ 0.1 s at 512², so slider moves stay instant; generation uses full size.
PREVIEW_MAX_SIDE = 512
# Edits shown in the preview use the same per-item seed a generation job with seed 0 would use.
PREVIEW_JOB_SEED = 0


@dataclass
class PreviewStages:
    """All stages of one GenMix sample, as RGB PIL images (the mask as an ``L`` image, white = original).

    Attributes:
        original: the input, downscaled to ``PREVIEW_MAX_SIDE``.
        edited: the editor's output, same size.
        mask: M in [0, 1] as 8-bit grey (255 keeps the original).
        hybrid: M·I + (1−M)·E.
        fractal: the fractal image F.
        final: (1−λ)·H + λ·F, the augmented sample (it keeps the original's label).
        params: the mixing parameters (``MixParams.to_dict()``), enough to rebuild ``final`` from the edit.
        edit_seed: the seed given to the editor.
    """

    original: Image.Image
    edited: Image.Image
    mask: Image.Image
    hybrid: Image.Image
    fractal: Image.Image
    final: Image.Image
    params: dict[str, Any]
    edit_seed: int
    record: dict[str, Any] = field(default_factory=dict)


def file_key(path: str | os.PathLike) -> str:
    """Content hash (sha256 hex) of an image file: the image part of cache keys and item seeds."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def preview_seed(image_key: str, prompt: str) -> int:
    """The editor seed for (image, prompt) in the preview (same as a generation job with seed 0)."""
    return item_seed(PREVIEW_JOB_SEED, image_key, prompt)


def load_preview_image(path: str | os.PathLike, max_side: int = PREVIEW_MAX_SIDE) -> Image.Image:
    """Open an image as RGB and shrink it (aspect kept) so that its longer side is at most ``max_side``."""
    with Image.open(path) as im:
        image = im.convert("RGB")
    if max(image.size) > max_side:
        scale = max_side / max(image.size)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.LANCZOS)
    return image


def _png(image: Image.Image, compress_level: int = 6) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=compress_level)
    return buf.getvalue()


def png_bytes(image: Image.Image) -> bytes:
    """PNG encoding of ``image`` (for downloads and caches)."""
    return _png(image)


def edit_png(path: str | os.PathLike, prompt: str, editor, seed: int,
             max_side: int = PREVIEW_MAX_SIDE) -> bytes:
    """Edit the (downscaled) image at ``path`` following ``prompt``; return the edit as PNG bytes.

    This is the slow step; callers cache its result keyed on ``(file_key(path), prompt, editor.settings(),
    seed)``. Bytes (not arrays) keep the cached value small and safe to copy.

    Raises:
        UserError: ``err.editor.needs_diffusion`` when ``editor`` cannot render ``prompt``.
    """
    return edit_pngs(path, [prompt], editor, [seed], max_side)[0]


def edit_pngs(path: str | os.PathLike, prompts: list[str], editor, seeds: list[int],
              max_side: int = PREVIEW_MAX_SIDE) -> list[bytes]:
    """Edit one image with several prompts in one editor call (one batch on a GPU); PNG bytes per prompt.

    ``out[i]`` is the edit :func:`edit_png` gives for ``(prompts[i], seeds[i])``: the editors' seeded output of
    an item does not depend on its batch neighbours (to fp16 rounding on a GPU), so callers may cache each
    under the same key as a single edit.

    Raises:
        ValueError: ``prompts`` and ``seeds`` differ in length. UserError: ``err.editor.needs_diffusion`` when
        ``editor`` cannot render one of the prompts.
    """
    image = load_preview_image(path, max_side)
    # Level 1: a cached edit is encoded once per view and only kept in memory; Pillow's default level 6 took
    # ~4x as long (47 ms against 12 ms for a 576x448 edit on the 2-core machine) for 15 % fewer bytes.
    edits = editor.edit_batch([image] * len(prompts), list(prompts), list(seeds))
    if len(edits) == 1:
        return [_png(edits[0], compress_level=1)]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(min(4, len(edits))) as pool:   # zlib lets go of Python's lock: encoded side by side
        return list(pool.map(lambda edit: _png(edit, compress_level=1), edits))


def mask_image(mask: np.ndarray) -> Image.Image:
    """A (H, W) float mask in [0, 1] as an 8-bit grey image (255 = keep the original)."""
    return Image.fromarray(np.clip(np.rint(np.asarray(mask) * 255.0), 0, 255).astype(np.uint8), mode="L")


def mix_stages(original: Image.Image, edited: Image.Image, params, fractals=None) -> dict[str, Image.Image]:
    """Mask, hybrid, fractal and final for an (original, edit) pair of the same size.

    Args:
        original, edited: RGB PIL images of equal size.
        params: a ``genmix_core.mixing.MixParams``.
        fractals: optional ``FractalFolder`` (when ``params.fractal_source`` is the user's folder).

    Returns:
        ``{"mask", "hybrid", "fractal", "final"}`` as PIL images.
    """
    from genmix_core.mixing import apply_mix, to_image

    result = apply_mix(original, edited, params, fractals)
    return {"mask": mask_image(result.mask), "hybrid": to_image(result.hybrid),
            "fractal": to_image(result.fractal), "final": to_image(result.final)}


def reproduction_record(path: str | os.PathLike, prompt: str, editor, seed: int, params) -> dict[str, Any]:
    """Everything needed to rebuild the preview: image hash, prompt, editor settings, edit seed, MixParams."""
    return {"image": Path(path).name, "image_sha256": file_key(path), "prompt": prompt,
            "editor": editor.settings(), "edit_seed": int(seed), "mix": params.to_dict(),
            "preview_max_side": PREVIEW_MAX_SIDE}


def render_preview(path: str | os.PathLike, prompt: str, editor, params, fractals=None,
                   seed: int | None = None) -> PreviewStages:
    """Every stage for one image and prompt (edit, then mix). See :func:`edit_png`, :func:`mix_stages`."""
    seed = preview_seed(file_key(path), prompt) if seed is None else int(seed)
    original = load_preview_image(path)
    edited = Image.open(io.BytesIO(edit_png(path, prompt, editor, seed))).convert("RGB")
    stages = mix_stages(original, edited, params, fractals)
    return PreviewStages(original=original, edited=edited, params=params.to_dict(), edit_seed=seed,
                         record=reproduction_record(path, prompt, editor, seed, params), **stages)
