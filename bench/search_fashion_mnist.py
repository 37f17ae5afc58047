"""Recipe search on Fashion-MNIST with a shifted "on-site" domain (issue 10's second data set).

    python bench/search_fashion_mnist.py --root /tmp/fm_search [--per-class 100] [--onsite-per-class 40] \
        [--device cuda] [extra search flags ...]

Training photos: the first ``--per-class`` images of each class of the official training set. On-site photos:
``--onsite-per-class`` images per class of the official *test* set (other garments), shown through another
camera: dimmer and lower in contrast (gain 0.65 around grey), a warm cast, a soft blur (Gaussian σ 0.8 px) and
sensor noise (σ 8 grey levels). Why this shift: it is the kind of change between a training bench and the shop
floor that the workbench's prompts describe (lighting, blur, a noisy camera), the same kind as the sample set's
lab → line gap, so the search is asked the question it exists for; the garments themselves stay recognisable to
a person. The shift is seeded (the same files every time).

Writes ``<root>/train``, ``<root>/onsite`` and the search into ``<root>/search``, then prints the search's summary
(``python -m genmix_core.search`` with ``--data``/``--test`` set, the camera prompts of the factory set, and
any extra flags). CPU works but is slow here (1,000 training images: 250 steps per base run); a GPU run is the
intended use.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

from bench_train import FASHION_MNIST_DIR, prepare_fashion_mnist  # noqa: E402

PROMPTS = "dim lighting,motion blur,out of focus,low-resolution noisy camera,warm tungsten lighting"


def shifted(image: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """One 28×28 grey image as the on-site camera sees it (RGB)."""
    grey = image.astype(np.float32)
    grey = 128 + 0.65 * (grey - 128) - 20                       # dimmer, lower contrast
    rgb = np.stack([grey * 1.08, grey * 0.98, grey * 0.82], -1)  # warm cast
    im = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(0.8))
    noisy = np.asarray(im, np.float32) + rng.normal(0, 8, (28, 28, 3))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def prepare(root: Path, per_class: int, onsite_per_class: int, source: Path = FASHION_MNIST_DIR) -> None:
    rng = np.random.default_rng(0)
    prepare_fashion_mnist(root, per_class, onsite_per_class, source, test_folder="onsite",
                          test_image=lambda image: shifted(image, rng))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", default="/tmp/fm_search")
    p.add_argument("--per-class", type=int, default=100)
    p.add_argument("--onsite-per-class", type=int, default=40)
    p.add_argument("--source", default=str(FASHION_MNIST_DIR), help="folder of the IDX .gz files")
    args, extra = p.parse_known_args()
    root = Path(args.root)
    if not (root / "train").is_dir():
        prepare(root, args.per_class, args.onsite_per_class, Path(args.source))
    cmd = [sys.executable, "-m", "genmix_core.search", "--data", str(root / "train"), "--test", str(root / "onsite"),
           "--prompts", PROMPTS, "--out", str(root / "search"), *extra]
    return subprocess.run(cmd, cwd=REPO).returncode


if __name__ == "__main__":
    raise SystemExit(main())
