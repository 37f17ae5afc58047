"""Prompt sets: the curated sets in the repository's ``prompts/`` folder, the user's own sets, and checks.

Public face of the prompts package.
"""

from genmix_core.prompts.checks import MAX_PROMPT_CHARS, prompt_key, validate_prompts
from genmix_core.prompts.sets import (CURATED_NAMES, DEFAULT_PROMPT_SET, TABLE_COLUMNS, TABLE_SOURCE, Prompt, PromptSet, check_prompt_entries,
                                      curated_names, is_curated_name, list_prompt_sets, load_prompt_set, pick_prompt_set,
                                      prompt_set_to_table, save_user_prompt_set, table_to_prompts,
                                      usable_table_prompts)

__all__ = [
    "CURATED_NAMES", "DEFAULT_PROMPT_SET", "MAX_PROMPT_CHARS", "TABLE_COLUMNS", "TABLE_SOURCE", "Prompt", "PromptSet", "check_prompt_entries",
    "curated_names", "is_curated_name", "list_prompt_sets", "load_prompt_set", "pick_prompt_set", "prompt_key",
    "prompt_set_to_table", "save_user_prompt_set", "table_to_prompts", "usable_table_prompts", "validate_prompts",
]
