"""The user's path on a GPU: ``python -m genmix_core.generate`` on a mixed-aspect photo set, against the authors'
loop on the same items, in one script. Prints one JSON object (and writes it with ``--out``).

The photo set: the shipped sample photos resized to 4:3, 3:4, 16:9 and 1:1 at about 512² pixels (as phone and
line-camera photos come), each with 4 prompts. The model: the full-size SD1.5 InstructPix2Pix architecture with
random weights saved as a safetensors folder (same arithmetic as ``timbrooks/instruct-pix2pix``; ``--model``
takes a real folder), paper preset (100 Euler-A steps, text guidance 4, image guidance 1.5, fp16).

Each variant (``eager``; ``compile`` = the CLI's ``--compile``: fixed shapes, each shape bucket compiled ahead of
time once and kept on disk, ``editing/precompiled.py``; ``compile-traced`` = the same with ``torch.compile``
traced in every process, ``GENMIX_PRECOMPILE=0``, as before session 9; ``compile-dynamic`` = one graph with
symbolic shapes) runs the CLI in its own process with its own output and edit cache, so every item is really
edited. Reported per variant:

* ``e2e_s_per_item``: the CLI's whole wall time (Python start, model load, compile, editing, mixing, writing)
  over the items;
* ``steady_s_per_item``: per shape bucket, the time from the end of its first batch (where loading and
  compiling happen) to its last item (``items.jsonl`` finish times), over the items after that first batch;
* ``overhead_s`` = wall − steady × items (load + compile + start-up); ``peak_gpu_gib`` from the CLI;
* ``speedup`` (reference s/item over steady s/item) and ``roofline_fraction`` (the UNet's FLOPs for these
  items, counted with ``FlopCounterMode`` at each bucket shape, over the measured bf16 matmul rate, divided by
  the steady time).

``--repeat`` runs a compile variant a second time in a fresh process with the same compile cache (the second
run of the day: ``compile`` loads what its first run saved, ``compile-traced`` traces again).

    python bench/bench_generate_gpu.py --variants eager,compile --repeat compile --out bench/results/gen.json
    python bench/bench_generate_gpu.py --variants compile-traced --repeat compile-traced --no-reference
    python bench/bench_generate_gpu.py --preview eager,compile,compile-cudagraphs --variants "" --no-reference
    python bench/bench_generate_gpu.py --preview prepared --variants "" --no-reference   # the pages' own editor
    python bench/bench_generate_gpu.py --tiny --photos 2 --steps 2 --batch-size 1 --ref-items 1 --variants eager  # CPU
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

PROMPTS = ["autumn", "snowy", "watercolor art", "sunset"]
ASPECTS = ((4, 3), (3, 4), (16, 9), (1, 1))
VARIANTS = {"eager": [], "compile": ["--compile"], "compile-traced": ["--compile"], "compile-dynamic": ["--compile"]}


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="a diffusers InstructPix2Pix folder (default: random-weight SD1.5 architecture)")
    ap.add_argument("--tiny", action="store_true", help="tiny random pipeline at 64 px (CPU check of this script)")
    ap.add_argument("--photos", type=int, default=75, help="photos in the mixed-aspect set (x4 prompts = items)")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=48)
    ap.add_argument("--ref-items", type=int, default=8, help="items timed for the authors' loop")
    ap.add_argument("--variants", default="eager,compile", help=f"comma-separated, from {','.join(VARIANTS)}")
    ap.add_argument("--repeat", default="", help="variants to run twice (the second with a warm compile cache)")
    ap.add_argument("--work", help="working folder (default: a temporary one)")
    ap.add_argument("--out", help="also write the JSON here")
    ap.add_argument("--preview", default="", metavar="MODES",
                    help="also time the Preview page's row (1 photo x 4 prompts as one batch, 20 steps, warm) in "
                         f"these modes, comma-separated, from {','.join(PREVIEW_MODES)}")
    ap.add_argument("--no-reference", action="store_true", help="skip the authors' loop")
    ap.add_argument("--profile-preview", action="store_true",
                    help="with --preview prepared: where a warm row's time goes (WORK/preview_profile.txt)")
    return ap.parse_args(argv)


def make_photo_set(folder: Path, n: int, pixels: int) -> Path:
    """``n`` sample photos (class folders kept) resized to the 4 aspect ratios in turn, about ``pixels`` each."""
    sources = sorted((REPO / "sample_data" / "lab").glob("*/*.png"))
    for i, src in enumerate(sources[:n]):
        aw, ah = ASPECTS[i % len(ASPECTS)]
        w = int(round((pixels * aw / ah) ** 0.5))
        h = int(round(pixels / w))
        out = folder / src.parent.name / src.name
        out.parent.mkdir(parents=True, exist_ok=True)
        Image.open(src).convert("RGB").resize((w, h), Image.LANCZOS).save(out)
    return folder


def make_model(folder: Path, tiny: bool) -> Path:
    from genmix_core.editing.testing import make_sd15_pix2pix_random, make_tiny_pix2pix

    if tiny:
        return make_tiny_pix2pix(folder)
    dtype = torch.float16 if torch.cuda.is_available() else torch.float32
    if torch.cuda.is_available():  # build on the GPU (seconds), save fp16 safetensors
        from genmix_core.editing.testing import build_sd15_pix2pix_random

        build_sd15_pix2pix_random("cuda", dtype).save_pretrained(folder, safe_serialization=True)
        torch.cuda.empty_cache()
        return folder
    return make_sd15_pix2pix_random(folder, dtype=dtype)


def run_cli(variant: str, data: Path, model: str, work: Path, args, tag: str, size: int) -> dict:
    """One CLI run into its own folder; returns what it measured."""
    out = work / f"run-{tag}"
    prompts = work / "prompts.txt"
    prompts.write_text("\n".join(PROMPTS) + "\n", encoding="utf-8")
    cmd = [sys.executable, "-m", "genmix_core.generate", "--data", str(data), "--out", str(out), "--editor",
           "instruct-pix2pix", "--model", model, "--prompts-file", str(prompts), "--steps", str(args.steps),
           "--size", str(size), "--batch-size", str(args.batch_size), "--cache", str(out / "edits"),
           *VARIANTS[variant]]
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "GENMIX_WORKSPACE": str(work / "workspace"), "PYTHONPATH": path,
           "TOKENIZERS_PARALLELISM": "false"}
    if variant == "compile-dynamic":
        env["GENMIX_COMPILE_DYNAMIC"] = "1"
    if variant == "compile-traced":   # torch.compile in every process instead of compiled once, ahead of time
        env["GENMIX_PRECOMPILE"] = "0"
    t0 = time.perf_counter()
    print(f"{tag}: running the CLI ...", flush=True)
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{variant}: CLI failed ({proc.returncode})\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    records = [json.loads(line) for line in (out / "items.jsonl").read_text().splitlines() if line.strip()]
    job = json.loads((out / "job.json").read_text())
    peak = re.search(r"peak GPU memory ([0-9.]+) GiB", proc.stdout)
    return {"variant": variant, "tag": tag, "items": len(records), "wall_s": round(wall, 2),
            "records": records, "peak_gpu_gib": float(peak.group(1)) if peak else None,
            "editor_events": job.get("extra", {}).get("editor_events", []), "out": out}


def steady_seconds(records: list[dict], sizes: dict[str, tuple[int, int]], batch: int, size: int) -> float:
    """Seconds per item at steady state: per shape bucket, the time between the end of its first batch (where
    loading and compiling happen) and its last item, over the items after that first batch."""
    from genmix_core.editing.diffusion import bucket_for

    by_bucket: dict[tuple[int, int], list[float]] = {}
    for r in records:
        image = r["id"].split("__")[0]
        by_bucket.setdefault(bucket_for(sizes[image], size), []).append(float(r["t"]))
    spans = [(ts[-1] - ts[batch - 1], len(ts) - batch) for ts in map(sorted, by_bucket.values()) if len(ts) > batch]
    if not spans or sum(n for _, n in spans) == 0:
        raise SystemExit(f"no steady state: no shape bucket has more than one batch ({batch}) of items; "
                         "use more --photos or a smaller --batch-size (see check_steady)")
    return sum(dt for dt, _ in spans) / sum(n for _, n in spans)


def check_steady(sizes: dict[str, tuple[int, int]], batch: int, size: int, ranks: int = 1) -> None:
    """Refuse, before any run, a photo set where no shape bucket gets more than one batch per process: its
    steady state (:func:`steady_seconds`) would not exist."""
    from genmix_core.editing.diffusion import bucket_for

    per_bucket = Counter(bucket_for(s, size) for s in sizes.values())
    most = max(per_bucket.values()) * len(PROMPTS) // ranks
    if most <= batch:
        raise SystemExit(f"too few items for a steady state: at most {most} items per shape bucket and process, "
                         f"batches of {batch}; use more --photos or a smaller --batch-size")


def unet_flops(pipe, shapes: list[tuple[int, int]]) -> dict[tuple[int, int], float]:
    """FLOPs of one UNet sample-forward at each (width, height), counted by ``FlopCounterMode``."""
    from torch.utils.flop_counter import FlopCounterMode

    unet, f = pipe.unet, pipe.vae_scale_factor
    out = {}
    for w, h in shapes:
        x = torch.randn(1, unet.config.in_channels, h // f, w // f, device=pipe.device, dtype=unet.dtype)
        ctx = torch.randn(1, 77, unet.config.cross_attention_dim, device=pipe.device, dtype=unet.dtype)
        with torch.no_grad(), FlopCounterMode(display=False) as fc:
            unet(x, 500, encoder_hidden_states=ctx)
        out[(w, h)] = float(fc.get_total_flops())
    return out


def matmul_rate(device: str) -> float:
    n, dtype = (8192, torch.bfloat16) if device == "cuda" else (512, torch.float32)
    a = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ a
    if device == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(10):
        a @ a
    if device == "cuda":
        torch.cuda.synchronize()
    return 10 * 2 * n**3 / (time.perf_counter() - t)


def reference_loop(model: Path, photos: list[Path], args, device: str) -> float:
    """The authors' loop: each (photo, prompt) alone through the pipeline, photo squashed to a square, fp16."""
    from diffusers import EulerAncestralDiscreteScheduler

    from genmix_core.editing import loading
    from genmix_core.editing.diffusion import generators
    from genmix_core.editing.pix2pix import InstructPix2PixEditor

    dtype = torch.float16 if device == "cuda" else torch.float32
    pipe = loading.load_pipeline(InstructPix2PixEditor.pipeline_class(), model, device, dtype)
    pipe.scheduler = EulerAncestralDiscreteScheduler.from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    side = 64 if args.tiny else 512
    work = [(Image.open(photos[i // len(PROMPTS) % len(photos)]).convert("RGB").resize((side, side)),
             PROMPTS[i % len(PROMPTS)], 1000 + i) for i in range(args.ref_items + 1)]

    def one(img, prompt, seed):
        return pipe(prompt=[prompt], image=[img], num_inference_steps=args.steps, guidance_scale=4.0,
                    image_guidance_scale=1.5, generator=generators([seed]), output_type="pil").images[0]

    one(*work[0])  # warm-up
    if device == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    for w in work[1:]:
        one(*w)
    if device == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t) / args.ref_items, pipe


PREVIEW_MODES = {"eager": {}, "compile": {"compile": True},
                 "compile-cudagraphs": {"compile": True, "compile_mode": "reduce-overhead"},
                 "prepared": None}   # the pages' own editor: eager, then the shapes a separate process compiled


def profile_row(editor, photo: Path, side: int, device: str, work: Path) -> dict:
    """Where a warm row's time goes: the editor call alone against the whole row (load, edit, PNGs), and two
    rows under the PyTorch profiler (tables by GPU and by CPU time in ``work/preview_profile.txt``; GPU busy
    time per row against its wall time)."""
    from genmix_core import preview

    image = preview.load_preview_image(photo, side)
    seeds = list(range(4))

    def timed(fn):
        if device == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t

    edit_s = float(np.median([timed(lambda: editor.edit_batch([image] * 4, PROMPTS, seeds)) for _ in range(3)]))
    row_s = float(np.median([timed(lambda: preview.edit_pngs(photo, PROMPTS, editor, seeds, max_side=side))
                             for _ in range(3)]))
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])
    with profile(activities=activities) as prof:
        wall = sum(timed(lambda: preview.edit_pngs(photo, PROMPTS, editor, seeds, max_side=side)) for _ in range(2))
    averages = prof.key_averages()
    gpu_us = sum(getattr(e, "self_device_time_total", getattr(e, "self_cuda_time_total", 0)) for e in averages)
    tables = [averages.table(sort_by=key, row_limit=40) for key in
              (("self_cuda_time_total", "cpu_time_total") if device == "cuda" else ("cpu_time_total",))]
    (work / "preview_profile.txt").write_text("\n\n".join(tables) + "\n", encoding="utf-8")
    return {"phase_edit_batch_s": round(edit_s, 3), "phase_row_s": round(row_s, 3),
            "profiled_row_wall_s": round(wall / 2, 3), "profiled_row_gpu_busy_s": round(gpu_us / 2e6, 3)}


