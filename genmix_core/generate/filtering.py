"""The quality filter as the last step of a generation run: score every finished edit, write ``quality.json``.

For each finished item, the cosine similarity between backbone features of its edit (the raw edit in the edit
cache, before mixing) and of its original, then the verdict of :mod:`genmix_core.quality.rules` (floor, GenMix
per-class rule; black/flat edits). The run folder gets::

    features/<feature key>/*.npz    cached feature vectors (originals by photo hash, edits by edit content key)
    quality.json                    the thresholds and backbone used, the per-class fits, and per item
                                    {"similarity", "reason" ("" = keep), "edit" (the edit's content key)}

Resumable and cheap to repeat: vectors are stored batch by batch, so a rerun embeds only what is missing, and a
rerun with other thresholds (free settings of :class:`~genmix_core.generate.config.GenerateConfig`) embeds
nothing. A verdict counts only for the edit it was made from (``edit`` key): an item redone since is "not
checked" until the next run scores it. ``manifest.csv`` combines these verdicts with the user's review
(:func:`genmix_core.generate.manifest.load_manifest`): a manual accept or reject always wins, and it lives in
``review.json``, which the filter never writes, so it survives any rerun of the filter.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from functools import partial
from pathlib import Path
from typing import Callable

from PIL import Image

from genmix_core.fileio import atomic_write_json
from genmix_core.generate import manifest
from genmix_core.generate.batch import load_source
from genmix_core.generate.verdicts import QUALITY_FILE, read_quality
from genmix_core.paths import safe_name
from genmix_core.quality.backbones import prepare

FEATURES_DIR = "features"
QUALITY_VERSION = 1
#: Torch threads for the filter's forward passes on a CPU. One: on the 2 shared cores measured, two threads
#: cost 25.6 ms CPU and 47.6 ms wall per image against 4.7 ms and 7.2 ms for one (OpenMP threads spin while
#: other processes hold the cores); the picture decoding runs beside it on a helper thread.
CPU_THREADS = 1
#: Pictures waiting for the feeder: once the backbone is loaded, a full queue makes the run wait (memory stays
#: bounded: 512 × 112² × 3 bytes = 19 MB for the built-in backbone); while it loads, a picture that finds the
#: queue full is left to the pass at the end instead. Deep enough for the pictures of a few seconds of a fast
#: style-filter run (about 80 a second on the H200 machine), so that they wait in memory, not on disk.
FEED_QUEUE = 512


def features_dir(out: Path, key: str) -> Path:
    """Where a run keeps the feature vectors of one kind (backbone, size, precision)."""
    return Path(out) / FEATURES_DIR / safe_name(key)


@contextlib.contextmanager
def cpu_threads(device: str):
    """Torch's intra-op threads set to :data:`CPU_THREADS` while the filter runs on the CPU, restored after."""
    import torch

    old = torch.get_num_threads()
    if device == "cpu":
        torch.set_num_threads(CPU_THREADS)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def edit_key(record: dict) -> str:
    """The content key of an item's edit: the stem of its file in the content-keyed edit cache."""
    return Path(str(record.get("edit_path") or "")).stem


def _open_png(path: str) -> Image.Image:
    with Image.open(path) as im:
        return im.convert("RGB")


