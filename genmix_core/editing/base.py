"""The editor contract: every editor backend (offline style filters, InstructPix2Pix, image-to-image) obeys it.

An editor turns (image, prompt, seed) into an edited image of **the same size** as the input, aligned pixel for
pixel with it (GenMix mixes original and edit with a spatial mask, so they must line up). Backends that work at
a fixed resolution resize internally (keeping the aspect ratio, padding or cropping to a multiple of 8) and map
the result back to the input's size.

Determinism: the same (image, prompt, seed, settings) gives the same edit whether it is edited alone or inside
a batch (per-item generators, as diffusers' ``test_inference_batch_single_identical``).

``settings()`` returns everything that changes the output (model, steps, guidance, size, ...): the generation
job puts it into the edit cache key and the manifest, so a cached edit is never reused for other settings.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, Sequence

from PIL import Image

from genmix_core.errors import UserError


@dataclass(frozen=True)
class EditorInfo:
    """What an editor is, for the UI and the manifest.

    Attributes:
        id: backend id, e.g. ``"offline"``, ``"instruct-pix2pix"``, ``"img2img"``.
        is_diffusion: True only for real diffusion-model edits. The UI and docs must never call a
            non-diffusion edit a diffusion edit (honest labels).
        label_key: i18n key of the human name (e.g. ``"editor.offline.name"``).
        model: model id or folder, or None for editors without a model.
        device: ``"cpu"``, ``"cuda"``, ``"mps"``.
        dtype: ``"float32"``, ``"float16"``, ``"bfloat16"``.
    """

    id: str
    is_diffusion: bool
    label_key: str
    model: str | None = None
    device: str = "cpu"
    dtype: str = "float32"
    extra: dict[str, Any] = field(default_factory=dict)


class Editor(abc.ABC):
    """Base class of editor backends. Subclasses set ``info`` and implement ``_edit_batch``."""

    info: EditorInfo

    def can_edit(self, prompt: str) -> bool:
        """Whether this editor can render ``prompt`` (diffusion editors: any prompt)."""
        return True

    def preferred_batch_size(self) -> int:
        """Items per editor call when the job leaves it open (``--batch-size`` not given): 4 here; a diffusion
        editor answers with its micro-batch (by GPU memory), so a GPU is not fed 4 items at a time."""
        return 4

    def batch_key(self, image_size: tuple[int, int]) -> Any:
        """Items whose images share this key can share one batch (diffusion editors: the working shape).
        ``None`` (the default): any items can."""
        return None

    def check_prompts(self, prompts: Sequence[str]) -> None:
        """Raise ``UserError('err.editor.needs_diffusion')`` naming the first prompt this editor cannot render."""
        for p in prompts:
            if not self.can_edit(p):
                raise UserError("err.editor.needs_diffusion", prompt=p)

    @abc.abstractmethod
    def _edit_batch(self, images: list[Image.Image], prompts: list[str], seeds: list[int]) -> list[Image.Image]:
        """Backend work: inputs already validated (RGB, equal lengths, prompts renderable)."""

    def edit_batch(self, images: Sequence[Image.Image], prompts: Sequence[str],
                   seeds: Sequence[int]) -> list[Image.Image]:
        """Edit ``images[i]`` following ``prompts[i]`` with ``seeds[i]``.

        Returns:
            RGB images, ``out[i].size == images[i].size``.
        Raises:
            ValueError: lengths differ. UserError: a prompt this editor cannot render.
        """
        if not (len(images) == len(prompts) == len(seeds)):
            raise ValueError(f"edit_batch needs as many prompts ({len(prompts)}) and seeds ({len(seeds)}) "
                             f"as images ({len(images)})")
        self.check_prompts(prompts)
        rgb = [im if im.mode == "RGB" else im.convert("RGB") for im in images]
        out = self._edit_batch(rgb, list(prompts), [int(s) for s in seeds])
        for src, res in zip(rgb, out):
            if res.size != src.size:
                raise RuntimeError(f"{type(self).__name__} returned {res.size} for an input of {src.size}")
        return out

    def edit(self, image: Image.Image, prompt: str, seed: int = 0) -> Image.Image:
        """One edit (see :meth:`edit_batch`)."""
        return self.edit_batch([image], [prompt], [seed])[0]

    def settings(self) -> dict[str, Any]:
        """JSON-serialisable settings that change the output (part of the edit cache key)."""
        return {"editor": self.info.id, "model": self.info.model}