def prepared_preview_seconds(model: Path, photo: Path, device: str, tiny: bool, work: Path,
                             profile: bool = False) -> dict:
    """The Preview page's row on the pages' own editor (``ui.cache.get_editor``: ``preview_editor_settings``,
    which on a GPU loads compiled shapes), from a fresh workspace: the first rows run eagerly while
    ``ensure_fast_preview`` (what the page calls after its edit) has a separate process compile this photo's
    shape; previews keep running meanwhile (timed: they share the GPU with the compile). Once it is ready, the
    next row loads the saved function (first call), then the warm median of 5. Then the same in a *new* editor
    (the next server start of the day): its first row loads, no compile."""
    from genmix_core import preview
    from genmix_core.editing import create_editor, ensure_fast_preview, preview_editor_settings

    os.environ["GENMIX_WORKSPACE"] = str(work / "prepared_ws")
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(work / "prepared_ws" / "cache" / "torch_compile")
    side = 64 if tiny else 512
    image_size = preview.load_preview_image(photo, side).size

    def row(editor, rep):
        if device == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        preview.edit_pngs(photo, PROMPTS, editor, [rep * 10 + i for i in range(4)], max_side=side)
        if device == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t

    settings = preview_editor_settings("instruct-pix2pix") | ({"size": 64} if tiny else {})
    editor = create_editor("instruct-pix2pix", model=str(model), **settings)
    editor.load()
    eager = [row(editor, rep) for rep in range(6)]
    t0 = time.perf_counter()
    status = ensure_fast_preview(editor, "instruct-pix2pix", str(model), image_size, len(PROMPTS))
    during = []
    while status.state == "preparing":
        during.append(row(editor, 100 + len(during)))
        status = ensure_fast_preview(editor, "instruct-pix2pix", str(model), image_size, len(PROMPTS))
    prepare_s = time.perf_counter() - t0
    compiled = [row(editor, 200 + rep) for rep in range(6)]
    phases = profile_row(editor, photo, side, device, work) if profile else {}
    del editor
    fresh = create_editor("instruct-pix2pix", model=str(model), **settings)
    fresh.load()
    again = [row(fresh, 300 + rep) for rep in range(3)]
    value = {"mode": "prepared", "state": status.state, "params": status.params,
             "eager_warm_s": round(float(np.median(eager[1:])), 3), "eager_first_call_s": round(eager[0], 1),
             "prepare_wall_s": round(prepare_s, 1), "rows_while_preparing": len(during),
             "row_while_preparing_median_s": round(float(np.median(during)), 3) if during else None,
             "warm_s": round(float(np.median(compiled[1:])), 3), "first_call_after_ready_s": round(compiled[0], 2),
             "next_start_first_call_s": round(again[0], 2),
             "next_start_warm_s": round(float(np.median(again[1:])), 3),
             "events": fresh.events, **phases}
    print(f"preview (1 photo x 4 prompts, 20 steps, the pages' editor): {value}", flush=True)
    del fresh
    if device == "cuda":
        torch.cuda.empty_cache()
    return value


