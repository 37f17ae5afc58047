"""Check a ``.safetensors`` file from its header, without loading it: is it whole?

A safetensors file is an 8-byte little-endian header length ``N``, ``N`` bytes of JSON (tensor name →
``{"dtype", "shape", "data_offsets": [begin, end]}``, plus ``__metadata__``), then the tensor bytes, which must
end exactly where the last tensor ends. A copy or download cut short therefore shows in the sizes alone.

Why check before loading: diffusers wraps a broken UNet/VAE file in a clean ``OSError``, but transformers opens
the text encoder with ``safetensors.safe_open`` directly and lets its ``SafetensorError`` (a plain ``Exception``)
escape. Checking every component here gives one clear message, naming the file, whoever loads it.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

from genmix_core.errors import UserError

MAX_HEADER_BYTES = 100_000_000
"""The safetensors format's own limit on the JSON header."""


def header_problem(path: str | os.PathLike) -> tuple[str, dict] | None:
    """Why ``path`` is no whole safetensors file, as ``(catalog key, params)``; None when it looks whole.

    Keys: ``err.editor.model.weights_truncated`` (shorter than its header says; params ``size``, ``expected``)
    or ``err.editor.model.weights_damaged`` (unreadable header; param ``reason``).
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                return "err.editor.model.weights_truncated", {"size": size, "expected": "> 8"}
            (n,) = struct.unpack("<Q", head)
            if n > MAX_HEADER_BYTES:
                return "err.editor.model.weights_damaged", {"reason": f"header length {n} is impossible"}
            if size < 8 + n:
                return "err.editor.model.weights_truncated", {"size": size, "expected": f"> {8 + n}"}
            header = json.loads(fh.read(n).decode("utf-8"))
    except OSError as exc:
        return "err.editor.model.weights_damaged", {"reason": exc.strerror or str(exc)}
    except (UnicodeDecodeError, ValueError) as exc:
        return "err.editor.model.weights_damaged", {"reason": f"header is not valid JSON ({exc})"[:160]}
    if not isinstance(header, dict):
        return "err.editor.model.weights_damaged", {"reason": "header is not a JSON object"}
    try:
        end = max((int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"), default=0)
    except (TypeError, KeyError, IndexError, ValueError):
        return "err.editor.model.weights_damaged", {"reason": "header lacks tensor offsets"}
    expected = 8 + n + end
    if size < expected:
        return "err.editor.model.weights_truncated", {"size": size, "expected": expected}
    if size > expected:
        return "err.editor.model.weights_damaged", {"reason": f"{size - expected} bytes after the last tensor"}
    return None


def check_weights(path: str | os.PathLike, *, model: str, component: str) -> None:
    """Raise the clean error for a damaged weights file (see :func:`header_problem`).

    Raises:
        UserError: ``err.editor.model.weights_truncated`` or ``err.editor.model.weights_damaged``, naming
            ``model`` (the folder), ``component`` and the file.
    """
    problem = header_problem(path)
    if problem is not None:
        key, params = problem
        raise UserError(key, path=str(model), component=component, file=Path(path).name, **params)


def safetensor_error() -> type[Exception]:
    """``safetensors.SafetensorError`` (what ``safe_open`` raises on a broken file), for ``except`` clauses."""
    try:
        from safetensors import SafetensorError
    except ImportError:  # pragma: no cover - safetensors comes with diffusers
        return OSError
    return SafetensorError
