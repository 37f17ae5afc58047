"""Recorded mix parameters: draw the random choices once, store them, rebuild the same picture from them.

A GenMix mix of an original ``I`` and its edit ``E`` is fully described by (mask kind, ramp, radius,
softness, λ, fractal seed, fractal source). :func:`sample_mix_params` draws the random parts from a seeded
generator; :func:`apply_mix` is deterministic given the record (pattern: torchvision v2 ``make_params`` then
``transform``; kornia's replayable ``params``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
from PIL import Image

from genmix_core.errors import UserError
from genmix_core.mixing.blend import DEFAULT_LAM, as_image_array, fractal_blend, hybrid
from genmix_core.mixing.fractal_folder import FractalFolder
from genmix_core.mixing.fractals import check_seed, procedural_fractal
from genmix_core.mixing.masks import (
    DEFAULT_RADIUS,
    DEFAULT_RAMP,
    DEFAULT_SOFTNESS,
    MASK_SETS,
    check_fraction,
    check_kind,
    make_mask,
)

FRACTAL_SOURCES = ("procedural", "folder")
_SEED_LIMIT = 2**63  # fractal seeds are 63-bit, like genmix_core.seeds.item_seed


@dataclasses.dataclass(frozen=True)
class MixParams:
    """Everything needed to rebuild one mix. JSON-serialisable through :meth:`to_dict`.

    Attributes:
        mask: one of ``MASK_KINDS``.
        ramp: split-mask transition width, fraction of the side, [0, 1].
        radius: radial mask radius, fraction of the shorter side, [0, 1].
        softness: radial transition width, fraction of the shorter side, [0, 1].
        lam: fractal blend weight λ, [0, 1].
        fractal_seed: seed of the fractal (procedural) or of the pick from the folder, whole number ≥ 0.
        fractal_source: ``"procedural"`` or ``"folder"``.

    Raises:
        UserError: (``ValueError``) when any field is out of range; the message names the field.
    """

    mask: str
    ramp: float
    radius: float
    softness: float
    lam: float
    fractal_seed: int
    fractal_source: str = "procedural"

    def __post_init__(self) -> None:
        # Normalise numpy scalars to plain Python numbers so the record is JSON-ready and compares equal.
        set_ = object.__setattr__
        set_(self, "mask", check_kind(self.mask))
        for name in ("ramp", "radius", "softness", "lam"):
            set_(self, name, check_fraction(name, getattr(self, name)))
        set_(self, "fractal_seed", check_seed(self.fractal_seed))
        if self.fractal_source not in FRACTAL_SOURCES:
            choices = ", ".join(FRACTAL_SOURCES)
            raise UserError("err.mix.fractal_source", value=self.fractal_source, choices=choices)

    def to_dict(self) -> dict[str, object]:
        """Plain dict of str/float/int, ready for ``json.dumps``; :meth:`from_dict` reads it back."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> MixParams:
        """Rebuild from :meth:`to_dict` output (e.g. a manifest row). Unknown or missing fields are an error.

        Raises:
            UserError: ``err.mix.params_fields`` naming the missing/unknown fields, or a field's range error.
        """
        names = [f.name for f in dataclasses.fields(cls)]
        required = [f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING]
        missing = [n for n in required if n not in data]
        unknown = sorted(str(k) for k in data if k not in names)
        if missing or unknown:
            raise UserError("err.mix.params_fields", missing=", ".join(missing) or "-",
                            unknown=", ".join(unknown) or "-")
        return cls(**{k: data[k] for k in names if k in data})


class MixResult(NamedTuple):
    """The stages of one mix, each a float32 array in [0, 1].

    Attributes:
        mask: ``(H, W)``, 1 = original.
        hybrid: ``(..., H, W, 3)``, ``M·I + (1 − M)·E``.
        fractal: ``(H, W, 3)``, the fractal ``F``.
        final: ``(..., H, W, 3)``, ``(1 − λ)·H + λ·F`` — the augmented image.
    """

    mask: np.ndarray
    hybrid: np.ndarray
    fractal: np.ndarray
    final: np.ndarray


def sample_mix_params(
    rng: np.random.Generator | int,
    *,
    mask_set: str | Sequence[str] = "genmix",
    ramp: float = DEFAULT_RAMP,
    radius: float = DEFAULT_RADIUS,
    softness: float = DEFAULT_SOFTNESS,
    lam: float = DEFAULT_LAM,
    fractal_source: str = "procedural",
    lam_range: tuple[float, float] | None = None,
) -> MixParams:
    """Draw the random choices of one mix: the mask kind (uniform over the set), then a 63-bit fractal seed,
    then — only with ``lam_range`` — λ.

    Args:
        rng: a seeded ``numpy.random.Generator`` (or an int seed for one), e.g.
            ``np.random.default_rng(item_seed(job_seed, image_key, prompt))``.
        mask_set: a name in ``MASK_SETS`` (``"genmix"``: five masks, ``"diffusemix"``: two) or a sequence of
            mask kinds to draw from.
        ramp, radius, softness, lam: fixed values recorded as given (see :func:`make_mask`, :func:`fractal_blend`).
        fractal_source: ``"procedural"`` or ``"folder"``.
        lam_range: ``(low, high)`` in [0, 1]: λ is drawn uniformly from it (and recorded) instead of taking
            ``lam``. Drawn last, so the mask kind and fractal seed are the same as without it.

    Returns:
        A validated :class:`MixParams`.
    """
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        rng = np.random.default_rng(int(rng))
    if not isinstance(rng, np.random.Generator):
        raise UserError("err.mix.bad_rng", value=type(rng).__name__)
    if isinstance(mask_set, str):
        if mask_set not in MASK_SETS:
            raise UserError("err.mix.mask_set", value=mask_set, choices=", ".join(MASK_SETS))
        kinds = MASK_SETS[mask_set]
    else:
        kinds = tuple(check_kind(k) for k in mask_set)
        if not kinds:
            raise UserError("err.mix.mask_set", value="()", choices=", ".join(MASK_SETS))
    mask = kinds[int(rng.integers(len(kinds)))]
    seed = int(rng.integers(0, _SEED_LIMIT, dtype=np.int64))
    if lam_range is not None:
        low, high = check_lam_range(lam_range)
        lam = float(rng.uniform(low, high)) if high > low else low
    return MixParams(mask=mask, ramp=ramp, radius=radius, softness=softness, lam=lam, fractal_seed=seed,
                     fractal_source=fractal_source)


