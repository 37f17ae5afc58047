"""The per-batch work of a generation run: cache lookup, editing (with OOM halving and one retry), mixing.

:class:`BatchWorker` is driven by :mod:`genmix_core.generate.pipeline`. A batch goes through two stages:

* :meth:`BatchWorker.prepare` (the driving thread): load the originals, take edits from the cache, edit the
  rest (diffusion editors: one ``edit_batch`` call per batch on this thread, halved on out-of-memory; CPU
  editors with a thread pool: one item per pool thread), retry bad edits once.
* :meth:`BatchWorker.finish` (any thread, one item): store a new edit in the cache, mix, write the PNG; returns
  the item's completion record.

It never writes the completion log itself, so the caller appends the records only once every file of the
batch exists.
"""

from __future__ import annotations

import time
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from PIL import Image

from genmix_core.generate.edit_cache import EditCache
from genmix_core.generate.verdicts import BAD_EDIT_KEY
from genmix_core.editing.diffusion import is_bad_edit
from genmix_core.editing.memory import is_out_of_memory, run_halving
from genmix_core.errors import OutOfMemoryError, UserError
from genmix_core.fileio import atomic_save_image
from genmix_core.paths import safe_join

_BAD_EDIT_ERROR = "The edit was black or flat twice (with two seeds); the item was skipped."


#: Catalog key of an item whose original could not be read during the run (deleted or changed meanwhile). Such
#: a failure is not final: a rerun tries the item again if the picture is back.
SOURCE_UNREADABLE = "err.gen.source_unreadable"


def load_source(path: str) -> Image.Image:
    """An original as an RGB PIL image (EXIF-rotated, full size), as the data import reads it.

    Raises:
        UserError: :data:`SOURCE_UNREADABLE` when the file is gone or no longer a readable picture (a class
            folder deleted while the job runs), naming the file and the reason.
    """
    from genmix_core.data import load_image_bytes

    try:
        return load_image_bytes(Path(path).read_bytes(), name=Path(path).name)
    except OSError as exc:
        raise UserError(SOURCE_UNREADABLE, image=str(path), reason=exc.strerror or str(exc)) from exc
    except UserError as exc:
        raise UserError(SOURCE_UNREADABLE, image=str(path), reason=str(exc)) from exc


@dataclass
class Ready:
    """One item after :meth:`BatchWorker.prepare`: everything :meth:`BatchWorker.finish` needs.

    Attributes:
        original: the source picture, or None when it could not be read (then ``problem`` says why).
        edit: the chosen edit, or None when it was black or flat with both seeds (the item fails).
        seed: the seed that gave ``edit`` (the item's seed or its retry seed).
        fresh: ``edit`` was made now and is not in the cache yet.
        seconds: the item's share of the batch's editing wall time.
        problem: why the item fails before editing (its original is unreadable), else None.
    """

    item: Any
    original: Image.Image | None
    edit: Image.Image | None
    seed: int
    retried: bool
    fresh: bool
    seconds: float
    problem: UserError | None = None


