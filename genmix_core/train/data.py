"""Data for Train & Compare: load class folders, split by original image, attach edits, build the pools.

The in-domain test set is a stratified, seeded hold-out of the *original* images. GenMix images and raw edits
are matched to their originals by content hash (sha256 of the file bytes, the ``image_hash`` column of a
generation manifest), so an edit of a held-out image, or of a duplicate of one, is never trained on.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd
import torch
from PIL import Image, ImageOps

from genmix_core.errors import UserError

def load_image_array(path: str | os.PathLike, size: int) -> np.ndarray:
    """An image file as ``uint8 (size, size, 3)``: EXIF-rotated, RGB, resized (bicubic, aspect not kept)."""
    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im).convert("RGB")
        return np.asarray(im.resize((size, size), Image.Resampling.BICUBIC), dtype=np.uint8)


def file_hash(path: str | os.PathLike) -> str:
    """sha256 of the file bytes (the ``image_hash`` of a generation manifest)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def scan_images(folder: str | os.PathLike) -> pd.DataFrame:
    """Class-folder images as a table ``[path, rel, label, hash]`` sorted by (label, rel)."""
    from genmix_core.data import scan_folder

    df = scan_folder(folder)
    if df.empty:
        raise UserError("err.train.no_images", path=str(folder))
    df = df.sort_values(["label", "rel"]).reset_index(drop=True)[["path", "rel", "label"]].copy()
    df["path"] = df["path"].astype(str)
    df["hash"] = [file_hash(p) for p in df["path"]]
    return df


def held_out_count(n_class_images: int, test_fraction: float) -> int:
    """How many of a class's originals the split holds out: the rounded fraction, at least 1, at most all but 1."""
    return min(max(1, int(round(n_class_images * test_fraction))), n_class_images - 1)


def planned_budget(class_counts: Iterable[int], epochs: int, batch_size: int, test_fraction: float = 0.2):
    """The budget a comparison will get on classes of these sizes (before it starts, for the Train page)."""
    from genmix_core.train.loop import Budget

    n_train = sum(max(0, int(n) - held_out_count(int(n), test_fraction)) for n in class_counts if int(n) >= 2)
    return Budget.for_epochs(max(1, n_train), epochs, batch_size)


