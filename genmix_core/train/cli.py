"""Command line of Train & Compare: ``python -m genmix_core.train ...`` (see :mod:`genmix_core.train.compare`).

The flags come from :class:`~genmix_core.train.config.CompareConfig`'s fields. The Train page writes the run's
``config.json`` and starts ``python -m genmix_core.train --run DIR`` (:func:`genmix_core.jobconfig.launch`), so
the UI and headless runs share one code path and one description of the settings.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from genmix_core.errors import UserError
from genmix_core.jobconfig import build_parser as build_config_parser
from genmix_core.jobconfig import config_from_argv, read_stored_args
from genmix_core.jobs import run_claimed
from genmix_core.train.compare import check_drawable, run_compare
from genmix_core.train.config import CompareConfig
from genmix_core.train.loop import Cancelled
from genmix_core.train.results import RESULTS_FILE
from genmix_core.train.tables import format_table

DESCRIPTION = ("Fine-tune a small classifier with and without GenMix (and Mixup/CutMix) at a matched budget of "
               "optimizer steps and samples; several seeds; results.json in --out. Rerun to resume.")


def build_parser() -> argparse.ArgumentParser:
    """The command line, derived from :class:`CompareConfig`'s fields."""
    return build_config_parser(CompareConfig, "python -m genmix_core.train", DESCRIPTION)


def config_from_args(argv: list[str] | None = None) -> CompareConfig:
    """Parse CLI arguments (flags, or ``--run DIR``) into a :class:`CompareConfig` (not yet validated)."""
    return config_from_argv(CompareConfig, build_parser(), argv)


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: 0 done, 1 cancelled, 2 user error (message printed: bad settings or data, another
    process working in --out, a disk or permission failure), 3 unexpected error."""
    cfg = config_from_args(argv)
    if read_stored_args(cfg.out, CompareConfig) is None:  # a new run: refuse bad settings before any folder
        try:
            check_drawable(cfg)
        except UserError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    code, results = run_claimed(cfg.out, "train", "err.train.already_running",
                                lambda reporter: run_compare(cfg, reporter), Cancelled)
    if code == 0:
        print(format_table(results))
        print(f"results: {Path(cfg.out) / RESULTS_FILE}")
    return code
