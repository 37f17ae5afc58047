"""Command line of the generation job: ``python -m genmix_core.generate --data DIR --out DIR ...``.

Bad arguments (a prompt the chosen editor cannot draw included, refused before any folder is made), a folder
another process works in, and disk or permission failures end with one clear line on stderr and exit status 2
(no traceback); a rerun with the same arguments resumes and says how many items were already done. Unusable
files of --data are listed as skipped (exit 0), or refuse the run with --strict. The Generate page writes the run's
``config.json`` and starts ``python -m genmix_core.generate --run DIR`` (:func:`genmix_core.jobconfig.launch`).

Under ``torchrun`` or ``accelerate launch`` each process runs this same command line
(:mod:`genmix_core.generate.ranks`); rank 0 shows the progress bar and the final lines (with the items each rank
made), the other ranks' lines start with ``[rank r/w]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from genmix_core.errors import UserError
from genmix_core.fileio import io_error, read_json
from genmix_core.generate.config import GenerateConfig
from genmix_core.generate.sources import SKIPPED_FILE
from genmix_core.jobconfig import build_parser as build_config_parser
from genmix_core.jobconfig import config_from_argv, read_stored_args
from genmix_core.jobs import JOB_FILE, JobReporter

DESCRIPTION = ("Generate GenMix images (edit -> mask hybrid -> fractal blend) for a folder of class folders. "
               "Rerun with the same arguments (or --run OUT) to resume.")


def build_parser() -> argparse.ArgumentParser:
    """The command line, derived from :class:`~genmix_core.generate.config.GenerateConfig`'s fields."""
    return build_config_parser(GenerateConfig, "python -m genmix_core.generate", DESCRIPTION)


def parse_config(argv: list[str] | None = None) -> GenerateConfig:
    """The config asked for by ``argv`` (flags, or ``--run DIR``); exits 2 with one line on bad arguments."""
    return config_from_argv(GenerateConfig, build_parser(), argv)


def _report_failure(out: str, exc: BaseException) -> None:
    """Mark the job failed in ``job.json`` when it is ours (started by the UI for this very process).

    A CLI user's refused rerun (other arguments) leaves the earlier run's record alone.
    """
    job = read_json(Path(out) / JOB_FILE, default={}) or {}
    if job.get("pid") == os.getpid() and job.get("status") == "running":
        try:
            JobReporter(out, kind="generate").finish("failed", exc)
        except UserError:   # the disk is full or read-only: the message on stderr is all we can give
            pass


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 done or cancelled, 2 bad arguments, 1 unexpected error)."""
    from tqdm import tqdm

    from genmix_core.generate.ranks import log_prefix, ranks_from_env
    from genmix_core.generate.run import run_generation

    cfg = parse_config(argv)
    bar = None
    try:
        ranks = ranks_from_env()
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    prefix = log_prefix(ranks)

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, initial=done, unit="item", dynamic_ncols=True, file=sys.stderr)
        else:
            bar.update(done - bar.n)

    started = time.perf_counter()
    try:
        if read_stored_args(cfg.out, GenerateConfig) is None:  # a new run: refuse bad prompts before any folder
            cfg.resolved().check_drawable()
        try:
            summary = run_generation(cfg, progress=progress, log=lambda m: print(prefix + m, flush=True))
        except OSError as exc:   # a disk or permission failure outside the atomic writes
            raise io_error(exc) from exc
    except UserError as exc:
        if bar is not None:
            bar.close()
        _report_failure(cfg.out, exc)
        print(f"{prefix}error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug or an environment problem: keep the traceback for the log
        _report_failure(cfg.out, exc)
        raise
    if bar is not None:
        bar.close()
    if not ranks.leader:
        return 0   # rank 0 reports for the whole run
    print(f"{summary.status}: {summary.done} of {summary.total} items done, {summary.failed} failed "
          f"({summary.already_done} were already done, {summary.cache_hits} edits from the cache). "
          f"Manifest: {Path(summary.out) / 'manifest.csv'}", flush=True)
    if summary.skipped:
        print(f"{len(summary.skipped)} file(s) of --data were skipped (listed above and in "
              f"{Path(summary.out) / SKIPPED_FILE}); use --strict to refuse such a run instead.", flush=True)
    if summary.world > 1:
        made = ", ".join(f"rank {r}: {n}" for r, n in enumerate(summary.made_by_rank))
        print(f"items made per rank ({summary.world} processes): {made}", flush=True)
    print(_speed_line(summary, time.perf_counter() - started), flush=True)
    return 0


def _speed_line(summary, seconds: float) -> str:
    """Wall time per item done in this call, and peak GPU memory when CUDA was used (for capacity planning)."""
    new = summary.done - summary.already_done
    line = f"time: {seconds:.1f} s for {new} new items"
    if new:
        line += f" ({seconds / new:.3f} s/item, model loading included)"
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        line += f"; peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB"
    return line


if __name__ == "__main__":
    raise SystemExit(main())
