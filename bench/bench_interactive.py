"""Is the interactive preview fast enough on a CPU? Times the mixing kernels and the offline style filter.

Run: ``python bench/bench_interactive.py [--size 512] [--repeats 7] [--all-recipes]``

Prints the median of several repeats for, at ``size``²:
  - a full mix (mask + hybrid + procedural fractal + blend, through ``apply_mix``), fractal uncached and cached;
  - a procedural fractal alone, uncached (a new seed each repeat) and cached;
  - one offline style-filter edit per prompt, if ``genmix_core.editing.offline`` is importable.
Targets: mix ≤ 0.05 s, edit ≤ 0.1 s (one core). A script, not a test: numbers depend on the machine and load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

# Measure one core, as the target says (numpy/BLAS would otherwise use every core it finds).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from genmix_core.mixing import MixParams, apply_mix, procedural_fractal  # noqa: E402

MIX_TARGET_S = 0.05
EDIT_TARGET_S = 0.1
PROMPTS = ("snowy", "watercolor art", "ukiyo-e", "a sketch with crayon", "dim lighting", "motion blur")


def test_image(size: int) -> Image.Image:
    """A photo-like 512² picture: a sample-data image if there is one, else smooth gradients and shapes."""
    samples = sorted((Path(__file__).resolve().parents[1] / "sample_data").rglob("*.png"))
    if samples:
        return Image.open(samples[0]).convert("RGB").resize((size, size), Image.Resampling.BICUBIC)
    y, x = np.mgrid[0:size, 0:size] / size
    rgb = np.stack([0.5 + 0.4 * np.sin(6 * x), 0.4 + 0.3 * y, 0.3 + 0.3 * np.cos(4 * x * y)], -1)
    rgb[(x - 0.5) ** 2 + (y - 0.55) ** 2 < 0.05] *= 0.4
    return Image.fromarray((rgb * 255).astype(np.uint8), "RGB")


def median_seconds(fn, repeats: int) -> tuple[float, float]:
    """Median wall time and median CPU time of ``fn(i)`` over ``repeats`` calls (after one warm-up call).

    CPU time is what the work costs on an idle core; wall time also counts waiting for a busy machine.
    """
    fn(-1)
    walls, cpus = [], []
    for i in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        fn(i)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def report(label: str, seconds: tuple[float, float], target: float | None) -> bool:
    """Print one line; PASS/FAIL is judged on wall time (the stricter of the two)."""
    wall, cpu = seconds
    verdict = "" if target is None else ("PASS" if wall <= target else "FAIL")
    goal = "" if target is None else f"≤ {target * 1000:.0f} ms"
    print(f"  {label:<40} {wall * 1000:8.1f} {cpu * 1000:8.1f}   {goal:<10} {verdict}")
    return target is None or wall <= target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--all-recipes", action="store_true", help="time every offline recipe, not a few")
    args = parser.parse_args()
    size, repeats = args.size, args.repeats
    original = test_image(size)
    edited = original.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    base_seed = 10_000_000 + int(time.time())  # fresh seeds: nothing cached from an earlier run
    ok = True
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"GenMix interactive benchmark, {size}×{size}, median of {repeats}, 1 thread, "
          f"{os.cpu_count()} CPUs, load average {load:.2f}")
    print(f"  {'':<40} {'wall ms':>8} {'CPU ms':>8}   target")

    print("Mixing")
    mask_kinds = ("left_right", "radial")

    def mix_uncached(i):
        apply_mix(original, edited, MixParams(mask_kinds[i % 2], 0.08, 0.35, 0.15, 0.2, base_seed + 100 + i))

    cached_params = MixParams("radial", 0.08, 0.35, 0.15, 0.2, base_seed)
    ok &= report("full mix, new fractal (apply_mix)", median_seconds(mix_uncached, repeats), MIX_TARGET_S)
    ok &= report("full mix, cached fractal (apply_mix)",
                 median_seconds(lambda i: apply_mix(original, edited, cached_params), repeats), MIX_TARGET_S)
    def fractal_uncached(i):
        procedural_fractal(base_seed + 200 + i, size, size)

    report("procedural fractal, uncached", median_seconds(fractal_uncached, repeats), None)
    report("procedural fractal, cached",
           median_seconds(lambda i: procedural_fractal(base_seed, size, size), repeats), None)

    try:
        from genmix_core.editing.offline import RECIPES, OfflineStyleEditor
    except ImportError as exc:
        print(f"Offline style filter: not importable ({exc}); skipped")
    else:
        editor = OfflineStyleEditor()
        prompts = [r.aliases[0] for r in RECIPES.values()] if args.all_recipes else list(PROMPTS)
        print("Offline style filter (no AI model), one edit")
        for prompt in prompts:
            if not editor.can_edit(prompt):
                print(f"  {prompt!r}: no recipe; skipped")
                continue
            seconds = median_seconds(lambda i, p=prompt: editor.edit(original, p, seed=i + 1), repeats)
            ok &= report(f"edit {prompt!r}", seconds, EDIT_TARGET_S)
    print("ALL PASS" if ok else "SOME FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
