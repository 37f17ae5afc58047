"""Command line of the generation job: ``python -m genmix_core.generate --data DIR --out DIR ...``.

Bad arguments end with one clear line on stderr and exit status 2 (no traceback); a rerun with the same
arguments resumes and says how many items were already done. The Generate page starts this same command
through :func:`genmix_core.jobs.start_process`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from genmix_core.errors import UserError
from genmix_core.fileio import read_json
from genmix_core.jobs import JOB_FILE, JobReporter

EDITOR_CHOICES = ("offline", "instruct-pix2pix", "img2img")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line instead of usage + message
        self.exit(2, f"error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m genmix_core.generate",
                description="Generate GenMix images (edit -> mask hybrid -> fractal blend) for a folder of class "
                            "folders. Rerun with the same arguments to resume.")
    p.add_argument("--data", required=True, help="folder of class folders: DATA/<class>/*.png")
    p.add_argument("--out", required=True, help="run folder (images/, manifest.csv, config.json, job.json)")
    p.add_argument("--prompts", default="", help='comma-separated prompts, e.g. "snowy,sunset" (or one per line)')
    p.add_argument("--prompt-set", help="curated prompt-set name or prompt-set YAML file: its prompts when --prompts "
                                        "is not given, and the style filter's 'filter:' hints")
    p.add_argument("--editor", default="offline", choices=EDITOR_CHOICES,
                   help="offline = style filter (no AI model); instruct-pix2pix / img2img = diffusion edit")
    p.add_argument("--model", help="hub id or local folder of the diffusion model")
    p.add_argument("--steps", type=int, help="diffusion steps (editor default if omitted)")
    p.add_argument("--size", type=int, help="diffusion working size in pixels (editor default if omitted)")
    p.add_argument("--per-image", type=int, help="prompts drawn per image (default: all prompts)")
    p.add_argument("--seed", type=int, default=0, help="job seed (default 0)")
    p.add_argument("--batch-size", type=int, default=4, help="images per editor call (halved on out-of-memory)")
    p.add_argument("--mask-set", default="genmix", help="genmix (5 smooth masks) or diffusemix (2 half masks)")
    p.add_argument("--ramp", type=float, help="mask transition width, fraction of the image side (0 = binary)")
    p.add_argument("--lam", type=float, help="fractal blend weight lambda in [0, 1] (default 0.2)")
    p.add_argument("--fractals", help="folder of fractal images (default: procedural fractals)")
    p.add_argument("--cache", help="edit cache folder (default OUT/cache/edits)")
    p.add_argument("--workers", type=int, help="threads for mixing and PNG writes beside the editor, and for "
                                               "editing with the style filter (default: auto from the CPU "
                                               "cores; 1 = serial). Outputs are the same for any value")
    p.add_argument("--compile", action="store_true",
                   help="torch.compile the diffusion model's UNet (CUDA GPUs only; about a minute once, then each "
                        "edit about a quarter faster: worth it from a few hundred edits)")
    p.add_argument("--include", metavar="FILE", type=_read_include,
                   help="only the images listed in FILE (paths relative to --data, one per line, e.g. ok/a.png)")
    return p


def _read_include(path: str) -> list[str]:
    """The image paths listed in an ``--include`` file (blank lines and ``#`` comments skipped)."""
    try:
        lines = Path(path).expanduser().read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise argparse.ArgumentTypeError(f"cannot read the --include file {path!r}: {exc}") from None
    return [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]


def _config_from(args: argparse.Namespace):
    from genmix_core.generate_config import GenerateConfig

    # One prompt per line when the value has several lines (prompts may hold commas), else comma-separated.
    parts = args.prompts.splitlines() if "\n" in args.prompts else args.prompts.split(",")
    prompts = [p.strip() for p in parts if p.strip()]
    return GenerateConfig(
        data=args.data, out=args.out, prompts=prompts, editor=args.editor, model=args.model, steps=args.steps,
        size=args.size, per_image=args.per_image, seed=args.seed, batch_size=args.batch_size,
        mask_set=args.mask_set, ramp=args.ramp, lam=args.lam, fractals=args.fractals,
        prompt_set=args.prompt_set, cache=args.cache, include=args.include,
        workers=args.workers, compile=args.compile)


def _report_failure(out: str, exc: BaseException) -> None:
    """Mark the job failed in ``job.json`` when it is ours (started by the UI for this very process).

    A CLI user's refused rerun (other arguments) leaves the earlier run's record alone.
    """
    job = read_json(Path(out) / JOB_FILE, default={}) or {}
    if job.get("pid") == os.getpid() and job.get("status") == "running":
        JobReporter(out, kind="generate").finish("failed", exc)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 done or cancelled, 2 bad arguments, 1 unexpected error)."""
    from tqdm import tqdm

    from genmix_core.generate import run_generation

    args = build_parser().parse_args(argv)
    bar = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, initial=done, unit="item", dynamic_ncols=True, file=sys.stderr)
        else:
            bar.update(done - bar.n)

    started = time.perf_counter()
    try:
        summary = run_generation(_config_from(args), progress=progress, log=lambda m: print(m, flush=True))
    except UserError as exc:
        if bar is not None:
            bar.close()
        _report_failure(args.out, exc)
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug or an environment problem: keep the traceback for the log
        _report_failure(args.out, exc)
        raise
    if bar is not None:
        bar.close()
    print(f"{summary.status}: {summary.done} of {summary.total} items done, {summary.failed} failed "
          f"({summary.already_done} were already done, {summary.cache_hits} edits from the cache). "
          f"Manifest: {Path(summary.out) / 'manifest.csv'}", flush=True)
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