def filter_run(cfg, *, log: Callable[[str], None] = lambda m: None,
               progress: Callable[[int, int], None] | None = None,
               cancelled: Callable[[], bool] = lambda: False) -> dict:
    """Score every finished edit of a run (a resolved config's ``out``) and write ``<out>/quality.json``.

    Works from the run folder alone: the plan (``plan.json``: every usable item, whichever process made it) and
    the completion logs of all processes. So it judges all items at once, with class fits from all originals,
    whether the run was made in one go, resumed, or shared by several processes (rank 0 calls it at the end).

    Args:
        progress: ``progress(done, total)`` over the pictures still to embed.
        cancelled: checked between batches; a cancelled pass writes nothing (the stored vectors stay).

    Returns:
        The data written to ``quality.json`` (empty dict when cancelled).
    Raises:
        UserError / ModelUnavailableError: the backbone cannot be loaded (``err.quality.*``).
    """
    from genmix_core.editing.diffusion import is_bad_edit
    from genmix_core.quality import Edit, FeatureStore, class_fits, compute_features, load_extractor, score_edits

    out = Path(cfg.out)
    plan = manifest.read_plan(out)
    records = manifest.current_records(out, {p["id"]: p["image_hash"] for p in plan})
    done = [(p, records[p["id"]]) for p in plan if records.get(p["id"], {}).get("status") == "done"]
    old = read_quality(out)
    if old and _same_pass(old, cfg, {p["id"]: edit_key(rec) for p, rec in done}):
        return old   # a rerun with nothing new: no model is loaded, nothing is written
    sources = {p["image_hash"]: (p["label"], Path(cfg.data) / p["image"]) for p in plan}
    extractor = load_extractor(cfg.filter_backbone)
    store = FeatureStore(features_dir(out, extractor.key))
    originals = [("o:" + h, partial(load_source, str(path))) for h, (_, path) in sources.items()]
    edits = [("e:" + edit_key(rec), partial(_open_png, rec["edit_path"])) for _, rec in done if rec.get("edit_path")]
    n_originals = len(store.missing(k for k, _ in originals))
    n_todo = n_originals + len(store.missing(k for k, _ in edits))
    if n_todo:
        log(f"Quality filter: embedding {n_todo} pictures with {extractor.key} on {extractor.device}.")

    def step(offset: int) -> Callable[[int, int], None]:
        return lambda n, _total: progress(offset + n, n_todo) if progress else None

    with cpu_threads(extractor.device):
        _, lost = compute_features(extractor, store, originals, progress=step(0), cancelled=cancelled)
        bad, unreadable = compute_features(extractor, store, edits, is_bad=is_bad_edit,
                                           progress=step(n_originals), cancelled=cancelled)
    if cancelled():
        return {}
    if lost or unreadable:
        log(f"Quality filter: {len(lost)} original(s) and {len(unreadable)} edit(s) could not be read; their "
            f"items stay unchecked until a rerun finds the files.")
    by_class: dict[str, list[str]] = {}
    for h, (label, _) in sources.items():
        by_class.setdefault(label, []).append("o:" + h)
    fits = class_fits(store, by_class)
    judged = [Edit(p["id"], p["label"], "o:" + p["image_hash"], "e:" + edit_key(rec)) for p, rec in done]
    verdicts = score_edits(store, judged, fits, floor=cfg.filter_floor, k=cfg.filter_k, bad=bad)
    data = {
        "version": QUALITY_VERSION, "backbone": cfg.filter_backbone, "features": extractor.key,
        "device": extractor.device, "floor": cfg.filter_floor, "k": cfg.filter_k,
        "classes": {c: (f.to_dict() if f else None) for c, f in fits.items()},
        "items": {e.id: {"similarity": verdicts[e.id].similarity, "reason": verdicts[e.id].reason,
                         "edit": e.edit[2:]} for e in judged if e.id in verdicts},
    }
    atomic_write_json(out / QUALITY_FILE, data)
    rejected = sum(1 for v in data["items"].values() if v["reason"])
    log(f"Quality filter: {len(data['items']) - rejected} of {len(data['items'])} edits kept, {rejected} rejected "
        f"(floor {cfg.filter_floor}, k {cfg.filter_k}).")
    return data


def _same_pass(old: dict, cfg, edits: dict[str, str]) -> bool:
    """Whether ``quality.json`` already judged exactly these edits with these settings (then nothing changes:
    the same items give the same originals, so the same class fits)."""
    return (old.get("backbone"), old.get("floor"), old.get("k")) == (cfg.filter_backbone, cfg.filter_floor,
                                                                     cfg.filter_k) \
        and {i: v.get("edit") for i, v in old["items"].items()} == edits


def filter_step(cfg, reporter, log: Callable[[str], None]) -> None:
    """:func:`filter_run` as the last step of a job (rank 0, after all processes ended), progress in ``job.json``."""
    def progress(done: int, total: int) -> None:
        reporter.update(message_key="gen.job.filtering", pictures=done, count=total)

    reporter.update(message_key="gen.job.filtering", force=True, pictures=0, count="…")
    filter_run(cfg, log=log, progress=progress, cancelled=reporter.cancel_requested)


