"""Which UNet speed levers pay on this GPU: the SD1.5 InstructPix2Pix UNet alone, one variant per process.

The batch editor's time is almost all UNet (100 steps x 3 guidance branches). This script times one UNet forward
at the editor's shape (``3 x --batch`` samples, 512² -> 64² latents, 77 text tokens, fp16, random weights) for
each variant of the levers in ``shared/docs/performance.md`` and prints the fraction of the roofline (UNet FLOPs
over the measured bf16 matmul rate). It also times SDPA attention alone per backend at the UNet's attention
shapes (head dim 40/80/160), since attention with head dim 40 is the part least suited to the tensor cores.

Each variant runs in its own process (a clean ``torch.compile`` state) with a time limit; results are appended
as JSON lines to ``--out`` so a cut-off run keeps what it measured. Needs a CUDA GPU, torch and diffusers.

    python bench/bench_unet_levers.py --out levers.jsonl                  # all variants, ~8 minutes on an H200
    python bench/bench_unet_levers.py --only eager,compile_cl_qkv         # some of them
    python bench/bench_unet_levers.py --only compile_cl_qkv,aoti,aoti_load  # AOTInductor: compile, then load
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

#: name -> lever settings. ``attn``: SDPA backend (None = PyTorch's choice); ``inductor``: torch._inductor.config.
VARIANTS: dict[str, dict] = {
    "eager": {},
    "eager_cl_qkv_cudnnbench": {"channels_last": True, "fuse_qkv": True, "cudnn_benchmark": True},
    "compile_cl_qkv": {"channels_last": True, "fuse_qkv": True, "compile": "default"},
    "compile_tuned": {"channels_last": True, "fuse_qkv": True, "compile": "default", "cudnn_benchmark": True,
                      "inductor": {"conv_1x1_as_mm": True, "epilogue_fusion": False}},
    "compile_tuned_cudnn_attn": {"channels_last": True, "fuse_qkv": True, "compile": "default",
                                 "cudnn_benchmark": True, "attn": "cudnn",
                                 "inductor": {"conv_1x1_as_mm": True, "epilogue_fusion": False}},
    # cuDNN attention first in SDPA's priority order, as a context around each call (the way an editor would
    # use it). On 2026-11-28 neither variant moved (2.857 / 2.047 ms per sample): that path did not engage the
    # cuDNN kernel that is 1.8x faster alone; compile_tuned_cudnn_attn forces it with the global flags instead.
    "eager_cudnn_first": {"attn_priority": True},
    # cuDNN attention as the only SDPA backend (global flags, seen by a compiled graph at trace time); measured
    # validly only since the compiled-graph cache is off per variant (2026-11-30).
    "eager_cudnn_attn": {"attn": "cudnn"},
    "compile_cl_qkv_cudnn_attn": {"channels_last": True, "fuse_qkv": True, "compile": "default", "attn": "cudnn"},
    "compile_cl_qkv_cudnn_first": {"channels_last": True, "fuse_qkv": True, "compile": "default",
                                   "attn_priority": True},
    "compile_tuned_freezing": {"channels_last": True, "fuse_qkv": True, "compile": "default",
                               "cudnn_benchmark": True,
                               "inductor": {"conv_1x1_as_mm": True, "epilogue_fusion": False, "freezing": True}},
    "compile_tuned_cudagraphs": {"channels_last": True, "fuse_qkv": True, "compile": "reduce-overhead",
                                 "cudnn_benchmark": True,
                                 "inductor": {"conv_1x1_as_mm": True, "epilogue_fusion": False}},
    "compile_tuned_coordesc": {"channels_last": True, "fuse_qkv": True, "compile": "default",
                               "cudnn_benchmark": True,
                               "inductor": {"conv_1x1_as_mm": True, "epilogue_fusion": False,
                                            "coordinate_descent_tuning": True,
                                            "coordinate_descent_check_all_directions": True}},
    # AOTInductor: the UNet exported and compiled ahead of time into a package file (``.pt2``, weights inside) at
    # the editor's shape; a later process loads it without tracing or compiling anything (``aoti_load``, run after
    # ``aoti``: the package of the same --batch in --aoti-dir). The lever for "the second run of the day compiles
    # nothing": torch.compile's caches still left ~10 s of dynamo tracing per shape bucket in every process.
    "aoti": {"channels_last": True, "fuse_qkv": True, "aoti": "compile"},
    "aoti_load": {"channels_last": True, "fuse_qkv": True, "aoti": "load"},
    # torch.compile's own ahead-of-time path, as the product runs it (genmix_core/editing/precompiled.py): the
    # UNet's forward compiled with the UNet as an argument, so the saved file holds no weights (one per shape, a
    # few MB); a later process loads it and traces nothing. On the CPU with the tests' tiny UNet (torch 2.13):
    # compile 29 s, load and first call 2.1 s in a fresh process.
    "precompile": {"channels_last": True, "fuse_qkv": True, "precompile": "compile"},
    "precompile_load": {"channels_last": True, "fuse_qkv": True, "precompile": "load"},
    # FP8 linear layers (torchao, installed separately: ``pip install torchao``): every nn.Linear's weight stored
    # in float8 e4m3 and its input quantised on the fly, per row or per tensor; convolutions and attention stay
    # fp16. The result reports ``rel_err``: ||out - fp16 eager|| / ||fp16 eager|| on the same inputs, next to the
    # fp16 compiled variant's own difference, since FP8 changes the edits (they would need a look before use).
    "compile_cl_qkv_err": {"channels_last": True, "fuse_qkv": True, "compile": "default", "rel_err": True},
    "compile_cl_qkv_fp8_row": {"channels_last": True, "fuse_qkv": True, "compile": "default", "fp8": "row",
                               "rel_err": True},
    "compile_cl_qkv_fp8_tensor": {"channels_last": True, "fuse_qkv": True, "compile": "default",
                                  "fp8": "tensor", "rel_err": True},
    # torchao's per-row scaling takes bf16 weights only (2026-11-30): the same two in bf16, still measured
    # against fp16 eager.
    "compile_cl_qkv_bf16_err": {"channels_last": True, "fuse_qkv": True, "compile": "default", "rel_err": True,
                                "dtype": "bfloat16"},
    "compile_cl_qkv_bf16_fp8_row": {"channels_last": True, "fuse_qkv": True, "compile": "default", "fp8": "row",
                                    "rel_err": True, "dtype": "bfloat16"},
    # The same lever without torchao (whose compiled FP8 UNet did not finish compiling in 400 s, session 9):
    # each linear layer's matmul as torch._scaled_mm, e4m3 weight scaled per tensor once, e4m3 input scaled per
    # tensor on the fly, fp16 out (:class:`ScaledMMLinear`).
    "compile_cl_qkv_fp8_scaled_mm": {"channels_last": True, "fuse_qkv": True, "compile": "default",
                                     "fp8": "scaled_mm", "rel_err": True},
    "eager_fp8_scaled_mm": {"fp8": "scaled_mm", "rel_err": True},
    # Inductor's autotuning (issue 13's "cached max-autotune" lever): Triton templates benchmarked against the
    # ATen/cuDNN kernels for every matmul (``_gemm``) or every matmul and convolution (the whole mode, without
    # CUDA graphs, which measured nothing at this batch). Its choices are cached with the compiled graph, so a
    # product run would pay the tuning once; here the cache is off per variant, so first_call_s is the tuning.
    "compile_cl_qkv_max_autotune_gemm": {"channels_last": True, "fuse_qkv": True, "compile": "default",
                                         "rel_err": True, "inductor": {"max_autotune_gemm": True}},
    "compile_cl_qkv_max_autotune": {"channels_last": True, "fuse_qkv": True,
                                    "compile": "max-autotune-no-cudagraphs", "rel_err": True},
}

#: (label, batch*heads multiplier, query tokens, key tokens, head dim) of the SD1.5 UNet's attention at 512².
ATTN_SHAPES = [("self 64x64 d40", 8, 4096, 4096, 40), ("cross 64x64 d40", 8, 4096, 77, 40),
               ("self 32x32 d80", 8, 1024, 1024, 80), ("self 16x16 d160", 8, 256, 256, 160)]


def build_unet(torch):
    from diffusers import UNet2DConditionModel

    torch.manual_seed(0)
    with torch.device("cuda"):
        unet = UNet2DConditionModel(sample_size=64, in_channels=8, out_channels=4, cross_attention_dim=768,
                                    block_out_channels=(320, 640, 1280, 1280), layers_per_block=2,
                                    attention_head_dim=8)
    return unet.to(torch.float16).eval()


def cuda_time(torch, fn, reps: int) -> float:
    """Median seconds of ``fn()`` over ``reps`` runs, timed with CUDA events."""
    times = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        torch.cuda.synchronize()
        times.append(a.elapsed_time(b) / 1000)
    return statistics.median(times)


def set_attention_backend(torch, name: str | None) -> None:
    """Leave only SDPA backend ``name`` enabled (global flags, so a compiled graph sees them at trace time)."""
    if name is None:
        return
    cuda = torch.backends.cuda
    cuda.enable_flash_sdp(name == "flash")
    cuda.enable_mem_efficient_sdp(name == "efficient")
    cuda.enable_cudnn_sdp(name == "cudnn")
    cuda.enable_math_sdp(name == "math")


def run_variant(name: str, batch: int, reps: int) -> dict:
    # No compiled-graph cache across variants: its key ignores the SDPA backend flags, so a variant that only
    # changes attention would silently reuse the previous variant's graph (seen 2026-11-28).
    cfg = VARIANTS[name]
    os.environ["TORCHINDUCTOR_FX_GRAPH_CACHE"] = "0"
    # A precompiled function is saved from its AOTAutograd cache entry, so that cache stays on for it (on a fresh
    # cache dir that the two precompile variants share, as the product shares workspace/cache/torch_compile).
    os.environ["TORCHINDUCTOR_AUTOGRAD_CACHE"] = "1" if cfg.get("precompile") else "0"
    if cfg.get("precompile"):
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(Path(aoti_dir).resolve() / "inductor_precompile")
    import torch

    torch.backends.cudnn.benchmark = bool(cfg.get("cudnn_benchmark"))
    set_attention_backend(torch, cfg.get("attn"))
    for key, value in cfg.get("inductor", {}).items():
        setattr(torch._inductor.config, key, value)
    unet = build_unet(torch)
    if cfg.get("channels_last"):
        unet.to(memory_format=torch.channels_last)
    if cfg.get("fuse_qkv"):
        unet.fuse_qkv_projections()
    n = 3 * batch
    g = torch.Generator("cuda").manual_seed(0)
    # Two input sets, alternated, so repeated runs do not just re-read one buffer.
    inputs = [(torch.randn(n, 8, 64, 64, device="cuda", dtype=torch.float16, generator=g),
               torch.randn(n, 77, 768, device="cuda", dtype=torch.float16, generator=g)) for _ in range(2)]
    reference = None
    if cfg.get("rel_err"):
        with torch.inference_mode():
            reference = unet(inputs[0][0], torch.tensor(500, device="cuda"), encoder_hidden_states=inputs[0][1],
                             return_dict=False)[0].float()
    if cfg.get("dtype"):
        dtype = getattr(torch, cfg["dtype"])
        unet.to(dtype)
        inputs = [(x.to(dtype), c.to(dtype)) for x, c in inputs]
    extra = {}
    if cfg.get("fp8"):
        extra["fp8_linear_layers"] = fp8_linear(torch, unet, cfg["fp8"])
    if cfg.get("compile"):
        mode = None if cfg["compile"] == "default" else cfg["compile"]
        unet = torch.compile(unet, mode=mode, dynamic=False)
    step = [0]
    if cfg.get("aoti"):
        unet, extra = aoti_unet(torch, unet, inputs[0], Path(aoti_dir) / f"unet_sd15_b{n}.pt2", cfg["aoti"])
    if cfg.get("precompile"):
        unet, extra = precompiled_unet(torch, unet, Path(aoti_dir) / "precompiled", cfg["precompile"])

    import contextlib

    from torch.nn.attention import SDPBackend, sdpa_kernel

    def attention():
        if not cfg.get("attn_priority"):
            return contextlib.nullcontext()
        return sdpa_kernel([SDPBackend.CUDNN_ATTENTION, SDPBackend.FLASH_ATTENTION,
                            SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH], set_priority=True)

    def forward():
        x, ctx = inputs[step[0] % 2]
        step[0] += 1
        # The precompiled UNet runs as a diffusers pipeline calls it: under no_grad (its key holds the grad mode).
        with (torch.no_grad() if cfg.get("precompile") else torch.inference_mode()), attention():
            return unet(x, torch.tensor(500, device="cuda"), encoder_hidden_states=ctx, return_dict=False)[0]

    t = time.perf_counter()
    out = forward()
    torch.cuda.synchronize()
    first_s = time.perf_counter() - t
    finite = bool(torch.isfinite(out).all())
    if reference is not None:
        extra["rel_err"] = round(float((out.float() - reference).norm() / reference.norm()), 5)
    for _ in range(2):
        forward()
    s = cuda_time(torch, forward, reps)
    return {"variant": name, "settings": cfg, "batch_samples": n, "s_per_forward": round(s, 5),
            "ms_per_sample": round(1000 * s / n, 4), "first_call_s": round(first_s, 1), "finite": finite,
            "peak_gb": round(torch.cuda.max_memory_allocated() / 2**30, 2), **extra}


def scaled_mm_linear_class(torch):
    """:class:`ScaledMMLinear`, made when torch is imported (the children import it late)."""

    class ScaledMMLinear(torch.nn.Module):
        """A linear layer whose matmul runs in float8 e4m3 through ``torch._scaled_mm``: the weight scaled per
        tensor once, the input per tensor at every call (its absolute maximum to 448), the result in the input's
        dtype, the bias added after. Row counts that the FP8 matmul does not take (not a multiple of 16) use the
        layer's own 16-bit weight."""

        def __init__(self, linear):
            super().__init__()
            w = linear.weight.detach()
            self.register_buffer("w_scale", (w.abs().amax().float() / 448.0).clamp(min=1e-12))
            self.register_buffer("w8", (w.float() / self.w_scale).to(torch.float8_e4m3fn))   # (out, in)
            self.weight, self.bias = linear.weight, linear.bias

        def forward(self, x):
            rows = x.reshape(-1, x.shape[-1])
            if rows.shape[0] % 16:
                return torch.nn.functional.linear(x, self.weight, self.bias)
            scale = (rows.abs().amax().float() / 448.0).clamp(min=1e-12)
            out = torch._scaled_mm((rows.float() / scale).to(torch.float8_e4m3fn), self.w8.t(), scale_a=scale,
                                   scale_b=self.w_scale, out_dtype=x.dtype)
            if self.bias is not None:
                out = out + self.bias
            return out.reshape(*x.shape[:-1], out.shape[-1])

    return ScaledMMLinear


