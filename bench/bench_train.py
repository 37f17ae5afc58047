"""Benchmark: the shipped sample set, trained in the lab and tested on the line, baseline vs GenMix, one seed.

Target (docs performance.md): the whole thing (generation with the offline style filter, both fine-tunes,
evaluation with FGSM/PGD) in ≤ 3 minutes on 2 CPU cores, while still learning. Defaults chosen for that:
EfficientNet-Lite0 (ImageNet, offline wheel), head-only fine-tune, 112 px, 10 epochs over the original
training images (40 steps of 32), 3 factory prompts. Evidence defaults (issue #15): 5 seeds (each draws its
split, generation and training), ε 1/255, 2/255, 4/255, PGD 50 steps × 2 restarts; ``--seeds 0`` for the quick
timing run.

Usage::

    python bench/bench_train.py [--data sample_data/lab] [--test sample_data/line] [--out DIR] [--threads 2]
    python bench/bench_train.py --epochs 20 --conditions baseline,genmix,edits   # any compare setting

Prints the time of each phase, the accuracies and the matched budget; the run folder keeps results.json.

Fashion-MNIST (Debian ``dataset-fashion-mnist``, IDX files) as class folders for the evidence runs::

    python bench/bench_train.py --prepare-fashion-mnist /tmp/fmnist --per-class 100
    # -> /tmp/fmnist/train/<class>/*.png (first N per class of the training set),
    #    /tmp/fmnist/test/<class>/*.png  (first 100 per class of the official test set)
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

_T0 = time.perf_counter()  # before torch and the project are imported: the import time is reported apart

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from genmix_core.train import CompareConfig, format_table, run_compare  # noqa: E402
from genmix_core.paths import SAMPLE_DATA_DIR  # noqa: E402

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_CLASSES = ("t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
                   "ankle-boot")
PROMPTS = ["warm tungsten lighting", "harsh overhead lighting with glare", "low resolution noisy camera"]


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzip): 2 zero bytes, dtype code, number of dims, big-endian int32 dims, then the data."""
    raw = gzip.open(path, "rb").read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _as_rgb(image: np.ndarray) -> Image.Image:
    return Image.fromarray(image).convert("RGB")


def prepare_fashion_mnist(out: Path, per_class: int, test_per_class: int = 100,
                          source: Path = FASHION_MNIST_DIR, test_folder: str = "test",
                          test_image: Callable[[np.ndarray], Image.Image] = _as_rgb) -> None:
    """Write the first ``per_class`` training and ``test_per_class`` test images of each class as PNGs, in
    ``<out>/train`` and ``<out>/<test_folder>``; ``test_image`` turns a 28×28 test array into the stored picture
    (called class by class, in file order: a seeded transform gives the same files every time)."""
    parts = (("train", "train", per_class, _as_rgb), (test_folder, "t10k", test_per_class, test_image))
    for split, prefix, n, picture in parts:
        images = read_idx(source / f"{prefix}-images-idx3-ubyte.gz")
        labels = read_idx(source / f"{prefix}-labels-idx1-ubyte.gz")
        for c, name in enumerate(FASHION_CLASSES):
            folder = out / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in np.flatnonzero(labels == c)[:n]:
                picture(images[i]).save(folder / f"{prefix}_{i:05d}.png")
    print(f"wrote Fashion-MNIST class folders to {out} ({per_class} train, {test_per_class} {test_folder} per class)")


