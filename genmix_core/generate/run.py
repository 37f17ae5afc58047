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
``--help``). A rerun with the same arguments resumes; other arguments into the same folder are refused.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from genmix_core.fileio import atomic_write_json, read_json
from genmix_core.generate import manifest
from genmix_core.generate.config import FREE_ARGS, GenerateConfig
from genmix_core.generate.edit_cache import EditCache, clean_incomplete
from genmix_core.generate.estimate import cost_key, record_generation
from genmix_core.generate.plan import include_only, plan_items, scan_sources
from genmix_core.jobconfig import flag, read_stored_args, stored_args, write_config
from genmix_core.jobs import JOB_FILE, JobReporter, process_alive
from genmix_core.errors import UserError


# ------------------------------------------------------------------------------------------ run folder

def check_run_folder(cfg: GenerateConfig) -> None:
    """Claim ``cfg.out`` for this run: write ``config.json``, or check it matches (then we resume).

    Raises:
        UserError: ``err.gen.config_changed`` when the folder holds a run with other arguments,
            ``err.gen.already_running`` when another live process works in it.
    """
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    job = read_json(out / JOB_FILE, default={}) or {}
    if job.get("status") == "running" and job.get("pid") not in (None, os.getpid()) and process_alive(
            job["pid"], job.get("pid_token", "")):
        raise UserError("err.gen.already_running", out=str(out), pid=job["pid"])
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

    The offline style filter gets the styles chosen for the prompts (``cfg.style_choices()``); diffusion editors
    get ``steps``/``size`` when set.
    """
    from genmix_core.editing.registry import create_editor, editor_spec

    if not editor_spec(cfg.editor).is_diffusion:
        hints = cfg.style_choices()
        return create_editor(cfg.editor, filters=hints) if hints else create_editor(cfg.editor)
    settings = {k: v for k, v in (("steps", cfg.steps), ("size", cfg.size)) if v is not None}
    if cfg.compile:
        settings["compile"] = True
    return create_editor(cfg.editor, model=cfg.model, **settings)


def _planned_seconds(cfg: GenerateConfig, editor, n_items: int) -> dict:
    """``{"estimate_s": ...}`` from what earlier runs measured on this machine (empty when nothing is known)."""
    from genmix_core import costs

    known = costs.measured("generate", cost_key(cfg.editor, cfg.model, cfg.steps, cfg.size, editor.info.device))
    return {"estimate_s": known["per_item"] * n_items} if known and known.get("per_item") else {}


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


def run_generation(config: GenerateConfig, editor=None, *, progress: Callable[[int, int], None] | None = None,
                   log: Callable[[str], None] = lambda msg: None) -> RunSummary:
    """Run (or resume) a generation job into ``config.out``; reports to ``<out>/job.json``.

    Args:
        config: the run's arguments (validated here).
        editor: an :class:`genmix_core.editing.base.Editor`; None creates the configured one.
        progress: called as ``progress(done, total)`` at the start and after each recorded batch (progress
            bars); with ``workers > 1`` from the job's recording thread, one call at a time.
        log: one-line messages (resume counts, batch halving).

    Returns:
        The summary. ``status == "cancelled"`` when a ``CANCEL`` file stopped the job between batches.
    Raises:
        UserError: bad arguments or data, another run's folder, or out of memory at batch size 1.
    """
    from genmix_core.generate.batch import BatchWorker
    from genmix_core.generate.pipeline import resolve_workers, run_batches

    cfg = config.resolved()
    check_run_folder(cfg)
    out = Path(cfg.out)
    items = plan_items(scan_sources(cfg.data), cfg.prompts, seed=cfg.seed, per_image=cfg.per_image)
    if cfg.include is not None:
        items = include_only(items, cfg.include, cfg.data)
    atomic_write_json(out / manifest.PLAN_FILE, [it.to_plan() for it in items])
    clean_incomplete(out / manifest.IMAGES_DIR, min_age_s=0)
    clean_incomplete(cfg.cache_dir, min_age_s=3600)  # a shared cache: leave other runs' live temp files
    if editor is None:
        editor = create_editor_for(cfg)
    records = manifest.read_records(out)
    # Failed items are final (their retry seed is fixed, a redo would fail the same way); a done item whose
    # image went missing is done again.
    finished = {i for i, r in records.items() if r.get("status") == "failed" or (
        r.get("status") == "done" and (out / str((r.get("mix") or {}).get("path", "-"))).is_file())}
    # A prompt the editor cannot draw fails its own items only; the other prompts still generate.
    undrawn = manifest.undrawable_records(editor, [it for it in items if it.id not in finished])
    if undrawn:
        manifest.append_records(out, undrawn)
        finished |= {r["id"] for r in undrawn}
        log(f"{len(undrawn)} item(s) failed: the editor cannot draw their prompt.")
    todo = [it for it in items if it.id not in finished]
    finished_now = len(items) - len(todo)        # work the progress bar counts as done from the start
    already = finished_now - len(undrawn)         # items an earlier start of this run had finished
    log(f"{already} of {len(items)} items already done; {len(todo)} to go.")
    reporter = JobReporter(out, kind="generate", total=len(items))
    reporter.state.extra = {"already_done": already, "base_done": finished_now, "out": str(out),
                            **_planned_seconds(cfg, editor, len(todo))}
    reporter.update(done=finished_now, message_key="gen.job.resumed", force=True, already=already,
                    count=len(items))
    workers = resolve_workers(cfg.workers, editor.info.is_diffusion)
    worker = BatchWorker(cfg, editor, EditCache(cfg.cache_dir), log=log, workers=workers)
    if workers > 1:
        log(f"{workers} worker threads ({'editing and ' if worker.parallel_edits else ''}mixing, PNG writes).")
    if progress:
        progress(finished_now, len(items))

    def on_batch(n: int) -> None:
        done = reporter.state.done + n
        reporter.update(done=done, message_key="gen.job.progress", done_items=done, count=len(items),
                        hits=worker.cache_hits, failed=worker.failed)
        if progress:
            progress(done, len(items))

    try:
        cancelled = run_batches(worker, todo, out=out, workers=workers, cancelled=reporter.cancel_requested,
                                on_batch=on_batch)
    except BaseException as exc:
        reporter.finish("failed", exc if isinstance(exc, Exception) else "interrupted")
        raise
    finally:
        manifest.export_manifest(out)
    status = "cancelled" if cancelled else "done"
    records = manifest.read_records(out)
    n_done = sum(1 for it in items if records.get(it.id, {}).get("status") == "done")
    n_failed = sum(1 for it in items if records.get(it.id, {}).get("status") == "failed")
    reporter.state.extra.update(failed=n_failed, cache_hits=worker.cache_hits, batch_size=worker.batch_size,
                                editor={"id": editor.info.id, "device": editor.info.device,
                                        "dtype": editor.info.dtype, **editor.info.extra},
                                editor_events=list(getattr(editor, "events", [])))
    reporter.update(message_key=f"gen.job.{status}", force=True, done_items=n_done, failed=n_failed,
                    count=len(items))
    reporter.finish(status)
    record_generation(cfg, editor.info.device, time.time() - reporter.state.started,
                      n_done + n_failed - finished_now)  # items finished by this call
    return RunSummary(out, status, len(items), already, n_done, n_failed, worker.cache_hits,
                      worker.editor_calls, worker.batch_size, workers)
