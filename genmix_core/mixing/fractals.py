"""Fractal images for the GenMix fractal blend: procedural (seeded IFS) or from a user's folder.

GenMix / DiffuseMix blend every hybrid with a fractal image ``F`` (``A = (1 − λ)·H + λ·F``). The authors load
the PixMix/IPMix fractal set (Hendrycks et al., "PixMix", CVPR 2022) from a download; offline we draw
fractals procedurally instead, as FractalDB does (Kataoka et al., "Pre-training without Natural Images",
ACCV 2020): a random iterated function system (IFS) of 2–4 affine maps, rendered by the chaos game.

Affine maps are drawn with the σ-factor rule of Anderson & Farrell ("Improving Fractal Pre-training",
WACV 2022): singular values chosen so that ``Σ (σ₁ + 2σ₂)`` lies in ``[(5 + N)/2, (6 + N)/2]`` for N maps,
which keeps the system contractive on average yet neither collapsing to a point nor filling a blob. A
coverage test rejects the few that still come out near-empty and retries with a derived seed.

Colour follows the "fractal flame" idea (Draves & Reckase, 2003): each map carries a palette coordinate, each
point averages its map's coordinate into its own, and brightness is the log of the hit density — bright,
colourful, high-frequency pictures on a dark background, like the PixMix set.

Resolution (issue #15, "faithful fractals"). The authors blend 512² fractal pictures into 512² edits and the
training pipeline shrinks the result with the image. A fractal rendered directly at a small training size
(112 px) is not that picture: its one-pixel lines keep full contrast (2.6× the high-frequency energy, 1.7×
the contrast of a 512 → 112 render) and look like scratches. So every fractal is rendered once with its
shorter side at :data:`RENDER_SIDE` (512, the authors' size and the editors' working size) and then resized
to the size asked for with the filter that resizes training images (bicubic, antialiased): the stored GenMix
images (mixed at the photo's size) and the training re-draws (at the training size) both hold the same
512-px picture, shrunk. :data:`FRACTAL_RENDER` names this rule; the generation job records it, so images
made by the earlier direct rendering are never mixed with these silently.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from PIL import Image

from genmix_core.errors import UserError
from genmix_core.mixing.masks import check_size

RENDER_SIDE = 512
"""Shorter side, in pixels, at which every procedural fractal is rendered before it is resized."""
_MAX_RENDER_SIDE = 2048  # longer side cap for extreme aspect ratios (a 1×300 strip renders at 2048×7)
FRACTAL_RENDER = f"ifs-{RENDER_SIDE}-bicubic"
"""Name of the rendering rule; stored in generation configs so a change of rule is never resumed silently."""

_MAX_ATTEMPTS = 24
_MIN_COVERAGE = 0.09  # share of a 64×64 grid hit by the attractor; below this: a line or a dot cluster
_MAX_COVERAGE = 0.80  # above this it is a featureless blob
_COVER_GRID = 64
_WARM_CHAINS, _WARM_STEPS = 512, 24
_STEPS = 12  # chaos-game steps per chain once on the attractor: points = chains × steps
_POINTS_PER_PIXEL = 1.0
_MIN_POINTS, _MAX_POINTS = 16_384, 2_000_000
_MARGIN = 0.04  # empty border, fraction of each side
_CACHE_SIZE = 32  # ≈ 100 MB at 512²; the preview shows a handful, a batch job uses each seed once


def check_seed(seed: object, name: str = "fractal_seed") -> int:
    """Return ``seed`` as an int if it is a whole number ≥ 0, else raise ``err.mix.bad_seed``."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise UserError("err.mix.bad_seed", name=name, value=seed)
    return int(seed)


def _singular_values(rng: np.random.Generator, n: int) -> np.ndarray:
    """``(n, 2)`` singular values in [0, 1], σ₁ ≥ σ₂, with ``Σ (σ₁ + 2σ₂)`` drawn in the σ-factor band.

    Each pair contributes ``c = σ₁ + 2σ₂`` in [0, 3]; the pairs are filled one by one so the remaining total
    stays reachable, then shuffled so no map is favoured by its position.
    """
    remaining = rng.uniform(0.5 * (5 + n), 0.5 * (6 + n))
    out = np.empty((n, 2))
    for k in range(n):
        left = n - k - 1
        low, high = max(0.0, remaining - 3.0 * left), min(3.0, remaining)
        c = remaining if left == 0 else rng.uniform(low, high)
        s1 = rng.uniform(c / 3.0, min(1.0, c))
        out[k] = s1, (c - s1) / 2.0
        remaining -= c
    return out[rng.permutation(n)]


