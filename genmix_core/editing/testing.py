"""Randomly initialised diffusion pipelines built in code: tiny ones for tests and demos, full-size for benchmarks.

No weights can be downloaded on the project's own machines, so the real diffusers code path (save, load through
:mod:`genmix_core.editing.loading`, denoise, decode) is exercised with pipelines whose weights are random. This is
what diffusers' own tests do (``get_dummy_components`` in ``tests/pipelines/``). The edits look like noise; their
*shapes, sizes, seeding and file handling* are what the tests check.

Full-size random architectures (:func:`build_sd15_pix2pix_random`) cost exactly the arithmetic of the trained
model, so they stand in for it in speed benchmarks (see ``bench/bench_pix2pix_gpu.py``).
"""

from __future__ import annotations

from pathlib import Path

import torch

#: How a tiny text model is sized. Small enough that building + saving + loading takes well under a second.
_TINY_HIDDEN = 32


def _byte_vocab() -> dict[str, int]:
    """A byte-level CLIP vocabulary (256 byte symbols, their word-final forms, BOS/EOS) without any file.

    CLIP's BPE maps every byte to a printable symbol (``bytes_to_unicode`` in OpenAI's CLIP); with no merges each
    character becomes one token, which is enough for a random model. Transformers 5 builds a ``CLIPTokenizer``
    from this dict and an empty merges list.
    """
    bs = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
          + list(range(ord("®"), ord("ÿ") + 1)))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    chars = [chr(c) for c in cs]
    tokens = chars + [c + "</w>" for c in chars] + ["<|startoftext|>", "<|endoftext|>"]
    return {t: i for i, t in enumerate(tokens)}


def _tokenizer():
    from transformers import CLIPTokenizer

    return CLIPTokenizer(vocab=_byte_vocab(), merges=[], model_max_length=77)


def _text_encoder(hidden: int, layers: int, heads: int, intermediate: int, vocab_size: int | None = None):
    from transformers import CLIPTextConfig, CLIPTextModel

    n = len(_byte_vocab())
    return CLIPTextModel(CLIPTextConfig(
        vocab_size=vocab_size or n, hidden_size=hidden, intermediate_size=intermediate,
        num_hidden_layers=layers, num_attention_heads=heads, max_position_embeddings=77,
        hidden_act="quick_gelu", projection_dim=hidden, bos_token_id=n - 2, eos_token_id=n - 1,
        pad_token_id=n - 1))


def _tiny_components(in_channels: int, seed: int) -> dict:
    """UNet (2 blocks), VAE (4 blocks, so the 8x scale factor of SD holds), CLIP text model: all tiny."""
    from diffusers import AutoencoderKL, UNet2DConditionModel

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=8, in_channels=in_channels, out_channels=4, cross_attention_dim=_TINY_HIDDEN,
        block_out_channels=(16, 32), layers_per_block=1, norm_num_groups=8, attention_head_dim=8,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"))
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, sample_size=64, block_out_channels=[8, 8, 8, 8],
        layers_per_block=1, norm_num_groups=4,
        down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4)
    text = _text_encoder(_TINY_HIDDEN, layers=2, heads=4, intermediate=37)
    return {"unet": unet, "vae": vae, "text_encoder": text, "tokenizer": _tokenizer()}


def make_tiny_pix2pix(folder: str | Path, seed: int = 0) -> Path:
    """Build a tiny random ``StableDiffusionInstructPix2PixPipeline`` and save it as safetensors.

    Args:
        folder: where to write the diffusers folder (``model_index.json`` + component folders).
        seed: torch seed of the random weights.

    Returns:
        The folder, ready for ``InstructPix2PixEditor(model=folder)``. The UNet takes 8 input channels
        (4 noisy latents + 4 image latents), as InstructPix2Pix does.
    """
    from diffusers import EulerAncestralDiscreteScheduler, StableDiffusionInstructPix2PixPipeline

    parts = _tiny_components(in_channels=8, seed=seed)
    pipe = StableDiffusionInstructPix2PixPipeline(
        **parts, scheduler=EulerAncestralDiscreteScheduler(
            beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", num_train_timesteps=1000),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    folder = Path(folder)
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder


def make_tiny_img2img(folder: str | Path, seed: int = 0) -> Path:
    """Build a tiny random SD1.5-class image-to-image pipeline (UNet with 4 input channels), saved as safetensors.

    ``AutoPipelineForImage2Image`` resolves it to ``StableDiffusionImg2ImgPipeline`` from ``model_index.json``.
    """
    from diffusers import PNDMScheduler, StableDiffusionImg2ImgPipeline

    parts = _tiny_components(in_channels=4, seed=seed)
    pipe = StableDiffusionImg2ImgPipeline(
        **parts, scheduler=PNDMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                         num_train_timesteps=1000, skip_prk_steps=True, steps_offset=1),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    folder = Path(folder)
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder


def build_sd15_pix2pix_random(device: str = "cpu", dtype: torch.dtype = torch.float32, seed: int = 0):
    """The full-size SD1.5 InstructPix2Pix architecture with random weights, built directly on ``device``.

    Same shapes as ``timbrooks/instruct-pix2pix`` (UNet 860M with 8 input channels, VAE 84M, CLIP ViT-L text
    encoder 123M), as in ``shared/bench/anchor_pix2pix.py``. Building on the GPU avoids minutes of CPU random
    initialisation.
    """
    from diffusers import (AutoencoderKL, EulerAncestralDiscreteScheduler, StableDiffusionInstructPix2PixPipeline,
                           UNet2DConditionModel)

    torch.manual_seed(seed)
    with torch.device(device):
        text = _text_encoder(768, layers=12, heads=12, intermediate=3072, vocab_size=49408)
        unet = UNet2DConditionModel(sample_size=64, in_channels=8, out_channels=4, cross_attention_dim=768,
                                    block_out_channels=(320, 640, 1280, 1280), layers_per_block=2,
                                    attention_head_dim=8)
        vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, sample_size=512,
                            block_out_channels=[128, 256, 512, 512], layers_per_block=2,
                            down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4)
    sched = EulerAncestralDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                            num_train_timesteps=1000)
    pipe = StableDiffusionInstructPix2PixPipeline(vae=vae, text_encoder=text, tokenizer=_tokenizer(), unet=unet,
                                                  scheduler=sched, safety_checker=None, feature_extractor=None,
                                                  requires_safety_checker=False)
    return pipe.to(device, dtype)


def make_sd15_pix2pix_random(folder: str | Path, seed: int = 0, dtype: torch.dtype = torch.float16) -> Path:
    """Save the full-size random SD1.5 InstructPix2Pix (see :func:`build_sd15_pix2pix_random`) as safetensors.

    About 2.1 GB in float16. Loading it back through ``InstructPix2PixEditor(model=folder)`` measures the same
    load path a user's real model takes.
    """
    pipe = build_sd15_pix2pix_random("cpu", dtype, seed)
    folder = Path(folder)
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder
