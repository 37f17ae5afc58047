"""Batch GenMix generation: plan (image, prompt) items, edit them in batches, mix, record; resumable.

Steps of a run (Islam et al., GenMix, arXiv 2412.02366, §3; one augmented image per original and prompt):

1. **Plan.** Every image of the data folder (class folders) gets all prompts, or ``per_image`` of them drawn
   with a per-image seeded generator. Each item gets its own seed ``item_seed(job_seed, image_hash, prompt)``,
   so its edit never depends on which other items share its batch or on the order of work.
2. **Edit.** Items go to ``editor.edit_batch`` in batches, an image's prompts next to each other so a backend
   can encode each source image once. Every edit is cached under a content key (image bytes, prompt, seed,
   editor settings) in the cache folder; a cached PNG is decoded before reuse and redone if it is broken.
   A black, flat or NaN edit is retried once with another derived seed, then marked failed. On CUDA
   out-of-memory the batch is halved and the work continues.
3. **Mix.** Per item, mix parameters are drawn once from its own generator, the GenMix image
   (mask hybrid + fractal blend) is written to ``<out>/images/<class>/<image-stem>__<prompt-slug>.png``, and
   only then is the item recorded as done (see :mod:`genmix_core.generate.manifest` for the resume design).

With ``workers > 1`` (default: auto) a thread pool mixes and writes batch k while the editor works on batch
k+1, and CPU editors edit a batch's items in parallel; outputs are identical (see
:mod:`genmix_core.generate.pipeline`).

CLI: ``python -m genmix_core.generate --data DIR --out DIR --prompts "snowy,sunset" --editor offline`` (see
``--help``). A rerun with the same arguments resumes; other arguments into the same folder are refused, and so
is a second process while one works in the folder (:mod:`genmix_core.runclaim`). Unusable files of the data
folder are skipped and listed (:mod:`genmix_core.generate.sources`), or refuse the run with ``--strict``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from genmix_core.errors import UserError
from genmix_core.fileio import atomic_write_json, ensure_dir, read_json
from genmix_core.generate import manifest
from genmix_core.generate.batch import SOURCE_UNREADABLE
from genmix_core.generate.config import FREE_ARGS, GenerateConfig, load_prompt_set
from genmix_core.generate.edit_cache import EditCache, clean_incomplete
from genmix_core.generate.filtering import NoEditor, filter_step, start_feeder
from genmix_core.generate.plan import include_only, plan_items
from genmix_core.generate.sources import Skipped, check_sources, scan_data, summary_line, write_skipped
from genmix_core.jobconfig import flag, read_stored_args, stored_args, write_config
from genmix_core.jobs import JobReporter
from genmix_core.runclaim import claim_run_folder


# ------------------------------------------------------------------------------------------ run folder

def check_run_folder(cfg: GenerateConfig) -> None:
    """Write ``cfg.out``'s ``config.json``, or check it matches (then we resume). Call it holding the folder's
    claim (:func:`genmix_core.runclaim.claim_run_folder`), as :func:`run_generation` does.

    Raises:
        UserError: ``err.gen.config_changed`` when the folder holds a run with other arguments.
    """
    out = ensure_dir(cfg.out)
    args = stored_args(cfg)
    old = read_stored_args(out, GenerateConfig)
    if old is not None:
        changed = sorted(k for k in {*args, "include"} if k not in FREE_ARGS and old.get(k) != args.get(k))
        if changed:
            detail = "; ".join(f"{flag(k)} {old.get(k)!r} -> {args.get(k)!r}" for k in changed)
            raise UserError("err.gen.config_changed", out=str(out), changes=detail)
    elif (out / manifest.RECORDS_FILE).exists():
        raise UserError("err.gen.config_changed", out=str(out), changes="config.json is missing")
    write_config(out, cfg)


def create_editor_for(cfg: GenerateConfig):
    """The editor the config asks for.

    The offline style filter gets the prompt set's ``filter:`` hints for the chosen prompts; diffusion editors
    get ``steps``/``size`` when set.
    """
    from genmix_core.editing.registry import create_editor, editor_spec

    if not editor_spec(cfg.editor).is_diffusion:
        chosen = set(cfg.prompts)
        hints = [p for p in load_prompt_set(cfg.prompt_set).prompts if p.text in chosen] if cfg.prompt_set else []
        return create_editor(cfg.editor, filters=hints) if hints else create_editor(cfg.editor)
    settings = {k: v for k, v in (("steps", cfg.steps), ("size", cfg.size)) if v is not None}
    if cfg.compile:
        settings["compile"] = True
        # Experiment switch for bench/bench_generate_gpu.py: one graph with symbolic shapes instead of one per
        # shape bucket.
        if os.environ.get("GENMIX_COMPILE_DYNAMIC") == "1":
            settings["compile_dynamic"] = True
    return create_editor(cfg.editor, model=cfg.model, **settings)


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


@dataclass
class RunSummary:
    """What a call of :func:`run_generation` did."""

    out: Path
    status: str            # "done" or "cancelled"
    total: int
    already_done: int      # items found done at start (resume)
    done: int              # items done now (all time)
    failed: int            # items failed (all time)
    cache_hits: int        # edits taken from the cache in this call
    editor_calls: int      # edit_batch calls in this call
    batch_size: int        # final batch size (after any halving)
    workers: int = 1       # threads used (1: serial; see genmix_core.generate.pipeline)
    skipped: list[Skipped] = field(default_factory=list)   # files of the data folder left out, with reasons
    superseded: list[str] = field(default_factory=list)    # items redone now because their photo was replaced


def run_generation(config: GenerateConfig, editor=None, *, progress: Callable[[int, int], None] | None = None,
                   log: Callable[[str], None] = lambda msg: None) -> RunSummary:
    """Run (or resume) a generation job into ``config.out``; reports to ``<out>/job.json``.

    Args:
        config: the run's arguments (validated here).
        editor: an :class:`genmix_core.editing.base.Editor`; None creates the configured one.
        progress: called as ``progress(done, total)`` at the start and after each recorded batch (progress
            bars); with ``workers > 1`` from the job's recording thread, one call at a time.
        log: one-line messages (resume counts, skipped files, batch halving).

    Returns:
        The summary. ``status == "cancelled"`` when a ``CANCEL`` file stopped the job between batches.
    Raises:
        UserError: bad arguments or data, another run's folder, out of memory at batch size 1, a disk or
            permission failure (``err.io.*``), unusable files with ``strict``.
        genmix_core.runclaim.AlreadyRunning: another live process works in the folder.
    """
    cfg = config.resolved()
    with claim_run_folder(cfg.out, "err.gen.already_running"):
        return _run(cfg, editor, progress, log)


def _plan(cfg: GenerateConfig, log: Callable[[str], None]):
    """Plan the run, set aside results of replaced photos, find what is left to do and the unusable files.

    Returns:
        ``(items, todo, skipped, superseded ids)``; ``items`` and ``todo`` hold usable photos only.
    """
    out = Path(cfg.out)
    sources, skipped = scan_data(cfg.data)
    items = plan_items(sources, cfg.prompts, seed=cfg.seed, per_image=cfg.per_image)
    if cfg.include is not None:
        items = include_only(items, cfg.include, cfg.data)
    hashes = {it.id: it.source.image_hash for it in items}
    old_plan = read_json(out / manifest.PLAN_FILE, default=[]) or []
    old_hashes = {p.get("id"): p.get("image_hash") for p in old_plan if isinstance(p, dict)}
    superseded = manifest.supersede(out, hashes, old_hashes)   # before plan.json changes (see supersede)
    if superseded:
        log(f"{len(superseded)} item(s) are redone: their photo was replaced since they were made.")
    records = manifest.current_records(out, hashes)
    # Failed items are final (their retry seed is fixed, a redo would fail the same way), except those whose
    # original was unreadable (deleted meanwhile, now back); a done item whose image went missing is done again.
    finished = {i for i, r in records.items() if (
        r.get("status") == "failed" and r.get("error_key") != SOURCE_UNREADABLE) or (
        r.get("status") == "done" and (out / str((r.get("mix") or {}).get("path", "-"))).is_file())}
    todo = [it for it in items if it.id not in finished]
    unusable = check_sources(it.source for it in todo)
    skipped = sorted(skipped + unusable, key=lambda s: s.file)
    if skipped and cfg.strict:
        for s in skipped:
            log(f"unusable: {s.message()}")
        raise UserError("err.gen.strict_skipped", path=cfg.data, count=len(skipped), files=summary_line(skipped))
    bad = {s.file for s in unusable}
    items = [it for it in items if it.source.rel not in bad]
    todo = [it for it in todo if it.source.rel not in bad]
    if not items:
        raise UserError("err.gen.no_usable_images", path=cfg.data, count=len(skipped), files=summary_line(skipped))
    return items, todo, skipped, superseded


def _run(cfg: GenerateConfig, editor, progress, log) -> RunSummary:
    from genmix_core.generate.batch import BatchWorker
    from genmix_core.generate.pipeline import resolve_workers, run_batches

    check_run_folder(cfg)
    out = Path(cfg.out)
    items, todo, skipped, superseded = _plan(cfg, log)
    for s in skipped:
        log(f"skipped: {s.message()}")
    write_skipped(out, skipped)
    atomic_write_json(out / manifest.PLAN_FILE, [it.to_plan() for it in items])
    clean_incomplete(out / manifest.IMAGES_DIR, min_age_s=0)   # the run folder is ours alone (claimed)
    clean_incomplete(cfg.cache_dir)   # a shared cache: only the temp files of writers that are gone
    if editor is None:
        # Nothing left to edit (a rerun, e.g. to re-filter with other thresholds): no model is loaded.
        editor = create_editor_for(cfg) if todo else NoEditor(cfg.editor)
    editor.check_prompts(list(dict.fromkeys(it.prompt for it in items)))
    todo, batch_keys = order_for_batches(todo, editor)
    already = len(items) - len(todo)
    log(f"{already} of {len(items)} items already done; {len(todo)} to go.")
    reporter = JobReporter(out, kind="generate", total=len(items))
    reporter.state.extra = {"already_done": already, "out": str(out), "superseded": superseded,
                            "skipped": [s.to_dict() for s in skipped]}
    reporter.update(done=already, message_key="gen.job.resumed", force=True, already=already, count=len(items))
    workers = resolve_workers(cfg.workers, editor.info.is_diffusion)
    worker = BatchWorker(cfg, editor, EditCache(cfg.cache_dir), log=log, workers=workers, batch_keys=batch_keys)
    if workers > 1:
        log(f"{workers} worker threads ({'editing and ' if worker.parallel_edits else ''}mixing, PNG writes).")
    if progress:
        progress(already, len(items))

    def on_batch(n: int) -> None:
        done = reporter.state.done + n
        reporter.update(done=done, message_key="gen.job.progress", done_items=done, count=len(items),
                        hits=worker.cache_hits, failed=worker.failed)
        if progress:
            progress(done, len(items))

    # The quality filter embeds each new edit while the run goes on (from the pictures in memory), then judges
    # every finished edit at the end (genmix_core.generate.filtering).
    feeder = start_feeder(cfg, editor, log) if todo and not cfg.no_filter else None
    worker.observer = feeder.put if feeder else None
    try:
        try:
            cancelled = run_batches(worker, todo, out=out, workers=workers, cancelled=reporter.cancel_requested,
                                    on_batch=on_batch)
        finally:
            if feeder:
                feeder.close()
        if not cancelled and not cfg.no_filter:
            filter_step(cfg, items, reporter, log)
    except BaseException as exc:
        reporter.finish("failed", exc if isinstance(exc, Exception) else "interrupted")
        _export_quietly(out)
        raise
    manifest.export_manifest(out)
    status = "cancelled" if cancelled or reporter.cancel_requested() else "done"
    records = manifest.current_records(out, {it.id: it.source.image_hash for it in items})
    n_done = sum(1 for it in items if records.get(it.id, {}).get("status") == "done")
    n_failed = sum(1 for it in items if records.get(it.id, {}).get("status") == "failed")
    reporter.state.extra.update(failed=n_failed, cache_hits=worker.cache_hits, batch_size=worker.batch_size,
                                editor={"id": editor.info.id, "device": editor.info.device,
                                        "dtype": editor.info.dtype, **editor.info.extra},
                                editor_events=list(getattr(editor, "events", [])))
    message = "gen.job.done_skipped" if skipped and status == "done" else f"gen.job.{status}"
    reporter.update(message_key=message, force=True, done_items=n_done, failed=n_failed, count=len(items),
                    skipped=len(skipped))
    reporter.finish(status)
    return RunSummary(out, status, len(items), already, n_done, n_failed, worker.cache_hits,
                      worker.editor_calls, worker.batch_size, workers, skipped, superseded)


def _export_quietly(out: Path) -> None:
    """Refresh ``manifest.csv`` after a failure, unless that fails too (a full disk): the error that stopped
    the run is the one to report, and the next run writes the manifest anyway."""
    try:
        manifest.export_manifest(out)
    except (UserError, OSError):
        pass
