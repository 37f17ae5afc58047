"""InstructPix2Pix speed: the authors' reference loop against the project's editor, same work, one process.

Reference (as ``shared/bench/anchor_pix2pix.py`` and the GenMix code): one (image, prompt) per pipeline call,
Euler-Ancestral, text guidance 4, image guidance 1.5, ``--steps`` (100), ``--res``² (512), fp16. Then
``InstructPix2PixEditor`` (batched across images, each image encoded once for its prompts, cached prompt
embeddings, fp16 or ``--bf16``, SDPA, optional ``--channels-last`` / ``--fuse-qkv`` / ``--compile``) does the same
work. Prints s/edit for both, the ratio, the fraction of the UNet roofline (UNet FLOPs counted with
``FlopCounterMode`` as in the anchor, over the measured bf16 matmul rate) and peak GPU memory; the last line is
one JSON object.

Model: the full-size SD1.5 InstructPix2Pix architecture with random weights (same arithmetic as the trained
model, no download), ``--model FOLDER`` for a real diffusers folder, or ``--tiny`` (a tiny random pipeline, for
checking the script on a CPU). Needs only torch, transformers, diffusers (and this repository on the path).

    python bench/bench_pix2pix_gpu.py                          # H200: reference vs editor, 100 steps, B=48
    python bench/bench_pix2pix_gpu.py --compile --batch 48     # + channels_last, fused QKV (they come with it)
    python bench/bench_pix2pix_gpu.py --tiny --steps 2 --res 32 --items 4 --batch 2 --ref-items 1   # CPU check
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from genmix_core.editing.diffusion import generators  # noqa: E402
from genmix_core.editing.pix2pix import InstructPix2PixEditor  # noqa: E402

PROMPTS = ["autumn", "snowy", "watercolor art", "sunset"]


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="diffusers InstructPix2Pix folder (default: random-weight SD1.5 architecture)")
    ap.add_argument("--tiny", action="store_true", help="tiny random pipeline (CPU check of this script)")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--res", type=int, default=512)
    ap.add_argument("--batch", type=int, default=48, help="editor micro-batch (items per pipeline call)")
    ap.add_argument("--items", type=int, default=0, help="edits timed for the editor (default 2 x batch)")
    ap.add_argument("--ref-items", type=int, default=4, help="edits timed for the reference loop")
    ap.add_argument("--compile", action="store_true", help="torch.compile the UNet (fixed shapes)")
    ap.add_argument("--compile-mode", default=None, help="e.g. max-autotune-no-cudagraphs, reduce-overhead")
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--fuse-qkv", action="store_true")
    ap.add_argument("--bf16", action="store_true", help="editor in bfloat16 (reference stays fp16)")
    return ap.parse_args(argv)


def significant(x: float, digits: int) -> float:
    """``x`` to ``digits`` significant digits: a small ratio (a tiny model on a busy CPU) does not round to 0."""
    return float(f"{x:.{digits}g}")


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def matmul_flops(device: str) -> float:
    """Measured dense matmul rate (FLOP/s): bf16 8192² on CUDA (the anchor's roofline), fp32 1024² on CPU."""
    n, dtype = (8192, torch.bfloat16) if device == "cuda" else (1024, torch.float32)
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn_like(a)
    for _ in range(3):
        a @ b
    sync(device)
    t = time.perf_counter()
    reps = 10
    for _ in range(reps):
        a @ b
    sync(device)
    return reps * 2 * n**3 / (time.perf_counter() - t)


def unet_flops_per_sample(pipe, res: int) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    unet, lat = pipe.unet, res // pipe.vae_scale_factor
    x = torch.randn(3, unet.config.in_channels, lat, lat, device=pipe.device, dtype=unet.dtype)
    ctx = torch.randn(3, 77, unet.config.cross_attention_dim, device=pipe.device, dtype=unet.dtype)
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        unet(x, 500, encoder_hidden_states=ctx)
    return fc.get_total_flops() / 3


def build_pipeline(args, device: str, dtype):
    from genmix_core.editing import loading
    from genmix_core.editing.testing import build_sd15_pix2pix_random, make_tiny_pix2pix

    if args.tiny:
        with tempfile.TemporaryDirectory() as tmp:
            folder = make_tiny_pix2pix(Path(tmp) / "tiny-p2p")
            pipe = loading.load_pipeline(InstructPix2PixEditor.pipeline_class(), folder, device, dtype)
        return pipe, "tiny-random"
    if args.model:
        folder, _ = loading.resolve_model(args.model, allow_download=False)
        pipe = loading.load_pipeline(InstructPix2PixEditor.pipeline_class(), folder, device, dtype)
        return pipe, str(args.model)
    return build_sd15_pix2pix_random(device, dtype), "sd15-pix2pix-random"


def main(argv=None) -> dict:
    args = parse_args(argv)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    ref_dtype = torch.float16 if device == "cuda" else torch.float32
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
    t0 = time.perf_counter()
    pipe, model_name = build_pipeline(args, device, ref_dtype)
    from diffusers import EulerAncestralDiscreteScheduler

    pipe.scheduler = EulerAncestralDiscreteScheduler.from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    print(f"model {model_name} on {device} ({time.perf_counter() - t0:.1f} s to build/load)", flush=True)

    mm = matmul_flops(device)
    unet_flops = unet_flops_per_sample(pipe, args.res)
    ideal = args.steps * 3 * unet_flops / mm
    print(f"matmul {mm / 1e12:.1f} TFLOP/s  UNet {unet_flops / 1e9:.1f} GFLOP/sample-forward  "
          f"roofline {ideal:.4f} s/edit", flush=True)

    rng = np.random.RandomState(0)
    n_items = args.items or 2 * args.batch
    n_images = max(1, -(-n_items // len(PROMPTS)))
    images = [Image.fromarray((rng.rand(args.res, args.res, 3) * 255).astype("uint8")) for _ in range(n_images)]
    # Every image with every prompt: the editor's encode-once lever applies as in a real GenMix job.
    work = [(images[i // len(PROMPTS)], PROMPTS[i % len(PROMPTS)], 1000 + i) for i in range(n_items)]

    def reference(img, prompt, seed):
        return pipe(prompt=[prompt], image=[img], num_inference_steps=args.steps, guidance_scale=4.0,
                    image_guidance_scale=1.5, generator=generators([seed]), output_type="pil").images[0]

    reference(*work[0])  # warm-up
    sync(device)
    t = time.perf_counter()
    ref_out = [reference(*w) for w in work[: args.ref_items]]
    sync(device)
    ref_s = (time.perf_counter() - t) / args.ref_items
    print(f"reference loop (batch 1)   {ref_s:.4f} s/edit  {1 / ref_s:.2f} edits/s", flush=True)

    if args.bf16 and device == "cuda":
        pipe.to(torch.bfloat16)
    editor = InstructPix2PixEditor(model_name, pipeline=pipe, steps=args.steps, size=args.res,
                                   micro_batch=args.batch, channels_last=args.channels_last,
                                   fuse_qkv=args.fuse_qkv, compile=args.compile, compile_mode=args.compile_mode)
    imgs, prompts, seeds = (list(x) for x in zip(*work))
    t = time.perf_counter()
    editor.edit_batch(imgs[: args.batch], prompts[: args.batch], seeds[: args.batch])  # warm-up (and compile)
    sync(device)
    warm_s = time.perf_counter() - t
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    out = editor.edit_batch(imgs, prompts, seeds)
    sync(device)
    eng_s = (time.perf_counter() - t) / n_items
    peak_gb = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None
    diffs = [int(np.abs(np.asarray(a, np.int16) - np.asarray(b, np.int16)).max()) for a, b in zip(ref_out, out)]

    gpu = torch.cuda.get_device_name(0) if device == "cuda" else None
    res = {"model": model_name, "device": device, "gpu": gpu,
           "res": args.res, "steps": args.steps, "batch": editor.micro_batch, "items": n_items,
           "dtype": str(editor.dtype).replace("torch.", ""), "compile": args.compile,
           "compile_mode": args.compile_mode, "channels_last": args.channels_last or args.compile,
           "fuse_qkv": args.fuse_qkv or args.compile,
           "matmul_tflops": round(mm / 1e12, 2), "unet_gflop": significant(unet_flops / 1e9, 4),
           "ideal_s_per_edit": significant(ideal, 4), "ref_s_per_edit": round(ref_s, 5),
           "engine_s_per_edit": round(eng_s, 5), "speedup": round(ref_s / eng_s, 2),
           "roofline_fraction": significant(ideal / eng_s, 3), "warmup_s": round(warm_s, 2),
           "peak_gpu_gb": round(peak_gb, 2) if peak_gb is not None else None,
           "events": editor.events, "bad_edits": editor.stats["bad_edits"],
           "max_abs_diff_vs_reference": max(diffs) if diffs else None}
    print(f"editor B={editor.micro_batch:<4d}          {eng_s:.4f} s/edit  {1 / eng_s:.2f} edits/s  "
          f"x{res['speedup']} vs reference  roofline {res['roofline_fraction']:.3g}  "
          f"peak {res['peak_gpu_gb']} GiB  warm-up {warm_s:.1f} s", flush=True)
    print(json.dumps(res))
    return res


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
