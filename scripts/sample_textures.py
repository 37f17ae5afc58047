"""Textures, defects, shading and backgrounds for ``make_sample_data.py`` (pure numpy, float64 in [0, 1]).

Coordinates are (y, x) in pixels with y pointing down; images are (H, W) or (H, W, 3). Every random choice
comes from the ``numpy.random.Generator`` passed in, so a caller that seeds it per image gets the same
picture every time. Defect functions modify ``alb`` (albedo, (H, W, 3)) and ``hgt`` (height field, (H, W),
in pixels) in place.
"""

from __future__ import annotations

import numpy as np


# ---------------------------------------------------------------- numpy helpers (all float64, HxW[x3])
def blur(a: np.ndarray, sy: float, sx: float | None = None) -> np.ndarray:
    """Separable Gaussian blur with reflected edges; ``sy``/``sx`` are the sigmas in pixels along y/x."""
    for axis, sigma in ((0, sy), (1, sy if sx is None else sx)):
        if sigma <= 0:
            continue
        r = min(int(3 * sigma + 0.5), a.shape[axis] - 1)
        k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
        k /= k.sum()
        pad = [(0, 0)] * a.ndim
        pad[axis] = (r, r)
        p = np.moveaxis(np.pad(a, pad, mode="reflect"), axis, 0)
        n = a.shape[axis]
        a = np.moveaxis(sum(w * p[i:i + n] for i, w in enumerate(k)), 0, axis)
    return a


def sample(img: np.ndarray, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    """Bilinear lookup of ``img`` (H, W[, C]) at float coordinates; points outside read as 0."""
    h, w = img.shape[:2]
    flat = np.pad(img, [(1, 1), (1, 1)] + [(0, 0)] * (img.ndim - 2)).reshape((h + 2) * (w + 2), -1)
    y, x = np.clip(yy + 1, 0, h + 0.999), np.clip(xx + 1, 0, w + 0.999)
    y0, x0 = np.floor(y).astype(np.intp), np.floor(x).astype(np.intp)
    fy, fx = (y - y0)[..., None], (x - x0)[..., None]
    i00 = y0 * (w + 2) + x0
    i01, i10 = i00 + np.where(x0 <= w, 1, 0), i00 + np.where(y0 <= h, w + 2, 0)
    i11 = i10 + (i01 - i00)
    out = ((1 - fy) * ((1 - fx) * flat[i00] + fx * flat[i01]) + fy * ((1 - fx) * flat[i10] + fx * flat[i11]))
    return out.reshape(yy.shape + img.shape[2:])


def smooth_noise(rng: np.random.Generator, h: int, w: int, cells: int) -> np.ndarray:
    """Low-frequency value noise (H, W), about N(0, 1), with ``cells`` features across the image.

    Smoothstep-warped coordinates turn the bilinear lookup into a C1-smooth interpolation (no blur needed).
    """
    g = rng.normal(size=(cells + 3, cells + 3))
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w) * cells + 1.0
    fy, fx = yy - np.floor(yy), xx - np.floor(xx)
    return sample(g, np.floor(yy) + fy * fy * (3 - 2 * fy), np.floor(xx) + fx * fx * (3 - 2 * fx)) * 1.3


def stroke(yy: np.ndarray, xx: np.ndarray, pts: np.ndarray, widths: np.ndarray) -> np.ndarray:
    """Anti-aliased coverage in [0, 1] of a polyline ``pts`` (N, 2) as (y, x) with per-segment widths."""
    cov = np.zeros_like(yy)
    for (ay, ax), (by, bx), wd in zip(pts[:-1], pts[1:], widths):
        dy, dx = by - ay, bx - ax
        t = np.clip(((yy - ay) * dy + (xx - ax) * dx) / (dy * dy + dx * dx + 1e-9), 0, 1)
        d = np.hypot(yy - ay - t * dy, xx - ax - t * dx)
        cov = np.maximum(cov, np.clip(wd / 2 + 0.5 - d, 0, 1))
    return cov


def walk(rng, start, angle, steps, step_len, drift, zigzag=0.0) -> np.ndarray:
    """Random-walk polyline (steps + 1, 2) as (y, x).

    The heading drifts by N(0, ``drift``) radians per step; each step also deviates by N(0, ``zigzag``)
    around that heading without changing it, which gives the jagged look of a crack.
    """
    pts = [np.asarray(start, float)]
    for _ in range(steps):
        angle += rng.normal(0, drift)
        a = angle + (rng.normal(0, zigzag) if zigzag else 0.0)
        pts.append(pts[-1] + step_len * np.array([np.sin(a), np.cos(a)]))
    return np.array(pts)


