"""Score edits against their originals: features in batches (cached), per-class fits, one verdict per edit.

Two steps, so a rerun with other thresholds repeats only the cheap one:

1. :func:`compute_features`: every image whose vector is not in the :class:`FeatureStore` yet is loaded and
   embedded, a batch at a time (the next batch is decoded and resized on a helper thread while the backbone
   works).
2. :func:`score_edits`: from stored vectors only, the similarity of each edit to its original, the per-class
   fits of the originals and the verdict (:func:`genmix_core.quality.rules.judge`).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from PIL import Image

from genmix_core.quality.backbones import FeatureExtractor
from genmix_core.quality.rules import (BLACK_OR_FLAT, MAX_CLASS_ORIGINALS, ClassFit, cosine, fit_class, judge)
from genmix_core.quality.store import FeatureStore

#: ``(content key, loader)``: the loader returns the picture, or None when it cannot be read.
Job = tuple[str, Callable[[], "Image.Image | None"]]


@dataclass(frozen=True)
class Edit:
    """One edit to judge: its id, class, and the content keys of its original and of the edit."""

    id: str
    label: str
    original: str
    edit: str


@dataclass(frozen=True)
class Verdict:
    """``similarity`` (None when not computed) and ``reason`` (``""`` = accepted)."""

    similarity: float | None
    reason: str


def _load(jobs: Sequence[Job], extractor: FeatureExtractor, is_bad: Callable[[Image.Image], bool] | None):
    """Decode and prepare one batch: ``(keys, arrays, bad keys, unreadable keys)``."""
    keys, arrays, bad, unreadable = [], [], [], []
    for key, loader in jobs:
        try:
            image = loader()
        except Exception:   # a file deleted or damaged meanwhile: the item stays unscored, the rest goes on
            image = None
        if image is None:
            unreadable.append(key)
        elif is_bad is not None and is_bad(image):
            bad.append(key)
        else:
            keys.append(key)
            arrays.append(extractor.prepare(image))
    return keys, arrays, bad, unreadable


def compute_features(extractor: FeatureExtractor, store: FeatureStore, jobs: Sequence[Job], *,
                     is_bad: Callable[[Image.Image], bool] | None = None,
                     progress: Callable[[int, int], None] | None = None,
                     cancelled: Callable[[], bool] = lambda: False) -> tuple[set[str], set[str]]:
    """Embed every job whose key is not stored yet and store the vectors, batch by batch.

    Args:
        is_bad: a check for pictures that must not be embedded (black, flat, NaN); their keys come back.
        progress: ``progress(done, total)`` after each batch (jobs to compute, not all jobs).
        cancelled: checked before each batch; True stops (what is stored stays).

    Returns:
        ``(bad keys, unreadable keys)``.
    """
    todo = [(k, f) for k, f in dict(jobs).items() if k not in store]
    step = extractor.batch_size
    batches = [todo[i:i + step] for i in range(0, len(todo), step)]
    bad: set[str] = set()
    unreadable: set[str] = set()
    with ThreadPoolExecutor(1) as pool:   # decode batch b+1 while the backbone embeds batch b
        ahead = pool.submit(_load, batches[0], extractor, is_bad) if batches else None
        for n, _ in enumerate(batches):
            if cancelled():
                break
            keys, arrays, b, u = ahead.result()
            ahead = pool.submit(_load, batches[n + 1], extractor, is_bad) if n + 1 < len(batches) else None
            bad.update(b)
            unreadable.update(u)
            store.add(keys, extractor.embed_arrays(arrays))
            if progress:
                progress(min(len(todo), (n + 1) * step), len(todo))
    return bad, unreadable


def class_fits(store: FeatureStore, originals: dict[str, Sequence[str]]) -> dict[str, ClassFit | None]:
    """The per-class fit (:func:`genmix_core.quality.rules.fit_class`) from each class's stored original vectors.

    Args:
        originals: ``{class: original content keys}``; keys without a vector are left out; at most
            :data:`MAX_CLASS_ORIGINALS` per class are used (the first in sorted key order: deterministic).
    """
    fits = {}
    for label, keys in sorted(originals.items()):
        usable = sorted(k for k in set(keys) if k in store)[:MAX_CLASS_ORIGINALS]
        fits[label] = fit_class(store.get(usable)) if usable else None
    return fits


def score_edits(store: FeatureStore, edits: Sequence[Edit], fits: dict[str, ClassFit | None], *, floor: float,
                k: float, bad: set[str] = frozenset()) -> dict[str, Verdict]:
    """The verdict on each edit whose vectors are stored (or whose picture was bad); others are left out.

    Similarities are rounded to 4 decimals before judging, so the recorded number explains the verdict.
    """
    verdicts: dict[str, Verdict] = {}
    scorable = [e for e in edits if e.edit in store and e.original in store]
    for e in edits:
        if e.edit in bad:
            verdicts[e.id] = Verdict(None, BLACK_OR_FLAT)
    if scorable:
        sims = cosine(store.get([e.edit for e in scorable]), store.get([e.original for e in scorable]))
        for e, s in zip(scorable, np.round(sims.astype(np.float64), 4)):
            verdicts[e.id] = Verdict(float(s), judge(float(s), floor, k, fits.get(e.label)))
    return verdicts