class BatchWorker:
    """Edits, mixes and writes the items of one batch at a time.

    Args:
        workers: threads of the caller's pool (1: everything serial on the calling thread). CPU editors
            (``editor.info.is_diffusion`` False) then edit one item per thread, so their ``edit_batch`` must be
            thread-safe (the offline style filter is: per-item generators, no shared state).

    Attributes:
        batch_size: items per editor call; halved on each out-of-memory error (never below 1).
        cache_hits, editor_calls, failed, made: counters for this run (tests and the summary use them); updated
            on the driving thread only (``failed`` and ``made`` by the driver, from the records it appends).
        rank: the process of a multi-process run that makes these items (in each record).
    """

    def __init__(self, cfg, editor, cache: EditCache, log: Callable[[str], None] = lambda m: None,
                 workers: int = 1, batch_keys: dict[str, object] | None = None, rank: int = 0):
        from genmix_core.mixing import FractalFolder

        self.cfg = cfg
        self.editor = editor
        self.cache = cache
        self.log = log
        self.workers = max(1, int(workers))
        self.batch_keys = batch_keys or {}
        self.out = Path(cfg.out)
        self.settings = editor.settings()
        self.batch_size = int(cfg.batch_size or editor.preferred_batch_size())
        self.fractals = FractalFolder(cfg.fractals) if cfg.fractals else None
        self.cache_hits = 0
        self.editor_calls = 0
        self.failed = 0
        self.made = 0
        self.rank = rank
        # Called by finish() with (content key, picture) for each edit and its original (the quality filter).
        self.observer: Callable[[str, Image.Image], None] | None = None

    @property
    def parallel_edits(self) -> bool:
        """Whether items are edited one per pool thread (CPU editors with more than one worker)."""
        return self.workers > 1 and not self.editor.info.is_diffusion

    def batches(self, items: Sequence) -> Iterator[list]:
        """Consecutive slices of ``items`` (grouped by image already), sized by the current batch size, never
        across a change of batch key (a diffusion editor's shape bucket: one shape per editor call).

        With parallel CPU edits a slice holds at least ``workers`` items, so that every thread has one.
        """
        start = 0
        while start < len(items):
            size = max(self.batch_size, self.workers) if self.parallel_edits else self.batch_size
            key = self.batch_keys.get(items[start].id)
            stop = start + 1
            while stop < len(items) and stop - start < size and self.batch_keys.get(items[stop].id) == key:
                stop += 1
            yield list(items[start:stop])
            start = stop

    # ---------------------------------------------------------------------------------------- editing

    def _edit(self, images: list[Image.Image], prompts: list[str], seeds: list[int]) -> list[Image.Image]:
        """``editor.edit_batch`` in chunks of the batch size, halving it on out-of-memory (for any backend;
        diffusion editors also back off inside a call)."""
        def call(a: int, b: int) -> list[Image.Image]:
            self.editor_calls += 1
            return self.editor.edit_batch(images[a:b], prompts[a:b], seeds[a:b])

        def halved(old: int, new: int) -> None:
            self.log(f"Out of memory with {old} images per batch; continuing with {new}.")

        results, self.batch_size = run_halving(len(images), call, self.batch_size, on_halve=halved,
                                               too_big=self._out_of_memory)
        return results

    def _out_of_memory(self, exc: BaseException) -> OutOfMemoryError:
        return OutOfMemoryError("err.gen.out_of_memory", editor=self.editor.info.id)

    def _edit_good(self, pairs: list, images: dict[str, Image.Image],
                   retried: bool) -> dict[str, tuple[Image.Image, int, bool]]:
        """Edit ``(item, seed)`` pairs in editor batches; returns ``{item_id: (edit, seed, retried)}`` of the
        good edits."""
        edits = self._edit([images[it.source.path] for it, _ in pairs], [it.prompt for it, _ in pairs],
                           [seed for _, seed in pairs])
        return {it.id: (edit, seed, retried) for (it, seed), edit in zip(pairs, edits) if not is_bad_edit(edit)}

    def _edit_serial(self, todo: list, images: dict[str, Image.Image]) -> dict[str, tuple[Image.Image, int, bool]]:
        """Edit ``todo`` on this thread, then retry the bad edits together with their retry seeds."""
        from genmix_core.generate.plan import retry_seed

        good = self._edit_good([(it, it.seed) for it in todo], images, retried=False)
        retry = [(it, retry_seed(self.cfg.seed, it)) for it in todo if it.id not in good]
        if retry:
            self.log(f"{len(retry)} black or flat edit(s); retrying once with another seed.")
            good.update(self._edit_good(retry, images, retried=True))
        return good

    def _edit_item(self, item, image: Image.Image) -> tuple[Image.Image | None, int, bool, int]:
        """One item on a pool thread: edit, and once more with the retry seed if bad.

        Returns:
            ``(edit or None, seed, retried, editor calls)``; the same edit as :meth:`_edit_serial` gives, since
            an edit depends only on (image, prompt, seed).
        """
        from genmix_core.generate.plan import retry_seed

        for calls, (seed, retried) in enumerate(((item.seed, False), (retry_seed(self.cfg.seed, item), True)), 1):
            try:
                edit = self.editor.edit_batch([image], [item.prompt], [seed])[0]
            except Exception as exc:
                if is_out_of_memory(exc):  # one image is the smallest batch there is
                    raise self._out_of_memory(exc) from exc
                raise
            if not is_bad_edit(edit):
                return edit, seed, retried, calls
        return None, seed, True, 2

    def _edit_parallel(self, todo: list, images: dict[str, Image.Image],
                       pool: Executor) -> dict[str, tuple[Image.Image, int, bool]]:
        futures = [pool.submit(self._edit_item, it, images[it.source.path]) for it in todo]
        good: dict[str, tuple[Image.Image, int, bool]] = {}
        retried_now = 0
        for it, fut in zip(todo, futures):
            edit, seed, retried, calls = fut.result()  # the first error in item order propagates
            self.editor_calls += calls
            retried_now += retried
            if edit is not None:
                good[it.id] = (edit, seed, retried)
        if retried_now:
            self.log(f"{retried_now} black or flat edit(s); retried once with another seed.")
        return good

    def _key(self, item, seed: int) -> str:
        return self.cache.key(item.source.image_hash, item.prompt, seed, self.settings)

    def prepare(self, batch: list, pool: Executor | None = None) -> list[Ready]:
        """Take the edits of ``batch`` from the cache or make them (on this thread, or on ``pool`` for CPU
        editors when :attr:`parallel_edits`); writes nothing.

        Bad edits are retried once with :func:`genmix_core.generate.plan.retry_seed`, then left as ``edit=None``.
        """
        from genmix_core.generate.plan import retry_seed

        t0 = time.perf_counter()
        images: dict[str, Image.Image] = {}
        problems: dict[str, UserError] = {}
        for it in batch:  # one PIL object per source image: the batch shares it between its prompts
            if it.source.path not in images and it.source.path not in problems:
                try:
                    images[it.source.path] = load_source(it.source.path)
                except UserError as exc:  # deleted or changed while the job runs: fail its items, go on
                    problems[it.source.path] = exc
                    self.log(f"Skipped the items of {it.source.rel}: {exc}")
        cached: dict[str, tuple[Image.Image, int, bool]] = {}   # id -> (edit, seed used, retried)
        todo = []
        for it in batch:
            if it.source.path in problems:
                continue
            for seed, retried in ((it.seed, False), (retry_seed(self.cfg.seed, it), True)):
                hit = self.cache.get(self._key(it, seed), size=images[it.source.path].size)
                if hit is not None:
                    cached[it.id] = (hit, seed, retried)
                    self.cache_hits += 1
                    break
            else:
                todo.append(it)
        if todo and pool is not None and self.parallel_edits:
            made = self._edit_parallel(todo, images, pool)
        else:
            made = self._edit_serial(todo, images) if todo else {}
        share = (time.perf_counter() - t0) / max(1, len(batch))
        ready = []
        for it in batch:
            if it.source.path in problems:
                ready.append(Ready(it, None, None, it.seed, False, False, share, problems[it.source.path]))
                continue
            edit, seed, retried = cached.get(it.id) or made.get(it.id) or (None, it.seed, True)
            ready.append(Ready(it, images[it.source.path], edit, seed, retried, it.id in made, share))
        return ready

    # ------------------------------------------------------------------------------------------ mixing

    def finish(self, ready: Ready) -> dict[str, Any]:
        """Store a new edit in the cache, mix, write the GenMix PNG; return the item's completion record. With
        ``no_mixes`` the mix is not made: its parameters are recorded (``mix.path`` empty).

        Thread-safe (touches no counter; every file it writes has its own name and is written atomically).
        The files the record names exist when this returns.
        """
        from genmix_core.generate.plan import mix_rng
        from genmix_core.mixing import sample_mix_params

        item = ready.item
        info = self.editor.info
        base = {"id": item.id, "image_hash": item.source.image_hash, "editor": info.id, "model": info.model,
                "rank": self.rank, "t": time.time()}
        if ready.problem is not None:
            return {**base, "status": "failed", "seed": item.seed, "retried": False,
                    "seconds": round(ready.seconds, 4), "error": str(ready.problem),
                    "error_key": ready.problem.key, "error_params": ready.problem.params}
        if ready.edit is None:
            return {**base, "status": "failed", "seed": item.seed, "retried": True,
                    "seconds": round(ready.seconds, 4), "error": _BAD_EDIT_ERROR, "error_key": BAD_EDIT_KEY}
        t0 = time.perf_counter()
        edit_path = self.cache.put(self._key(item, ready.seed), ready.edit) if ready.fresh else \
            self.cache.path(self._key(item, ready.seed))
        params = sample_mix_params(mix_rng(self.cfg.seed, item), mask_set=self.cfg.mask_set, ramp=self.cfg.ramp,
                                   lam=self.cfg.lam, **({"fractal_source": "folder"} if self.fractals else {}))
        mix_rel = "" if self.cfg.no_mixes else item.mix_rel
        if mix_rel:
            save_mix(safe_join(self.out, mix_rel), ready.original, ready.edit, params, self.fractals)
        if self.observer is not None:   # the quality filter embeds the pictures while they are in memory
            self.observer("e:" + Path(edit_path).stem, ready.edit)
            self.observer("o:" + item.source.image_hash, ready.original)
        seconds = ready.seconds + time.perf_counter() - t0
        return {**base, "status": "done", "seed": ready.seed, "retried": ready.retried,
                "seconds": round(seconds, 4), "edit_path": str(edit_path), "error": "",
                "mix": {**params.to_dict(), "path": mix_rel}}

    def process(self, batch: list) -> list[dict[str, Any]]:
        """Both stages of ``batch`` on this thread (the serial path); each returned record's files exist."""
        return [self.finish(r) for r in self.prepare(batch)]


