"""The per-batch work of a generation run: cache lookup, editing (with OOM halving and one retry), mixing.

:class:`BatchWorker` is driven by :func:`genmix_core.generate.run_generation`; it returns completion records
and never writes the log itself, so the caller appends them only once every file of the batch exists.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from PIL import Image

from genmix_core.edit_cache import EditCache
from genmix_core.editing.diffusion import is_bad_edit
from genmix_core.errors import UserError
from genmix_core.fileio import atomic_save_image
from genmix_core.paths import safe_join


def is_out_of_memory(exc: BaseException) -> bool:
    """True for ``torch.cuda.OutOfMemoryError`` (and the older ``RuntimeError: CUDA out of memory``)."""
    torch = sys.modules.get("torch")
    oom_type = getattr(getattr(torch, "cuda", None), "OutOfMemoryError", None) if torch else None
    if oom_type is not None and isinstance(exc, oom_type):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def _free_accelerator_memory() -> None:
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def load_source(path: str) -> Image.Image:
    """An original as an RGB PIL image (EXIF-rotated, full size), as the data import reads it."""
    from genmix_core.data import load_image_bytes

    return load_image_bytes(Path(path).read_bytes(), name=Path(path).name)


class BatchWorker:
    """Edits, mixes and writes the items of one batch at a time.

    Attributes:
        batch_size: items per editor call; halved on each out-of-memory error (never below 1).
        cache_hits, editor_calls, failed: counters for this run (tests and the summary use them).
    """

    def __init__(self, cfg, editor, cache: EditCache, log: Callable[[str], None] = lambda m: None):
        from genmix_core.mixing import FractalFolder

        self.cfg = cfg
        self.editor = editor
        self.cache = cache
        self.log = log
        self.out = Path(cfg.out)
        self.settings = editor.settings()
        self.batch_size = int(cfg.batch_size)
        self.fractals = FractalFolder(cfg.fractals) if cfg.fractals else None
        self.cache_hits = 0
        self.editor_calls = 0
        self.failed = 0

    def batches(self, items: Sequence) -> Iterator[list]:
        """Consecutive slices of ``items`` (grouped by image already), sized by the current batch size."""
        start = 0
        while start < len(items):
            batch = list(items[start:start + self.batch_size])
            start += len(batch)
            yield batch

    def _edit(self, images: list[Image.Image], prompts: list[str], seeds: list[int]) -> list[Image.Image]:
        """``editor.edit_batch`` in chunks of the batch size, halving it on out-of-memory."""
        results: list[Image.Image] = []
        i = 0
        while i < len(images):
            n = min(self.batch_size, len(images) - i)
            try:
                self.editor_calls += 1
                results.extend(self.editor.edit_batch(images[i:i + n], prompts[i:i + n], seeds[i:i + n]))
            except Exception as exc:
                if not is_out_of_memory(exc):
                    raise
                _free_accelerator_memory()
                if n == 1:
                    raise UserError("err.gen.out_of_memory", editor=self.editor.info.id) from exc
                self.batch_size = max(1, n // 2)
                self.log(f"Out of memory with {n} images per batch; continuing with {self.batch_size}.")
                continue
            i += n
        return results

    def _edit_and_cache(self, todo: list[tuple[Any, int]], images: dict[str, Image.Image],
                        retried: bool) -> dict[str, tuple[Image.Image, int, bool]]:
        """Edit ``(item, seed)`` pairs and cache the good edits; returns ``{item_id: (edit, seed, retried)}``."""
        if not todo:
            return {}
        edits = self._edit([images[it.source.path] for it, _ in todo], [it.prompt for it, _ in todo],
                           [seed for _, seed in todo])
        good = {}
        for (it, seed), edit in zip(todo, edits):
            if not is_bad_edit(edit):
                self.cache.put(self._key(it, seed), edit)
                good[it.id] = (edit, seed, retried)
        return good

    def _key(self, item, seed: int) -> str:
        return self.cache.key(item.source.image_hash, item.prompt, seed, self.settings)

    def process(self, batch: list) -> list[dict[str, Any]]:
        """Edit (or take from the cache), mix and write every item of ``batch``; return its records.

        Each returned record's files exist when this returns. Bad edits are retried once with
        :func:`genmix_core.generate.retry_seed`, then recorded as ``failed``.
        """
        from genmix_core.generate import retry_seed

        t0 = time.perf_counter()
        images: dict[str, Image.Image] = {}
        for it in batch:  # one PIL object per source image: the batch shares it between its prompts
            if it.source.path not in images:
                images[it.source.path] = load_source(it.source.path)
        chosen: dict[str, tuple[Image.Image, int, bool]] = {}   # id -> (edit, seed used, retried)
        todo = []
        for it in batch:
            for seed, retried in ((it.seed, False), (retry_seed(self.cfg.seed, it), True)):
                hit = self.cache.get(self._key(it, seed), size=images[it.source.path].size)
                if hit is not None:
                    chosen[it.id] = (hit, seed, retried)
                    self.cache_hits += 1
                    break
            else:
                todo.append(it)
        chosen.update(self._edit_and_cache([(it, it.seed) for it in todo], images, retried=False))
        retry = [(it, retry_seed(self.cfg.seed, it)) for it in todo if it.id not in chosen]
        if retry:
            self.log(f"{len(retry)} black or flat edit(s); retrying once with another seed.")
            chosen.update(self._edit_and_cache(retry, images, retried=True))
        edit_share = (time.perf_counter() - t0) / max(1, len(batch))
        return [self._finish(it, images[it.source.path], chosen.get(it.id), edit_share) for it in batch]

    def _finish(self, item, original: Image.Image, chosen, edit_seconds: float) -> dict[str, Any]:
        from genmix_core.generate import mix_rng
        from genmix_core.mixing import apply_mix, sample_mix_params, to_image

        info = self.editor.info
        base = {"id": item.id, "editor": info.id, "model": info.model, "t": time.time()}
        if chosen is None:
            self.failed += 1
            return {**base, "status": "failed", "seed": item.seed, "retried": True, "seconds": round(edit_seconds, 4),
                    "error": "The edit was black or flat twice (with two seeds); the item was skipped."}
        edit, seed, retried = chosen
        t0 = time.perf_counter()
        params = sample_mix_params(mix_rng(self.cfg.seed, item), mask_set=self.cfg.mask_set, ramp=self.cfg.ramp,
                                   lam=self.cfg.lam, **({"fractal_source": "folder"} if self.fractals else {}))
        result = apply_mix(original, edit, params, fractals=self.fractals)
        atomic_save_image(safe_join(self.out, item.mix_rel), to_image(result.final))
        seconds = edit_seconds + time.perf_counter() - t0
        return {**base, "status": "done", "seed": seed, "retried": retried, "seconds": round(seconds, 4),
                "edit_path": str(self.cache.path(self._key(item, seed))), "error": "",
                "mix": {**params.to_dict(), "path": item.mix_rel}}