def fp8_linear(torch, unet, granularity: str) -> int:
    """Quantise ``unet``'s linear layers to float8 in place (torchao; ``scaled_mm``: this script's own
    :class:`ScaledMMLinear`); returns how many were converted."""
    if granularity == "scaled_mm":
        cls, count = scaled_mm_linear_class(torch), 0
        for parent in list(unet.modules()):
            for name, child in list(parent.named_children()):
                if isinstance(child, torch.nn.Linear) and child.in_features % 16 == 0 \
                        and child.out_features % 16 == 0:
                    setattr(parent, name, cls(child))
                    count += 1
        return count
    from torchao.quantization import Float8DynamicActivationFloat8WeightConfig, PerRow, PerTensor, quantize_

    count = sum(isinstance(m, torch.nn.Linear) for m in unet.modules())
    quantize_(unet, Float8DynamicActivationFloat8WeightConfig(
        granularity=PerRow() if granularity == "row" else PerTensor()))
    return count


def aoti_unet(torch, unet, example, package: Path, how: str):
    """The UNet as an AOTInductor package at the shape of ``example``: exported and compiled into ``package``
    (``how="compile"``), or loaded from it (``"load"``, a later process). Returns ``(callable, timings)``."""
    times = {}
    if how == "compile":
        x, ctx = example
        t0 = time.perf_counter()
        with torch.inference_mode():
            ep = torch.export.export(unet, (x, torch.tensor(500, device="cuda")),
                                     {"encoder_hidden_states": ctx, "return_dict": False})
        times["export_s"] = round(time.perf_counter() - t0, 1)
        t0 = time.perf_counter()
        package.parent.mkdir(parents=True, exist_ok=True)
        torch._inductor.aoti_compile_and_package(ep, package_path=str(package))
        times["aoti_compile_s"] = round(time.perf_counter() - t0, 1)
        times["package_gb"] = round(package.stat().st_size / 2**30, 2)
    t0 = time.perf_counter()
    loaded = torch._inductor.aoti_load_package(str(package))
    times["load_s"] = round(time.perf_counter() - t0, 2)
    del unet
    torch.cuda.empty_cache()
    return loaded, times