def preview_seconds(model: Path, photo: Path, device: str, tiny: bool, mode: str = "eager") -> dict:
    """The Preview page's row of every prompt, warm: ``genmix_core.preview.edit_pngs`` (what the page calls: one
    photo shrunk to 512 px, 4 prompts as one batch, the 20-step preset, PNGs out), median of 5 after a first
    call. ``mode``: eager, or the UNet compiled at that shape (``compile-cudagraphs`` adds CUDA graphs); the
    first call, which compiles, is reported apart."""
    from genmix_core import preview
    from genmix_core.editing.pix2pix import InstructPix2PixEditor

    editor = InstructPix2PixEditor(str(model), preset="fast", size=64 if tiny else 512, **PREVIEW_MODES[mode])
    editor.load()
    times = []
    for rep in range(6):
        if device == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        preview.edit_pngs(photo, PROMPTS, editor, [rep * 10 + i for i in range(4)], max_side=64 if tiny else 512)
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    value = {"mode": mode, "warm_s": round(float(np.median(times[1:])), 3), "first_call_s": round(times[0], 1),
             "events": editor.events}
    print(f"preview (1 photo x 4 prompts, 20 steps, warm, {mode}): {value}", flush=True)
    del editor
    if device == "cuda":
        torch.cuda.empty_cache()
    return value


