"""The paired rules every result table and the verdict use: one home, so a table and the meeting report can
never disagree about the same two conditions.

- :func:`paired_interval`: the paired difference over seeds (each seed's run of a condition against the same
  seed's run of the reference: same split, generation and training seed) with a two-sided Student-t interval
  for its mean. Issue #15: ± over seeds is not evidence of a difference; this is. The results' per-arm
  ``vs_baseline`` (:func:`genmix_core.train.results.paired_differences`) and the verdict's ``paired_seeds``
  method (:mod:`genmix_core.train.verdict`) both call it.
- :func:`paired_image_interval`: with one seed, the difference of per-photo correctness on the same test
  photos with a seeded percentile bootstrap (the verdict's ``bootstrap_images`` method).
- :func:`call_of`: ``better`` / ``worse`` / ``no_clear_difference`` from an interval; ``excludes_zero`` of
  :func:`paired_interval` is ``call_of(...) != "no_clear_difference"``.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from scipy import stats as _st

CONFIDENCE = 0.95
N_RESAMPLES = 9_999
BOOTSTRAP_SEED = 0


def call_of(interval: tuple[float, float]) -> str:
    """``"better"`` if the interval lies above 0, ``"worse"`` if below, else ``"no_clear_difference"``."""
    low, high = interval
    if low > 0:
        return "better"
    if high < 0:
        return "worse"
    return "no_clear_difference"


def paired_interval(values: Sequence[float], reference: Sequence[float], confidence: float = CONFIDENCE) -> dict:
    """Mean of ``values[i] − reference[i]`` over seeds with a two-sided Student-t interval.

    Args:
        values, reference: one number per seed, paired by position (the same seeds, in the same order).
        confidence: coverage of the interval (default 0.95).

    Returns:
        ``{"mean", "low", "high", "n", "sd", "t", "p", "confidence", "excludes_zero"}``. With one seed the
        interval, ``t`` and ``p`` are None. When every difference is the same (up to float rounding) the spread
        is zero: the interval is that value and ``t``/``p`` are None. ``excludes_zero`` is True only when the
        whole interval lies on one side of 0 (the only case in which a table may call a difference
        established; :func:`call_of` names the side).

    Raises:
        ValueError: when the two sequences differ in length or are empty.
    """
    a, b = np.asarray(values, dtype=float), np.asarray(reference, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or a.size == 0:
        raise ValueError(f"paired_interval needs two equal-length, non-empty sequences, got {a.shape} and {b.shape}")
    d = a - b
    n, mean = int(d.size), float(d.mean())
    out = {"mean": mean, "low": None, "high": None, "n": n, "sd": None, "t": None, "p": None,
           "confidence": confidence, "excludes_zero": False}
    if n < 2:
        return out
    if np.allclose(d, d[0]):       # e.g. 0.8 − 0.7 and 0.9 − 0.8: one difference, only rounded apart
        out.update(sd=0.0, low=mean, high=mean, excludes_zero=call_of((mean, mean)) != "no_clear_difference")
        return out
    sd = float(d.std(ddof=1))
    se = sd / math.sqrt(n)
    half = float(_st.t.ppf(0.5 + confidence / 2, n - 1)) * se
    t = mean / se
    low, high = mean - half, mean + half
    out.update(sd=sd, low=low, high=high, t=t, p=float(2 * _st.t.sf(abs(t), n - 1)),
               excludes_zero=call_of((low, high)) != "no_clear_difference")
    return out


def paired_image_interval(correct: np.ndarray, reference_correct: np.ndarray,
                          confidence: float = CONFIDENCE) -> tuple[float, tuple[float, float]]:
    """Mean difference of per-photo correctness (1/0) on the same photos, with a seeded percentile bootstrap
    interval (``N_RESAMPLES`` resamples: the same answers give the same interval)."""
    diff = np.asarray(correct, float) - np.asarray(reference_correct, float)
    if diff.size == 0:
        raise ValueError("no test photos to compare")
    delta = float(diff.mean())
    if np.all(diff == diff[0]):        # every photo alike: resampling cannot move the mean
        return delta, (delta, delta)
    res = _st.bootstrap((diff,), np.mean, n_resamples=N_RESAMPLES, confidence_level=confidence,
                        method="percentile", rng=np.random.default_rng(BOOTSTRAP_SEED))
    return delta, (float(res.confidence_interval.low), float(res.confidence_interval.high))
