"""Few-shot subsets of a comparison's training data: k originals per class, drawn per seed, nested over k."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from genmix_core.train.data import TrainingData


def few_shot_indices(train: pd.DataFrame, k: int, seed: int) -> list[int]:
    """Row indices of ``k`` originals per class of the training split, drawn with a seeded generator.

    Each class's images are put in one seeded random order and the first ``k`` taken, so for one seed the
    draw for a smaller k is part of the draw for a larger one (a smoother curve). A class with fewer than
    ``k`` training images gives all of them.

    Args:
        train: The training originals (``[path, rel, label, hash]``, sorted by (label, rel)).
        k: Originals per class, >= 1.
        seed: The run seed (with ``k`` left out of the generator on purpose, for the nesting above).

    Returns:
        Sorted row indices into ``train``.
    """
    rng = np.random.default_rng([int(seed), 0x5EED_F5])
    chosen: list[int] = []
    for label in sorted(train["label"].unique()):
        idx = train.index[train["label"] == label].to_numpy()
        chosen.extend(rng.permutation(idx)[:k].tolist())
    return sorted(chosen)


def few_shot_subset(data: TrainingData, k: int, seed: int) -> TrainingData:
    """``data`` with only ``k`` training originals per class (:func:`few_shot_indices`) and only their edits.

    The test sets (in-domain and second domain) are the very same objects: every k is measured on the
    same held-out images.
    """
    keep = few_shot_indices(data.train, k, seed)
    new_index = {old: new for new, old in enumerate(keep)}
    sub = dataclasses.replace(data, train=data.train.iloc[keep].reset_index(drop=True),
                              train_images=data.train_images[keep], train_labels=data.train_labels[keep],
                              edits=None, edit_images=None, mix_images=None)
    if data.edits is not None:
        rows = np.flatnonzero(data.edits["orig_index"].isin(new_index).to_numpy())
        edits = data.edits.iloc[rows].reset_index(drop=True)
        edits["orig_index"] = edits["orig_index"].map(new_index).astype(int)
        sub.edits = edits
        sub.edit_images = data.edit_images[rows] if data.edit_images is not None else None
        sub.mix_images = data.mix_images[rows] if data.mix_images is not None else None
    return sub


def few_shot_budget(cfg, data: TrainingData, k: int):
    """The usual budget rule over the k-per-class originals (the same for every seed: class sizes cap k)."""
    from genmix_core.train.loop import Budget

    n = int(sum(min(k, c) for c in data.train["label"].value_counts()))
    return Budget.for_epochs(n, cfg.epochs, cfg.batch_size)
