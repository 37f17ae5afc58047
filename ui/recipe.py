"""Apply a recipe found by a search: the Generate and Train & Compare pages start from its settings.

The settings themselves come from :func:`genmix_core.search.app_settings` (one home for what a recipe means to
each job); this module only puts them where the pages read them: ``KEY_RECIPE`` (their widgets' starting
values, :func:`ui.state.applied_recipe`), the project's active prompts (the recipe's prompt subset) and the
editor.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from genmix_core.search import app_settings, recipe_entry
from ui.state import KEY_EDITOR, KEY_EDITOR_MODEL, KEY_PROMPT_SET, KEY_RECIPE, save_active_prompts


def apply_recipe(proj, search: dict, run_dir: str | Path, name: str | None = None) -> dict:
    """Make the recipe ``name`` (default: the chosen one) of ``search`` the starting point of Generate and
    Train & Compare; returns its app settings (``{"generate": ... | None, "train": ...}``)."""
    entry = recipe_entry(search, name)
    if entry is None:
        raise KeyError(name or "chosen")
    settings = app_settings(entry["settings"], search.get("config", {}))
    st.session_state[KEY_RECIPE] = {"name": entry["name"], "run": str(run_dir), **settings}
    generate = settings["generate"]
    if generate:
        filters = {p: f for p, f in (search.get("config", {}).get("filters") or {}).items()
                   if p in generate["prompts"]}
        save_active_prompts(proj, st.session_state.get(KEY_PROMPT_SET), list(generate["prompts"]), filters)
        if generate.get("editor"):
            st.session_state[KEY_EDITOR] = generate["editor"]
            st.session_state[KEY_EDITOR_MODEL] = generate.get("model")
    return settings
