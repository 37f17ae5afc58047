"""The generation job: plan (image, prompt) items, edit them in batches, mix, record; resumable.

Public face of the generate package. Run it with ``python -m genmix_core.generate`` (see ``--help``), or over
several GPUs and servers with ``torchrun ... -m genmix_core.generate`` (:mod:`genmix_core.generate.ranks`).
The run folder's files are described in :mod:`genmix_core.generate.manifest`.
"""

from genmix_core.generate import manifest
from genmix_core.generate.config import CONFIG_VERSION, FREE_ARGS, GenerateConfig, load_config
from genmix_core.generate.estimate import GenerateEstimate, estimate_generation
from genmix_core.generate.plan import Item, mix_rng, plan_items, prompt_slug, retry_seed
from genmix_core.generate.resume import check_run_folder
from genmix_core.generate.run import RunSummary, create_editor_for, run_generation
from genmix_core.generate.sources import SKIPPED_FILE, Skipped, SourceImage, scan_sources

__all__ = [
    "CONFIG_VERSION", "FREE_ARGS", "GenerateConfig", "GenerateEstimate", "Item", "RunSummary", "SKIPPED_FILE",
    "Skipped", "SourceImage", "check_run_folder", "create_editor_for", "estimate_generation", "load_config",
    "manifest", "mix_rng", "plan_items", "prompt_slug",
    "retry_seed", "run_generation", "scan_sources",
]