class Feeder:
    """Embeds each new edit and its original while the run goes on, from the pictures in memory, and stores the
    vectors where :func:`filter_run` looks first; that pass then has (almost) nothing left to embed.

    A helper thread loads the backbone (torch is imported there, beside the first edits), makes its first forward
    pass on blank pictures, and then embeds full batches. :meth:`put` is called by the job's threads
    (``BatchWorker.observer``): it skips a picture already seen, prepares it (resized to the backbone's input,
    exactly as the pass at the end does) and queues it. Once the backbone is loaded and warm a full queue makes
    the caller wait (the feeder keeps pace); before that it never does: the load (torch, CUDA start-up, weights,
    cuDNN's kernels at the first pass: seconds) would hold the whole run up, so a picture that finds the queue
    full is dropped and the pass at the end embeds it from disk. (On an H200 with the style filter, the first
    pass used to come after the load, with the queue already waiting: the editing stood still for about 2 s.)
    Any failure (a backbone that cannot be loaded ...) only stops the feeding, with a log line: the pass at the
    end embeds what is missing and reports the error there.
    """

    def __init__(self, cfg, log: Callable[[str], None]):
        from genmix_core.quality import input_size

        self.backbone, self.out, self.log = cfg.filter_backbone, Path(cfg.out), log
        self.queue: queue.Queue = queue.Queue(maxsize=FEED_QUEUE)
        self.seen: set[str] = set()
        self.lock = threading.Lock()
        self.loaded = threading.Event()     # the backbone is ready (or failed): from then on, put() may wait
        try:
            self.size: int | None = input_size(self.backbone)
        except Exception:   # a backbone that is not here: the pass at the end reports it
            self.size = None
        self.thread = threading.Thread(target=self._work, name="genmix-quality-feeder", daemon=True)
        self.thread.start()

    def put(self, key: str, image: Image.Image) -> None:
        with self.lock:
            if self.size is None or key in self.seen:
                return
            self.seen.add(key)
        job = (key, prepare(image, self.size))
        if self.loaded.is_set():
            self.queue.put(job)
            return
        try:
            self.queue.put_nowait(job)
        except queue.Full:              # still loading: do not hold the run up; the pass at the end embeds it
            with self.lock:
                self.seen.discard(key)

    def close(self) -> None:
        """Embed what is queued, then stop the thread."""
        self.queue.put(None)
        self.thread.join()

    def _work(self) -> None:
        from genmix_core.quality import FeatureStore, load_extractor

        job: tuple | None = ()
        try:
            if self.size is None:
                raise LookupError("no backbone")
            extractor = load_extractor(self.backbone)
            store = FeatureStore(features_dir(self.out, extractor.key))
            with cpu_threads(extractor.device):
                extractor.warm_up()
                self.loaded.set()
                batch: list = []
                while job is not None:
                    job = self.queue.get()
                    if job is not None and job[0] not in store:
                        batch.append(job)
                    if batch and (job is None or len(batch) >= extractor.batch_size):
                        store.add([k for k, _ in batch], extractor.embed_arrays([a for _, a in batch]))
                        batch = []
        except Exception as exc:   # the pass at the end embeds what is missing and reports the error
            with self.lock:
                self.size = None
            self.loaded.set()
            self.log(f"Quality filter: features are computed at the end instead ({type(exc).__name__}: {exc}).")
            while job is not None:   # let waiting producers go on, until close()
                job = self.queue.get()


def start_feeder(cfg, editor, log: Callable[[str], None]) -> Feeder | None:
    """A :class:`Feeder` for this run, or None where it would compete with the editor for the CPU's torch
    threads (a diffusion editor on the CPU: its features are computed at the end instead)."""
    if editor.info.is_diffusion and editor.info.device == "cpu":
        return None
    return Feeder(cfg, log)


class NoEditor:
    """Stands in for the editor when a run has nothing left to edit (a rerun to re-filter): no model is loaded.
    It is asked only what the job asks of every editor before its (empty) work list."""

    def __init__(self, editor_id: str):
        from genmix_core.editing.base import EditorInfo

        self.info = EditorInfo(id=editor_id, is_diffusion=False, label_key="", model=None)

    def can_edit(self, prompt: str) -> bool:
        return True

    def batch_key(self, size):
        return None

    def preferred_batch_size(self) -> int:
        return 1

    def settings(self) -> dict:
        return {}