def main(argv=None) -> dict:
    args = parse_args(argv)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    size = 64 if args.tiny else 512
    tmp = None if args.work else tempfile.TemporaryDirectory()
    work = Path(args.work or tmp.name)
    work.mkdir(parents=True, exist_ok=True)
    data = make_photo_set(work / "photos", args.photos, size * size)
    photos = sorted(data.glob("*/*.png"))
    sizes = {f"{p.parent.name}/{p.stem}": Image.open(p).size for p in photos}
    if [v for v in args.variants.split(",") if v]:
        check_steady(sizes, args.batch_size, size)
    t0 = time.perf_counter()
    model = Path(args.model) if args.model else make_model(work / "model", args.tiny)
    build_s = time.perf_counter() - t0
    print(f"{len(photos)} photos x {len(PROMPTS)} prompts on {device}; model ready in {build_s:.1f} s", flush=True)

    runs = []
    repeat = {v for v in args.repeat.split(",") if v}
    for variant in [v for v in args.variants.split(",") if v]:
        for n in range(2 if variant in repeat else 1):
            tag = variant if n == 0 else f"{variant}-warm-cache"
            r = run_cli(variant, data, str(model), work, args, tag, size)
            r["steady_s_per_item"] = steady_seconds(r["records"], sizes, args.batch_size, size)
            r["e2e_s_per_item"] = r["wall_s"] / r["items"]
            r["overhead_s"] = round(r["wall_s"] - r["steady_s_per_item"] * r["items"], 1)
            print(f"{tag:<26} e2e {r['e2e_s_per_item']:.4f} s/item  steady {r['steady_s_per_item']:.4f} s/item  "
                  f"overhead {r['overhead_s']} s  peak {r['peak_gpu_gib']} GiB  events {r['editor_events']}",
                  flush=True)
            runs.append(r)

    previews = [prepared_preview_seconds(model, photos[0], device, args.tiny, work, args.profile_preview)
                if mode == "prepared" else
                preview_seconds(model, photos[0], device, args.tiny, mode) for mode in args.preview.split(",") if mode]
    if args.no_reference:
        ref_s, pipe = float("nan"), None
        from genmix_core.editing import loading
        from genmix_core.editing.pix2pix import InstructPix2PixEditor

        pipe = loading.load_pipeline(InstructPix2PixEditor.pipeline_class(), model, device,
                                     torch.float16 if device == "cuda" else torch.float32)
    else:
        ref_s, pipe = reference_loop(model, photos, args, device)
        print(f"authors' loop (batch 1, square) {ref_s:.4f} s/item", flush=True)
    from genmix_core.editing.diffusion import bucket_for

    buckets = sorted({bucket_for(s, size) for s in sizes.values()})
    flops = unet_flops(pipe, buckets)
    rate = matmul_rate(device)
    per_item_flops = np.mean([3 * args.steps * flops[bucket_for(s, size)] for s in sizes.values()])
    ideal = per_item_flops / rate
    result = {"date": datetime.date.today().isoformat(), "device": device,
              "gpu": torch.cuda.get_device_name(0) if device == "cuda" else None, "torch": torch.__version__,
              "model": "tiny-random" if args.tiny else (args.model or "sd15-pix2pix-random"),
              "photos": len(photos), "items": len(photos) * len(PROMPTS), "steps": args.steps,
              "batch_size": args.batch_size, "buckets": [list(b) for b in buckets],
              "matmul_tflops": round(rate / 1e12, 2), "roofline_s_per_item": round(ideal, 4),
              "reference_s_per_item": None if args.no_reference else round(ref_s, 4), "preview_1x4_20steps": previews,
              "runs": []}
    for r in runs:
        result["runs"].append({
            "variant": r["tag"], "items": r["items"], "wall_s": r["wall_s"],
            "e2e_s_per_item": round(r["e2e_s_per_item"], 4), "steady_s_per_item": round(r["steady_s_per_item"], 4),
            "overhead_s": r["overhead_s"], "peak_gpu_gib": r["peak_gpu_gib"],
            "speedup_steady": None if args.no_reference else round(ref_s / r["steady_s_per_item"], 2),
            "speedup_e2e": None if args.no_reference else round(ref_s / r["e2e_s_per_item"], 2),
            "roofline_fraction": round(ideal / r["steady_s_per_item"], 3),
            "editor_events": r["editor_events"]})
    text = json.dumps(result)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    if tmp is not None:
        tmp.cleanup()
    return result


if __name__ == "__main__":
    main()
