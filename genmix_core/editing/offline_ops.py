"""Small image operations the offline style-filter recipes are built from (pure numpy + Pillow).

Arrays are ``float32`` images ``(H, W, 3)`` or maps ``(H, W)`` with values in [0, 1]. Sizes of blurs, strokes and
dots scale with the short side of the image (:func:`side`), so a recipe looks the same on a 64-pixel thumbnail
and on a 1024-pixel photo. Every random choice comes from the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def side(x: np.ndarray) -> int:
    """Short side of an image in pixels (at least 1)."""
    return max(1, min(x.shape[0], x.shape[1]))


def rgb(*values: float) -> np.ndarray:
    """A colour as a broadcastable ``(3,)`` float32 array."""
    return np.array(values, dtype=np.float32)


def to_u8(x: np.ndarray) -> np.ndarray:
    return (np.clip(x, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def to_pil(x: np.ndarray) -> Image.Image:
    """``(H, W, 3)`` -> RGB image, ``(H, W)`` -> L image."""
    return Image.fromarray(to_u8(x), "RGB" if x.ndim == 3 else "L")


def from_pil(im: Image.Image) -> np.ndarray:
    return np.asarray(im, dtype=np.float32) / 255.0


def blur(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur (Pillow, 8-bit precision, which is plenty for looks); ``sigma`` in pixels."""
    if sigma < 0.3:
        return x
    return from_pil(to_pil(x).filter(ImageFilter.GaussianBlur(sigma)))


def box_mean(x: np.ndarray, r: int) -> np.ndarray:
    """Float mean over a ``(2r+1)²`` window, edges replicated (cumulative sums: cost independent of ``r``)."""
    if r < 1:
        return x
    pad = [(r + 1, r), (r + 1, r)] + [(0, 0)] * (x.ndim - 2)
    c = np.cumsum(np.cumsum(np.pad(x, pad, mode="edge"), axis=0, dtype=np.float32), axis=1, dtype=np.float32)
    k = 2 * r + 1
    return (c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k]) / float(k * k)


def luma(x: np.ndarray) -> np.ndarray:
    """Rec. 601 luma ``(H, W)``."""
    return x @ LUMA


def saturate(x: np.ndarray, amount: float) -> np.ndarray:
    """Scale colour away from (``amount`` > 1) or towards (< 1) grey."""
    grey = luma(x)[..., None]
    return np.clip(grey + (x - grey) * amount, 0.0, 1.0)


def contrast(x: np.ndarray, amount: float, pivot: float = 0.5) -> np.ndarray:
    return np.clip((x - pivot) * amount + pivot, 0.0, 1.0)


