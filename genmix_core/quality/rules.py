"""The quality filter's rules: pure functions over feature vectors and similarities.

An edit keeps its label when its features stay close to its original's (GenMix, Islam et al., arXiv 2412.02366;
the authors' stand-alone filter scripts, never wired into their pipeline, keep an edit when the cosine similarity
of DINO ViT-B/16 features of edit and original is ≥ 0.7, and drop edits whose similarity lies more than about 3σ
from the mean of a normal fit to the original-to-original similarities of the class). Here:

1. **Black, flat or NaN** edits are rejected (``black_or_flat``) before any feature is computed.
2. **Absolute floor:** ``similarity < floor`` → ``low_similarity``. The floor depends on the backbone: cosines of
   EfficientNet-Lite0's non-negative pooled features run higher than DINO's, so the default is our measurement
   on the sample photos (``bench/bench_quality.py``), not the authors' 0.7.
3. **Per-class rule:** from the similarities between *different* originals of the same class, fit the mean μ
   and standard deviation σ; ``similarity < μ − k·σ`` → ``class_outlier``: the edit is further from its own
   original than nearly every photo of its class is from another. One-sided: an edit can never be "too similar".
   A class with fewer than :data:`MIN_CLASS_ORIGINALS` originals has no fit and is judged by the floor alone.

Similarities are cosines of L2-normalised features, in [-1, 1] (in [0, 1] for non-negative features).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: The absolute floor for the default backbone (EfficientNet-Lite0, 112 px), chosen by measurement
#: (``bench/bench_quality.py study``, ``bench/results/2026-11-29_cpu_quality_study_96_112.json``): on the 150
#: sample photos, edits of an untrained diffusion pipeline reach at most 0.32 (p99.9) and noise pictures 0.29,
#: while 85 % of style-filter edits of the 22 curated prompts (90 % of the factory set) lie above 0.35.
DEFAULT_FLOOR = 0.35
#: GenMix's per-class rule: flag edits more than this many standard deviations below the class mean.
DEFAULT_K = 3.0
#: Fewer originals than this in a class (10 pairs): no per-class fit (the spread of fewer pairs is too unsure).
MIN_CLASS_ORIGINALS = 5
#: At most this many originals per class enter the fit (n² similarities; the first ones by content hash).
MAX_CLASS_ORIGINALS = 512

#: Why an edit is not used (``manifest.csv`` ``reason``; catalog keys ``gen.reason.<reason>``). Empty = accepted.
LOW_SIMILARITY = "low_similarity"
CLASS_OUTLIER = "class_outlier"
BLACK_OR_FLAT = "black_or_flat"
FILTER_REASONS = (BLACK_OR_FLAT, LOW_SIMILARITY, CLASS_OUTLIER)


@dataclass(frozen=True)
class ClassFit:
    """The normal fit of one class's original-to-original similarities.

    Attributes:
        mean, std: μ and σ of the similarities between distinct originals of the class (σ with ddof=1).
        n: originals used (at most :data:`MAX_CLASS_ORIGINALS`).
    """

    mean: float
    std: float
    n: int

    def limit(self, k: float) -> float:
        """The lowest similarity the per-class rule keeps: ``μ − k·σ``."""
        return self.mean - k * self.std

    def to_dict(self) -> dict:
        return {"mean": round(self.mean, 6), "std": round(self.std, 6), "n": self.n}


def normalise(features: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32); an all-zero row stays zero (its cosine with anything is 0)."""
    f = np.asarray(features, dtype=np.float32)
    norms = np.linalg.norm(f, axis=1, keepdims=True)
    return f / np.where(norms > 0, norms, 1.0)


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two ``(N, D)`` arrays → ``(N,)`` float32."""
    return np.einsum("nd,nd->n", normalise(a), normalise(b))


def fit_class(features: np.ndarray) -> ClassFit | None:
    """Fit μ, σ of the cosine similarities between all distinct pairs of one class's originals ``(n, D)``.

    Returns None for fewer than :data:`MIN_CLASS_ORIGINALS` rows. Callers pass at most
    :data:`MAX_CLASS_ORIGINALS` rows (n·(n−1)/2 pairs).
    """
    f = normalise(features)
    n = len(f)
    if n < MIN_CLASS_ORIGINALS:
        return None
    sims = (f @ f.T)[np.triu_indices(n, k=1)]
    return ClassFit(float(sims.mean()), float(sims.std(ddof=1)), n)


def judge(similarity: float, floor: float, k: float, fit: ClassFit | None) -> str:
    """The filter's verdict on one edit: ``""`` (keep), :data:`LOW_SIMILARITY` or :data:`CLASS_OUTLIER`.

    Args:
        similarity: cosine similarity of the edit's features to its own original's.
        floor: the absolute floor.
        k: spreads below the class mean that the per-class rule allows.
        fit: the class's fit, or None (rule not applied).
    """
    if not np.isfinite(similarity) or similarity < floor:
        return LOW_SIMILARITY
    if fit is not None and similarity < fit.limit(k):
        return CLASS_OUTLIER
    return ""


def check_thresholds(floor: float, k: float) -> None:
    """Raise ``UserError`` for a floor outside [-1, 1] or a negative k (names the flag and the value)."""
    from genmix_core.errors import UserError

    if not -1.0 <= float(floor) <= 1.0:
        raise UserError("err.quality.bad_floor", value=floor)
    if not float(k) >= 0.0:
        raise UserError("err.quality.bad_k", value=k)
