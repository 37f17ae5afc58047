"""Command line of the recipe search: ``python -m genmix_core.search ...`` (see :mod:`genmix_core.search.run`).

The flags come from :class:`~genmix_core.search.config.SearchConfig`'s fields. The Search page writes the run's
``config.json`` and starts ``python -m genmix_core.search --run DIR`` (:func:`genmix_core.jobconfig.launch`), so
the app and headless runs share one code path. Rerun the same command (or ``--run DIR``) to resume.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from genmix_core.jobconfig import build_parser as build_config_parser
from genmix_core.jobconfig import config_from_argv
from genmix_core.jobs import run_claimed
from genmix_core.search.config import SearchConfig
from genmix_core.search.results import SEARCH_FILE
from genmix_core.search.run import run_search
from genmix_core.train import Cancelled

DESCRIPTION = ("Search the augmentation recipe that helps your photos: baseline, Mixup, CutMix, edits and GenMix "
               "settings (λ, mask set, prompts) at matched training budgets, successive halving over seeds, "
               "compared on a selection part of the on-site photos; the chosen recipe and the baseline are scored "
               "once on the report part. search.json in --out. Rerun to resume.")


def build_parser() -> argparse.ArgumentParser:
    """The command line, derived from :class:`SearchConfig`'s fields."""
    return build_config_parser(SearchConfig, "python -m genmix_core.search", DESCRIPTION)


def format_search(search: dict) -> str:
    """The ranked recipes, the choice and the report-part result as plain text (the CLI's summary)."""
    rows = sorted(search.get("recipes", []), key=lambda r: -(r["selection"]["mean"] or 0.0))
    lines = [f"{'recipe':<40} {'stage':<8} {'seeds':>5} {'selection':>10} {'std':>7}"]
    for r in rows:
        sel = r["selection"]
        lines.append(f"{r['name']:<40} {r['stage'] or '':<8} {len(sel['per_seed']):>5} {sel['mean']:>10.3f} "
                     f"{sel['std'] or 0.0:>7.3f}")
    lines.append(f"chosen: {search.get('chosen')} (selection part: {search['split']['mode']}"
                 f"{', weaker evidence' if search['split']['weaker_evidence'] else ''})")
    report = search.get("report")
    if report:
        for who in ("chosen", "baseline"):
            if report.get(who):
                lines.append(f"report part ({report['n_photos']} photos), {who} {report[who]['name']}: "
                             f"{report[who]['mean']:.3f}")
    verdict = search.get("verdict")
    if verdict:
        low, high = verdict["interval"]
        lines.append(f"verdict: {verdict['call']} ({verdict['delta'] * 100:+.1f} points, 95% interval "
                     f"{low * 100:+.1f} to {high * 100:+.1f}, {verdict['method']})")
    elif search.get("verdict_note"):
        lines.append(f"verdict: none ({search['verdict_note']})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: 0 done, 1 cancelled, 2 user error (message printed), 3 unexpected error."""
    cfg = config_from_argv(SearchConfig, build_parser(), argv)
    code, search = run_claimed(cfg.out, "search", "err.search.already_running",
                               lambda reporter: run_search(cfg, reporter), Cancelled)
    if code == 0:
        print(format_search(search))
        print(f"search: {Path(cfg.out) / SEARCH_FILE}")
    return code