def screen(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Screen blend: brightens, never darker than either input (light added by an overlay)."""
    return 1.0 - (1.0 - a) * (1.0 - b)


def mix(a: np.ndarray, b: np.ndarray, alpha: np.ndarray | float) -> np.ndarray:
    """``a`` where ``alpha`` is 0, ``b`` where it is 1; a map ``(H, W)`` broadcasts over channels."""
    if isinstance(alpha, np.ndarray) and alpha.ndim == 2 and (np.ndim(a) != 2 or np.ndim(b) != 2):
        alpha = alpha[..., None]
    return a + (b - a) * alpha


def edges(x: np.ndarray, sigma: float = 0.0) -> np.ndarray:
    """Edge strength ``(H, W)`` ~[0, 1]: luma difference across ``2d`` pixels (``d`` grows with the image)."""
    lum = blur(luma(x), sigma) if sigma else luma(x)
    d = max(1, side(x) // 256)
    p = np.pad(lum, d, mode="edge")
    gx = p[d:-d, 2 * d:] - p[d:-d, :-2 * d]
    gy = p[2 * d:, d:-d] - p[:-2 * d, d:-d]
    return np.sqrt(gx * gx + gy * gy)


def thicken(mask: np.ndarray, size: int) -> np.ndarray:
    """Grow a binary ``(H, W)`` mask to a square of odd ``size`` around each set pixel (lines get thicker).

    A box blur followed by "> 0" is a dilation and, unlike Pillow's MaxFilter, costs the same for any size.
    """
    if size < 3:
        return mask
    spread = to_pil(mask).filter(ImageFilter.BoxBlur(size // 2))
    return (np.asarray(spread) > 0).astype(np.float32)


def smooth_noise(rng: np.random.Generator, h: int, w: int, cell: float) -> np.ndarray:
    """Soft value noise ``(H, W)`` in ~[0, 1] with blobs about ``cell`` pixels wide."""
    cell = max(1.0, cell)
    gh, gw = int(math.ceil(h / cell)) + 2, int(math.ceil(w / cell)) + 2
    small = Image.fromarray(rng.random((gh, gw), dtype=np.float32), "F")
    big = small.resize((int(gw * cell), int(gh * cell)), Image.BICUBIC)
    return np.clip(np.asarray(big, dtype=np.float32)[:h, :w], 0.0, 1.0)


def grain(rng: np.random.Generator, h: int, w: int, sigma: float) -> np.ndarray:
    """Gaussian noise ``(H, W, 1)`` with standard deviation ``sigma`` (film / sensor grain)."""
    return rng.standard_normal((h, w, 1), dtype=np.float32) * sigma


def radial(h: int, w: int, cy: float, cx: float) -> np.ndarray:
    """Distance ``(H, W)`` in pixels of each pixel centre from ``(cy, cx)``."""
    yy = np.arange(h, dtype=np.float32)[:, None] + 0.5 - cy
    xx = np.arange(w, dtype=np.float32)[None, :] + 0.5 - cx
    return np.sqrt(yy * yy + xx * xx)


def rows(h: int, w: int) -> np.ndarray:
    """Vertical position ``(H, 1)`` in [0, 1] (0 = top)."""
    return ((np.arange(h, dtype=np.float32) + 0.5) / h)[:, None] + np.zeros((1, w), np.float32)


def vignette(h: int, w: int, strength: float) -> np.ndarray:
    """Multiplier ``(H, W, 1)``: 1 in the centre, ``1 - strength`` in the corners."""
    d = radial(h, w, h / 2, w / 2) / (0.5 * math.hypot(h, w))
    return (1.0 - strength * d * d)[..., None]


def hue_to_rgb(hue: np.ndarray) -> np.ndarray:
    """Fully saturated colours ``(..., 3)`` for hues in [0, 1) (0 red, 1/3 green, 2/3 blue)."""
    k = (hue[..., None] * 6.0 + rgb(0.0, 4.0, 2.0)) % 6.0
    return np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)[..., ::-1].copy()


def nearest_palette(x: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Index map ``(H, W)`` of the nearest ``palette`` colour ``(K, 3)`` for each pixel.

    ``|x - p|² = |p|² - 2 x·p + |x|²``; the last term is the same for every ``p``, so one matrix product does it.
    """
    score = (palette * palette).sum(-1) - 2.0 * (x @ palette.T)
    return score.argmin(-1)


def draw_dots(h: int, w: int, centres: np.ndarray, radii: np.ndarray,
              values: np.ndarray | None = None) -> np.ndarray:
    """A ``(H, W)`` map with filled discs (``centres`` ``(N, 2)`` as x, y; ``radii`` ``(N,)`` in pixels)."""
    im = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(im)
    vals = np.full(len(radii), 255) if values is None else np.clip(values * 255, 0, 255)
    for (cx, cy), r, v in zip(centres, radii, vals):
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=int(v))
    return from_pil(im)


def draw_lines(h: int, w: int, starts: np.ndarray, ends: np.ndarray, width: int,
               values: np.ndarray | None = None) -> np.ndarray:
    """A ``(H, W)`` map with straight strokes from ``starts`` to ``ends`` (``(N, 2)`` as x, y)."""
    im = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(im)
    vals = np.full(len(starts), 255) if values is None else np.clip(values * 255, 0, 255)
    for (x0, y0), (x1, y1), v in zip(starts, ends, vals):
        draw.line((float(x0), float(y0), float(x1), float(y1)), fill=int(v), width=max(1, int(width)))
    return from_pil(im)


def resize_float(x: np.ndarray, w: int, h: int) -> np.ndarray:
    """Bilinear resize of a float ``(H, W)`` or ``(H, W, C)`` array to ``(h, w)``, full float precision."""
    chans = [x] if x.ndim == 2 else [x[..., c] for c in range(x.shape[-1])]
    out = [np.asarray(Image.fromarray(np.ascontiguousarray(c, dtype=np.float32), "F").resize(
        (w, h), Image.BILINEAR)) for c in chans]
    return out[0] if x.ndim == 2 else np.stack(out, axis=-1)


def guided_smooth(x: np.ndarray, radius: float, eps: float) -> np.ndarray:
    """Edge-preserving smoothing: self-guided filter (He et al. 2013), coefficients on a smaller copy.

    Flattens texture inside regions while keeping their borders: the base of the cartoon and painting looks.
    The coefficients are smooth, so computing them at 1/2-1/4 size and upsampling ("fast guided filter",
    He & Sun 2015) changes little and keeps a 512² image well under 0.1 s.
    ``radius`` in pixels of the full image; ``eps`` ~ the variance treated as texture (e.g. 0.01).
    """
    h, w = x.shape[:2]
    f = max(1, min(4, min(h, w) // 64))
    small = resize_float(x, max(1, w // f), max(1, h // f)) if f > 1 else x
    r = max(1, int(round(radius / f)))
    mean = box_mean(small, r)
    var = box_mean(small * small, r) - mean * mean
    a = var / (var + eps)
    a, b = box_mean(a, r), box_mean(mean - a * mean, r)
    if f > 1:
        # a and b both lie in [0, 1], so 8-bit resizing is precise enough and 4x faster than float.
        a, b = (from_pil(to_pil(c).resize((w, h), Image.BILINEAR)) for c in (a, b))
    return np.clip(a * x + b, 0.0, 1.0).astype(np.float32)