def save_mix(path: Path, original: Image.Image, edit: Image.Image, params, fractals=None) -> Path:
    """Mix ``original`` and ``edit`` with ``params`` (a :class:`~genmix_core.mixing.MixParams`) and write the
    GenMix picture to ``path`` atomically: the one place a run's pictures are made, during the run
    (:meth:`BatchWorker.finish`) or afterwards (:func:`mix_stored_edit`)."""
    from genmix_core.mixing import apply_mix, to_image

    return atomic_save_image(path, to_image(apply_mix(original, edit, params, fractals=fractals).final))


def mix_stored_edit(out_dir: str | Path, item_id: str) -> Path:
    """The GenMix picture of a done item of a run that stored its edit only (``no_mixes``, as Train & Compare
    runs it when it mixes anew at training time): made from the recorded mix parameters and the stored edit,
    exactly as the run would have made it (:meth:`BatchWorker.finish`), and saved where the run would have put
    it. An existing picture is returned as it is. Used for the few examples of a meeting report.

    Raises:
        UserError / OSError / KeyError: the item, its record, its photo or its edit is not there.
    """
    from genmix_core.generate import manifest
    from genmix_core.generate.config import load_config
    from genmix_core.mixing import FractalFolder, MixParams

    out = Path(out_dir)
    item = {p["id"]: p for p in manifest.read_plan(out)}[item_id]
    path = safe_join(out, item["mix_path"])
    if path.is_file():
        return path
    record = manifest.current_records(out, {item_id: item["image_hash"]})[item_id]
    cfg = load_config(out)
    params = MixParams.from_dict({k: v for k, v in record["mix"].items() if k != "path"})
    with Image.open(record["edit_path"]) as im:
        edit = im.convert("RGB")
    original = load_source(str(Path(cfg.data) / item["image"]))
    return save_mix(path, original, edit, params, FractalFolder(cfg.fractals) if cfg.fractals else None)
