"""Recipe search (issue 10): find the augmentation recipe that helps these photos, and say how sure it is.

Public face of the search package. Run it with ``python -m genmix_core.search`` (see ``--help``); the Search page
launches the same job. A recipe is a Train & Compare condition with its settings and a budget
(:mod:`.recipes`); recipes are compared on a selection part of the on-site photos only, and the chosen one and
the baseline are scored once on the report part (:mod:`.split`, :mod:`.plan`, :mod:`.run`).
"""

from genmix_core.search.config import SearchConfig, load_config
from genmix_core.search.plan import ScheduleState, SearchEstimate, estimate_search, run_schedule
from genmix_core.search.recipes import AXES, Recipe, app_settings, grid
from genmix_core.search.results import SEARCH_FILE, list_search_runs, load_search, recipe_entry
from genmix_core.search.run import run_search
from genmix_core.search.split import OnsiteSplit, fallback_reason, split_onsite

__all__ = [
    "AXES", "OnsiteSplit", "Recipe", "SEARCH_FILE", "ScheduleState", "SearchConfig", "SearchEstimate", "app_settings",
    "estimate_search", "fallback_reason", "grid",
    "list_search_runs", "load_config", "load_search", "recipe_entry", "run_schedule", "run_search", "split_onsite",
]
