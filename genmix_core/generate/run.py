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
4. **Check quality.** Unless ``--no-filter``: each new edit and its original are embedded by a feature backbone
   while the run goes on (:class:`genmix_core.generate.filtering.Feeder`, every process for its own items); at
   the end, rank 0 alone judges *all* finished items of the plan (:func:`genmix_core.generate.filtering.
   filter_run`: similarity floor, GenMix per-class rule) and writes ``quality.json`` before ``manifest.csv``,
   so a resumed run or one of several processes is judged like a run made in one go.

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
import time
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from genmix_core.errors import UserError
from genmix_core.generate import manifest
from genmix_core.generate.config import GenerateConfig, load_prompt_set
from genmix_core.generate.edit_cache import EditCache
from genmix_core.generate.estimate import cost_key, record_generation
from genmix_core.generate.filtering import NoEditor, filter_step, start_feeder
from genmix_core.generate.ranks import (Group, LogProgress, failure, first_failure, ranks_from_env, rebuild,
                                        take_shard)
from genmix_core.generate.resume import Start, begin
from genmix_core.generate.sources import Skipped
from genmix_core.jobs import CANCEL_FILE, JobReporter
from genmix_core.runclaim import claim_run_folder, join_run_folder


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
        # Experiment switch for bench/bench_generate_gpu.py: one graph with symbolic shapes instead of one per
        # shape bucket.
        if os.environ.get("GENMIX_COMPILE_DYNAMIC") == "1":
            settings["compile_dynamic"] = True
        # Compiled ahead of time per shape and loaded by later runs (editing/precompiled.py); the experiment switch
        # GENMIX_PRECOMPILE=0 traces with torch.compile in every process instead (bench/bench_generate_gpu.py).
        settings["precompile"] = os.environ.get("GENMIX_PRECOMPILE") != "0"
    return create_editor(cfg.editor, model=cfg.model, **settings)


def _planned_seconds(cfg: GenerateConfig, editor, n_items: int) -> dict:
    """``{"estimate_s": ...}`` from what earlier runs measured on this machine (empty when nothing is known)."""
    from genmix_core import costs

    known = costs.measured("generate", cost_key(cfg.editor, cfg.model, cfg.steps, cfg.size, editor.info.device))
    return {"estimate_s": known["per_item"] * n_items} if known and known.get("per_item") else {}


@dataclass
class RunSummary:
    """What a call of :func:`run_generation` did (for a run of several processes: all of them together)."""

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
    made_by_rank: list[int] = field(default_factory=list)  # GenMix images each process made in this call

    @property
    def world(self) -> int:
        """Processes of the run (:mod:`genmix_core.generate.ranks`)."""
        return max(1, len(self.made_by_rank))


@dataclass
class _RankResult:
    """What one process did in this call, sent to all at the end."""

    made: int = 0
    failed: int = 0
    cache_hits: int = 0
    editor_calls: int = 0
    batch_size: int = 0
    workers: int = 1
    cancelled: bool = False
    error: dict | None = None   # genmix_core.generate.ranks.failure


def run_generation(config: GenerateConfig, editor=None, *, progress: Callable[[int, int], None] | None = None,
                   log: Callable[[str], None] = lambda msg: None) -> RunSummary:
    """Run (or resume) a generation job into ``config.out``; reports to ``<out>/job.json``.

    Under ``torchrun`` or ``accelerate launch`` (``WORLD_SIZE`` > 1) this process is one rank of a run of several
    processes that share the remaining items (:mod:`genmix_core.generate.ranks`); each returns the same summary.

    Args:
        config: the run's arguments (validated here).
        editor: an :class:`genmix_core.editing.base.Editor`; None creates the configured one.
        progress: called as ``progress(done, total)`` at the start and after each recorded batch (progress
            bars); with ``workers > 1`` (or several processes, on rank 0) from another thread, one call at a time.
        log: one-line messages (resume counts, skipped files, batch halving).

    Returns:
        The summary. ``status == "cancelled"`` when a ``CANCEL`` file stopped the job between batches.
    Raises:
        UserError: bad arguments or data, another run's folder, out of memory at batch size 1, a disk or
            permission failure (``err.io.*``), unusable files with ``strict``; on every process of a run, the
            error of the lowest rank that failed (its own error on the process that failed).
        genmix_core.runclaim.AlreadyRunning: another live process works in the folder.
    """
    cfg = config.resolved()
    with Group(ranks_from_env()) as group:
        return _run(cfg, editor, group, progress, log)


