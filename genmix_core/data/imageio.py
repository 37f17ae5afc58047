"""Decode one uploaded picture safely and turn it into a clean 8-bit RGB image.

Nothing about the file is trusted: the format comes from the bytes (never from the extension), the pixel
count is checked *before* decoding (decompression-bomb guard), the whole image is decoded (``load()``) so a
truncated file fails here and not later in training, and the camera's EXIF orientation is applied so the
picture is stored upright.

Colour modes are normalised to 8-bit RGB by :mod:`genmix_core.data.colour`.

Decoding work is bounded before any pixel is decoded, because a small file can describe a huge picture (a
252 KB float TIFF of 6300 × 6300 pixels decodes to 159 MB and once took 1.3 GB and 3-12 s to import):

* per picture: width × height × bytes per pixel of its mode (:func:`decode_bytes`, read from the header, after
  JPEG's reduced-size decoding) must not pass :data:`MAX_DECODE_BYTES`;
* per import: a :class:`DecodeBudget` shared by all files of one upload, zip or folder allows
  :data:`BUDGET_BASE_BYTES` plus :data:`BUDGET_PER_FILE_BYTE` times the size of the files read. Photos decode
  to 2-30 times their file size, so they never run out of it; files made to decode to hundreds of times their
  size do, and the import stops there (:class:`DecodeBudgetSpent`).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageFile, ImageMode, ImageOps, UnidentifiedImageError

from genmix_core.data.colour import to_rgb
from genmix_core.errors import UserError
from genmix_core.fileio import PNG_LEVEL

MIN_SIDE = 8
"""Smallest accepted width or height in pixels; smaller pictures carry no usable detail."""
MAX_PIXELS = 40_000_000
"""Largest accepted width × height (40 MP, above any factory camera), checked before decoding."""
MAX_DECODE_BYTES = MAX_PIXELS * 3
"""Most memory one picture may take once decoded (120 MB: a 40 MP 8-bit colour photo), checked from the header.
The same pixel count in float or 16-bit-per-channel is refused: save such pictures as 8-bit PNG or JPEG."""
BUDGET_BASE_BYTES = 2 * 2**30
"""Decoded bytes one import may always spend (2 GiB: some 700 one-megapixel colour photos, however well they
compress). At the per-picture limit that is about 20 s of decoding, the most a crafted upload can cost."""
BUDGET_PER_FILE_BYTE = 32
"""Decoded bytes one import may spend in addition per byte of the files it reads (JPEG photos decode to ~5-30
times their size)."""
MAX_SIDE = 2048
"""Imports downscale larger pictures so the longer side is this many pixels (with a warning)."""
ALLOWED_FORMATS = frozenset({"PNG", "JPEG", "MPO", "BMP", "GIF", "TIFF", "WEBP", "AVIF"})
"""Pillow format names accepted; others (PSD, ICO, EPS, ...) are rejected with ``err.image.unsupported``."""

_IMAGE_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*")
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


class DecodeBudgetSpent(UserError):
    """The import's :class:`DecodeBudget` cannot pay for the next picture: the import stops here."""


class DecodeBudget:
    """Decoded bytes one import may still spend (see the module docstring); one per upload, zip or folder.

    Example:
        budget = DecodeBudget()
        for name, data in files:
            decode_image(data, name, budget=budget)   # raises DecodeBudgetSpent once it runs out
    """

    def __init__(self, base: int | None = None, per_file_byte: int | None = None) -> None:
        self.left = int(BUDGET_BASE_BYTES if base is None else base)
        self.per_file_byte = int(BUDGET_PER_FILE_BYTE if per_file_byte is None else per_file_byte)
        self.spent = 0

    def pay(self, cost: int, file_bytes: int, name: str) -> None:
        """Spend ``cost`` decoded bytes for a file of ``file_bytes`` bytes, or raise without spending anything.

        Raises:
            DecodeBudgetSpent: ``err.image.budget_spent`` when the budget (with this file's share) is too small.
        """
        available = self.left + self.per_file_byte * file_bytes
        if cost > available:
            raise DecodeBudgetSpent("err.image.budget_spent", file=name, need_mb=_mb(cost),
                                    spent_mb=_mb(self.spent))
        self.left = available - cost
        self.spent += cost


def _mb(nbytes: int) -> str:
    return f"{nbytes / 1e6:,.0f}" if nbytes >= 10e6 else f"{nbytes / 1e6:.1f}"


def bytes_per_pixel(mode: str) -> int:
    """Bytes one pixel of Pillow ``mode`` takes as decoded values (RGB 3, RGBA 4, I;16 2, F 4, 1-bit 1)."""
    try:
        m = ImageMode.getmode(mode)
    except KeyError:
        return 4
    return np.dtype(m.typestr).itemsize * len(m.bands)


def decode_bytes(im: Image.Image) -> int:
    """What decoding ``im`` (opened, not loaded) will produce, in bytes: width × height × bytes per pixel."""
    return im.size[0] * im.size[1] * bytes_per_pixel(im.mode)


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


def decode_image(data: bytes, name: str = "", *, max_side: int | None = MAX_SIDE,
                 budget: DecodeBudget | None = None) -> DecodedImage:
    """Validate and normalise one picture given as bytes.

    Args:
        data: The file's bytes (any extension; the format is detected from the content).
        name: Shown in messages (file name or archive member).
        max_side: Downscale (Lanczos) so that ``max(width, height) <= max_side``; ``None`` keeps the size.
        budget: The import's shared :class:`DecodeBudget`, paid before decoding; None: only the per-picture limit.

    Returns:
        :class:`DecodedImage` with an upright RGB image.

    Raises:
        UserError: ``err.image.empty``, ``text_file``, ``not_image``, ``unsupported``, ``too_small``,
            ``too_large``, ``decode_too_big``, ``truncated``, ``corrupt`` or ``unsupported_mode`` (all under
            ``err.image.``); :class:`DecodeBudgetSpent` when ``budget`` runs out.
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
    cost = decode_bytes(im)
    if cost > MAX_DECODE_BYTES:
        raise UserError("err.image.decode_too_big", file=name, size=f"{im.size[0]}×{im.size[1]}", mode=im.mode,
                        bpp=bytes_per_pixel(im.mode), need_mb=_mb(cost), limit_mb=_mb(MAX_DECODE_BYTES))
    if budget is not None:
        budget.pay(cost, len(data), name)
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        notes.append(("data.warn.truncated_allowed", {}))
    try:
        im.load()
    except Exception as exc:  # noqa: BLE001 - decoders raise OSError, SyntaxError, zlib.error, EOFError ...
        text = str(exc).lower()
        key = "err.image.truncated" if ("truncated" in text or isinstance(exc, EOFError)) else "err.image.corrupt"
        raise UserError(key, file=name, reason=_reason(exc)) from exc
    try:
        ImageOps.exif_transpose(im, in_place=True)  # in place: no second full-size copy
    except Exception:  # noqa: BLE001 - a damaged EXIF block should not cost the user the picture
        notes.append(("data.warn.exif_ignored", {}))
    try:
        rgb = to_rgb(im)
    except UserError as exc:
        raise UserError(exc.key, **{**exc.params, "file": name}) from exc
    if max_side and max(rgb.size) > max_side:
        before = rgb.size
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
    image.save(buf, format="PNG", compress_level=PNG_LEVEL)
    return buf.getvalue()