def check_lam_range(lam_range: object) -> tuple[float, float]:
    """``(low, high)`` as floats with 0 <= low <= high <= 1, else ``UserError`` naming the bad bound."""
    try:
        low, high = lam_range  # type: ignore[misc]
    except (TypeError, ValueError):
        raise UserError("err.mix.bad_lam_range", value=lam_range) from None
    low = check_fraction("λ low", low)
    high = check_fraction("λ high", high)
    if low > high:
        raise UserError("err.mix.bad_lam_range", value=f"{low:g}, {high:g}")
    return low, high


def to_array(image: Image.Image | np.ndarray) -> np.ndarray:
    """A PIL image (any mode) or a uint8 / float array as float32 ``(H, W, 3)`` in [0, 1] (a new array).

    Grey ``(H, W)`` arrays are repeated over three channels; uint8 arrays are divided by 255; float arrays are
    copied as they are.
    """
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"), dtype=np.float32) / np.float32(255.0)
    array = np.asarray(image)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=-1)
    if array.dtype == np.uint8:
        return array.astype(np.float32) / np.float32(255.0)
    return as_image_array(array, "image").copy()


def to_image(array: np.ndarray) -> Image.Image:
    """A float array in [0, 1] — ``(H, W, 3)`` or a mask ``(H, W)`` — as a PIL RGB image (clipped, rounded)."""
    a = np.asarray(array, dtype=np.float32)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=-1)
    if a.ndim != 3 or a.shape[-1] != 3:
        raise UserError("err.mix.bad_shape", name="array", shape=tuple(a.shape))
    return Image.fromarray(np.rint(np.clip(np.nan_to_num(a), 0.0, 1.0) * 255.0).astype(np.uint8), "RGB")


def _as_input(image: Image.Image | np.ndarray, name: str) -> np.ndarray:
    return to_array(image) if isinstance(image, Image.Image) else as_image_array(image, name)


def apply_mix(
    original: Image.Image | np.ndarray,
    edited: Image.Image | np.ndarray,
    params: MixParams,
    fractals: FractalFolder | None = None,
) -> MixResult:
    """Rebuild a mix from its record: mask → hybrid → fractal → blend. Deterministic; inputs untouched.

    Args:
        original: ``I``, PIL image or float array ``(H, W, 3)`` in [0, 1] (also ``(N, H, W, 3)``: one
            mask and one fractal for the whole batch).
        edited: ``E``, the same size as ``original`` (the editors return the input size).
        params: the record, e.g. from :func:`sample_mix_params` or ``MixParams.from_dict``.
        fractals: the folder for ``fractal_source == "folder"``; ignored for procedural fractals (the record
            decides, so a record rebuilds the same image whatever is passed).

    Returns:
        :class:`MixResult` of float32 arrays.

    Raises:
        UserError: ``err.mix.size_mismatch`` when the sizes differ, ``err.mix.needs_fractal_folder`` when the
            record asks for a folder and none is given.
    """
    if not isinstance(params, MixParams):
        raise UserError("err.mix.bad_params", value=type(params).__name__)
    original_a, edited_a = _as_input(original, "original"), _as_input(edited, "edited")
    if original_a.shape != edited_a.shape:
        raise UserError("err.mix.size_mismatch", original=_size(original_a), edited=_size(edited_a))
    height, width = original_a.shape[-3:-1]
    mask = make_mask(params.mask, height, width, ramp=params.ramp, radius=params.radius, softness=params.softness)
    hyb = hybrid(original_a, edited_a, mask)
    if params.fractal_source == "folder":
        if fractals is None:
            raise UserError("err.mix.needs_fractal_folder")
        fractal = fractals.get(params.fractal_seed, height, width)
    else:
        fractal = procedural_fractal(params.fractal_seed, height, width)
    return MixResult(mask=mask, hybrid=hyb, fractal=fractal, final=fractal_blend(hyb, fractal, params.lam))


def _size(array: np.ndarray) -> str:
    """``"W×H"`` (with the batch, if any) for messages: users think of image sizes as width × height."""
    batch = f"{array.shape[0]} × " if array.ndim == 4 else ""
    return f"{batch}{array.shape[-2]}×{array.shape[-3]}"
