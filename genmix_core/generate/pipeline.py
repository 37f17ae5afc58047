"""Drives a :class:`genmix_core.generate.batch.BatchWorker` over the items of a run: serial, or overlapped.

Per item, a generation run has editor work (GPU, or CPU for the style filter) and CPU work (cache PNG, mix,
PNG encode, fsync; ~30–40 ms at 512²). Done one after the other, the GPU idles during the CPU part: on an H200
with InstructPix2Pix (100 steps, batch 48) the editor needs 0.87 s/edit but the serial job 1.02 s/item.

With ``workers > 1`` a thread pool overlaps the two: while the editor works on batch k+1 (on this thread, or on
the pool for CPU editors), the pool finishes batch k. PNG encoding, zlib, fsync and most numpy work release the
GIL, so the threads run in parallel. Bounds and guarantees:

* at most :data:`IN_FLIGHT` unrecorded batch plus the one being edited live at a time (flat memory);
* a batch's records are appended (in item order, batch after batch) only after every file of the batch
  exists, so a SIGKILL at any moment loses at most the unrecorded work, which a rerun redoes identically;
* an error on a pool thread is raised here, unchanged (a ``UserError`` stays that ``UserError``);
* a cancel request is checked before each batch is edited; batches already edited are still recorded, also
  when the editor fails (as on the serial path, where they were recorded before the failing batch began).

Outputs are the same as the serial path's: every edit and mix depends only on its item's seeds.

:func:`order_for_batches` groups the items by the editor's shape bucket first (one shape per editor call).
"""

from __future__ import annotations

import os
import queue
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Sequence

from genmix_core.generate import manifest

#: Batches being finished by the pool while the next one is edited.
IN_FLIGHT = 1
#: Auto worker count caps: CPU editors use a thread per core up to this many. More threads do not pay: much of
#: the per-item work (the fractal's chaos game, small numpy steps) holds the GIL. On a 16-core H200 host, the
#: style-filter run of 150 sample photos x 3 prompts with the quality filter took 17.9 s and 17.5 s with 4
#: threads against 27.1 s and 21.0 s with 16 (2026-11-30, alternated); 2 threads against 16 on the 2-core
#: development machine: 12.4 s against 14.6 s.
MAX_AUTO_WORKERS = 4
#: ... diffusion editors need only a few finishing threads (the editor itself runs on the driving thread).
MAX_AUTO_DIFFUSION_WORKERS = 4


def available_cpus() -> int:
    """CPU cores this process may use (its affinity mask where the OS has one, else ``os.cpu_count()``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def resolve_workers(requested: int | None, is_diffusion: bool, processes: int = 1) -> int:
    """The thread count of a run: ``requested`` when given, else chosen from the cores and the editor.

    Args:
        requested: ``GenerateConfig.workers`` (None: auto). 1 gives the serial path.
        is_diffusion: diffusion editors wait on the accelerator, so overlap pays even on one core (at least 2);
            CPU editors get one thread per core up to :data:`MAX_AUTO_WORKERS`.
        processes: processes of the run on this server (``LOCAL_WORLD_SIZE``), which share its cores.
    """
    if requested is not None:
        return max(1, int(requested))
    cpus = max(1, available_cpus() // max(1, processes))
    if is_diffusion:
        return max(2, min(cpus, MAX_AUTO_DIFFUSION_WORKERS))
    return min(cpus, MAX_AUTO_WORKERS)


def run_batches(worker, items: Sequence, *, out: str | os.PathLike, workers: int, cancelled: Callable[[], bool],
                on_batch: Callable[[int], None], rank: int = 0) -> bool:
    """Edit, finish and record ``items`` batch by batch; returns True when ``cancelled()`` stopped the run.

    Args:
        worker: the run's :class:`genmix_core.generate.batch.BatchWorker` (its ``workers`` should match).
        items: the items still to do, grouped by image.
        out: run folder (its ``items.jsonl``, or ``items.rank<rank>.jsonl``, gets the records).
        workers: 1 = serial on this thread; more = a pool of that many threads (see the module docstring).
        cancelled: polled before each batch is edited.
        on_batch: called with the number of items just recorded (progress); with ``workers > 1`` on the
            recording thread, one call at a time.
        rank: the process of a multi-process run (:mod:`genmix_core.generate.ranks`) whose log gets the records.
    """
    out = Path(out)

    def record(records: list[dict]) -> None:
        manifest.append_records(out, records, rank=rank)
        worker.failed += sum(r.get("status") == "failed" for r in records)
        worker.made += sum(r.get("status") == "done" for r in records)
        on_batch(len(records))

    if workers <= 1:
        for batch in worker.batches(items):
            if cancelled():
                return True
            record(worker.process(batch))
        return False

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="genmix-generate")
    recorder = _Recorder(record)
    stopped = False
    try:
        for batch in worker.batches(items):
            if recorder.failed or cancelled():
                stopped = not recorder.failed
                break
            ready = worker.prepare(batch, pool)
            recorder.slots.acquire()  # wait until no more than IN_FLIGHT batches are unrecorded
            if recorder.failed:
                break
            recorder.queue.put([pool.submit(worker.finish, r) for r in ready])
    finally:
        # Whatever ends the loop (done, cancel, an error here), the batches already edited are recorded first.
        recorder.close()
        pool.shutdown(wait=True, cancel_futures=True)
    if recorder.failed:
        raise recorder.failed[0]
    return stopped


class _Recorder:
    """A thread that records finished batches in order, each as soon as all its items are finished.

    Recording here rather than on the driving thread keeps the log and the progress current while the editor
    works on the next batch (a diffusion batch can take a minute). After an error it records nothing more and
    keeps the error in :attr:`failed` for the driving thread to raise.
    """

    def __init__(self, record: Callable[[list[dict]], None]):
        self.record = record
        self.queue: queue.Queue[list[Future] | None] = queue.Queue()
        self.slots = threading.Semaphore(IN_FLIGHT)
        self.failed: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, name="genmix-record", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (futures := self.queue.get()) is not None:
            try:
                if not self.failed:
                    self.record([f.result() for f in futures])  # the first error in item order propagates
            except BaseException as exc:  # noqa: BLE001 - handed to the driving thread
                self.failed.append(exc)
            finally:
                self.slots.release()

    def close(self) -> None:
        """Record what is queued, then stop the thread."""
        self.queue.put(None)
        self.thread.join()


def _image_size(path: str) -> tuple[int, int] | None:
    """An image's (width, height) as it will be edited (upright after EXIF rotation), from its header only;
    None when it cannot be read (the item then fails on its own, with its message)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            w, h = im.size
            orientation = im.getexif().get(0x0112, 1)
    except (OSError, SyntaxError, ValueError):
        return None
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def order_for_batches(items: list, editor) -> tuple[list, dict[str, object]]:
    """``items`` grouped by the editor's batch key (a diffusion editor's shape bucket), keeping the plan order
    inside a group, and each item's key (by item id). The job then cuts its batches inside one group, so each
    editor call holds one shape (full batches, one compiled graph per bucket). Outputs do not depend on the
    order: every item has its own seed."""
    keys: dict[str, object] = {}
    for it in items:
        if it.source.path not in keys:
            size = _image_size(it.source.path)
            keys[it.source.path] = editor.batch_key(size) if size else None
    by_id = {it.id: keys[it.source.path] for it in items}
    if all(k is None for k in keys.values()):
        return list(items), by_id
    first_seen = {k: n for n, k in enumerate(dict.fromkeys(repr(keys[it.source.path]) for it in items))}
    return sorted(items, key=lambda it: first_seen[repr(keys[it.source.path])]), by_id
