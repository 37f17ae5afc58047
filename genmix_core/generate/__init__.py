"""The generation job: plan (image, prompt) items, edit them in batches, mix, record; resumable.

Public face of the generate package. Run it with ``python -m genmix_core.generate`` (see ``--help``).
The run folder's files are described in :mod:`genmix_core.generate.manifest`.
"""

from genmix_core.generate import manifest
from genmix_core.generate.config import CONFIG_VERSION, FREE_ARGS, GenerateConfig, load_config
from genmix_core.generate.estimate import GenerateEstimate, estimate_generation
from genmix_core.generate.plan import Item, SourceImage, mix_rng, plan_items, prompt_slug, retry_seed, scan_sources
from genmix_core.generate.run import RunSummary, check_run_folder, create_editor_for, run_generation

__all__ = [
    "CONFIG_VERSION", "FREE_ARGS", "GenerateConfig", "GenerateEstimate", "estimate_generation", "Item", "RunSummary", "SourceImage", "check_run_folder",
    "create_editor_for", "load_config", "manifest", "mix_rng", "plan_items", "prompt_slug",
    "retry_seed", "run_generation", "scan_sources",
]
