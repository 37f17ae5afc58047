"""Hybrid masks for GenMix: which part of the picture keeps the original, which shows the edit.

A mask ``M`` is a ``(H, W)`` float32 array in [0, 1]; 1 keeps the original ``I``, 0 shows the edit ``E``
(``H = M·I + (1 − M)·E``, see :func:`genmix_core.mixing.blend.hybrid`).

Sources:
    - DiffuseMix (Islam et al., CVPR 2024, arXiv 2405.14881), released code: two masks, original on the
      left or top half, with a 20-pixel linear ramp at 256 px (a ramp of about 0.08 of the side).
    - GenMix (Islam et al., arXiv 2412.02366), method figure: five smooth masks — left/right, top/bottom,
      both flipped, and a radial mask with the original in the centre. Ramp width and radius are not
      published; the defaults below are ours, documented and exposed.
    - The US patent text describes a binary mask: ``ramp=0`` / ``softness=0`` give exactly that.
"""

from __future__ import annotations

import math
from numbers import Real

import numpy as np

from genmix_core.errors import UserError

MASK_KINDS: tuple[str, ...] = ("left_right", "right_left", "top_bottom", "bottom_top", "radial")
"""All mask kinds. The first word names where the original goes ("left_right": original left, edit right)."""

MASK_SETS: dict[str, tuple[str, ...]] = {
    "genmix": MASK_KINDS,
    "diffusemix": ("left_right", "top_bottom"),
}
"""Named sets a mix draws its mask from: the five of GenMix, or the two of DiffuseMix."""

DEFAULT_RAMP = 0.08
"""Linear transition width, as a fraction of the side along the split axis (DiffuseMix: 20 px / 256 px)."""
DEFAULT_RADIUS = 0.35
"""Radial mask: distance from the centre, as a fraction of the shorter side, where the mask is 0.5."""
DEFAULT_SOFTNESS = 0.15
"""Radial mask: width of the transition ring, as a fraction of the shorter side (0 = hard edge)."""


def check_fraction(name: str, value: object, low: float = 0.0, high: float = 1.0) -> float:
    """Return ``value`` as a float if it is a finite number in [low, high], else raise a teaching error.

    Raises:
        UserError: ``err.mix.not_a_number`` or ``err.mix.out_of_range`` (both are ``ValueError``).
    """
    if isinstance(value, bool) or not isinstance(value, (Real, np.floating, np.integer)):
        raise UserError("err.mix.not_a_number", name=name, value=value)
    number = float(value)
    if not math.isfinite(number) or not low <= number <= high:
        raise UserError("err.mix.out_of_range", name=name, value=value, low=f"{low:g}", high=f"{high:g}")
    return number


def check_size(height: object, width: object) -> tuple[int, int]:
    """Return ``(height, width)`` as ints if both are whole numbers ≥ 1, else raise ``err.mix.bad_size``."""
    for value in (height, width):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise UserError("err.mix.bad_size", height=height, width=width)
    return int(height), int(width)


def check_kind(kind: object) -> str:
    """Return ``kind`` if it is one of :data:`MASK_KINDS`, else raise ``err.mix.mask_kind``."""
    if kind not in MASK_KINDS:
        raise UserError("err.mix.mask_kind", value=kind, choices=", ".join(MASK_KINDS))
    return str(kind)


def _linear_split(n: int, ramp: float) -> np.ndarray:
    """1 on the first half of ``n`` pixels, 0 on the second, a linear ramp of width ``ramp·n`` between.

    Pixel centres sit at ``(i + 0.5) / n`` so the profile is symmetric about the middle for any ``n``.
    With ``ramp == 0`` the mask is binary (the centre pixel of an odd ``n`` goes to the edit side).
    """
    u = (np.arange(n, dtype=np.float64) + 0.5) / n
    if ramp == 0.0:
        return (u < 0.5).astype(np.float32)
    with np.errstate(over="ignore"):  # a ramp far below one pixel overflows to ±inf, which clips to 1 / 0
        return np.clip(0.5 + (0.5 - u) / ramp, 0.0, 1.0).astype(np.float32)


def _radial(height: int, width: int, radius: float, softness: float) -> np.ndarray:
    """1 in the centre, 0 outside, 0.5 at ``radius`` (fractions of the shorter side), ring ``softness`` wide."""
    side = float(min(height, width))
    y = ((np.arange(height, dtype=np.float64) + 0.5) - height / 2.0) / side
    x = ((np.arange(width, dtype=np.float64) + 0.5) - width / 2.0) / side
    dist = np.sqrt(y[:, None] ** 2 + x[None, :] ** 2)
    if softness == 0.0:
        return (dist < radius).astype(np.float32)
    with np.errstate(over="ignore"):
        return np.clip(0.5 + (radius - dist) / softness, 0.0, 1.0).astype(np.float32)


def make_mask(
    kind: str,
    height: int,
    width: int,
    *,
    ramp: float = DEFAULT_RAMP,
    radius: float = DEFAULT_RADIUS,
    softness: float = DEFAULT_SOFTNESS,
) -> np.ndarray:
    """Build one hybrid mask.

    Args:
        kind: one of :data:`MASK_KINDS`. ``"left_right"``: original on the left, edit on the right;
            ``"right_left"``: its mirror; ``"top_bottom"``: original on top; ``"bottom_top"``: its mirror;
            ``"radial"``: original in the centre, edit around it.
        height: image height in pixels, ≥ 1.
        width: image width in pixels, ≥ 1.
        ramp: width of the linear transition of the split masks, as a fraction of the image side along the
            split axis, in [0, 1]. 0 gives a binary mask (the patent's form); 1 ramps across the whole image.
        radius: radial mask only — distance from the centre where the mask is 0.5, as a fraction of the
            shorter side, in [0, 1].
        softness: radial mask only — width of the transition ring, fraction of the shorter side, in [0, 1].

    Returns:
        ``(height, width)`` float32 array in [0, 1]; 1 = keep the original. A new array every call.

    Raises:
        UserError: (a ``ValueError``) naming the argument, its value and the valid range.
    """
    kind = check_kind(kind)
    height, width = check_size(height, width)
    ramp = check_fraction("ramp", ramp)
    radius = check_fraction("radius", radius)
    softness = check_fraction("softness", softness)

    if kind == "radial":
        return _radial(height, width, radius, softness)
    if kind in ("left_right", "right_left"):
        row = _linear_split(width, ramp)
        if kind == "right_left":
            row = row[::-1]
        return np.ascontiguousarray(np.broadcast_to(row[None, :], (height, width)))
    col = _linear_split(height, ramp)
    if kind == "bottom_top":
        col = col[::-1]
    return np.ascontiguousarray(np.broadcast_to(col[:, None], (height, width)))
