"""Command line of Train & Compare: ``python -m genmix_core.compare ...`` (see :mod:`genmix_core.compare`).

The Train page starts the same command through :func:`genmix_core.jobs.start_process`, with the arguments
from :func:`cli_args`, so the UI and headless runs share one code path.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from genmix_core.compare import CompareConfig, run_compare
from genmix_core.errors import UserError
from genmix_core.evaluate import DEFAULT_EPS
from genmix_core.jobs import JobReporter
from genmix_core.models import BACKBONES, FINETUNE_MODES
from genmix_core.results import RESULTS_FILE, format_table
from genmix_core.train import CONDITIONS, Cancelled


def _csv(text: str) -> list[str]:
    return [p.strip() for p in str(text).split(",") if p.strip()]


def _seeds(text: str) -> list[int]:
    try:
        return [int(s) for s in _csv(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds must be integers separated by commas, got {text!r}") from None


def _lam_range(text: str) -> list[float]:
    try:
        values = [float(v) for v in _csv(text)]
    except ValueError:
        values = []
    if len(values) != 2:
        raise argparse.ArgumentTypeError(f"--lam-range needs two numbers LOW,HIGH, e.g. 0.1,0.3, got {text!r}")
    return values


def _ks(text: str) -> list[int]:
    try:
        ks = [int(k) for k in _csv(text)]
    except ValueError:
        ks = [0]
    if any(k < 1 for k in ks):
        raise argparse.ArgumentTypeError(f"few-shot k values must be positive integers, e.g. 1,2,5,10, got {text!r}")
    return ks


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m genmix_core.compare",
        description="Fine-tune a small classifier with and without GenMix (and Mixup/CutMix) at a matched "
                    "budget of optimizer steps and samples; several seeds; results.json in --out.")
    p.add_argument("--data", required=True, help="training folder of class folders (<data>/<class>/*.png)")
    p.add_argument("--test", help="second test domain (class folders), e.g. shop-floor photos")
    p.add_argument("--out", required=True, help="run folder (results.json, runs/, job.json)")
    p.add_argument("--conditions", default="baseline,genmix", type=_csv,
                   help=f"comma-separated, from {','.join(CONDITIONS)} (default: baseline,genmix)")
    p.add_argument("--epochs", type=int, default=5, help="passes over the ORIGINAL training images; sets the "
                   "shared budget of optimizer steps (default 5)")
    p.add_argument("--seeds", type=_seeds, default=[0], help="comma-separated seeds (default 0)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--backbone", default="efficientnet_lite0", choices=BACKBONES)
    p.add_argument("--finetune", default="head", choices=FINETUNE_MODES,
                   help="head: train the last layer only (fast on a CPU); all: every layer")
    p.add_argument("--size", type=int, default=112, help="training resolution in pixels (default 112)")
    p.add_argument("--lr", type=float, help="learning rate (default: 3e-3 head/small_cnn, 5e-4 all)")
    p.add_argument("--eps", default=",".join(DEFAULT_EPS), type=_csv,
                   help="attack budgets in [0,1] pixel units, e.g. 1/255,2/255,4/255")
    p.add_argument("--pgd-steps", type=int, default=10)
    p.add_argument("--test-fraction", type=float, default=0.2, help="held-out originals per class (default 0.2)")
    p.add_argument("--split-seed", type=int, default=0)
    p.add_argument("--edits", help="an existing generation run folder to take edits/GenMix images from")
    p.add_argument("--editor", default="offline", help="editor for the generation step (default offline)")
    p.add_argument("--model", help="diffusion model (hub id or folder) for a diffusion editor")
    p.add_argument("--prompts", default="", type=_csv, help="comma-separated edit prompts")
    p.add_argument("--prompt-set", help="curated or user prompt set (default 'factory' when no --prompts)")
    p.add_argument("--gen-seed", type=int, default=0, help="seed of the generation job")
    p.add_argument("--no-redraw", dest="redraw", action="store_false",
                   help="train on the stored GenMix images instead of re-drawing the mix every pass")
    p.add_argument("--mask-set", default="genmix")
    p.add_argument("--lam", type=float, help="fractal blend weight λ, fixed for every mix (default: drawn per "
                                             "mix from --lam-range)")
    p.add_argument("--lam-range", type=_lam_range, metavar="LOW,HIGH",
                   help="range λ is drawn from for each re-drawn mix (default 0.1,0.3: the authors' 0.2 on average)")
    p.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:1 ...")
    p.add_argument("--few-shot", type=_ks, default=[], metavar="K,...",
                   help="also train every condition and seed on k originals per class for each k, e.g. 1,2,5,10 "
                        "(same held-out test set; budget: --epochs over the k x classes originals)")
    return p


def config_from_args(argv: list[str] | None = None) -> CompareConfig:
    """Parse CLI arguments into a :class:`CompareConfig` (not yet validated)."""
    a = build_parser().parse_args(argv)
    return CompareConfig(
        data=a.data, out=a.out, test=a.test, conditions=a.conditions, seeds=a.seeds, epochs=a.epochs,
        batch_size=a.batch_size, backbone=a.backbone, finetune=a.finetune, size=a.size, lr=a.lr, eps=a.eps,
        pgd_steps=a.pgd_steps, test_fraction=a.test_fraction, split_seed=a.split_seed, edits=a.edits,
        editor=a.editor, model=a.model, prompts=a.prompts, prompt_set=a.prompt_set, gen_seed=a.gen_seed,
        redraw=a.redraw, mask_set=a.mask_set, lam=a.lam, lam_range=a.lam_range, device=a.device,
        few_shot=a.few_shot)


def cli_args(cfg: CompareConfig) -> list[str]:
    """The command-line arguments that make ``python -m genmix_core.compare`` run ``cfg`` (for start_process)."""
    args = ["--data", cfg.data, "--out", cfg.out, "--conditions", ",".join(cfg.conditions),
            "--seeds", ",".join(str(s) for s in cfg.seeds), "--epochs", str(cfg.epochs),
            "--batch-size", str(cfg.batch_size), "--backbone", cfg.backbone, "--finetune", cfg.finetune,
            "--size", str(cfg.size), "--eps", ",".join(cfg.eps), "--pgd-steps", str(cfg.pgd_steps),
            "--test-fraction", str(cfg.test_fraction), "--split-seed", str(cfg.split_seed),
            "--editor", cfg.editor, "--gen-seed", str(cfg.gen_seed), "--mask-set", cfg.mask_set,
            "--device", cfg.device]
    optional = {"--test": cfg.test, "--lr": cfg.lr, "--edits": cfg.edits, "--model": cfg.model,
                "--prompt-set": cfg.prompt_set, "--lam": cfg.lam}
    for flag, value in optional.items():
        if value is not None:
            args += [flag, str(value)]
    if cfg.prompts:
        args += ["--prompts", ",".join(cfg.prompts)]
    if not cfg.redraw:
        args.append("--no-redraw")
    if cfg.few_shot:
        args += ["--few-shot", ",".join(str(k) for k in cfg.few_shot)]
    if cfg.lam_range is not None:
        args += ["--lam-range", ",".join(str(v) for v in cfg.lam_range)]
    return args


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: 0 done, 1 cancelled, 2 user error (message printed), 3 unexpected error."""
    cfg = config_from_args(argv)
    Path(cfg.out).mkdir(parents=True, exist_ok=True)
    reporter = JobReporter(cfg.out, kind="train")
    try:
        results = run_compare(cfg, reporter)
    except Cancelled:
        reporter.finish("cancelled")
        print("cancelled; finished runs are kept (rerun the same command to resume)", file=sys.stderr)
        return 1
    except UserError as exc:
        reporter.finish("failed", exc)
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        reporter.finish("failed", exc)
        raise
    reporter.finish("done")
    print(format_table(results))
    print(f"results: {Path(cfg.out) / RESULTS_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
