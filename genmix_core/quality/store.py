"""Feature vectors on disk, keyed by content, so a rerun of the filter costs no forward pass.

One folder per feature kind (:attr:`genmix_core.quality.backbones.FeatureExtractor.key`); each batch of new
vectors is one shard ``<sha>.npz`` (``keys``: str array, ``vectors``: float16 ``(N, D)``), written atomically
after its forward pass, so a killed filter loses at most the batch in progress. Vectors are stored as float16
and every similarity is computed from the stored values: a rerun gives the same similarities to the last bit.
An unreadable shard (cut by a crash before the atomic rename cannot happen, but a damaged disk can) is skipped
and its vectors are computed again.
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import Iterable

import numpy as np

from genmix_core.fileio import INCOMPLETE_SUFFIX, atomic_write_bytes


class FeatureStore:
    """``{content key: vector}`` in ``folder`` (created on first write)."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self._vectors: dict[str, np.ndarray] | None = None

    def _load(self) -> dict[str, np.ndarray]:
        if self._vectors is None:
            self._vectors = {}
            for shard in sorted(self.folder.glob("*.npz")) if self.folder.is_dir() else []:
                if shard.name.endswith(INCOMPLETE_SUFFIX):
                    continue
                try:
                    with np.load(shard, allow_pickle=False) as data:
                        self._vectors.update(zip(data["keys"].tolist(), data["vectors"]))
                except (OSError, ValueError, KeyError):
                    continue
        return self._vectors

    def __contains__(self, key: str) -> bool:
        return key in self._load()

    def missing(self, keys: Iterable[str]) -> list[str]:
        """The keys without a stored vector, in order, without duplicates."""
        have = self._load()
        return [k for k in dict.fromkeys(keys) if k not in have]

    def get(self, keys: Iterable[str]) -> np.ndarray:
        """Stored vectors of ``keys`` as float32 ``(N, D)`` (KeyError for a missing one)."""
        have = self._load()
        rows = [have[k] for k in keys]
        return np.stack(rows).astype(np.float32) if rows else np.zeros((0, 0), np.float32)

    def add(self, keys: list[str], vectors: np.ndarray) -> None:
        """Store a batch of vectors as one shard (atomically), and keep them in memory."""
        if not keys:
            return
        vectors = np.asarray(vectors, dtype=np.float16)
        buf = io.BytesIO()
        np.savez(buf, keys=np.array(keys, dtype=str), vectors=vectors)
        name = hashlib.sha256("\n".join(keys).encode("utf-8")).hexdigest()[:24] + ".npz"
        atomic_write_bytes(self.folder / name, buf.getvalue())
        self._load().update(zip(keys, vectors))
