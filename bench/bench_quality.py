"""Benchmark and calibration of the quality filter (issue #11), on the shipped sample photos, CPU only.

``study``: how the similarity separates good edits from destroyed ones, per feature size and precision; the
default floor is read from it. For the 150 ``sample_data/lab`` photos it embeds

* every style-filter edit (the 22 curated prompts of the three sets: label-preserving by construction),
* edits of an untrained (random-weight) InstructPix2Pix pipeline (what a broken model gives: noise-like),
* uniform noise pictures, and pairs of originals (same class, other class),

and prints percentiles of each, the share of style edits the per-class 3σ rule keeps, and the floor: the smallest
multiple of 0.05 above the 99.9th percentile of both garbage kinds (random-pipeline edits, noise), with the share
of style edits it keeps (per prompt set, alone and with the 3σ rule).

``speed``: the filter's cost per image (forward pass, and the whole filter pass of a finished run), then the
CLI (``python -m genmix_core.generate``) on the sample photos with ``--no-filter`` and with the filter,
alternating, ``--repeats`` times each; prints wall and CPU (user+sys) time and their ratios.

Usage::

    python bench/bench_quality.py study [--sizes 128] [--float32] [--out bench/results/quality_study.json]
    python bench/bench_quality.py speed [--prompts N] [--repeats 3] [--out bench/results/quality_speed.json]

The machine this ran on (2 shared cores) was loaded by other jobs: compare CPU times and the alternating runs'
ratios, not absolute wall times across days. No GPU figure: no GPU was available for this measurement.
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


def _cli(out: Path, prompts: list[str], extra: list[str]) -> tuple[float, float]:
    cmd = [sys.executable, "-m", "genmix_core.generate", "--data", str(DATA), "--out", str(out), "--prompt-set",
           "factory", "--prompts", ",".join(prompts), *extra]
    c0, t0 = _cpu_children(), time.perf_counter()
    subprocess.run(cmd, cwd=REPO, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0, _cpu_children() - c0


def speed(args) -> dict:
    from genmix_core.prompts import list_prompt_sets

    from genmix_core.generate.filtering import cpu_threads

    labels, originals = _originals()
    ex = load_extractor()
    with cpu_threads(ex.device):   # as the filter runs: one torch thread on a CPU
        ex.embed(originals[:8])
        t0, c0 = time.perf_counter(), time.process_time()
        _embed(ex, originals)
    per_image = {"wall_ms": 1000 * (time.perf_counter() - t0) / len(originals),
                 "cpu_ms": 1000 * (time.process_time() - c0) / len(originals), "features": ex.key}
    print(f"forward pass: {per_image['wall_ms']:.1f} ms wall, {per_image['cpu_ms']:.1f} ms CPU per image "
          f"({ex.key}, batch {ex.batch_size}, {os.cpu_count()} cores)", flush=True)
    factory = [p.text for p in next(s for s in list_prompt_sets(None) if s.name == "factory").prompts]
    prompts = factory[:args.prompts]
    runs = {"no_filter": [], "filter": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for name, extra in (("no_filter", ["--no-filter"]), ("filter", [])):
                wall, cpu = _cli(Path(tmp) / f"{name}{r}", prompts, extra)
                runs[name].append({"wall_s": round(wall, 2), "cpu_s": round(cpu, 2)})
                print(f"run {r} {name:9s}: {wall:6.1f} s wall, {cpu:6.1f} s CPU", flush=True)
        # The filter pass alone on a finished run (features computed, then cached): a rerun of run 0.
        refilter = _cli(Path(tmp) / "filter0", prompts, ["--filter-floor", "0.5"])
    med = {k: {m: float(np.median([x[m] for x in v])) for m in ("wall_s", "cpu_s")} for k, v in runs.items()}
    ratio = {m: round(med["filter"][m] / med["no_filter"][m], 3) for m in ("wall_s", "cpu_s")}
    items = len(originals) * len(prompts)
    print(f"{items} items ({len(prompts)} prompts): median with/without filter = {ratio['wall_s']:.3f} wall, "
          f"{ratio['cpu_s']:.3f} CPU; re-filter of a finished run {refilter[0]:.1f} s wall", flush=True)
    return {"per_image": per_image, "items": items, "prompts": prompts, "runs": runs, "median": med,
            "ratio": ratio, "refilter_wall_s": round(refilter[0], 2), "refilter_cpu_s": round(refilter[1], 2)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("study")
    s.add_argument("--sizes", default="128")
    s.add_argument("--float32", action="store_true", help="also the 128 px float32 row (precision check)")
    s.add_argument("--out", default=str(REPO / "bench" / "results" / "quality_study.json"))
    sp = sub.add_parser("speed")
    sp.add_argument("--prompts", type=int, default=4)
    sp.add_argument("--repeats", type=int, default=3)
    sp.add_argument("--out", default=str(REPO / "bench" / "results" / "quality_speed.json"))
    args = p.parse_args()
    import torch

    result = {"cmd": args.cmd, "torch_threads": torch.get_num_threads(), "cpus": os.cpu_count(),
              "load_average": os.getloadavg(), "date": time.strftime("%Y-%m-%d %H:%M"),
              **(study(args) if args.cmd == "study" else speed(args))}
    Path(args.out).write_text(json.dumps(result, indent=1, ensure_ascii=False), encoding="utf-8")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
