"""Paired differences over seeds with a Student-t confidence interval: the one rule the result tables use.

Issue #15: ± over seeds is not evidence of a difference; a sceptic asks for the paired difference (each seed's
run of a condition against the same seed's baseline: same split, generation and training seed) and an
interval for its mean. :func:`paired_interval` is that rule in one small function, so the ``verdict`` being
added to ``results.json`` on another branch can call the same code once both are merged.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from scipy import stats as _st

CONFIDENCE = 0.95


def paired_interval(values: Sequence[float], reference: Sequence[float], confidence: float = CONFIDENCE) -> dict:
    """Mean of ``values[i] − reference[i]`` over seeds with a two-sided Student-t interval.

    Args:
        values, reference: one number per seed, paired by position (the same seeds, in the same order).
        confidence: coverage of the interval (default 0.95).

    Returns:
        ``{"mean", "low", "high", "n", "sd", "t", "p", "confidence", "excludes_zero"}``. With one seed the
        interval, ``t`` and ``p`` are None; when every difference is the same (sd 0) the interval is that
        value and ``t``/``p`` are None. ``excludes_zero`` is True only when the whole interval lies on one
        side of 0 (the only case in which a table may call a difference established).

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
    sd = float(d.std(ddof=1))
    out["sd"] = sd
    if sd == 0.0:
        out.update(low=mean, high=mean, excludes_zero=mean != 0.0)
        return out
    se = sd / math.sqrt(n)
    half = float(_st.t.ppf(0.5 + confidence / 2, n - 1)) * se
    t = mean / se
    out.update(low=mean - half, high=mean + half, t=t, p=float(2 * _st.t.sf(abs(t), n - 1)),
               excludes_zero=bool(mean - half > 0 or mean + half < 0))
    return out