def _run(cfg: GenerateConfig, editor, group: Group, progress, log) -> RunSummary:
    out = Path(cfg.out)
    with ExitStack() as held:
        # 1. Rank 0 claims the folder and finds what is left to do; every process gets that, or rank 0's error.
        start, reporter = None, None
        if group.rank == 0:
            try:
                held.enter_context(claim_run_folder(out, "err.gen.already_running",
                                                    members_key="err.gen.ranks_running"))
                start = begin(cfg, log)
                reporter = _reporter(out, start, group.world)
            except Exception as exc:
                group.share(failure(exc, 0))
                raise
        start = group.share(start)
        if not isinstance(start, Start):
            raise rebuild(start)
        # 2. Every process joins the folder and loads its editor; one that cannot stops them all.
        several = reporter is not None and group.world > 1   # counts from here, before any other records
        watch = LogProgress(out, _overall(reporter, start, group.world, progress)) if several else nullcontext()
        own = None
        try:
            if group.rank:
                held.enter_context(join_run_folder(out))
            if editor is None:
                # Nothing left to edit (a rerun, e.g. to re-filter with other thresholds): no model is loaded.
                editor = create_editor_for(cfg) if start.todo else NoEditor(cfg.editor)
            if reporter is not None:   # the plan in seconds, from what earlier runs measured on this machine
                reporter.state.extra.update(_planned_seconds(cfg, editor, len(start.todo)))
                reporter.write(force=True)
        except Exception as exc:
            own = exc
        fail = first_failure(group.gather(None if own is None else failure(own, group.rank)))
        if fail is not None:
            if reporter:
                reporter.finish("failed", own or rebuild(fail))
            raise own or rebuild(fail)
        # 3. Its share of the work, then the meeting at the end: rank 0 merges the manifest and reports.
        with watch:
            own, result = _work(cfg, editor, group, start, reporter, progress, log)
            results = group.gather(result)
        fail = first_failure([r.error for r in results])
        if group.rank == 0:
            try:
                if fail is not None:
                    raise own or rebuild(fail)
                summary = _finish(cfg, editor, start, results, reporter, log)
                record_generation(cfg, editor.info.device, time.time() - reporter.state.started,
                                  sum(r.made for r in results))
            except Exception as exc:
                reporter.finish("failed", exc)
                _export_quietly(out)
                group.share(fail or failure(exc, 0))
                raise
            return group.share(summary)
        final = group.share()
        if isinstance(final, RunSummary):
            return final
        raise own or rebuild(final)


def _reporter(out: Path, start: Start, world: int) -> JobReporter:
    """Rank 0's ``job.json`` (it clears a ``CANCEL`` file left by an earlier run before any process checks it)."""
    reporter = JobReporter(out, kind="generate", total=start.total)
    reporter.state.extra = {"already_done": start.already, "base_done": start.already, "out": str(out),
                            "superseded": start.superseded,
                            "skipped": [s.to_dict() for s in start.skipped]}
    if world > 1:
        reporter.state.extra["ranks"] = world
    reporter.update(done=start.already, message_key="gen.job.resumed", force=True, already=start.already,
                    count=start.total)
    return reporter


def _overall(reporter: JobReporter, start: Start, world: int, progress) -> Callable[[int, int], None]:
    """Rank 0's report of the progress of all processes (from their logs, :class:`LogProgress`)."""
    def report(finished: int, failed: int) -> None:
        done = start.already + finished
        reporter.update(done=done, message_key="gen.job.progress_ranks", done_items=done, count=start.total,
                        world=world, failed=failed)
        if progress:
            progress(done, start.total)
    return report


