"""Per-item seeds: an item's randomness depends on (job seed, image, prompt), never on batch composition."""

from __future__ import annotations

import hashlib


def item_seed(job_seed: int, image_key: str, prompt: str) -> int:
    """A 63-bit seed from the job seed, an image key (content hash or path) and the prompt.

    Stable across runs, machines and Python versions (sha256, not ``hash()``), so the same item gets the same
    edit alone, in a batch, or after a resume.
    """
    digest = hashlib.sha256(f"{int(job_seed)}\x1f{image_key}\x1f{prompt}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") & ((1 << 63) - 1)


def content_key(*parts: object) -> str:
    """A short hex digest of several parts (bytes are hashed as is, other values via ``repr``)."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part if isinstance(part, (bytes, bytearray)) else repr(part).encode("utf-8"))
        h.update(b"\x1f")
    return h.hexdigest()[:32]