def precompiled_unet(torch, unet, folder: Path, how: str):
    """The UNet through the product's ahead-of-time path (``genmix_core.editing.precompiled.install``): compiled
    at its first call and saved to ``folder`` (``how="compile"``, which starts from an empty folder), or loaded
    from there (``"load"``, a later process). Returns ``(unet, extra)``; ``extra["events"]`` fills at the first
    call with what it did and how long it took."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from genmix_core.editing import precompiled

    if how == "compile":
        for old in folder.glob(f"*{precompiled.SUFFIX}"):
            old.unlink()
    events: list = []
    precompiled.install(unet, folder, {"channels_last": True, "fuse_qkv": True}, events)
    return unet, {"events": events}


def run_attention(batch: int, reps: int) -> list[dict]:
    import torch
    import torch.nn.functional as F

    rows = []
    for label, heads, nq, nk, d in ATTN_SHAPES:
        b = 3 * batch
        q = torch.randn(b, heads, nq, d, device="cuda", dtype=torch.float16)
        k = torch.randn(b, heads, nk, d, device="cuda", dtype=torch.float16)
        v = torch.randn_like(k)
        flop = 4 * b * heads * nq * nk * d
        for backend in ("flash", "efficient", "cudnn"):
            set_attention_backend(torch, backend)
            try:
                F.scaled_dot_product_attention(q, k, v)
                s = cuda_time(torch, lambda q=q, k=k, v=v: F.scaled_dot_product_attention(q, k, v), reps)
                rows.append({"attention": label, "backend": backend, "ms": round(1000 * s, 3),
                             "tflops": round(flop / s / 1e12, 1)})
            except RuntimeError as exc:
                rows.append({"attention": label, "backend": backend, "error": str(exc).splitlines()[0][:120]})
    return rows


def roofline() -> dict:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device("meta"):
        from diffusers import UNet2DConditionModel

        unet = UNet2DConditionModel(sample_size=64, in_channels=8, out_channels=4, cross_attention_dim=768,
                                    block_out_channels=(320, 640, 1280, 1280), layers_per_block=2,
                                    attention_head_dim=8)
        with FlopCounterMode(display=False) as fc:
            unet(torch.randn(1, 8, 64, 64), torch.tensor([500]), encoder_hidden_states=torch.randn(1, 77, 768))
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    b = torch.randn_like(a)
    s = cuda_time(torch, lambda: a @ b, 10)
    return {"unet_gflop": fc.get_total_flops() / 1e9, "matmul_tflops": 2 * 8192**3 / s / 1e12}


aoti_dir = "aoti"


def child(args) -> None:
    global aoti_dir
    aoti_dir = args.aoti_dir
    out = run_attention(args.batch, args.reps) if args.child == "attention" else \
        run_variant(args.child, args.batch, args.reps)
    print("RESULT " + json.dumps(out), flush=True)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=48, help="editor micro-batch; the UNet sees 3x this many samples")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--only", help="comma-separated variants (default: all, in order)")
    ap.add_argument("--budget", type=float, default=540, help="seconds for the whole sweep; later variants skip")
    ap.add_argument("--variant-timeout", type=float, default=300)
    ap.add_argument("--out", default="levers.jsonl")
    ap.add_argument("--aoti-dir", default="aoti", help="where the aoti variant writes its package (and aoti_load "
                                                       "reads it)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return child(args)

    start = time.perf_counter()
    out = Path(args.out)
    roof = roofline()
    ideal_ms = roof["unet_gflop"] / roof["matmul_tflops"]  # GFLOP / TFLOP/s = ms per sample
    with out.open("a") as f:
        f.write(json.dumps({"roofline": roof, "ideal_ms_per_sample": ideal_ms}) + "\n")
    print(f"UNet {roof['unet_gflop']:.1f} GFLOP/sample, matmul {roof['matmul_tflops']:.0f} TFLOP/s, "
          f"ideal {ideal_ms:.3f} ms/sample", flush=True)
    names = ["attention"] + (args.only.split(",") if args.only else list(VARIANTS))
    rows = []
    for name in names:
        left = args.budget - (time.perf_counter() - start)
        if left < 30:
            print(f"{name}: skipped (budget)", flush=True)
            continue
        # faulthandler: a child that dies in native code (the AOTInductor variants, 2026-11-30) leaves its stack
        cmd = [sys.executable, "-X", "faulthandler", __file__, "--child", name, "--batch", str(args.batch),
               "--reps", str(args.reps), "--aoti-dir", args.aoti_dir]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False,
                                  timeout=min(left, args.variant_timeout))
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
            res = json.loads(lines[-1][7:]) if lines else {"variant": name, "returncode": proc.returncode,
                                                               "error": proc.stderr[-800:]}
        except subprocess.TimeoutExpired:
            res = {"variant": name, "error": "timed out"}
        if isinstance(res, dict) and "ms_per_sample" in res:
            res["roofline_fraction"] = round(ideal_ms / res["ms_per_sample"], 3)
            # Editor s/edit if the UNet were all: 100 steps x 3 branches.
            res["unet_s_per_edit_100_steps"] = round(0.3 * res["ms_per_sample"], 4)
        with out.open("a") as f:
            f.write(json.dumps(res) + "\n")
        rows.append(res)
        print(json.dumps(res), flush=True)
    print("\nvariant                        ms/sample  roofline  UNet s/edit  first call")
    for r in rows:
        if isinstance(r, dict) and "ms_per_sample" in r:
            print(f"{r['variant']:<30} {r['ms_per_sample']:9.3f}  {r['roofline_fraction']:8.2f}  "
                  f"{r['unet_s_per_edit_100_steps']:11.3f}  {r['first_call_s']:8.1f} s")
        elif isinstance(r, dict):
            print(f"{r.get('variant')}: {r.get('error', '')[-200:]}")
        else:
            for a in r:
                print(f"  attention {a['attention']:<18} {a['backend']:<9} "
                      + (f"{a['tflops']:6.1f} TFLOP/s" if "tflops" in a else a["error"]))


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