def split_originals(df: pd.DataFrame, test_fraction: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stratified split of the original images into (train, test), seeded; at least one test image per class.

    Raises:
        UserError: ``err.train.too_few_images`` when a class has fewer than 2 images,
            ``err.train.one_class`` when there is only one class.
    """
    counts = df["label"].value_counts()
    if len(counts) < 2:
        raise UserError("err.train.one_class", path=str(Path(df["path"].iloc[0]).parent.parent))
    if counts.min() < 2:
        raise UserError("err.train.too_few_images", label=counts.idxmin(), n=int(counts.min()))
    rng = np.random.default_rng(seed)
    test_idx = []
    for label in sorted(counts.index):
        idx = df.index[df["label"] == label].to_numpy()
        n_test = held_out_count(len(idx), test_fraction)
        test_idx.extend(rng.permutation(idx)[:n_test].tolist())
    test_mask = df.index.isin(test_idx)
    return df[~test_mask].reset_index(drop=True), df[test_mask].reset_index(drop=True)


def load_edits(gen_dir: str | os.PathLike, train: pd.DataFrame, held_out_hashes: set[str]) -> pd.DataFrame:
    """Accepted, finished items of a generation run whose original is in ``train`` (matched by content hash).

    Returns:
        ``[orig_index, label, prompt, edit_path, mix_path, key]`` with absolute paths; items of held-out
        originals (or of images not in the training split) are dropped.
    """
    from genmix_core.generate.manifest import load_manifest

    gen = Path(gen_dir)
    man = load_manifest(gen)
    man = man[(man["status"] == "done") & man["accepted"].astype(bool)]
    by_hash = {h: i for i, h in enumerate(train["hash"])}
    rows = []
    for r in man.itertuples(index=False):
        if r.image_hash in held_out_hashes or r.image_hash not in by_hash:
            continue
        i = by_hash[r.image_hash]
        edit = Path(r.edit_path) if os.path.isabs(str(r.edit_path)) else gen / str(r.edit_path)
        mix = str(gen / str(r.mix_path)) if r.mix_path else ""   # empty: a run that stored edits only
        rows.append({"orig_index": i, "label": train["label"].iloc[i], "prompt": r.prompt,
                     "edit_path": str(edit), "mix_path": mix, "key": f"{r.image_hash}\x1f{r.prompt}"})
    return pd.DataFrame(rows, columns=["orig_index", "label", "prompt", "edit_path", "mix_path", "key"])


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """``uint8 (N, H, W, 3)`` → float32 ``(N, 3, H, W)`` in [0, 1].

    In channels-last memory (the permuted array's strides, which ``.float()`` keeps): a CPU runs this backbone's
    convolutions ×1.5 faster so (EfficientNet-Lite0, 64 images at 112 px on 2 cores: 0.32 against 0.50 s). A GPU
    evaluation sees every batch contiguous instead (:class:`~genmix_core.train.evaluate.FixedBatch`)."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div_(255.0)


@dataclass
class TrainingData:
    """Everything one comparison trains and tests on, held at training resolution.

    Attributes:
        classes: Class names in label-index order (sorted folder names of the training data).
        train, test: The original images of each split (``[path, rel, label, hash]``).
        train_images: ``uint8 (N_train, S, S, 3)``; ``train_labels``: ``(N_train,)`` int.
        test_x / test_y: In-domain test tensors ``(N_test, 3, S, S)`` in [0, 1] / ``(N_test,)``.
        cross / cross_x / cross_y: The second test domain (``--test``; its test part when a validation part is
            kept apart), or None.
        val / val_x / val_y: Training-domain validation originals (``--early-stop``), or None.
        cross_val / cross_val_x / cross_val_y: The second domain's validation part (``--cross-val-fraction``:
            for choosing settings, never for the reported test numbers), or None.
        edits: Rows of :func:`load_edits`; ``edit_images`` / ``mix_images`` their pixels (or None).
    """

    classes: list[str]
    train: pd.DataFrame
    test: pd.DataFrame
    train_images: np.ndarray
    train_labels: np.ndarray
    test_x: torch.Tensor
    test_y: torch.Tensor
    cross: pd.DataFrame | None = None
    cross_x: torch.Tensor | None = None
    cross_y: torch.Tensor | None = None
    val: pd.DataFrame | None = None
    val_x: torch.Tensor | None = None
    val_y: torch.Tensor | None = None
    cross_val: pd.DataFrame | None = None
    cross_val_x: torch.Tensor | None = None
    cross_val_y: torch.Tensor | None = None
    edits: pd.DataFrame | None = None
    edit_images: np.ndarray | None = None
    mix_images: np.ndarray | None = None

    @property
    def size(self) -> int:
        return int(self.train_images.shape[1])


def _load_stack(paths, size: int) -> np.ndarray:
    arrays = [load_image_array(p, size) for p in paths]
    return np.stack(arrays) if arrays else np.zeros((0, size, size, 3), np.uint8)


def prepare_data(data_dir: str | os.PathLike, *, size: int, test_fraction: float = 0.2, split_seed: int = 0,
                 test_dir: str | os.PathLike | None = None, val_fraction: float = 0.0,
                 cross_val_fraction: float = 0.0) -> TrainingData:
    """Scan, split and load the originals (and the second test domain, if given) at ``size`` pixels.

    Every split is stratified and drawn from ``split_seed`` (one run seed draws them all): the held-out test
    originals, then (``val_fraction`` > 0) a validation part of the remaining training originals, and
    (``cross_val_fraction`` > 0) a validation part of the second domain, kept apart from its test part.

    Raises:
        UserError: see :func:`split_originals`; ``err.train.test_classes`` when ``test_dir`` has a class
            the training data lacks.
    """
    from genmix_core.seeds import item_seed

    df = scan_images(data_dir)
    train, test = split_originals(df, test_fraction, split_seed)
    val = None
    if val_fraction > 0:
        train, val = split_originals(train, val_fraction, item_seed(split_seed, "val", ""))
    classes = sorted(df["label"].unique())
    index = {c: i for i, c in enumerate(classes)}

    def tensors(part: pd.DataFrame) -> tuple[torch.Tensor, torch.Tensor]:
        return (to_tensor(_load_stack(part["path"], size)),
                torch.tensor(part["label"].map(index).to_numpy(dtype=np.int64)))

    test_x, test_y = tensors(test)
    data = TrainingData(
        classes=classes, train=train, test=test,
        train_images=_load_stack(train["path"], size),
        train_labels=train["label"].map(index).to_numpy(dtype=np.int64), test_x=test_x, test_y=test_y)
    if val is not None:
        data.val = val
        data.val_x, data.val_y = tensors(val)
    if test_dir:
        cross = scan_images(test_dir)
        unknown = sorted(set(cross["label"]) - set(classes))
        if unknown:
            raise UserError("err.train.test_classes", path=str(test_dir), unknown=", ".join(unknown),
                            known=", ".join(classes))
        if cross_val_fraction > 0:
            cross, cross_val = split_originals(cross, cross_val_fraction, item_seed(split_seed, "cross-val", ""))
            data.cross_val = cross_val
            data.cross_val_x, data.cross_val_y = tensors(cross_val)
        data.cross = cross
        data.cross_x, data.cross_y = tensors(cross)
    return data


def attach_edits(data: TrainingData, gen_dir: str | os.PathLike, *, raw: bool = True, mixed: bool = False) -> int:
    """Load the generation run's edits of the training originals into ``data``; returns how many.

    Args:
        raw: Load the raw edits (``genmix`` with re-drawn mixes, and ``edits``).
        mixed: Load the stored GenMix images (``genmix`` without re-drawing).

    Raises:
        UserError: ``err.train.no_edits`` when the run has no finished, accepted item of a training image;
            ``err.train.edits_only`` when ``mixed`` is asked of a run that stored edits only (``no_mixes``).
    """
    edits = load_edits(gen_dir, data.train, set(data.test["hash"]))
    if edits.empty:
        raise UserError("err.train.no_edits", path=str(gen_dir))
    if mixed and not edits["mix_path"].astype(bool).all():
        raise UserError("err.train.edits_only", path=str(gen_dir))
    # The bytes trained on, for the resume key (:func:`data_parts`): the raw edit and/or the stored mix.
    used = [c for c, on in (("edit_path", raw), ("mix_path", mixed)) if on]
    edits["file_hash"] = ["+".join(file_hash(row[c]) for c in used) for _, row in edits.iterrows()]
    data.edits = edits
    data.edit_images = _load_stack(edits["edit_path"], data.size) if raw else None
    data.mix_images = _load_stack(edits["mix_path"], data.size) if mixed else None
    return len(edits)


DATA_PARTS = ("train", "test", "cross", "val", "cross_val", "edits")


def data_parts(data: TrainingData) -> dict[str, dict]:
    """What a run's results depend on in the data, part by part: ``{part: {"n": files, "key": hash}}``.

    Parts: ``train`` (training originals), ``test`` (held-out originals), ``cross`` (second test domain, its
    test part), ``val`` / ``cross_val`` (the validation parts, empty when off), ``edits`` (the edit or GenMix
    files used). Each key hashes the sorted content hashes of its files, so any
    added, removed or replaced photo changes it, and renaming or reordering does not.
    """
    from genmix_core.seeds import content_key

    hashes = {"train": list(data.train["hash"]), "test": list(data.test["hash"]),
              "cross": [] if data.cross is None else list(data.cross["hash"]),
              "val": [] if data.val is None else list(data.val["hash"]),
              "cross_val": [] if data.cross_val is None else list(data.cross_val["hash"]),
              "edits": [] if data.edits is None else list(data.edits["file_hash"])}
    return {part: {"n": len(h), "key": content_key(sorted(h))} for part, h in hashes.items()}
