"""Render procedural fractals in a process of their own: ``python -m genmix_core.mixing.render_main``.

Reads ``{"seeds": [...], "height": H, "width": W}`` (JSON) on stdin and writes the fractals to stdout as raw
``uint8`` bytes, ``(len(seeds), 3, H, W)`` in seed order, quantised as
:func:`genmix_core.mixing.fractals.quantize`. The same code renders the same bits as in the parent process.

Why a process: a fractal's chaos game is many small numpy steps that hold the GIL, so rendering a training
run's fractal pool on threads beside the thread that drives a GPU slowed that thread: on an H200 the baseline's
training took 1.6-1.9 s beside such threads and 0.9-1.0 s beside these processes (``bench/bench_train.py``,
session 11; see :func:`genmix_core.mixing.torch_ops.prefetch_fractal_bank`). Imports numpy and PIL only, never
torch.
"""

from __future__ import annotations

import json
import sys

from genmix_core.mixing.fractals import procedural_fractal, quantize


def main() -> int:
    job = json.load(sys.stdin)
    height, width = int(job["height"]), int(job["width"])
    # All rendered before the first byte is written: the parent reads its children one after another, so a child
    # that wrote as it went would stop at a full pipe and render no faster than one process.
    images = [quantize(procedural_fractal(int(seed), height, width)) for seed in job["seeds"]]
    out = sys.stdout.buffer
    for image in images:
        out.write(image.tobytes())
    out.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
