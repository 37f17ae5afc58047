"""Benchmark and calibration of the quality filter (issue #11), on the shipped sample photos, CPU only.

``study``: how the similarity separates good edits from destroyed ones, per feature size and precision; the
default floor is read from it. For the 150 ``sample_data/lab`` photos it embeds

* every style-filter edit (the 22 curated prompts of the three sets: label-preserving by construction),
* edits of an untrained (random-weight) InstructPix2Pix pipeline (what a broken model gives: noise-like),
* uniform noise pictures, and pairs of originals (same class, other class),

and prints percentiles of each, the share of style edits the per-class 3σ rule keeps, and the floor: the smallest
multiple of 0.05 above the 99.9th percentile of both garbage kinds (random-pipeline edits, noise), with the share
of style edits it keeps (per prompt set, alone and with the 3σ rule).

``speed``: the filter's cost per picture on ``--device`` (resize to the backbone's input on the CPU; forward
pass in the filter's batches), then whole generation runs through the CLI (``python -m genmix_core.generate``,
the offline style filter, the 150 sample photos, the first N prompts of the factory set, for each N of
``--prompts``), with ``--no-filter`` and with the filter (on by default), alternating in ABBA order,
``--repeats`` times each. Reported per N: median wall and CPU (user+sys of the CLI process) time, the slowdown
(filter / no filter − 1; target ≤ 20 % on the CPU), the filter's cost per item from the difference, and a
re-filter of a finished run with another floor (features already stored: nothing is embedded again). The
style filter always runs on the CPU; ``--device cpu`` hides any GPU from the CLI (``CUDA_VISIBLE_DEVICES=``),
``--device cuda`` lets the filter use it (as the default device choice does).

Usage::

    python bench/bench_quality.py study [--sizes 128] [--float32] [--out bench/results/quality_study.json]
    python bench/bench_quality.py speed [--device cpu|cuda] [--prompts 4,8] [--repeats 3] [--photo-size N]
                                        [--out FILE]

The CPU machine (2 cores) is shared with other jobs: compare the alternating runs' ratios and CPU times, not
absolute wall times across days; each run records the 1-minute load average.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from genmix_core.quality import FeatureExtractor, cosine, fit_class, load_extractor  # noqa: E402

DATA = REPO / "sample_data" / "lab"
SETS = ("factory", "classification", "domain_adaptation")
RANDOM_PROMPTS = ("snowy", "dim lighting")


def _originals():
    from PIL import Image

    paths = sorted(DATA.glob("*/*.png"))
    return [p.parent.name for p in paths], [Image.open(p).convert("RGB") for p in paths]


def _style_edits(images):
    from genmix_core.editing import create_editor
    from genmix_core.prompts import list_prompt_sets

    prompts = [p for s in list_prompt_sets(None) if s.name in SETS for p in s.prompts]
    editor = create_editor("offline", filters=prompts)
    out = {}
    for p in prompts:
        out[p.text] = editor.edit_batch(images, [p.text] * len(images), list(range(len(images))))
    return out


def _random_edits(images):
    from genmix_core.editing import create_editor
    from genmix_core.editing.testing import make_tiny_pix2pix

    with tempfile.TemporaryDirectory() as tmp:
        editor = create_editor("instruct-pix2pix", model=str(make_tiny_pix2pix(Path(tmp) / "p2p")), steps=2,
                               size=128)
        return [e for p in RANDOM_PROMPTS for e in
                editor.edit_batch(images, [p] * len(images), list(range(len(images))))]


def _extractor(size: int, dtype_name: str | None) -> FeatureExtractor:
    import torch

    from genmix_core.quality.backbones import pick_dtype
    from genmix_core.quality.lite0 import Lite0Features

    dtype = getattr(torch, dtype_name) if dtype_name else pick_dtype("cpu")
    model = Lite0Features(size).to(dtype=dtype).to(memory_format=torch.channels_last)
    return FeatureExtractor(f"lite0-{size}", size, "cpu", str(dtype).replace("torch.", ""), model)


def _embed(ex: FeatureExtractor, images) -> np.ndarray:
    return np.concatenate([ex.embed(images[i:i + 32]) for i in range(0, len(images), 32)])


def _pct(x) -> dict:
    return {f"p{q}": round(float(np.percentile(x, q)), 4) for q in (0.1, 1, 5, 50, 95, 99, 99.9)}


def study(args) -> dict:
    labels, originals = _originals()
    rng = np.random.default_rng(0)
    noise = [__import__("PIL.Image").Image.fromarray(rng.integers(0, 256, (160, 160, 3), dtype=np.uint8))
             for _ in originals]
    style = _style_edits(originals)
    from genmix_core.prompts import list_prompt_sets

    prompt_sets = {s.name: [p.text for p in s.prompts] for s in list_prompt_sets(None) if s.name in SETS}
    random_edits = _random_edits(originals)
    configs = [(int(s), None) for s in args.sizes.split(",")] + ([(128, "float32")] if args.float32 else [])
    results = {}
    for size, dtype in configs:
        ex = _extractor(size, dtype)
        fo = _embed(ex, originals)
        sims_style = {p: cosine(_embed(ex, e), fo) for p, e in style.items()}
        all_style = np.concatenate(list(sims_style.values()))
        sims_random = cosine(_embed(ex, random_edits), np.concatenate([fo] * len(RANDOM_PROMPTS)))
        sims_noise = cosine(_embed(ex, noise), fo)
        lab = np.array(labels)
        fits = {c: fit_class(fo[lab == c]) for c in sorted(set(labels))}
        gram = (fo / np.linalg.norm(fo, axis=1, keepdims=True)) @ (fo / np.linalg.norm(fo, axis=1, keepdims=True)).T
        other = gram[lab[:, None] != lab[None, :]]
        limits = np.array([fits[c].limit(3.0) for c in labels])
        kept_3s = {p: float(np.mean(s >= limits)) for p, s in sims_style.items()}
        # The floor: the smallest multiple of 0.05 above the 99.9th percentile of both kinds of garbage (edits of
        # the untrained pipeline, noise), so that at least 99.9 % of them fall below it.
        garbage = max(np.percentile(sims_random, 99.9), np.percentile(sims_noise, 99.9))
        floor = float(np.floor(garbage * 20 + 1) / 20)
        both = {p: float(np.mean((s >= floor) & (s >= limits))) for p, s in sims_style.items()}
        results[f"{size}-{ex.dtype}"] = {
            "style": _pct(all_style), "random_pipeline": _pct(sims_random), "noise": _pct(sims_noise),
            "other_class_originals": _pct(other),
            "class_fits": {c: f.to_dict() for c, f in fits.items()},
            "style_kept_by_3sigma": round(float(np.mean(list(kept_3s.values()))), 4),
            "style_kept_by_3sigma_per_prompt": {p: round(v, 3) for p, v in sorted(kept_3s.items(), key=lambda x: x[1])},
            "style_mean_per_prompt": {p: round(float(s.mean()), 4) for p, s in sims_style.items()},
            "floor": floor,
            "candidate_floors": {f"{f:.2f}": {"style_kept": round(float(np.mean(all_style >= f)), 4),
                                              "random_rejected": round(float(np.mean(sims_random < f)), 4),
                                              "noise_rejected": round(float(np.mean(sims_noise < f)), 4)}
                                 for f in np.arange(0.20, 0.551, 0.05)},
            "style_kept_by_floor": round(float(np.mean(all_style >= floor)), 4),
            "random_rejected_by_floor": round(float(np.mean(sims_random < floor)), 4),
            "noise_rejected_by_floor": round(float(np.mean(sims_noise < floor)), 4),
            "random_rejected_by_floor_or_3sigma": round(float(np.mean(
                (sims_random < floor) | (sims_random < np.tile(limits, len(RANDOM_PROMPTS))))), 4),
            "style_kept_by_both_per_set": {name: round(float(np.mean([both[p] for p in texts])), 4)
                                           for name, texts in prompt_sets.items()},
            "style_kept_by_both": round(float(np.mean(list(both.values()))), 4),
            "style_kept_by_both_per_prompt": {p: round(v, 3) for p, v in sorted(both.items(), key=lambda x: x[1])},
        }
        r = results[f"{size}-{ex.dtype}"]
        print(f"{size:4d} {ex.dtype:8s} style p1 {r['style']['p1']:.3f} p50 {r['style']['p50']:.3f} | random "
              f"p50 {r['random_pipeline']['p50']:.3f} p99.9 {r['random_pipeline']['p99.9']:.3f} | noise p99.9 "
              f"{r['noise']['p99.9']:.3f} | floor {floor:.2f}: style kept {r['style_kept_by_floor']:.3f}, random "
              f"rejected {r['random_rejected_by_floor']:.3f} | 3σ keeps {r['style_kept_by_3sigma']:.3f} | both keep "
              f"{r['style_kept_by_both']:.3f} {r['style_kept_by_both_per_set']}", flush=True)
    return results


def _cpu_children() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _cli(data: Path, out: Path, prompts: list[str], extra: list[str], env: dict) -> tuple[float, float]:
    """One generation run through the CLI, as a user starts it: ``(wall s, CPU s of the process)``."""
    cmd = [sys.executable, "-m", "genmix_core.generate", "--data", str(data), "--out", str(out), "--prompt-set",
           "factory", "--prompts", ",".join(prompts), *extra]
    c0, t0 = _cpu_children(), time.perf_counter()
    done = subprocess.run(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    if done.returncode:   # say why: a missing package, a full disk ...
        raise SystemExit(f"the CLI failed (exit {done.returncode}): {' '.join(cmd)}\n{done.stderr[-2000:]}")
    return time.perf_counter() - t0, _cpu_children() - c0


def _forward_cost(device: str) -> dict:
    """The filter's cost per picture: resizing to the backbone's input (CPU, beside the run) and the forward pass
    in the filter's batches, on ``device`` (CUDA: timed after a synchronize)."""
    import torch

    from genmix_core.generate.filtering import cpu_threads

    _, originals = _originals()
    ex = load_extractor(device=device)
    pictures = (originals * (1 + 1024 // len(originals)))[:1024] if device == "cuda" else originals
    with cpu_threads(ex.device):   # as the filter runs: one torch thread on a CPU
        t0, c0 = time.perf_counter(), time.process_time()
        arrays = [ex.prepare(im) for im in pictures]
        prepare_ms = 1000 * (time.process_time() - c0) / len(pictures)
        ex.embed_arrays(arrays[:ex.batch_size])   # warm-up (kernels, caches)

        def sync():
            if device == "cuda":
                torch.cuda.synchronize()

        sync()
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(0, len(arrays), ex.batch_size):
            ex.embed_arrays(arrays[i:i + ex.batch_size])
        sync()
        wall = time.perf_counter() - t0
        cpu = time.process_time() - c0
    result = {"features": ex.key, "device": ex.device, "batch": ex.batch_size, "pictures": len(pictures),
              "prepare_cpu_ms": round(prepare_ms, 3), "forward_wall_ms": round(1000 * wall / len(pictures), 3),
              "forward_cpu_ms": round(1000 * cpu / len(pictures), 3)}
    if device == "cuda":
        result["gpu"] = torch.cuda.get_device_name()
    print(f"filter per picture on {ex.device} ({ex.key}, batch {ex.batch_size}): resize {prepare_ms:.2f} ms CPU, "
          f"forward {result['forward_wall_ms']:.2f} ms wall / {result['forward_cpu_ms']:.2f} ms CPU", flush=True)
    return result


def _resized_photos(root: Path, side: int) -> Path:
    """The sample photos resized (bicubic) to ``side`` px squares in ``root/<class>/`` (line-camera sizes)."""
    from PIL import Image

    for path in sorted(DATA.glob("*/*.png")):
        (root / path.parent.name).mkdir(parents=True, exist_ok=True)
        with Image.open(path) as im:
            im.convert("RGB").resize((side, side), Image.BICUBIC).save(root / path.parent.name / path.name)
    return root


def speed(args) -> dict:
    """The filter's cost per picture, then whole CLI runs of the style filter on the sample photos with and
    without the quality filter (alternating, ABBA order), for each prompt count."""
    from genmix_core.prompts import list_prompt_sets

    per_image = _forward_cost(args.device)
    # The repo first, then what the caller had (packages installed with --target, as on the GPU machine).
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    if args.device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""   # the filter on the CPU even where a GPU is present
    factory = [p.text for p in next(s for s in list_prompt_sets(None) if s.name == "factory").prompts]
    n_photos = len(list(DATA.glob("*/*.png")))
    table = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = _resized_photos(Path(tmp) / "photos", args.photo_size) if args.photo_size else DATA
        for n in [int(x) for x in args.prompts.split(",")]:
            prompts = factory[:n]
            runs: dict[str, list] = {"no_filter": [], "filter": []}
            for r in range(args.repeats):
                order = (("no_filter", ["--no-filter"]), ("filter", []))
                for name, extra in (order if r % 2 == 0 else order[::-1]):
                    wall, cpu = _cli(data, Path(tmp) / f"{n}-{name}{r}", prompts, extra, env)
                    runs[name].append({"wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
                                       "load_1min": round(os.getloadavg()[0], 2)})
                    print(f"{n} prompts, run {r} {name:9s}: {wall:6.1f} s wall, {cpu:6.1f} s CPU", flush=True)
            # The filter again on a finished run (its features stored): a rerun with another floor.
            refilter = _cli(data, Path(tmp) / f"{n}-filter0", prompts, ["--filter-floor", "0.5"], env)
            items = n_photos * n
            med = {k: {m: float(np.median([x[m] for x in v])) for m in ("wall_s", "cpu_s")} for k, v in runs.items()}
            slowdown = {m: round(med["filter"][m] / med["no_filter"][m] - 1, 3) for m in ("wall_s", "cpu_s")}
            table[str(n)] = {
                "prompts": prompts, "items": items, "runs": runs, "median": med, "slowdown": slowdown,
                "filter_cost_per_item_ms": {m.replace("_s", ""): round(
                    1000 * (med["filter"][m] - med["no_filter"][m]) / items, 2) for m in ("wall_s", "cpu_s")},
                "refilter_wall_s": round(refilter[0], 2), "refilter_cpu_s": round(refilter[1], 2)}
    print(f"\n{'prompts':>7} {'items':>5} {'no filter s':>11} {'filter s':>9} {'slowdown wall':>13} "
          f"{'slowdown CPU':>12} {'re-filter s':>11}")
    for n, row in table.items():
        print(f"{n:>7} {row['items']:>5} {row['median']['no_filter']['wall_s']:>11.1f} "
              f"{row['median']['filter']['wall_s']:>9.1f} {100 * row['slowdown']['wall_s']:>12.1f}% "
              f"{100 * row['slowdown']['cpu_s']:>11.1f}% {row['refilter_wall_s']:>11.1f}")
    return {"device": args.device, "photo_size": args.photo_size or "as shipped (160 px)", "per_image": per_image,
            "cli": table}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("study")
    s.add_argument("--sizes", default="128")
    s.add_argument("--float32", action="store_true", help="also the 128 px float32 row (precision check)")
    s.add_argument("--out", default=str(REPO / "bench" / "results" / "quality_study.json"))
    sp = sub.add_parser("speed")
    sp.add_argument("--device", default="cpu", choices=("cpu", "cuda"),
                    help="where the filter runs (the style filter itself always runs on the CPU)")
    sp.add_argument("--prompts", default="4,8", help="prompt counts of the factory set to run, comma-separated "
                                                     "(8 = the whole set, the CLI's default for --prompt-set factory)")
    sp.add_argument("--repeats", type=int, default=3)
    sp.add_argument("--photo-size", type=int, default=0,
                    help="resize the sample photos to this many pixels a side first (default: as shipped, 160)")
    sp.add_argument("--out", default=str(REPO / "bench" / "results" / "quality_speed.json"))
    args = p.parse_args()
    import torch

    result = {"cmd": args.cmd, "torch_threads": torch.get_num_threads(), "cpus": os.cpu_count(),
              "load_average": os.getloadavg(), "date": time.strftime("%Y-%m-%d %H:%M"),
              **(study(args) if args.cmd == "study" else speed(args))}
    result["load_average_after"] = os.getloadavg()
    Path(args.out).write_text(json.dumps(result, indent=1, ensure_ascii=False), encoding="utf-8")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
