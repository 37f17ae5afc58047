"""Turn a decoded picture of any Pillow mode into 8-bit RGB (see :mod:`genmix_core.data.imageio`).

* ``1`` (1-bit), ``L`` (grey), ``P`` (palette), ``YCbCr``, ``HSV`` → plain RGB conversion.
* ``CMYK`` (print-shop JPEG/TIFF) → RGB through the embedded ICC profile when there is one, else Pillow's
  standard formula ``R = (255 - C)(255 - K) / 255``.
* 16-bit grey (``I;16``, ``I;16B``, ``I;16L``) and 32-bit integer ``I`` holding 16-bit values → scaled to
  8 bit by ``v * 255 / 65535`` (Pillow's own ``convert`` would *clip* at 255 and turn most pixels white).
  ``I`` values outside 0..65535 and float ``F`` images outside 0..1 are stretched min→0, max→255.
* Anything with transparency (``RGBA``, ``LA``, ``PA``, palette or colour-key ``transparency``) is
  composited **on white**: factory photos of parts on a light table read most naturally that way, and a
  classifier must never see the random RGB values hidden under alpha = 0.

High-bit-depth pictures are scaled a band of rows at a time, so the work memory beyond the decoded picture is
a few MB whatever its size (a 6300² float picture once needed 1.1 GB on top of its 159 MB).
"""

from __future__ import annotations

import io
import warnings
from typing import Callable, Iterator

import numpy as np
from PIL import Image

from genmix_core.errors import UserError

_TRANSPARENT_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
_ROWS = 256
"""Rows scaled at a time (a 6300-pixel-wide float band is 6.5 MB, 13 MB as float64)."""


def _bands(im: Image.Image) -> Iterator[tuple[int, np.ndarray]]:
    """``(top row, values)`` of consecutive bands of rows: the whole picture is never copied at once."""
    for top in range(0, im.height, _ROWS):
        yield top, np.asarray(im.crop((0, top, im.width, min(im.height, top + _ROWS))))


def _map_bands(im: Image.Image, fn: Callable[[np.ndarray], np.ndarray]) -> Image.Image:
    out = np.empty((im.height, im.width), dtype=np.uint8)
    for top, band in _bands(im):
        out[top:top + band.shape[0]] = np.clip(fn(band), 0, 255).astype(np.uint8)
    return Image.fromarray(out)


def _extremes(im: Image.Image, values: Callable[[np.ndarray], np.ndarray]) -> tuple[float, float]:
    """Smallest and largest of ``values(band)`` over the picture, NaN ignored; ``(inf, -inf)`` when none."""
    lo, hi = np.inf, -np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN band
        for _, band in _bands(im):
            if band.size:
                v = values(band)
                lo, hi = min(lo, float(np.nanmin(v))), max(hi, float(np.nanmax(v)))
    return lo, hi


def _scale_to_uint8(im: Image.Image) -> Image.Image:
    """High-bit-depth single-channel image → ``L`` by scaling (not clipping); see the module docstring."""
    if im.mode.startswith("I;16"):
        return _map_bands(im, lambda a: (a.astype(np.uint32) * 255 + 32767) // 65535)
    lo, hi = _extremes(im, lambda a: a)
    if im.mode == "I" and lo >= 0 and hi <= 65535:
        return _map_bands(im, lambda a: (a.astype(np.uint32) * 255 + 32767) // 65535)
    if im.mode == "F" and lo >= 0.0 and hi <= 1.0:
        return _map_bands(im, lambda a: np.rint(np.nan_to_num(a) * 255.0))
    # Stretch the values (NaN → 0, ±inf → the float extremes) over 0..255; the range always holds 0.
    lo, hi = _extremes(im, lambda a: np.nan_to_num(a.astype(np.float64)))
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    if hi <= lo:
        return Image.new("L", im.size, 0)
    scale = 255.0 / (hi - lo)
    return _map_bands(im, lambda a: np.rint((np.nan_to_num(a.astype(np.float64)) - lo) * scale))


def _cmyk_to_rgb(im: Image.Image) -> Image.Image:
    """CMYK → RGB through the embedded ICC profile when Pillow's colour management can use it."""
    icc = im.info.get("icc_profile")
    if icc:
        try:
            from PIL import ImageCms

            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            return ImageCms.profileToProfile(im, src, ImageCms.createProfile("sRGB"), outputMode="RGB")
        except Exception:  # noqa: BLE001 - a broken or exotic profile must not block the import
            pass
    return im.convert("RGB")


def to_rgb(im: Image.Image) -> Image.Image:
    """Convert a decoded image of any Pillow mode to 8-bit RGB (transparency composited on white).

    Returns ``im`` itself when it already is RGB without transparency.

    Raises:
        UserError: ``err.image.unsupported_mode`` for modes Pillow cannot turn into RGB (e.g. ``LAB``).
    """
    if im.mode in ("I", "F") or im.mode.startswith("I;16"):
        im = _scale_to_uint8(im)
    if im.mode == "CMYK":
        return _cmyk_to_rgb(im)
    if im.mode in _TRANSPARENT_MODES or "transparency" in im.info:
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if im.mode == "RGB":
        return im
    try:
        return im.convert("RGB")
    except (ValueError, OSError) as exc:
        raise UserError("err.image.unsupported_mode", file="", mode=im.mode) from exc
