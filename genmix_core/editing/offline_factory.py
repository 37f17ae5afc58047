"""Style-filter recipes for the factory prompt set: lighting and camera conditions of real shop floors.

Same contract as :mod:`genmix_core.editing.offline_recipes`: ``recipe(x (H, W, 3) f32 in [0, 1], rng) ->
same shape``. These change how a part was photographed, never the part itself, so the label stays true.
"""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image

from genmix_core.editing.offline_ops import (blur, contrast, draw_dots, from_pil, grain, luma, mix, radial, rgb,
                                             rows, saturate, screen, side, smooth_noise, to_pil, vignette)


def dim_light(x, rng):
    """Under-exposed: darker, slightly cooler and flatter colours, more sensor noise, dark corners."""
    h, w = x.shape[:2]
    exposure = rng.uniform(0.3, 0.42)
    y = saturate(x ** 1.15, 0.75) * exposure * rgb(0.95, 0.98, 1.05)
    y = y * vignette(h, w, 0.45) + grain(rng, h, w, 0.012)
    return np.clip(y, 0, 1)


def glare(x, rng):
    """Harsh overhead lamp: a blown-out hot spot from above, washed-out colours there, harder contrast around."""
    h, w = x.shape[:2]
    cx, cy = rng.uniform(0.3, 0.7) * w, rng.uniform(0.05, 0.35) * h
    r = rng.uniform(0.22, 0.35) * side(x)
    spot = np.exp(-0.5 * (radial(h, w, cy, cx) / r) ** 2)[..., None]
    y = contrast(x, 1.2, 0.45) * 0.9
    y = mix(y, saturate(y, 0.3), spot)
    y = y * (1 + 1.3 * spot) + 0.6 * spot ** 2
    bloom = blur(np.clip(y - 0.9, 0, 1), side(x) / 30)
    return np.clip(screen(np.clip(y, 0, 1), bloom), 0, 1)


def motion_blur(x, rng):
    """Smear along a nearly horizontal direction (a part moving on a conveyor) over 4-7 % of the width."""
    h, w = x.shape[:2]
    length = rng.uniform(0.04, 0.07) * w
    angle = rng.uniform(-0.25, 0.25)
    steps = int(min(24, max(2, round(length))))
    offsets = np.linspace(-length / 2, length / 2, steps)
    dx, dy = np.rint(offsets * math.cos(angle)).astype(int), np.rint(offsets * math.sin(angle)).astype(int)
    px, py = int(np.abs(dx).max()), int(np.abs(dy).max())
    pad = np.pad(x, ((py, py), (px, px), (0, 0)), mode="edge")
    acc = np.zeros_like(x)
    for ox, oy in zip(dx, dy):
        acc += pad[py + oy:py + oy + h, px + ox:px + ox + w]
    # A touch of blur hides the gaps between the shifted copies when the smear is longer than 24 pixels.
    return np.clip(blur(acc / steps, 0.5 * length / steps), 0, 1)


def defocus(x, rng):
    """Out of focus: a wide blur with slightly bloomed highlights and lower contrast."""
    s = side(x)
    y = blur(x, rng.uniform(0.009, 0.014) * s)
    y = screen(y, blur(np.clip(x - 0.8, 0, 1), s / 40) * 0.8)
    return np.clip(contrast(y, 0.92), 0, 1)


def low_res_noise(x, rng):
    """Cheap camera: a 2.5-4× lower resolution, luma and colour noise, heavy JPEG compression, upscaled back."""
    h, w = x.shape[:2]
    f = rng.uniform(2.5, 4)
    sw, sh = max(1, int(round(w / f))), max(1, int(round(h / f)))
    small = from_pil(to_pil(x).resize((sw, sh), Image.BILINEAR))
    small = saturate(small, 0.85) + grain(rng, sh, sw, 0.04) + rng.normal(0, 0.02, (sh, sw, 3))
    buf = io.BytesIO()
    to_pil(np.clip(small, 0, 1).astype(np.float32)).save(buf, "JPEG", quality=int(rng.integers(25, 45)))
    return from_pil(Image.open(buf).convert("RGB").resize((w, h), Image.BILINEAR))


def dusty_lens(x, rng):
    """Dirty camera cover: milky haze, uneven smudges and soft out-of-focus dust spots."""
    h, w = x.shape[:2]
    s = side(x)
    smudge = smooth_noise(rng, h, w, s / 3)[..., None]
    haze = rng.uniform(0.15, 0.22) + 0.2 * smudge
    y = mix(contrast(x, 0.9), rgb(0.82, 0.8, 0.76), haze)
    n = int(min(400, max(1, round(h * w / 1e6 * 600))))
    dark = draw_dots(h, w, np.stack([rng.uniform(0, w, n), rng.uniform(0, h, n)], 1),
                     rng.uniform(0.004, 0.025, n) * s, rng.uniform(0.1, 0.35, n))
    y = y * (1 - blur(dark, s / 120)[..., None] * 0.8)
    m = max(1, n // 3)
    bright = draw_dots(h, w, np.stack([rng.uniform(0, w, m), rng.uniform(0, h, m)], 1),
                       rng.uniform(0.002, 0.006, m) * s, rng.uniform(0.3, 0.7, m))
    return np.clip(screen(y, blur(bright, s / 400)[..., None] * rgb(0.95, 0.93, 0.88)), 0, 1)


def fluorescent(x, rng):
    """Cool green-blue fluorescent cast, flat light and faint horizontal flicker bands (rolling shutter)."""
    h, w = x.shape[:2]
    y = saturate(x, 0.85) * rgb(0.86, 1.0, 1.04) + rgb(0.0, 0.02, 0.03)
    period = rng.uniform(0.12, 0.25)
    bands = 1 + 0.05 * np.sin(2 * np.pi * rows(h, w) / period + rng.uniform(0, 2 * np.pi))
    return np.clip(contrast(y, 0.9) * bands[..., None], 0, 1)


def tungsten(x, rng):
    """Warm incandescent/halogen cast: strong orange tint, a little darker, warm fall-off to the corners."""
    h, w = x.shape[:2]
    cast = rgb(1.12, 0.93, 0.6) * rng.uniform(0.92, 1.0)
    y = (x ** 1.05) * cast * vignette(h, w, 0.3)
    return np.clip(y + rgb(0.03, 0.01, 0.0) * luma(x)[..., None], 0, 1)
