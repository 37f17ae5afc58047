"""Style-filter recipes of the offline editor: one Pillow/numpy function per curated prompt.

These are hand-made filters, not an AI model: each gives a recognisable, cheap stand-in for what a diffusion
editor would do with the prompt, so that the whole GenMix pipeline (edit → hybrid → fractal blend) runs with no
model and no GPU. Signature of every recipe::

    recipe(x: float32 (H, W, 3) in [0, 1], rng: numpy.random.Generator) -> float32 (H, W, 3) in [0, 1]

All randomness (positions of snow flakes, hue jitter...) comes from ``rng``, seeded per item by the editor.
Sizes scale with the short side ``s`` of the image. Budget: ≤ 0.1 s per 512² image on one core.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from genmix_core.editing.offline_ops import (blur, contrast, draw_dots, draw_lines, edges, from_pil, guided_smooth,
                                             hue_to_rgb, luma, mix, nearest_palette, radial, rgb, rows, saturate,
                                             screen, side, smooth_noise, thicken, to_pil)


def _count(h: int, w: int, per_megapixel: float, cap: int) -> int:
    """How many objects (flakes, leaves...) for an image of this area; at least 1."""
    return int(min(cap, max(1, round(h * w / 1e6 * per_megapixel))))


def _points(rng: np.random.Generator, n: int, h: int, w: int, top: float = 0.0, bottom: float = 1.0) -> np.ndarray:
    return np.stack([rng.uniform(0, w, n), rng.uniform(top * h, bottom * h, n)], axis=1)


# --- the authors' classification prompts -----------------------------------------------------------------

def autumn(x, rng):
    """Green foliage turns orange/red, warm golden light, a few falling leaves."""
    h, w = x.shape[:2]
    hsv = np.asarray(to_pil(x).convert("HSV"), dtype=np.float32)
    hue, sat = hsv[..., 0] * (360 / 255), hsv[..., 1] / 255
    green = np.clip(1 - np.abs(hue - 105) / 75, 0, 1) * np.clip(sat * 3, 0, 1)
    target = rng.uniform(12, 32)
    hsv[..., 0] = (hue + (target - hue) * green) * (255 / 360)
    hsv[..., 1] = np.clip(hsv[..., 1] * (1 + 0.35 * green), 0, 255)
    y = from_pil(Image.fromarray(hsv.astype(np.uint8), "HSV").convert("RGB"))
    im = to_pil(np.clip(y * rgb(1.1, 0.97, 0.78) + rgb(0.04, 0.02, 0.0), 0, 1))
    draw = ImageDraw.Draw(im)
    n = _count(h, w, 250, 120)
    palette = np.array([[217, 89, 20], [191, 46, 18], [237, 158, 31], [140, 71, 26]])
    t = np.linspace(0, 2 * np.pi, 9)[:-1]
    for (cx, cy), r, a, c in zip(_points(rng, n, h, w), rng.uniform(0.007, 0.018, n) * side(x),
                                 rng.uniform(0, np.pi, n), rng.integers(0, len(palette), n)):
        px, py = r * np.cos(t), 0.5 * r * np.sin(t)
        pts = np.stack([cx + px * np.cos(a) - py * np.sin(a), cy + px * np.sin(a) + py * np.cos(a)], 1)
        draw.polygon([tuple(map(float, q)) for q in pts], fill=tuple(int(v) for v in palette[c]))
    return from_pil(im)


def snowy(x, rng):
    """Cool, bright, hazy winter light with falling snow (small sharp and large soft flakes)."""
    h, w = x.shape[:2]
    s = side(x)
    y = saturate(x, 0.55) * rgb(0.9, 0.96, 1.06)
    y = 0.2 + 0.8 * y + 0.12 * (1 - rows(h, w))[..., None]
    top = np.clip(-np.diff(np.pad(blur(luma(x), s / 200), ((1, 0), (0, 0)), mode="edge"), axis=0) * 6, 0, 1)
    y = mix(y, rgb(0.97, 0.98, 1.0), np.clip(top * 2.5, 0, 0.8))
    flakes = np.zeros((h, w), np.float32)
    for per_mp, lo, hi, soft in ((6000, 0.0015, 0.004, 0.0), (900, 0.004, 0.009, 0.004)):
        n = _count(h, w, per_mp, 4000)
        layer = draw_dots(h, w, _points(rng, n, h, w), rng.uniform(lo, hi, n) * s, rng.uniform(0.6, 1.0, n))
        flakes = np.maximum(flakes, blur(layer, soft * s))
    return np.clip(mix(y, rgb(1.0, 1.0, 1.0), flakes), 0, 1)


def watercolor(x, rng):
    """Soft flat washes, darker pigment at wash borders, granulation and paper texture, lighter overall."""
    h, w = x.shape[:2]
    s = side(x)
    wash = guided_smooth(x, s / 40, 0.02)
    wash = np.round(wash * 6) / 6
    wash = blur(wash, s / 250)
    rim = np.clip(edges(wash) * 3, 0, 1)
    y = wash * (1 - 0.45 * rim[..., None])
    blotch = smooth_noise(rng, h, w, s / 8)[..., None]
    y = y * (0.88 + 0.2 * blotch)
    y = 1 - (1 - saturate(y, 1.15)) * rng.uniform(0.72, 0.85)
    paper = smooth_noise(rng, h, w, max(1.0, s / 150))[..., None]
    y = y * (0.94 + 0.06 * paper) * rgb(1.0, 0.99, 0.96)
    return np.clip(y, 0, 1)


def sunset(x, rng):
    """Warm orange-to-purple sky gradient over the scene and a low sun glow."""
    h, w = x.shape[:2]
    t = rows(h, w)[..., None]
    sky = mix(rgb(1.0, 0.62, 0.3), rgb(0.55, 0.22, 0.42), np.clip(t * 1.2, 0, 1))
    y = x * (0.35 + 0.85 * sky)
    y = mix(y, sky, 0.22)
    cx, cy = rng.uniform(0.25, 0.75) * w, rng.uniform(0.3, 0.5) * h
    r = rng.uniform(0.35, 0.5) * side(x)
    glow = np.exp(-(radial(h, w, cy, cx) / r) ** 2)[..., None]
    return np.clip(screen(y, glow * rgb(1.0, 0.72, 0.35) * 0.8), 0, 1)


def rainbow(x, rng):
    """A translucent rainbow arc across the sky, centred below the picture."""
    h, w = x.shape[:2]
    radius = rng.uniform(0.65, 0.95) * max(h, w)
    cx, cy = rng.uniform(0.3, 0.7) * w, h * rng.uniform(0.95, 1.2)
    band = 0.09 * radius
    t = (radial(h, w, cy, cx) - (radius - band)) / band
    inside = (t > 0) & (t < 1)
    colour = hue_to_rgb(np.clip(1 - t, 0, 1) * 0.78)
    alpha = np.where(inside, np.clip(np.sin(np.pi * np.clip(t, 0, 1)), 0, 1) ** 0.6, 0) * rng.uniform(0.45, 0.6)
    alpha = alpha * np.clip((1 - rows(h, w)) * 1.6, 0, 1)
    y = contrast(x, 0.95) * 0.95 + 0.04
    return np.clip(mix(y, screen(y, colour), alpha), 0, 1)


def aurora(x, rng):
    """Night scene with green-to-purple aurora curtains waving in the upper part, and a few stars."""
    h, w = x.shape[:2]
    s = side(x)
    y = (x ** 1.3) * 0.4 * rgb(0.6, 0.75, 1.05)
    xs = np.arange(w, dtype=np.float32) / max(w, 1)
    yy = rows(h, w)
    light = np.zeros((h, w, 3), np.float32)
    for k in range(2):
        phase = rng.uniform(0, 2 * np.pi, 3).astype(np.float32)
        base = 0.22 + 0.13 * k + 0.06 * (np.sin(2 * np.pi * (1.1 * xs) + phase[0])
                                         + 0.6 * np.sin(2 * np.pi * (2.7 * xs) + phase[1]))
        rays = 0.55 + 0.45 * smooth_noise(rng, 1, w, max(1.0, w / 40))[0]
        d = yy - base[None, :]
        below = np.exp(-(np.maximum(d, 0) / 0.025) ** 2)
        above = np.exp(np.minimum(d, 0) / 0.12)
        curtain = np.where(d > 0, below, above) * rays[None, :]
        colour = mix(rgb(0.25, 1.0, 0.55), rgb(0.65, 0.3, 1.0), np.clip(-d / 0.18, 0, 1))
        light = np.maximum(light, curtain[..., None] * colour * (0.9 - 0.2 * k))
    light *= np.clip((0.7 - yy) / 0.2, 0, 1)[..., None]
    n = _count(h, w, 300, 300)
    stars = draw_dots(h, w, _points(rng, n, h, w, 0, 0.5), rng.uniform(0.001, 0.0025, n) * s,
                      rng.uniform(0.4, 1, n))
    return np.clip(screen(screen(y, light), stars[..., None]), 0, 1)


def mosaic(x, rng):
    """Square stone tiles with the mean colour of their cell, slight per-tile variation and grey grout."""
    h, w = x.shape[:2]
    c = max(2, int(round(side(x) / rng.uniform(24, 32))))
    oy, ox = rng.integers(0, c, 2)
    gh, gw = (h + oy) // c + 1, (w + ox) // c + 1
    pad = np.pad(x, ((oy, gh * c - h - oy), (ox, gw * c - w - ox), (0, 0)), mode="edge")
    tiles = pad.reshape(gh, c, gw, c, 3).mean(axis=(1, 3))
    jitter = 1 + rng.normal(0, 0.08, (gh, gw, 1))
    tiles = np.clip(saturate(tiles, 1.3) * jitter + rng.normal(0, 0.035, (gh, gw, 3)), 0, 1).astype(np.float32)
    y = np.repeat(np.repeat(tiles, c, 0), c, 1)[oy:oy + h, ox:ox + w]
    iy = ((np.arange(h) + oy) % c)[:, None]
    ix = ((np.arange(w) + ox) % c)[None, :]
    bevel = (1 + 0.12 * ((c / 2 - iy) + (c / 2 - ix)) / c).astype(np.float32)
    y = y * bevel[..., None]
    g = max(1, c // 6)
    grout = (iy < g) | (ix < g)
    y[grout] = rgb(0.42, 0.41, 0.39)
    return np.clip(y, 0, 1)


def ukiyo_e(x, rng):
    """Japanese woodblock print: a few flat traditional colours, ink outlines, blue sky fade, cream paper."""
    h, w = x.shape[:2]
    s = side(x)
    flat = guided_smooth(x, s / 40, 0.03)
    # Prussian blue, indigo, vermilion, ochre, sage, paper cream, sumi ink, wood brown.
    palette = np.array([[0.13, 0.24, 0.42], [0.26, 0.42, 0.6], [0.78, 0.3, 0.2], [0.85, 0.67, 0.4],
                        [0.45, 0.53, 0.38], [0.93, 0.88, 0.74], [0.16, 0.14, 0.13], [0.62, 0.52, 0.44]],
                       np.float32)
    small = from_pil(to_pil(flat).resize((max(1, w // 2), max(1, h // 2)), Image.BILINEAR))
    idx = nearest_palette(saturate(small, 1.3), palette)
    y = from_pil(to_pil(palette[idx]).resize((w, h), Image.NEAREST))
    y = mix(y, flat, 0.2)
    ink = thicken((edges(flat) > 0.12).astype(np.float32), max(1, s // 250) * 2 + 1)
    y = mix(y, rgb(0.12, 0.1, 0.1), ink * 0.9)
    sky = np.clip(1 - rows(h, w) / rng.uniform(0.2, 0.3), 0, 1) ** 1.5
    y = mix(y, rgb(0.16, 0.3, 0.55), sky * 0.55)
    fibres = smooth_noise(rng, h, w, max(1.0, s / 120))[..., None]
    return np.clip(y * rgb(1.0, 0.96, 0.86) * (0.93 + 0.07 * fibres), 0, 1)


def crayon_sketch(x, rng):
    """Waxy diagonal crayon strokes on paper: coverage follows darkness, outlines drawn harder."""
    h, w = x.shape[:2]
    s = side(x)
    period = max(2.0, s / 60)
    angle = rng.uniform(0.6, 1.0)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    wobble = smooth_noise(rng, h, w, s / 6) * 1.5
    stroke = 0.5 + 0.5 * np.sin(2 * np.pi * ((xx * math.cos(angle) + yy * math.sin(angle)) / period + wobble))
    tooth = smooth_noise(rng, h, w, max(1.0, s / 300))
    dark = 1 - luma(blur(x, s / 300))
    cover = np.clip(dark * 1.2 - 0.05 - (0.7 * stroke + 0.4 * tooth), 0, 1) * 3
    line = np.clip(edges(x, s / 300) * 5 - 0.2, 0, 1) * (tooth > 0.35)
    colour = saturate(x, 1.6) * 0.85
    paper = rgb(0.97, 0.95, 0.9) * (0.96 + 0.04 * tooth[..., None])
    y = mix(paper, colour, np.clip(cover, 0, 0.95))
    return np.clip(mix(y, colour * 0.45, line), 0, 1)


# --- the authors' domain-adaptation prompts ----------------------------------------------------------------

def _bricks(h: int, w: int, s: int) -> np.ndarray:
    """Brick-wall shading ``(H, W)``: 1 on bricks, darker mortar lines, half-brick offset every other row."""
    bh = max(2, s // 14)
    bw = 2 * bh
    iy = np.arange(h)[:, None]
    row = iy // bh
    ix = (np.arange(w)[None, :] + (row % 2) * (bw // 2)) % bw
    mortar = ((iy % bh) < max(1, bh // 8)) | (ix < max(1, bh // 8))
    return np.where(mortar, 0.55, 1.0).astype(np.float32)


def graffiti(x, rng):
    """Spray-painted on a brick wall: loud posterised colours, thick black outlines, overspray and drips."""
    h, w = x.shape[:2]
    s = side(x)
    paint = saturate(guided_smooth(x, s / 50, 0.02), 2.2)
    paint = contrast(np.round(paint * 3) / 3, 1.15)
    outline = thicken((edges(paint, s / 200) > 0.18).astype(np.float32), max(1, s // 120) * 2 + 1)
    spray = blur(outline, s / 80) * (smooth_noise(rng, h, w, max(1.0, s / 200)) > 0.45)
    y = mix(paint, rgb(0.05, 0.05, 0.05), np.maximum(outline, 0.6 * spray))
    n = _count(h, w, 40, 30)
    starts = _points(rng, n, h, w, 0.1, 0.8)
    ends = starts + np.stack([np.zeros(n), rng.uniform(0.04, 0.15, n) * h], 1)
    drips = draw_lines(h, w, starts, ends, max(1, s // 160))
    sx = np.clip(starts[:, 0].astype(int), 0, w - 1)
    sy = np.clip(starts[:, 1].astype(int), 0, h - 1)
    drip_colour = paint[sy, sx].mean(0) if n else rgb(0.5, 0.5, 0.5)
    y = mix(y, drip_colour * 0.9, drips)
    wall = _bricks(h, w, s) * (0.85 + 0.15 * smooth_noise(rng, h, w, max(1.0, s / 60)))
    return np.clip(y * (0.55 + 0.45 * wall[..., None]), 0, 1)


def _halftone(v: np.ndarray, period: float, angle: float) -> np.ndarray:
    """Dot screen ``(H, W)``: 1 inside round dots whose area follows ``v`` (ink amount in [0, 1])."""
    h, w = v.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    u = (xx * math.cos(angle) + yy * math.sin(angle)) / period
    t = (-xx * math.sin(angle) + yy * math.cos(angle)) / period
    d = np.hypot(u - np.floor(u) - 0.5, t - np.floor(t) - 0.5)
    return (d < 0.56 * np.sqrt(np.clip(v, 0, 1))).astype(np.float32)


def retro_comic(x, rng):
    """Old printed comic: flat colours in CMY halftone dots on yellowed paper, black ink outlines and shadows."""
    s = side(x)
    flat = saturate(guided_smooth(x, s / 60, 0.02), 1.5)
    flat = np.round(flat * 3) / 3
    period = max(3.0, s / rng.uniform(70, 90))
    ink = np.stack([_halftone(1 - flat[..., c], period, a) for c, a in enumerate((0.26, 1.31, 0.0))], axis=-1)
    paper = rgb(0.96, 0.92, 0.78)
    y = paper * (1 - 0.85 * ink)
    line = thicken((edges(flat, s / 250) > 0.15).astype(np.float32), max(1, s // 200) * 2 + 1)
    shadow = (luma(blur(x, s / 150)) < 0.1).astype(np.float32)
    return np.clip(mix(y, rgb(0.08, 0.06, 0.07), np.maximum(line, shadow)), 0, 1)


def chalk(x, rng):
    """Chalk on a dark green board: light grainy strokes along outlines and bright areas, board smudges."""
    h, w = x.shape[:2]
    s = side(x)
    board = rgb(0.15, 0.21, 0.18) * (0.85 + 0.3 * smooth_noise(rng, h, w, s / 5))[..., None]
    lines = np.clip(edges(x, s / 250) * 4, 0, 1)
    fill = np.clip(luma(blur(x, s / 200)) - 0.15, 0, 1) ** 1.2 * 0.9
    streaks = smooth_noise(rng, h, max(1, w // 8), max(1.0, s / 250))
    streaks = np.asarray(Image.fromarray(streaks, "F").resize((w, h), Image.BILINEAR))
    dust = rng.random((h, w), dtype=np.float32)
    amount = np.clip(np.maximum(lines, fill) * (0.45 + 0.55 * streaks) * (dust > 0.25), 0, 1)
    pastel = mix(saturate(x, 0.7), rgb(1.0, 1.0, 1.0), 0.55)
    return np.clip(mix(board, pastel, amount), 0, 1)


def digital_art(x, rng):
    """Polished digital painting: smooth surfaces, crisp edges, vivid colour, teal-orange grade and glow."""
    s = side(x)
    base = guided_smooth(x, s / 80, 0.005)
    sharp = np.clip(base + 1.2 * (base - blur(base, s / 150)), 0, 1)
    y = contrast(saturate(sharp, 1.7), 1.15)
    lum = luma(y)[..., None]
    y = y + (1 - lum) * rgb(-0.06, 0.02, 0.08) + lum * rgb(0.08, 0.02, -0.06) * rng.uniform(0.8, 1.2)
    glow = blur(np.clip(y - 0.65, 0, 1) * 2, s / 40)
    return np.clip(screen(np.clip(y, 0, 1), glow * 0.6), 0, 1)


def cartoon(x, rng):
    """Cartoon: flat smooth regions, banded shading, brighter colours and dark outlines."""
    s = side(x)
    flat = guided_smooth(x, s / 50, 0.02)
    lum = luma(flat)[..., None]
    levels = int(rng.integers(4, 6))
    banded = np.round(lum * levels) / levels
    y = saturate(flat * (banded + 0.06) / (lum + 0.06), 1.4)
    line = thicken((edges(x, s / 250) > 0.12).astype(np.float32), max(1, s // 256) * 2 + 1)
    return np.clip(mix(y, rgb(0.07, 0.06, 0.06), line), 0, 1)


def rain(x, rng):
    """Rainy day: darker, cooler, misty light and slanted rain streaks (used in one of the authors' runs)."""
    h, w = x.shape[:2]
    s = side(x)
    y = saturate(x, 0.6) * 0.75 * rgb(0.9, 0.95, 1.05)
    y = mix(y, rgb(0.6, 0.63, 0.68), 0.18)
    n = _count(h, w, 1500, 1500)
    angle = rng.uniform(-0.3, -0.15)
    length = rng.uniform(0.04, 0.09, n) * s
    starts = _points(rng, n, h, w, -0.1, 1.0)
    ends = starts + np.stack([np.sin(angle) * length, np.cos(angle) * length], 1)
    streaks = draw_lines(h, w, starts, ends, max(1, s // 400), rng.uniform(0.3, 0.7, n))
    return np.clip(mix(y, rgb(0.85, 0.88, 0.92), blur(streaks, s / 900)), 0, 1)
