"""Decode one uploaded picture safely and turn it into a clean 8-bit RGB image.

Nothing about the file is trusted: the format comes from the bytes (never from the extension), the pixel
count is checked *before* decoding (decompression-bomb guard), the whole image is decoded (``load()``) so a
truncated file fails here and not later in training, and the camera's EXIF orientation is applied so the
picture is stored upright.

Colour normalisation (every stored image is RGB, 8 bit per channel):

* ``1`` (1-bit), ``L`` (grey), ``P`` (palette), ``YCbCr``, ``HSV`` → plain RGB conversion.
* ``CMYK`` (print-shop JPEG/TIFF) → RGB through the embedded ICC profile when there is one, else Pillow's
  standard formula ``R = (255 - C)(255 - K) / 255``.
* 16-bit grey (``I;16``, ``I;16B``, ``I;16L``) and 32-bit integer ``I`` holding 16-bit values → scaled to
  8 bit by ``v * 255 / 65535`` (Pillow's own ``convert`` would *clip* at 255 and turn most pixels white).
  ``I`` values outside 0..65535 and float ``F`` images outside 0..1 are stretched min→0, max→255.
* Anything with transparency (``RGBA``, ``LA``, ``PA``, palette or colour-key ``transparency``) is
  composited **on white**: factory photos of parts on a light table read most naturally that way, and a
  classifier must never see the random RGB values hidden under alpha = 0.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from genmix_core.errors import UserError

MIN_SIDE = 8
"""Smallest accepted width or height in pixels; smaller pictures carry no usable detail."""
MAX_PIXELS = 40_000_000
"""Largest accepted width × height (40 MP, above any factory camera), checked before decoding."""
MAX_SIDE = 2048
"""Imports downscale larger pictures so the longer side is this many pixels (with a warning)."""
ALLOWED_FORMATS = frozenset({"PNG", "JPEG", "MPO", "BMP", "GIF", "TIFF", "WEBP", "AVIF"})
"""Pillow format names accepted; others (PSD, ICO, EPS, ...) are rejected with ``err.image.unsupported``."""

_IMAGE_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*")
_TRANSPARENT_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
_HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1")


@dataclass
class DecodedImage:
    """A validated picture.

    Attributes:
        image: RGB PIL image, upright, at most ``max_side`` pixels on its longer side.
        original_size: ``(width, height)`` as stored in the file, before rotation and downscaling.
        source_format: Pillow's format name (``"JPEG"``, ``"PNG"`` ...).
        notes: ``(catalog key, params)`` pairs worth telling the user (downscaled, first frame only ...).
    """

    image: Image.Image
    original_size: tuple[int, int]
    source_format: str
    notes: list[tuple[str, dict]] = field(default_factory=list)


def _sniff_unsupported(data: bytes) -> str | None:
    """Name well-known non-image or unsupported formats by their magic bytes, to give a precise fix."""
    head = data[:64]
    if head.startswith(b"%PDF"):
        return "PDF"
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return "HEIC/HEIF"
    lowered = data[:1024].lstrip().lower()
    if lowered.startswith(b"<svg") or (lowered.startswith(b"<?xml") and b"<svg" in lowered):
        return "SVG"
    return None


def _looks_like_text(data: bytes) -> bool:
    """True when the bytes read as text (UTF-8/UTF-16 with few control characters), e.g. a renamed .txt."""
    head = data[:4096]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return True
    if b"\x00" in head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the 4096-byte boundary is still text.
        if exc.start < len(head) - 4:
            return False
        text = head[: exc.start].decode("utf-8")
    control = sum(1 for c in text if ord(c) < 32 and c not in "\t\n\r\f")
    return control <= len(text) // 100


def _scale_to_uint8(im: Image.Image) -> Image.Image:
    """High-bit-depth single-channel image → ``L`` by scaling (not clipping); see the module docstring."""
    arr = np.asarray(im)
    if im.mode.startswith("I;16") or (im.mode == "I" and arr.size and arr.min() >= 0 and arr.max() <= 65535):
        out = (arr.astype(np.uint32) * 255 + 32767) // 65535
    elif im.mode == "F" and arr.size and np.nanmin(arr) >= 0.0 and np.nanmax(arr) <= 1.0:
        out = np.rint(np.nan_to_num(arr) * 255.0)
    else:
        arr = np.nan_to_num(arr.astype(np.float64))
        lo, hi = float(arr.min(initial=0.0)), float(arr.max(initial=0.0))
        out = np.zeros_like(arr) if hi <= lo else np.rint((arr - lo) * (255.0 / (hi - lo)))
    return Image.fromarray(np.clip(out, 0, 255).astype(np.uint8))


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


def _open(data: bytes, name: str) -> Image.Image:
    """``Image.open`` with the bomb warning turned into an error; maps failures to catalog keys."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            return Image.open(io.BytesIO(data))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise UserError("err.image.too_large", file=name, size=f"> {Image.MAX_IMAGE_PIXELS // 1_000_000} MP",
                            limit_mp=MAX_PIXELS // 1_000_000) from exc
        except UnidentifiedImageError as exc:
            if _looks_like_text(data):
                raise UserError("err.image.text_file", file=name) from exc
            if data.startswith(_IMAGE_SIGNATURES) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP"):
                # It starts like a picture but the header is broken: "damaged" helps more than "not an image".
                raise UserError("err.image.corrupt", file=name, reason="broken header") from exc
            raise UserError("err.image.not_image", file=name) from exc
        except Exception as exc:  # noqa: BLE001 - Pillow plugins raise many types on malformed headers
            raise UserError("err.image.corrupt", file=name, reason=_reason(exc)) from exc


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text[:160]


def decode_image(data: bytes, name: str = "", *, max_side: int | None = MAX_SIDE) -> DecodedImage:
    """Validate and normalise one picture given as bytes.

    Args:
        data: The file's bytes (any extension; the format is detected from the content).
        name: Shown in messages (file name or archive member).
        max_side: Downscale (Lanczos) so that ``max(width, height) <= max_side``; ``None`` keeps the size.

    Returns:
        :class:`DecodedImage` with an upright RGB image.

    Raises:
        UserError: ``err.image.empty``, ``text_file``, ``not_image``, ``unsupported``, ``too_small``,
            ``too_large``, ``truncated``, ``corrupt`` or ``unsupported_mode`` (all under ``err.image.``).
    """
    if not data:
        raise UserError("err.image.empty", file=name)
    sniffed = _sniff_unsupported(data)
    if sniffed:
        raise UserError("err.image.unsupported", file=name, format=sniffed)
    im = _open(data, name)
    fmt = im.format or "?"
    if fmt not in ALLOWED_FORMATS:
        raise UserError("err.image.unsupported", file=name, format=fmt)
    width, height = im.size
    if width * height > MAX_PIXELS:
        raise UserError("err.image.too_large", file=name, size=f"{width}×{height}",
                        limit_mp=MAX_PIXELS // 1_000_000)
    if min(width, height) < MIN_SIDE:
        raise UserError("err.image.too_small", file=name, size=f"{width}×{height}", min_side=MIN_SIDE)
    notes: list[tuple[str, dict]] = []
    if getattr(im, "n_frames", 1) > 1:
        notes.append(("data.warn.first_frame", {"frames": im.n_frames}))
    if fmt in ("JPEG", "MPO") and max_side and max(width, height) > 2 * max_side:
        # JPEG can decode at 1/2, 1/4 or 1/8 scale directly: far less memory and time for big camera files.
        im.draft(None, (max_side, max_side))
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        notes.append(("data.warn.truncated_allowed", {}))
    try:
        im.load()
    except Exception as exc:  # noqa: BLE001 - decoders raise OSError, SyntaxError, zlib.error, EOFError ...
        text = str(exc).lower()
        key = "err.image.truncated" if ("truncated" in text or isinstance(exc, EOFError)) else "err.image.corrupt"
        raise UserError(key, file=name, reason=_reason(exc)) from exc
    try:
        im = ImageOps.exif_transpose(im)
    except Exception:  # noqa: BLE001 - a damaged EXIF block should not cost the user the picture
        notes.append(("data.warn.exif_ignored", {}))
    try:
        rgb = to_rgb(im)
    except UserError as exc:
        raise UserError(exc.key, **{**exc.params, "file": name}) from exc
    if max_side and max(rgb.size) > max_side:
        before = rgb.size
        rgb = rgb.copy()
        rgb.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        notes.append(("data.warn.downscaled", {"size": f"{before[0]}×{before[1]}",
                                               "new_size": f"{rgb.size[0]}×{rgb.size[1]}", "max_side": max_side}))
    clean = Image.new("RGB", rgb.size)
    clean.paste(rgb)  # drops info (ICC, EXIF, text chunks): stored PNGs hold pixels only, so equal pixels = equal bytes
    return DecodedImage(clean, (width, height), fmt, notes)


def load_image_bytes(data: bytes, name: str = "", *, max_side: int | None = None) -> Image.Image:
    """Decode bytes into an upright RGB PIL image (see :func:`decode_image`; no downscaling by default)."""
    return decode_image(data, name, max_side=max_side).image


def encode_png(image: Image.Image) -> bytes:
    """Encode as PNG deterministically (same pixels → same bytes), for storage and duplicate detection."""
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=3)  # 4x faster than the default 6 on photos, ~10 % larger
    return buf.getvalue()
