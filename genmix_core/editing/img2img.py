"""Image-to-image editor (SDEdit) through diffusers ``AutoPipelineForImage2Image``.

Meng et al., "SDEdit: Guided Image Synthesis and Editing with Stochastic Differential Equations", ICLR 2022: noise
the input to ``strength`` (0..1) of the schedule, then denoise following the prompt. Only
``int(steps * strength)`` steps run, so ``steps * strength`` must be at least 1. Works with any text-to-image
family that AutoPipeline knows; defaults per family:

=========  =====  =====  ========  ========  ===========================================================
family     size   steps  strength  guidance  notes
=========  =====  =====  ========  ========  ===========================================================
``sd15``   512    30     0.5       7.5       SD1.5-class (default model ``stable-diffusion-v1-5``)
``sdxl``   1024   30     0.5       5.0       detected from ``model_index.json``
``turbo``  512    2      0.5       0.0       SD-Turbo / SDXL-Turbo: few steps, trained without guidance
=========  =====  =====  ========  ========  ===========================================================

Batching is plain: micro-batches of (image, prompt) pairs across images with one generator per item. Prompt
embeddings are not cached and source images are encoded per item here: the image-to-image pipelines *sample* the
VAE latent with the item's generator (one ``vae.encode`` per item when given a list of generators), and SDXL's
prompt encoding differs from SD1.5's, so doing either outside the public call would re-implement the pipelines.
Both costs are small next to the UNet steps.
"""

from __future__ import annotations

import json
from typing import Any

from genmix_core.editing.diffusion import DiffusionEditor, default_micro_batch, generators
from genmix_core.editing.pix2pix import check_common, set_scheduler
from genmix_core.editing.registry import EDITORS
from genmix_core.errors import UserError

DEFAULT_MODEL = EDITORS["img2img"].default_model  # the editor table holds it

FAMILIES: dict[str, dict[str, Any]] = {
    "sd15": {"size": 512, "steps": 30, "strength": 0.5, "guidance_scale": 7.5},
    "sdxl": {"size": 1024, "steps": 30, "strength": 0.5, "guidance_scale": 5.0},
    "turbo": {"size": 512, "steps": 2, "strength": 0.5, "guidance_scale": 0.0},
}


def detect_family(model_name: str, class_name: str) -> str:
    """``"turbo"`` if the model's name says so, ``"sdxl"`` for XL pipelines, else ``"sd15"``."""
    if "turbo" in model_name.lower():
        return "turbo"
    return "sdxl" if "XL" in class_name else "sd15"


class Img2ImgEditor(DiffusionEditor):
    """SDEdit-style editing with a text-to-image model.

    Args:
        model: hub id or local folder; default ``stable-diffusion-v1-5/stable-diffusion-v1-5``.
        family: ``"sd15"``, ``"sdxl"``, ``"turbo"``, or None to detect it from the model.
        steps, strength, guidance_scale, size: override the family's defaults (see the module table).
        scheduler: None keeps the model's own scheduler; else a name from ``pix2pix.SCHEDULERS``.
        negative_prompt: optional text to steer away from (ignored when guidance is off).
        **runtime: see :class:`~genmix_core.editing.diffusion.DiffusionEditor`.
    """

    editor_id = "img2img"
    label_key = "editor.img2img.name"

    def __init__(self, model: str | None = None, family: str | None = None, *, steps: int | None = None,
                 strength: float | None = None, guidance_scale: float | None = None, size: int | None = None,
                 scheduler: str | None = None, negative_prompt: str | None = None, **runtime: Any) -> None:
        if model is None and runtime.get("pipeline") is None:
            model = DEFAULT_MODEL
        if family is not None and family not in FAMILIES:
            raise UserError("err.editor.diffusion.bad_family", family=family, choices=", ".join(FAMILIES))
        # The family decides the defaults, so resolve the model first, then pick them.
        super().__init__(model, size=size or 512, **runtime)
        if family is None:
            class_name = ""
            if self.folder is not None:
                class_name = json.loads((self.folder / "model_index.json").read_text(encoding="utf-8")).get(
                    "_class_name", "")
            elif self._pipe is not None:
                class_name = type(self._pipe).__name__
            family = detect_family(self.model, class_name)
        d = FAMILIES[family]
        self.family = family
        self.size = size or d["size"]
        if not runtime.get("micro_batch"):
            self.micro_batch = default_micro_batch(self.device, self.size)  # SDXL works at 1024²: fewer fit
        self.params = {"steps": steps if steps is not None else d["steps"],
                       "strength": strength if strength is not None else d["strength"],
                       "guidance_scale": guidance_scale if guidance_scale is not None else d["guidance_scale"],
                       "scheduler": scheduler, "negative_prompt": negative_prompt}
        p = self.params
        check_common(p["steps"], p["guidance_scale"], scheduler or "euler")
        if not isinstance(p["strength"], (int, float)) or not 0 < p["strength"] <= 1:
            raise UserError("err.editor.diffusion.bad_strength", strength=p["strength"])
        if int(p["steps"] * p["strength"]) < 1:
            raise UserError("err.editor.diffusion.steps_strength", steps=p["steps"], strength=p["strength"],
                            minimum=int(-(-1 // p["strength"])))

    @staticmethod
    def pipeline_class():
        from diffusers import AutoPipelineForImage2Image

        return AutoPipelineForImage2Image

    def _prepare_pipeline(self, pipe) -> None:
        if self.params["scheduler"]:
            set_scheduler(pipe, self.params["scheduler"])

    def _edit_group(self, images, prompts, seeds):
        import torch

        pipe = self._pipe
        p = self.params

        def run(a: int, b: int) -> list:
            pad = self.padded_size(b - a) - (b - a)
            idx = list(range(a, b)) + [b - 1] * max(0, pad)
            neg = [p["negative_prompt"]] * len(idx) if p["negative_prompt"] and p["guidance_scale"] > 1 else None
            with torch.no_grad():
                out = pipe(prompt=[prompts[i] for i in idx], image=[images[i] for i in idx],
                           negative_prompt=neg, strength=p["strength"], num_inference_steps=p["steps"],
                           guidance_scale=p["guidance_scale"], generator=generators([seeds[i] for i in idx]),
                           output_type="np", return_dict=False)[0]
            return list(out[: b - a])

        return self.chunked(len(images), run, "denoise")

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "family": self.family, **self.params}