def _work(cfg: GenerateConfig, editor, group: Group, start: Start, reporter: JobReporter | None, progress,
          log) -> tuple[Exception | None, _RankResult]:
    """This process's shard of the remaining items, ordered by shape bucket; returns its error (or None) and what
    it did."""
    from genmix_core.generate.batch import BatchWorker
    from genmix_core.generate.pipeline import order_for_batches, resolve_workers, run_batches

    out = Path(cfg.out)
    result, own, worker = _RankResult(), None, None

    def on_batch(n: int) -> None:   # one process: job.json after each recorded batch (several: _overall)
        if reporter is None or group.world > 1:
            return
        done = reporter.state.done + n
        reporter.update(done=done, message_key="gen.job.progress", done_items=done, count=start.total,
                        hits=worker.cache_hits, failed=worker.failed)
        if progress:
            progress(done, start.total)

    try:   # any error is reported at the meeting at the end, so no other process waits for this one in vain
        ordered, batch_keys = order_for_batches(start.todo, editor)   # the same on every rank
        shard = take_shard(ordered, group.ranks, group_of=lambda it: repr(batch_keys[it.id]))
        # A prompt the editor cannot draw fails its own items only; the other prompts still generate.
        undrawn = manifest.undrawable_records(editor, shard)
        if undrawn:
            manifest.append_records(out, undrawn, rank=group.rank)
            failed_ids = {r["id"] for r in undrawn}
            shard = [it for it in shard if it.id not in failed_ids]
            result.failed += len(undrawn)
            log(f"{len(undrawn)} item(s) failed: the editor cannot draw their prompt.")
            if reporter is not None and group.world == 1:
                reporter.update(done=reporter.state.done + len(undrawn), force=True)
        todo = shard   # grouped by shape bucket, as ``ordered``
        if group.world > 1:
            log(f"{len(todo)} of the {len(start.todo)} items to go are made by this process.")
        result.workers = resolve_workers(cfg.workers, editor.info.is_diffusion, group.ranks.local_world)
        worker = BatchWorker(cfg, editor, EditCache(cfg.cache_dir), log=log, workers=result.workers,
                             batch_keys=batch_keys, rank=group.rank)
        if result.workers > 1:
            log(f"{result.workers} worker threads ({'editing and ' if worker.parallel_edits else ''}mixing, "
                "PNG writes).")
        if progress and reporter:
            progress(start.already, start.total)
        cancelled = reporter.cancel_requested if reporter else (out / CANCEL_FILE).exists
        # The quality filter embeds each new edit while the run goes on, from the pictures in memory.
        feeder = start_feeder(cfg, editor, log) if todo and not cfg.no_filter else None
        worker.observer = feeder.put if feeder else None
        try:
            result.cancelled = run_batches(worker, todo, out=out, workers=result.workers, cancelled=cancelled,
                                           on_batch=on_batch, rank=group.rank)
        finally:
            if feeder:
                feeder.close()
    except Exception as exc:
        own, result.error = exc, failure(exc, group.rank)
    except BaseException:   # interrupted: no meeting (the launcher stops the other processes)
        if reporter:
            reporter.finish("failed", "interrupted")
            _export_quietly(out)
        raise
    if worker is not None:
        result.made, result.cache_hits = worker.made, worker.cache_hits
        result.failed += worker.failed
        result.editor_calls, result.batch_size = worker.editor_calls, worker.batch_size
    return own, result


def _finish(cfg: GenerateConfig, editor, start: Start, results: list[_RankResult], reporter: JobReporter,
            log) -> RunSummary:
    """Rank 0, after every process ended well: the quality filter over all items of the plan, ``manifest.csv``
    (and ``prompt_stats.csv``) from all logs, the final ``job.json``.

    The filter runs here, once, whatever each process made, and also when nothing was left to edit (a rerun
    with other thresholds re-judges from the stored features); not after a cancel (the next run does it).
    """
    out = Path(cfg.out)
    cancelled = any(r.cancelled for r in results)
    if not cancelled and not cfg.no_filter:
        filter_step(cfg, reporter, log)
    manifest.export_manifest(out)
    status = "cancelled" if cancelled or reporter.cancel_requested() else "done"
    plan = manifest.read_plan(out)
    records = manifest.current_records(out, {p["id"]: p["image_hash"] for p in plan})
    n_done = sum(1 for r in records.values() if r.get("status") == "done")
    n_failed = sum(1 for r in records.values() if r.get("status") == "failed")
    made = [r.made for r in results]
    hits, calls = sum(r.cache_hits for r in results), sum(r.editor_calls for r in results)
    batch = min(r.batch_size for r in results)
    reporter.state.extra.update(failed=n_failed, cache_hits=hits, batch_size=batch,
                                editor={"id": editor.info.id, "device": editor.info.device,
                                        "dtype": editor.info.dtype, **editor.info.extra},
                                editor_events=list(getattr(editor, "events", [])),
                                **({"made_by_rank": made} if len(made) > 1 else {}))
    message = "gen.job.done_skipped" if start.skipped and status == "done" else f"gen.job.{status}"
    reporter.update(message_key=message, force=True, done_items=n_done, failed=n_failed, count=start.total,
                    skipped=len(start.skipped))
    reporter.finish(status)
    return RunSummary(out, status, start.total, start.already, n_done, n_failed, hits, calls, batch,
                      results[0].workers, start.skipped, start.superseded, made)


def _export_quietly(out: Path) -> None:
    """Refresh ``manifest.csv`` after a failure, unless that fails too (a full disk): the error that stopped
    the run is the one to report, and the next run writes the manifest anyway."""
    try:
        manifest.export_manifest(out)
    except (UserError, OSError):
        pass
