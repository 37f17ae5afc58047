"""The one out-of-memory back-off: run work in chunks and halve the chunk when the accelerator runs out.

Used by the diffusion editors (micro-batches inside one edit call) and by the generation job (items per editor
call, for any backend of the editor table), in the spirit of accelerate's ``find_executable_batch_size``.
"""

from __future__ import annotations

import gc
import sys
from typing import Callable, TypeVar

T = TypeVar("T")


def is_out_of_memory(exc: BaseException) -> bool:
    """CUDA ``OutOfMemoryError``, or the RuntimeError MPS and older CUDA builds raise when memory runs out."""
    torch = sys.modules.get("torch")
    oom_type = getattr(torch, "OutOfMemoryError", None) if torch is not None else None
    if oom_type is not None and isinstance(exc, oom_type):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def free_accelerator_memory() -> None:
    """Drop unreferenced tensors and return cached blocks to the driver (before a smaller retry)."""
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def run_halving(n: int, fn: Callable[[int, int], list[T]], size: int, *,
                on_halve: Callable[[int, int], None], too_big: Callable[[BaseException], BaseException]
                ) -> tuple[list[T], int]:
    """Run ``fn(start, stop)`` over ``range(n)`` in chunks of ``size``, halving ``size`` on out-of-memory.

    Args:
        fn: does the work for items ``start..stop-1`` and returns one result per item.
        size: the starting chunk size (at least 1).
        on_halve: called as ``on_halve(old, new)`` after each halving (events, logs).
        too_big: builds the error raised when even one item runs out of memory (a ``UserError`` with the fix).

    Returns:
        ``(results in item order, the final chunk size)``; the caller keeps the size for its next call.
    """
    out: list[T] = []
    size = max(1, int(size))
    start = 0
    while start < n:
        stop = min(n, start + size)
        try:
            res = fn(start, stop)
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            free_accelerator_memory()
            if stop - start <= 1:
                raise too_big(exc) from exc
            old, size = size, max(1, (stop - start) // 2)
            on_halve(old, size)
            continue
        out.extend(res)
        start = stop
    return out, size