@contextlib.contextmanager
def profiled(folder: str | None, top: int = 25):
    """With ``folder``: the block under ``torch.profiler`` (CPU, and CUDA when present); prints the ``top`` ops by
    self CPU time and by self device time, and writes ``folder/trace.json.gz`` (Perfetto, chrome://tracing)."""
    if not folder:
        yield
        return
    from torch.profiler import ProfilerActivity, profile

    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if torch.cuda.is_available() else [])
    with profile(activities=acts) as prof:
        yield
    Path(folder).mkdir(parents=True, exist_ok=True)
    prof.export_chrome_trace(str(Path(folder) / "trace.json.gz"))
    table = prof.key_averages()
    print(table.table(sort_by="self_cpu_time_total", row_limit=top))
    if torch.cuda.is_available():
        print(table.table(sort_by="self_device_time_total", row_limit=top))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=str(SAMPLE_DATA_DIR / "lab"))
    p.add_argument("--test", default=str(SAMPLE_DATA_DIR / "line"))
    p.add_argument("--out", help="run folder (default: a temporary folder)")
    p.add_argument("--conditions", default="baseline,genmix")
    p.add_argument("--seeds", default="0,1,2,3,4")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--backbone", default="efficientnet_lite0")
    p.add_argument("--finetune", default="head")
    p.add_argument("--size", type=int, default=112)
    p.add_argument("--prompts", default=",".join(PROMPTS))
    p.add_argument("--eps", default="1/255,2/255,4/255")
    p.add_argument("--pgd-steps", type=int, default=50)
    p.add_argument("--pgd-restarts", type=int, default=2)
    p.add_argument("--steps-scale", default="1", help="budget sweep, e.g. 1,4,16")
    p.add_argument("--protocols", default="steps", help="steps, or steps,epochs for the authors' protocol too")
    p.add_argument("--cross-val-fraction", type=float, default=0.0)
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (the target machine has 2 cores)")
    p.add_argument("--device", default="auto")
    p.add_argument("--lr", type=float)
    p.add_argument("--prepare-fashion-mnist", metavar="DIR", help="only write Fashion-MNIST class folders")
    p.add_argument("--per-class", type=int, default=100)
    p.add_argument("--fashion-source", default=str(FASHION_MNIST_DIR), help="folder of the IDX .gz files")
    p.add_argument("--profile", metavar="DIR", help="run under torch.profiler (CPU and CUDA): the ops by self time "
                                                    "are printed, a Chrome trace is written to DIR (where the H200's "
                                                    "first-evaluation cost goes)")
    p.add_argument("--variable-shapes", action="store_true",
                   help="evaluate with the batch shapes of the data (as before session 6) instead of one padded "
                        "shape on a GPU: the A/B of genmix_core.train.evaluate.FixedBatch (one process each)")
    p.add_argument("--fractal-prefetch", choices=("processes", "threads"), default="processes",
                   help="how a GPU run renders the GenMix run's fractal pool beside the baseline: in processes of "
                        "its own (the product since session 11) or on threads of this process (before it): the A/B "
                        "of genmix_core.mixing.torch_ops.prefetch_fractal_bank")
    a = p.parse_args(argv)
    if a.fractal_prefetch == "threads":
        from genmix_core.mixing import torch_ops

        torch_ops._PREFETCH_PROCESSES = 0
    if a.variable_shapes:
        from genmix_core.train import evaluate

        evaluate.FIXED_SHAPE_DEVICES = ()
    if a.prepare_fashion_mnist:
        prepare_fashion_mnist(Path(a.prepare_fashion_mnist), a.per_class, source=Path(a.fashion_source))
        return 0
    torch.set_num_threads(a.threads)
    out = Path(a.out) if a.out else Path(tempfile.mkdtemp(prefix="bench_train_"))
    cfg = CompareConfig(
        data=a.data, test=a.test, out=str(out), conditions=a.conditions.split(","),
        seeds=[int(s) for s in a.seeds.split(",")], epochs=a.epochs, batch_size=a.batch_size, backbone=a.backbone,
        finetune=a.finetune, size=a.size, prompts=a.prompts.split(","), eps=a.eps.split(","),
        pgd_steps=a.pgd_steps, pgd_restarts=a.pgd_restarts, device=a.device, lr=a.lr,
        steps_scale=[int(s) for s in a.steps_scale.split(",")], protocols=a.protocols.split(","),
        cross_val_fraction=a.cross_val_fraction)
    start = time.perf_counter()
    with profiled(a.profile):
        results = run_compare(cfg)
    wall = time.perf_counter() - start
    train_eval = sum(r["stats"]["seconds"] + r["eval_seconds"] for r in results["runs"])
    print(f"device {results['runs'][0]['device']}, torch threads {torch.get_num_threads()}, "
          f"{a.backbone} ({a.finetune}), {a.size} px")
    print(f"{'arm':<16} {'seed':>4} {'pool':>6} {'train s':>8} {'eval s':>7} {'accuracy':>9} {'line':>6}")
    for r in results["runs"]:
        cross = r.get("cross_domain", {}).get("accuracy")
        print(f"{r.get('arm', r['condition']):<16} {r['seed']:>4} {r['stats']['pool_size']:>6} {r['stats']['seconds']:>8.1f} "
              f"{r['eval_seconds']:>7.1f} {r['in_domain']['accuracy']:>9.3f} "
              f"{'' if cross is None else f'{cross:.3f}':>6}")
    print(format_table(results))
    print(f"generation + loading: {wall - train_eval:.1f} s; training + evaluation: {train_eval:.1f} s; "
          f"wall: {wall:.1f} s (target for --seeds 0: ≤ 180 s on 2 CPU cores, ≤ 20 s on the H200); "
          f"before the clock (imports): {start - _T0:.1f} s")
    print("phases: " + ", ".join(f"{k} {v}" for k, v in results.get("timings", {}).items())
          + "; in-domain part of each evaluation: "
          + ", ".join(f"{r.get('eval_in_domain_seconds', float('nan')):.1f} s" for r in results["runs"]))
    print(f"results: {out / 'results.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
