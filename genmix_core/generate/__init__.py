"""The generation job: plan (image, prompt) items, edit them in batches, mix, record, check quality; resumable.

Public face of the generate package. Run it with ``python -m genmix_core.generate`` (see ``--help``), or over
several GPUs and servers with ``torchrun ... -m genmix_core.generate`` (:mod:`genmix_core.generate.ranks`).
The run folder's files are described in :mod:`genmix_core.generate.manifest`; the quality filter in
:mod:`genmix_core.generate.filtering` and :mod:`genmix_core.generate.verdicts`; the prompt evidence
(``prompt_stats.csv``) in :mod:`genmix_core.generate.prompt_stats`.
"""

from genmix_core.generate import manifest
from genmix_core.generate.config import CONFIG_VERSION, FREE_ARGS, GenerateConfig, load_config
from genmix_core.generate.estimate import GenerateEstimate, estimate_generation
from genmix_core.generate.filtering import filter_run
from genmix_core.generate.plan import Item, mix_rng, plan_items, prompt_slug, retry_seed
from genmix_core.generate.prompt_stats import (PROMPT_STATS_FILE, STATS_COLUMNS, prompt_chart, prompt_stats,
                                               rank_prompts, read_prompt_stats)
from genmix_core.generate.resume import check_run_folder
from genmix_core.generate.run import RunSummary, create_editor_for, run_generation
from genmix_core.generate.sources import SKIPPED_FILE, Skipped, SourceImage, scan_sources
from genmix_core.generate.verdicts import QUALITY_FILE, REASONS, read_quality

__all__ = [
    "CONFIG_VERSION", "FREE_ARGS", "GenerateConfig", "GenerateEstimate", "Item", "PROMPT_STATS_FILE",
    "QUALITY_FILE", "REASONS", "RunSummary", "SKIPPED_FILE", "STATS_COLUMNS", "Skipped", "SourceImage",
    "check_run_folder", "create_editor_for", "estimate_generation", "filter_run", "load_config", "manifest",
    "mix_rng", "plan_items", "prompt_chart", "prompt_slug", "prompt_stats", "rank_prompts", "read_prompt_stats",
    "read_quality", "retry_seed", "run_generation", "scan_sources",
]
