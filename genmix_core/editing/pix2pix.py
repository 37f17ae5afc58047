"""InstructPix2Pix editor, the edit step of GenMix/DiffuseMix (``StableDiffusionInstructPix2PixPipeline``).

Brooks et al., "InstructPix2Pix: Learning to Follow Image Editing Instructions", CVPR 2023; default model
``timbrooks/instruct-pix2pix`` (SD1.5-based). The ``"paper"`` preset repeats the settings of the published
GenMix/DiffuseMix code: Euler-Ancestral scheduler, text guidance 4, image guidance 1.5, 100 steps, safety checker
off, prompt passed as the bare phrase ("snowy"). The ``"fast"`` preset keeps everything but takes 20 steps.

Batched recipe (same arithmetic as one pipeline call per item, fewer calls):

1. each distinct source image is VAE-encoded once (``latent_dist.mode()``, exactly what the pipeline does) and its
   latents reused for all its prompts: the pipeline accepts 4-channel latents as ``image``;
2. prompt embeddings are computed once per distinct prompt and cached on the device (plus the empty prompt for
   the two unconditional branches); the pipeline takes them as ``prompt_embeds`` / ``negative_prompt_embeds``;
3. micro-batches of (image, prompt) pairs across images run through the pipeline with one generator per item,
   returning latents; the VAE decodes them in micro-batches too (decode is the memory peak at large batches).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from genmix_core.editing.diffusion import DiffusionEditor, generators, image_key, to_arrays
from genmix_core.editing.registry import EDITORS
from genmix_core.errors import UserError

DEFAULT_MODEL = EDITORS["instruct-pix2pix"].default_model  # the editor table holds it

PRESETS: dict[str, dict[str, Any]] = {
    "paper": {"scheduler": "euler_a", "steps": 100, "guidance_scale": 4.0, "image_guidance_scale": 1.5},
    "fast": {"scheduler": "euler_a", "steps": 20, "guidance_scale": 4.0, "image_guidance_scale": 1.5},
}
SCHEDULERS = {"euler_a": "EulerAncestralDiscreteScheduler", "euler": "EulerDiscreteScheduler",
              "ddim": "DDIMScheduler", "dpm": "DPMSolverMultistepScheduler"}
#: Distinct prompts whose embeddings stay cached (a few KB..MB each on the device).
PROMPT_CACHE_MAX = 256


def check_common(steps: Any, guidance_scale: Any, scheduler: str) -> None:
    """Validate settings shared by the diffusion editors (UserError naming the value and the fix)."""
    if not isinstance(steps, int) or not 1 <= steps <= 1000:
        raise UserError("err.editor.diffusion.bad_steps", steps=steps)
    if not isinstance(guidance_scale, (int, float)) or not 0 <= guidance_scale <= 50:
        raise UserError("err.editor.diffusion.bad_guidance", name="guidance_scale", value=guidance_scale)
    if scheduler not in SCHEDULERS:
        raise UserError("err.editor.diffusion.bad_scheduler", scheduler=scheduler, choices=", ".join(SCHEDULERS))


def set_scheduler(pipe, scheduler: str) -> None:
    """Swap the pipeline's scheduler for ``SCHEDULERS[scheduler]``, keeping the model's noise schedule config."""
    import diffusers

    cls = getattr(diffusers, SCHEDULERS[scheduler])
    if type(pipe.scheduler) is not cls:
        pipe.scheduler = cls.from_config(pipe.scheduler.config)


class InstructPix2PixEditor(DiffusionEditor):
    """Edits images by instruction with InstructPix2Pix.

    Args:
        model: hub id or local folder (see :mod:`.loading`); default ``timbrooks/instruct-pix2pix``.
        preset: ``"paper"`` or ``"fast"``; the settings below override it.
        steps: denoising steps (1..1000). guidance_scale: text guidance (>= 0). image_guidance_scale: how closely
            the edit follows the input image (>= 1 keeps classifier-free guidance on).
        scheduler: ``"euler_a"`` (paper), ``"euler"``, ``"ddim"``, ``"dpm"``.
        size: working long side in pixels (input resized keeping its aspect ratio; edit resized back).
        **runtime: ``device``, ``precision``, ``micro_batch``, ``channels_last``, ``fuse_qkv``, ``compile``,
            ``compile_mode``, ``progress``, ``pipeline`` (an already-built pipeline), see :class:`DiffusionEditor`.
    """

    editor_id = "instruct-pix2pix"
    label_key = "editor.pix2pix.name"

    def __init__(self, model: str | None = None, preset: str = "paper", *, steps: int | None = None,
                 guidance_scale: float | None = None, image_guidance_scale: float | None = None,
                 scheduler: str | None = None, size: int = 512, **runtime: Any) -> None:
        if preset not in PRESETS:
            raise UserError("err.editor.diffusion.bad_preset", preset=preset, choices=", ".join(PRESETS))
        p = dict(PRESETS[preset])
        for key, value in (("steps", steps), ("guidance_scale", guidance_scale),
                           ("image_guidance_scale", image_guidance_scale), ("scheduler", scheduler)):
            if value is not None:
                p[key] = value
        check_common(p["steps"], p["guidance_scale"], p["scheduler"])
        igs = p["image_guidance_scale"]
        if not isinstance(igs, (int, float)) or not 0 <= igs <= 50:
            raise UserError("err.editor.diffusion.bad_guidance", name="image_guidance_scale", value=igs)
        self.preset = preset
        self.params = p
        if model is None and runtime.get("pipeline") is None:
            model = DEFAULT_MODEL
        super().__init__(model, size=size, **runtime)
        self._embeds: dict[str, Any] = {}

    @staticmethod
    def pipeline_class():
        from diffusers import StableDiffusionInstructPix2PixPipeline

        return StableDiffusionInstructPix2PixPipeline

    def _prepare_pipeline(self, pipe) -> None:
        set_scheduler(pipe, self.params["scheduler"])

    def _embed(self, prompts: list[str]):
        """Text embeddings ``(N, 77, D)`` for ``prompts``, computed once per distinct prompt (as the pipeline's
        ``_encode_prompt``: padded to the tokenizer's max length, truncated, last hidden state)."""
        import torch

        pipe = self._pipe
        missing = [p for p in dict.fromkeys(prompts) if p not in self._embeds]
        if missing:
            if len(self._embeds) + len(missing) > PROMPT_CACHE_MAX:
                self._embeds.clear()
            tok = pipe.tokenizer(missing, padding="max_length", max_length=pipe.tokenizer.model_max_length,
                                 truncation=True, return_tensors="pt")
            use_mask = getattr(pipe.text_encoder.config, "use_attention_mask", False)
            with torch.no_grad():
                emb = pipe.text_encoder(tok.input_ids.to(pipe.device),
                                        attention_mask=tok.attention_mask.to(pipe.device) if use_mask else None)[0]
            emb = emb.to(dtype=pipe.text_encoder.dtype)
            for p, e in zip(missing, emb):
                self._embeds[p] = e.unsqueeze(0)
        return torch.cat([self._embeds[p] for p in prompts])

    def _encode_images(self, images: list[Image.Image]):
        import torch

        pipe = self._pipe
        x = pipe.image_processor.preprocess(images).to(device=pipe.device, dtype=pipe.vae.dtype)
        with torch.no_grad():
            return pipe.vae.encode(x).latent_dist.mode()

    def _decode(self, latents) -> list[np.ndarray]:
        import torch

        vae = self._pipe.vae
        with torch.no_grad():
            return to_arrays(vae.decode(latents / vae.config.scaling_factor, return_dict=False)[0])

    def _edit_group(self, images, prompts, seeds):
        import torch

        pipe = self._pipe
        keys = [image_key(im) for im in images]
        first = {}
        for i, k in enumerate(keys):
            first.setdefault(k, i)
        uniq = list(first)
        lat_list = self.chunked(len(uniq), lambda a, b: list(self._encode_images([images[first[k]]
                                                                                 for k in uniq[a:b]])), "encode")
        latents = {k: lat.unsqueeze(0) for k, lat in zip(uniq, lat_list)}
        self._embed(prompts + [""])
        p = self.params

        def denoise(a: int, b: int) -> list:
            # Fixed shapes for a compiled UNet: pad a short last micro-batch with copies of its last item.
            pad = self.padded_size(b - a) - (b - a)
            idx = list(range(a, b)) + [b - 1] * max(0, pad)
            pe = self._embed([prompts[i] for i in idx])
            out = pipe(prompt_embeds=pe, negative_prompt_embeds=self._embed([""] * len(idx)),
                       image=torch.cat([latents[keys[i]] for i in idx]), num_inference_steps=p["steps"],
                       guidance_scale=p["guidance_scale"], image_guidance_scale=p["image_guidance_scale"],
                       generator=generators([seeds[i] for i in idx]), output_type="latent", return_dict=False)[0]
            return list(out[: b - a].unsqueeze(1))

        done = self.chunked(len(images), denoise, "denoise")
        return self.chunked(len(done), lambda a, b: self._decode(torch.cat(done[a:b])), "decode")

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "preset": self.preset, **self.params}
