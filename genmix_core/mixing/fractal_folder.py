"""A user's folder of fractal images (e.g. the PixMix/IPMix fractal set the GenMix authors downloaded).

The authors blend with images from the PixMix "fractals" download (Hendrycks et al., CVPR 2022), resized to a
square. Here the folder is the user's own; a seed picks the image deterministically and it is resized
without distortion (scaled to cover the target, then centre-cropped), unlike the released code's squash.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from genmix_core.errors import UserError
from genmix_core.mixing.fractals import check_seed
from genmix_core.mixing.masks import check_size

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
_CACHE_SIZE = 16


def _readable(path: Path) -> bool:
    """Whether PIL recognises the file (reads the header only)."""
    try:
        with Image.open(path) as image:
            image.verify()
        return True
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError):
        return False


def cover_resize(image: Image.Image, height: int, width: int) -> Image.Image:
    """Scale ``image`` to cover ``height × width`` keeping its aspect ratio, then crop the centre."""
    src_w, src_h = image.size
    target = width / height
    if src_w / src_h > target:  # too wide: use the full height, crop the sides
        crop_w, crop_h = src_h * target, float(src_h)
    else:  # too tall: use the full width, crop top and bottom
        crop_w, crop_h = float(src_w), src_w / target
    left, top = (src_w - crop_w) / 2.0, (src_h - crop_h) / 2.0
    return image.resize((width, height), Image.Resampling.BICUBIC, box=(left, top, left + crop_w, top + crop_h))


class FractalFolder:
    """Fractal images from a folder (PNG/JPG, subfolders included), picked by seed.

    Args:
        path: the folder. Files are listed once, sorted by relative path, so a seed picks the same file on
            every run and machine as long as the folder's content is unchanged.

    Raises:
        UserError: ``err.mix.fractal_folder_missing`` (no such folder), ``err.mix.fractal_folder_empty`` (no
            PNG/JPG in it), ``err.mix.fractal_folder_unreadable`` (none of its images can be read).

    Example:
        >>> folder = FractalFolder("~/fractals")          # doctest: +SKIP
        >>> folder.get(seed=1234, height=512, width=512).shape
        (512, 512, 3)
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path).expanduser()
        if not self.path.is_dir():
            raise UserError("err.mix.fractal_folder_missing", path=str(self.path))
        self.files: tuple[Path, ...] = tuple(
            sorted(
                (p for p in self.path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES),
                key=lambda p: p.relative_to(self.path).as_posix(),
            )
        )
        if not self.files:
            suffixes = ", ".join(IMAGE_SUFFIXES)
            raise UserError("err.mix.fractal_folder_empty", path=str(self.path), suffixes=suffixes)
        # Fail now, not in the middle of a batch job, if nothing in the folder is an image at all.
        if not any(_readable(p) for p in self.files):
            raise UserError("err.mix.fractal_folder_unreadable", path=str(self.path), count=len(self.files))
        self._load = functools.lru_cache(maxsize=_CACHE_SIZE)(self._load_uncached)

    @property
    def count(self) -> int:
        """Number of image files found (readable or not)."""
        return len(self.files)

    def pick(self, seed: int) -> Path:
        """The file a seed picks: ``files[seed mod count]`` (item seeds are uniform 63-bit numbers)."""
        return self.files[check_seed(seed, "seed") % self.count]

    def get(self, seed: int, height: int, width: int) -> np.ndarray:
        """The fractal for ``seed`` as float32 ``(height, width, 3)`` in [0, 1], resized by cover + centre crop.

        An unreadable file is skipped for the next one in order, so a seed still gives the same picture on
        every run. Returns a fresh array.

        Raises:
            UserError: ``err.mix.bad_seed`` / ``err.mix.bad_size``, or ``err.mix.fractal_folder_unreadable``
                if no file can be read any more (e.g. the folder changed after it was opened).
        """
        seed = check_seed(seed, "seed")
        height, width = check_size(height, width)
        start = seed % self.count
        for step in range(self.count):
            array = self._load(self.files[(start + step) % self.count], height, width)
            if array is not None:
                return array.copy()
        raise UserError("err.mix.fractal_folder_unreadable", path=str(self.path), count=self.count)

    def _load_uncached(self, path: Path, height: int, width: int) -> np.ndarray | None:
        try:
            with Image.open(path) as opened:
                image = ImageOps.exif_transpose(opened).convert("RGB")
        except (OSError, UnidentifiedImageError, ValueError, SyntaxError):
            return None
        array = np.asarray(cover_resize(image, height, width), dtype=np.float32) / np.float32(255.0)
        array.flags.writeable = False
        return array

    def __repr__(self) -> str:
        return f"FractalFolder({str(self.path)!r}, count={self.count})"