def place(rng, pts, box, shape):
    """Move a polyline so its centre lies at a random point of ``box`` and clip it to the coupon face."""
    h, w = shape
    pts = pts - pts.mean(0) + rng.uniform(box[:2], box[2:])
    return np.clip(pts, [0.1 * h, 0.1 * w], [0.9 * h, 0.9 * w])


# ---------------------------------------------------------------- the part: brushed metal + defects
def brushed_metal(rng, h, w):
    """Albedo (H, W, 3) of a brushed steel/aluminium coupon: streaks along the brushing axis + sheen band."""
    vertical = rng.random() < 0.5
    hh, ww = (w, h) if vertical else (h, w)
    coarse = sample(rng.normal(size=(hh, ww // 10 + 3)), *np.mgrid[0:hh, 0:ww] / np.array([1, 10])[:, None, None])
    fine = blur(rng.normal(size=(hh, ww)), 0.4, 4.0)
    lum = 0.030 * coarse + 0.030 * fine
    for _ in range(rng.integers(4, 12)):   # a few deeper tool marks, part of the length, either sign
        y, x0 = rng.integers(0, hh), rng.integers(0, ww)
        lum[y, x0:x0 + rng.integers(ww // 4, ww)] += rng.choice([-1, 1]) * rng.uniform(0.03, 0.06)
    band = rng.uniform(0.2, 0.8) * ww
    lum += rng.uniform(0.04, 0.14) * np.exp(-((np.arange(ww) - band) / (rng.uniform(0.15, 0.35) * ww)) ** 2)
    lum = lum.T if vertical else lum
    tone = rng.uniform(0.50, 0.66)
    tint = np.array([1.0, 1.0, 1.0]) + rng.normal(0, 0.012, 3) + rng.choice([0.0, 0.025]) * np.array([-1, 0, 1])
    return np.clip(tone + lum, 0.05, 0.95)[..., None] * tint


def _scratch(rng, yy, xx, alb, hgt, box):
    """One to three thin, nearly straight grooves (1-2 px), bright (fresh) or dark (old), 30-100 px long."""
    for _ in range(rng.choice([1, 1, 2, 3])):
        pts = walk(rng, (0, 0), rng.uniform(0, 2 * np.pi), rng.integers(3, 6), rng.uniform(10, 20), 0.12)
        cov = stroke(yy, xx, place(rng, pts, box, yy.shape), rng.uniform(0.9, 1.6, len(pts) - 1))
        hgt -= 0.8 * cov
        if rng.random() < 0.5:   # fresh scratch: bright bare metal
            alb += rng.uniform(0.25, 0.40) * cov[..., None]
        else:                    # old scratch: dark groove
            alb *= 1 - rng.uniform(0.40, 0.55) * cov[..., None]


def _dent(rng, yy, xx, alb, hgt, box):
    """One or two round depressions (radius 8-15 px) with a raised rim; the shading shows them."""
    centres = []
    for _ in range(rng.choice([1, 1, 2])):
        for _ in range(10):   # a second dent keeps clear of the first
            cy, cx = rng.uniform(box[:2], box[2:])
            if all(np.hypot(cy - py, cx - px) > 32 for py, px in centres):
                break
        centres.append((cy, cx))
        rad = rng.uniform(8, 15)
        r2 = ((yy - cy) ** 2 + (xx - cx) ** 2) / rad ** 2
        hgt -= rng.uniform(0.45, 0.7) * rad * np.clip(1 - r2, 0, 1) ** 2       # smooth bowl
        hgt += 0.6 * np.exp(-((np.sqrt(r2) - 1.05) / 0.12) ** 2)               # raised rim
        alb *= 1 - 0.08 * np.exp(-r2)[..., None]                               # crushed grain, darker


def blotch(rng, yy, xx, cy, cx, rad):
    """Soft irregular blotch mask in [0, 1]: a circle whose radius wobbles with a few random harmonics."""
    ang = np.arctan2(yy - cy, xx - cx)
    wobble = sum(rng.uniform(0, 0.35) / k * np.cos(k * ang + rng.uniform(0, 2 * np.pi)) for k in range(2, 9))
    return np.clip((rad * (1 + wobble) - np.hypot(yy - cy, xx - cx)) / 3.0, 0, 1)


def _stain(rng, yy, xx, alb, hgt, box):
    """An irregular soft-edged blotch (radius 10-22 px) with droplets: brown rust or a dark oil film."""
    cy, cx = rng.uniform(box[:2], box[2:])
    rad = rng.uniform(10, 22)
    mask = blotch(rng, yy, xx, cy, cx, rad)
    for _ in range(rng.integers(0, 4)):   # splashed droplets around the main blotch
        t, d = rng.uniform(0, 2 * np.pi), rad * rng.uniform(1.2, 1.8)
        mask = np.maximum(mask, blotch(rng, yy, xx, cy + d * np.sin(t), cx + d * np.cos(t), rng.uniform(2, 4)))
    mask = blur(mask, 1.2) * np.clip(0.75 + 0.35 * smooth_noise(rng, *yy.shape, 14), 0.2, 1)
    if rng.random() < 0.6:   # rust / dried coolant: brown, matte
        col = np.array([0.50, 0.32, 0.17]) * rng.uniform(0.8, 1.15)
        a = rng.uniform(0.55, 0.8) * mask[..., None]
        alb[:] = alb * (1 - a) + col * a
    else:                    # oil film: darker with a bluish/greenish tint and a darker drying ring
        ring = np.clip(mask * (1 - mask) * 4, 0, 1)
        alb *= 1 - (rng.uniform(0.35, 0.5) * mask + 0.15 * ring)[..., None] * np.array([1.0, 0.9, 0.75])


def _crack(rng, yy, xx, alb, hgt, box):
    """A dark jagged line (40-65 px) that tapers, with one to three branches."""
    angle = rng.uniform(0, 2 * np.pi)
    main = place(rng, walk(rng, (0, 0), angle, rng.integers(18, 30), 2.2, 0.1, 0.7), box, yy.shape)
    paths = [(main, 1.6)]
    for _ in range(rng.integers(1, 4)):   # branches leave the main line at 30-70 degrees
        at = main[rng.integers(3, len(main) - 3)]
        turn = rng.choice([-1, 1]) * rng.uniform(0.5, 1.2)
        br = walk(rng, at, angle + turn, rng.integers(5, 12), 2.0, 0.15, 0.7)
        paths.append((np.clip(br, [0.1 * yy.shape[0], 0.1 * yy.shape[1]], [0.9 * yy.shape[0], 0.9 * yy.shape[1]]),
                      1.0))
    cov = np.zeros_like(yy)
    for pts, wd in paths:
        cov = np.maximum(cov, stroke(yy, xx, pts, np.linspace(wd, 0.5, len(pts) - 1)))
    hgt -= 1.2 * cov
    alb *= (1 - 0.8 * cov - 0.18 * blur(cov, 1.5))[..., None]


DEFECTS = {"ok": None, "scratch": _scratch, "dent": _dent, "stain": _stain, "crack": _crack}


def shade(alb, hgt, c):
    """Lambert + Blinn shading of the height field; flat metal keeps its albedo (shading factor 1)."""
    az, el = np.radians(c["light_azimuth_deg"]), np.radians(c["light_elev_deg"])
    light = np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])   # (x, y down, z up)
    gy, gx = np.gradient(blur(hgt, 0.7))
    n = np.stack([-gx, -gy, np.ones_like(gx)]) / np.sqrt(gx ** 2 + gy ** 2 + 1)
    diffuse = np.clip(np.tensordot(light, n, 1), 0, None) / light[2]
    half = (light + [0, 0, 1]) / np.linalg.norm(light + [0, 0, 1])
    spec = np.clip(np.tensordot(half, n, 1), 0, None) ** 40 - half[2] ** 40
    return alb * ((1 - c["kd"]) + c["kd"] * diffuse)[..., None] + 0.25 * spec[..., None]


def background(rng, domain: str, h: int, w: int) -> np.ndarray:
    """Backdrop (H, W, 3): the lab's clean grey plate, or the line's conveyor belt with a clamp."""
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    if domain == "lab":   # clean light-grey plate, barely any gradient
        g = rng.uniform(0.80, 0.86) + 0.01 * smooth_noise(rng, h, w, 3) + 0.02 * (yy / h - 0.5)
        return np.repeat(g[..., None], 3, axis=2)
    # conveyor belt: dark rubber with ridges across the travel direction, plus a dark clamp at one edge
    ridges = 0.5 + 0.5 * np.sin(2 * np.pi * (yy if rng.random() < 0.5 else xx) / rng.uniform(5, 9))
    belt = rng.uniform(0.2, 0.28) + 0.04 * ridges + 0.02 * smooth_noise(rng, h, w, 8)
    img = belt[..., None] * np.array([0.92, 1.0, 0.97])
    side, depth = rng.integers(4), rng.integers(10, 20)
    bar = [yy < depth, yy >= h - depth, xx < depth, xx >= w - depth][side]
    img[bar] = rng.uniform(0.32, 0.4)
    lip = [yy == depth - 1, yy == h - depth, xx == depth - 1, xx == w - depth][side]
    img[lip] = 0.55
    for _ in range(2):   # bolt heads in the clamp
        t = rng.uniform(0.15, 0.85) * (w if side < 2 else h)
        cy, cx = [(depth / 2, t), (h - depth / 2, t), (t, depth / 2), (t, w - depth / 2)][side]
        img[np.hypot(yy - cy, xx - cx) < depth * 0.28] = 0.08
    return img