def _sample_ifs(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A random IFS: maps ``(n, 2, 2)``, offsets ``(n, 2)``, pick probabilities ``(n,)``."""
    n = int(rng.integers(2, 5))
    svs = _singular_values(rng, n)
    theta, phi = rng.uniform(0.0, 2.0 * math.pi, (2, n))
    flips = rng.choice([-1.0, 1.0], size=(n, 2))

    def rot(a: np.ndarray) -> np.ndarray:
        c, s = np.cos(a), np.sin(a)
        return np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)

    maps = rot(theta) @ (np.eye(2) * (svs * flips)[:, None, :]) @ rot(phi)
    offsets = rng.uniform(-1.0, 1.0, (n, 2))
    # Probability ∝ area scale |det| (as in Barnsley's rule), floored so thin maps still get drawn.
    weight = np.maximum(svs[:, 0] * svs[:, 1], 0.02)
    return maps, offsets, weight / weight.sum()


def _chaos_game(maps, offsets, probs, colours, rng, chains: int, steps: int):
    """Run ``chains`` chaos-game chains for ``steps`` steps at once.

    Chains start on the attractor (after a short warm-up from the origin), so every step's points are kept.
    The loop is over steps only; each step moves all chains with a few vectorised gathers.

    Returns:
        ``x``, ``y``, ``c``: float32 arrays of ``chains × steps`` points and their palette coordinates.
    """
    # Map choice by table look-up of a 16-bit random number: probabilities quantised to 1/65536, ten times
    # cheaper than a search per point.
    bounds = np.round(np.cumsum(probs) * 65536.0).astype(np.int64)
    bounds[-1] = 65536
    table = np.repeat(np.arange(len(probs)), np.diff(np.concatenate([[0], bounds])))

    def pick(shape):
        return np.take(table, rng.integers(0, 65536, shape, dtype=np.uint16))

    # float32: half the memory traffic of float64, and the precision is far below a pixel anyway.
    maps, offsets = np.asarray(maps, np.float32), np.asarray(offsets, np.float32)
    a00, a01, a10, a11 = maps[:, 0, 0], maps[:, 0, 1], maps[:, 1, 0], maps[:, 1, 1]
    bx, by = offsets[:, 0], offsets[:, 1]
    # Palette coordinate moves 65 % of the way to the map's colour each step ("fractal flame" colouring).
    pull, keep_share = (np.float32(0.65) * np.asarray(colours, np.float32)), np.float32(0.35)

    def run(x, y, c, k_all, out):
        for s in range(k_all.shape[0]):
            k = k_all[s]
            x, y = a00[k] * x + a01[k] * y + bx[k], a10[k] * x + a11[k] * y + by[k]
            c = keep_share * c + pull[k]
            if out is not None:
                out[0][s], out[1][s], out[2][s] = x, y, c
        return x, y, c

    zeros = np.zeros(_WARM_CHAINS, np.float32)
    wx, wy, wc = run(zeros, zeros, zeros + np.float32(0.5), pick((_WARM_STEPS, _WARM_CHAINS)), None)
    start = rng.integers(0, _WARM_CHAINS, chains)
    xs, ys, cs = (np.empty((steps, chains), np.float32) for _ in range(3))
    run(wx[start], wy[start], wc[start], pick((steps, chains)), (xs, ys, cs))
    return xs.ravel(), ys.ravel(), cs.ravel()


def _frame(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Robust bounding box ``(low, high)`` of the points: ignores the rare far stragglers of a weak map."""
    step = max(1, len(x) // 8192)
    sample = np.stack([x[::step], y[::step]], 1).astype(np.float64)
    low, high = np.quantile(sample, [0.002, 0.998], axis=0)
    return low, low + np.maximum(high - low, 1e-9)


def _to_pixels(x, y, low, high, height, width):
    """Flat pixel indices of the points inside the frame (stretched to fill the image), and the inside mask."""
    scale = (1.0 - 2.0 * _MARGIN) * np.array([width, height]) / (high - low)
    shift = _MARGIN * np.array([width, height]) - low * scale
    fx = x * np.float32(scale[0]) + np.float32(shift[0])
    fy = y * np.float32(scale[1]) + np.float32(shift[1])
    # NaN compares False, so non-finite points fall out here too.
    inside = (fx >= 0) & (fx < width) & (fy >= 0) & (fy < height)
    return fy[inside].astype(np.int64) * width + fx[inside].astype(np.int64), inside


def _coverage(x: np.ndarray, y: np.ndarray) -> float:
    """Share of a fixed 64×64 grid the attractor touches (independent of the output size)."""
    low, high = _frame(x, y)
    idx, _ = _to_pixels(x, y, low, high, _COVER_GRID, _COVER_GRID)
    return np.unique(idx).size / float(_COVER_GRID * _COVER_GRID)


def _palette(rng: np.random.Generator) -> np.ndarray:
    """A ``(256, 3)`` gradient through 3–5 random saturated colours (random hues, bright values)."""
    stops = int(rng.integers(3, 6))
    hue = (rng.uniform() + np.sort(rng.uniform(0, 1, stops))) % 1.0
    sat = rng.uniform(0.55, 1.0, stops)
    val = rng.uniform(0.75, 1.0, stops)
    # HSV → RGB, vectorised (colorsys works per colour).
    i = np.floor(hue * 6.0)
    f = hue * 6.0 - i
    p, q, t = val * (1 - sat), val * (1 - f * sat), val * (1 - (1 - f) * sat)
    table = np.stack([val, q, p, p, t, val, t, val, val, q, p, p, p, p, t, val, val, q], 1).reshape(stops, 3, 6)
    rgb = table[np.arange(stops), :, i.astype(int) % 6]
    grid = np.linspace(0.0, 1.0, 256)
    at = np.linspace(0.0, 1.0, stops)
    return np.stack([np.interp(grid, at, rgb[:, ch]) for ch in range(3)], 1)


def _render(seed: int, attempt: int, height: int, width: int) -> np.ndarray:
    """Render the IFS of (seed, attempt) at the given size; see :func:`procedural_fractal`."""
    look = np.random.default_rng([seed, attempt, 1])
    maps, offsets, probs = _ifs_for(seed, attempt)
    colours = look.permutation(len(probs)) / max(1, len(probs) - 1)
    palette = _palette(look)
    background = look.uniform(0.0, 0.12, 3) * look.uniform(0.0, 1.0)
    gamma = look.uniform(0.45, 0.8)

    total = int(np.clip(_POINTS_PER_PIXEL * height * width, _MIN_POINTS, _MAX_POINTS))
    chains = max(1, total // _STEPS)
    x, y, pcol = _chaos_game(maps, offsets, probs, colours, np.random.default_rng([seed, attempt, 2]),
                             chains, _STEPS)
    low, high = _frame(x, y)
    idx, inside = _to_pixels(x, y, low, high, height, width)
    count = np.bincount(idx, minlength=height * width)
    csum = np.bincount(idx, weights=pcol[inside], minlength=height * width)
    # Unhit pixels get palette entry 0 at brightness 0, i.e. the background.
    mean_c = csum / np.maximum(count, 1)
    palette_index = np.minimum(mean_c * 255.0, 255.0).astype(np.int64)

    # Brightness = log density, saturating at the 98th percentile of hit pixels' counts so a few hot spots
    # do not darken the rest. Counts are integers, so brightness and colour come from one small lookup
    # table (palette entry × count level) and the picture is a single gather.
    levels = _saturation_count(count[count > 0])
    level = np.minimum(count, levels)
    bright = (np.log1p(np.arange(levels + 1)) / np.log1p(levels)) ** gamma
    table = background + (palette[:, None, :] - background) * bright[None, :, None]
    table = table.astype(np.float32).reshape(-1, 3)
    return np.take(table, palette_index * (levels + 1) + level, axis=0).reshape(height, width, 3)


def _saturation_count(counts: np.ndarray) -> int:
    """The 98th percentile of the per-pixel hit counts (≥ 1), from a histogram (cheaper than sorting)."""
    if counts.size == 0:
        return 1
    cdf = np.cumsum(np.bincount(counts)) / counts.size
    # Capped so the lookup table stays small when a tiny image gathers thousands of hits per pixel.
    return int(np.clip(np.searchsorted(cdf, 0.98), 1, 1024))


@functools.lru_cache(maxsize=4096)
def _ifs_for(seed: int, attempt: int):
    return _sample_ifs(np.random.default_rng([seed, attempt, 0]))


@functools.lru_cache(maxsize=4096)
def _good_attempt(seed: int) -> int:
    """The first attempt whose IFS covers a reasonable share of its frame; the best one if none does.

    Deterministic (attempt ``k`` uses ``SeedSequence([seed, k, ...])``) and independent of the image size, so
    a seed names the same fractal at every size.
    """
    best, best_score = 0, -1.0
    for attempt in range(_MAX_ATTEMPTS):
        maps, offsets, probs = _ifs_for(seed, attempt)
        rng = np.random.default_rng([seed, attempt, 3])
        x, y, _ = _chaos_game(maps, offsets, probs, np.zeros(len(probs)), rng, 2048, 4)
        if not (np.isfinite(x).all() and np.isfinite(y).all()):
            continue
        cover = _coverage(x, y)
        if _MIN_COVERAGE <= cover <= _MAX_COVERAGE:
            return attempt
        score = min(cover / _MIN_COVERAGE, _MAX_COVERAGE / max(cover, 1e-9))
        if score > best_score:
            best, best_score = attempt, score
    return best


def render_size(height: int, width: int) -> tuple[int, int]:
    """``(height, width)`` of the render behind a fractal of this size: the same aspect ratio, shorter side
    :data:`RENDER_SIDE` (the longer side capped at 2048 for extreme strips)."""
    scale = RENDER_SIDE / min(height, width)
    scale = min(scale, _MAX_RENDER_SIDE / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def resize_like_images(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize a float ``(h, w, 3)`` picture in [0, 1] the way training images are resized (PIL bicubic, which
    antialiases when it shrinks), per channel in float32, clipped back to [0, 1]."""
    if image.shape[:2] == (height, width):
        return image
    channels = [np.asarray(Image.fromarray(np.ascontiguousarray(image[..., c]), "F")
                           .resize((width, height), Image.Resampling.BICUBIC)) for c in range(3)]
    return np.clip(np.stack(channels, -1), 0.0, 1.0).astype(np.float32)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _cached(seed: int, height: int, width: int) -> np.ndarray:
    image = resize_like_images(_render(seed, _good_attempt(seed), *render_size(height, width)), height, width)
    image.flags.writeable = False
    return image


def procedural_fractal(seed: int, height: int, width: int) -> np.ndarray:
    """A coloured IFS fractal, fully determined by ``seed``: rendered with its shorter side at
    :data:`RENDER_SIDE` px, then resized to ``height × width`` like a training image (see the module notes).

    Args:
        seed: any whole number ≥ 0 (e.g. a 63-bit item seed). Each seed gives a visually distinct fractal;
            the same seed gives a bit-identical image on every run (same machine and numpy version; across
            machines, SIMD maths may differ in the last bits).
        height: image height in pixels, ≥ 1.
        width: image width in pixels, ≥ 1. The attractor is stretched to fill the frame whatever the aspect.

    Returns:
        ``(height, width, 3)`` float32 in [0, 1], a fresh (writable) copy. Renders are cached by
        ``(seed, height, width)`` (LRU, 32 entries).

    Raises:
        UserError: ``err.mix.bad_seed`` / ``err.mix.bad_size`` (both ``ValueError``).
    """
    seed = check_seed(seed, "seed")
    height, width = check_size(height, width)
    return _cached(seed, height, width).copy()


procedural_fractal.cache_clear = _cached.cache_clear  # type: ignore[attr-defined]
procedural_fractal.cache_info = _cached.cache_info  # type: ignore[attr-defined]


def quantize(image: np.ndarray) -> np.ndarray:
    """float ``(H, W, 3)`` in [0, 1] → uint8 ``(3, H, W)``, rounded as :func:`~genmix_core.mixing.to_image`
    (how a training run keeps its fractal pool, :class:`~genmix_core.mixing.torch_ops.FractalBank`)."""
    return np.rint(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8).transpose(2, 0, 1)
