"""Benchmark: one generation job, serial (``--workers 1``) against the threaded path, in one process.

Both runs do the same job from scratch (own run folder, own edit cache, in-process fractal caches cleared):
the shipped ``sample_data/lab`` images with a few prompts and the offline style filter (no AI model). Prints
items/s of each, the speed-up, and checks that the two runs wrote identical manifests (timings aside), GenMix
PNGs and cached edits, byte for byte.

Usage::

    python bench/bench_generate.py [--data sample_data/lab] [--prompts "snowy,sunset,dim lighting"]
                                   [--workers N] [--batch-size 4] [--simulate-gpu 0.05]

``--simulate-gpu S`` adds S seconds of waiting per edit to the style filter and lets the job treat it like a
diffusion editor (batches edited on the main thread, mixing and PNG writes overlapped on the pool). It stands
for an accelerator that is busy while the CPU would otherwise idle; the pixels are still the style filter's.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from genmix_core.generate import manifest  # noqa: E402
from genmix_core.editing.offline import OfflineStyleEditor  # noqa: E402
from genmix_core.generate import GenerateConfig, create_editor_for, run_generation  # noqa: E402
from genmix_core.generate.pipeline import available_cpus  # noqa: E402
from genmix_core.mixing import fractals  # noqa: E402
from genmix_core.paths import SAMPLE_DATA_DIR  # noqa: E402


class WaitingStyleFilter(OfflineStyleEditor):
    """The style filter plus a fixed wait per edit, posing as a batch (accelerator) editor. Benchmarks only."""

    def __init__(self, seconds_per_edit: float, **kw):
        super().__init__(**kw)
        self.seconds_per_edit = seconds_per_edit
        self.info = replace(self.info, is_diffusion=True)

    def _edit_batch(self, images, prompts, seeds):
        out = super()._edit_batch(images, prompts, seeds)
        time.sleep(self.seconds_per_edit * len(images))  # like a CUDA sync: the GIL is free meanwhile
        return out


def _clear_process_caches() -> None:
    """Forget rendered fractals, so the second run does not reuse the first one's work."""
    for fn in (fractals._cached, fractals._good_attempt, fractals._ifs_for):
        fn.cache_clear()


def _outputs(out: Path):
    df = manifest.load_manifest(out).drop(columns=["seconds"])
    rows = df.astype(object).where(df.notna(), None).to_dict("records")
    files = {p: (out / p).read_bytes() for col in ("mix_path", "edit_path") for p in df[col] if p}
    return rows, files


def _run(cfg: GenerateConfig, simulate_gpu: float):
    _clear_process_caches()
    editor = create_editor_for(cfg.resolved())
    if simulate_gpu:
        editor = WaitingStyleFilter(simulate_gpu, filters=editor._filters)
    start = time.perf_counter()
    summary = run_generation(cfg, editor=editor)
    seconds = time.perf_counter() - start
    return summary, seconds


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=str(SAMPLE_DATA_DIR / "lab"))
    p.add_argument("--prompts", default="snowy,sunset,dim lighting")
    p.add_argument("--workers", type=int, help="threads of the new path (default: auto)")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--simulate-gpu", type=float, default=0.0, metavar="S",
                   help="seconds of accelerator wait per edit (see the module docstring)")
    p.add_argument("--out", help="keep the run folders here (default: a temporary folder)")
    args = p.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench_generate_") as tmp:
        root = Path(args.out) if args.out else Path(tmp)
        prompts = [s.strip() for s in args.prompts.split(",") if s.strip()]
        results = {}
        for name, workers in (("serial", 1), ("threaded", args.workers)):
            cfg = GenerateConfig(data=args.data, out=str(root / name), prompts=prompts, editor="offline",
                                 batch_size=args.batch_size, workers=workers)
            summary, seconds = _run(cfg, args.simulate_gpu)
            results[name] = (summary, seconds)
            print(f"{name:9s} workers={summary.workers:<3d} {summary.done} items in {seconds:6.2f} s "
                  f"= {summary.done / seconds:6.1f} items/s", flush=True)
        (s_sum, s_sec), (t_sum, t_sec) = results["serial"], results["threaded"]
        same = _outputs(root / "serial") == _outputs(root / "threaded")
        print(f"speed-up {s_sec / t_sec:.2f}x on {available_cpus()} CPU cores"
              f"{f', simulated accelerator wait {args.simulate_gpu} s/edit' if args.simulate_gpu else ''}; "
              f"outputs identical: {same}")
        return 0 if same and s_sum.done == t_sum.done else 1


if __name__ == "__main__":
    raise SystemExit(main())
