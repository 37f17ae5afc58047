"""Session state of the workbench: language, current project, and the names of shared session keys.

Session state holds ids, names and settings only (never images or models). Every page may run on its own
(a page opened directly, an AppTest of one page), so every reader here falls back to a sensible default
instead of assuming ``app.py`` ran first.

Example:
    from ui.state import t, project, KEY_ACTIVE_PROMPTS
    st.title(t("ui.data.title"))
    proj = project()
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from genmix_core import i18n

# Shared session keys (snake_case strings). Page-local widget keys are prefixed by the page instead
# (``data_…``, ``prompts_…``, ``preview_…``, ``gen_…``, ``train_…``).
KEY_LANG = "lang"                      # "en" | "ja"; also the key of the sidebar language selectbox
KEY_PROJECT = "project"                # current project name (a safe_name)
KEY_PROMPT_SET = "prompt_set"          # name of the chosen prompt set
KEY_ACTIVE_PROMPTS = "active_prompts"  # list[str]: prompt texts active for this project
KEY_PROMPT_FILTERS = "prompt_filters"  # dict[str, str]: active prompt text -> offline style-filter recipe id
KEY_EDITOR = "editor_id"               # editor backend id, "offline" by default
KEY_EDITOR_MODEL = "editor_model"      # model id / folder for diffusion editors (None for offline)
KEY_MIX_PARAMS = "mix_params"          # dict: last MixParams.to_dict() chosen on the Preview page
KEY_GEN_RUN = "gen_run"                # path (str) of the latest generation run folder
KEY_TRAIN_RUN = "train_run"            # path (str) of the latest training/compare run folder
KEY_SEARCH_RUN = "search_run"          # path (str) of the latest recipe-search run folder
KEY_RECIPE = "recipe"                  # dict: the applied recipe (name, search run, its Generate/Train settings)

DEFAULT_PROJECT = "default"
DEFAULT_EDITOR = "offline"

DEFAULTS: dict[str, Any] = {
    KEY_PROJECT: DEFAULT_PROJECT,
    KEY_PROMPT_SET: None,
    KEY_ACTIVE_PROMPTS: None,
    KEY_PROMPT_FILTERS: None,
    KEY_EDITOR: DEFAULT_EDITOR,
    KEY_EDITOR_MODEL: None,
    KEY_MIX_PARAMS: None,
    KEY_GEN_RUN: None,
    KEY_TRAIN_RUN: None,
    KEY_SEARCH_RUN: None,
    KEY_RECIPE: None,
}


def _browser_lang() -> str:
    try:
        locale = st.context.locale
    except Exception:  # no script run context (plain import in a unit test)
        locale = None
    return i18n.lang_from_locale(locale)


# The place a person is at lives in the address too, so a reload (F5) or a shared link opens the same place:
# ``?project=line_3&lang=ja&run=<run folder name>``.
URL_PROJECT, URL_LANG, URL_RUN = "project", "lang", "run"


def init_session() -> None:
    """Put every shared key into the session with its default, keeping values already there.

    A new session (first visit, reload, shared link) starts from the address's ``project``, ``lang`` and
    ``run`` when they name something that exists, else from the browser's language and the default project.
    """
    if KEY_LANG not in st.session_state:
        _from_url()
    st.session_state.setdefault(KEY_LANG, _browser_lang())
    for key, value in DEFAULTS.items():
        st.session_state.setdefault(key, value)


def _from_url() -> None:
    from genmix_core.data import list_projects

    params = st.query_params
    if params.get(URL_LANG) in i18n.LANGS:
        st.session_state[KEY_LANG] = params[URL_LANG]
    if params.get(URL_PROJECT) and params[URL_PROJECT] in list_projects():
        st.session_state[KEY_PROJECT] = params[URL_PROJECT]
    run = params.get(URL_RUN)
    if run and "/" not in run and "\\" not in run:
        # A bare folder name: each page's run picker takes it when it lists a run of that name.
        st.session_state[KEY_GEN_RUN] = st.session_state[KEY_TRAIN_RUN] = st.session_state[KEY_SEARCH_RUN] = run


def sync_url() -> None:
    """Write the project and language into the address (call once per run, in ``app.py``, before the page).

    A page that shows a run adds it with :func:`show_run_in_url`; other pages drop it.
    """
    wanted = {URL_PROJECT: project_name(), URL_LANG: lang()}
    for key, value in wanted.items():
        if st.query_params.get(key) != value:
            st.query_params[key] = value
    if URL_RUN in st.query_params:
        del st.query_params[URL_RUN]


def show_run_in_url(run_name: str) -> None:
    """Put the run shown on this page into the address (``?run=<folder name>``)."""
    if st.query_params.get(URL_RUN) != run_name:
        st.query_params[URL_RUN] = run_name


def lang() -> str:
    """The session language (``"en"`` or ``"ja"``): the sidebar choice, else the browser's locale."""
    value = st.session_state.get(KEY_LANG)
    if value in i18n.LANGS:
        return value
    return _browser_lang()


def t(key: str, **params: object) -> str:
    """The catalog text for ``key`` in the session language, with ``{placeholders}`` filled."""
    return i18n.t(key, lang(), **params)


def project_name() -> str:
    """The current project's name (``"default"`` until the user picks or creates another)."""
    return st.session_state.get(KEY_PROJECT) or DEFAULT_PROJECT


def project():
    """The current :class:`genmix_core.data.project.Project`, created on first use.

    Raises:
        UserError: from ``open_project`` for an unusable name.
    """
    from genmix_core.data import open_project

    return open_project(project_name(), create=True)


def editor_id() -> str:
    """The chosen editor backend id (``"offline"`` unless the user picked a diffusion editor)."""
    return st.session_state.get(KEY_EDITOR) or DEFAULT_EDITOR


def active_prompts() -> list[str] | None:
    """The prompt texts active for the project (session first, then the project file), or None."""
    value = st.session_state.get(KEY_ACTIVE_PROMPTS)
    if value:
        return list(value)
    return None


ACTIVE_PROMPTS_FILE = "active_prompts.json"


def load_active_prompts(proj) -> tuple[str | None, list[str] | None, dict[str, str]]:
    """``(set name, prompt texts, {text: filter recipe})`` saved for ``proj``, or ``(None, None, {})``."""
    from genmix_core.fileio import read_json

    data = read_json(proj.root / ACTIVE_PROMPTS_FILE, default=None)
    if not isinstance(data, dict) or not isinstance(data.get("prompts"), list):
        return None, None, {}
    filters = data.get("filters") if isinstance(data.get("filters"), dict) else {}
    return data.get("set"), [str(p) for p in data["prompts"]], {str(k): str(v) for k, v in filters.items()}


def save_active_prompts(proj, set_name: str | None, prompts: list[str],
                        filters: dict[str, str] | None = None) -> None:
    """Remember the active prompts (and their style-filter recipes) in the session and the project folder."""
    from genmix_core.fileio import atomic_write_json

    filters = {p: f for p, f in (filters or {}).items() if p in prompts}
    st.session_state[KEY_PROMPT_SET] = set_name
    st.session_state[KEY_ACTIVE_PROMPTS] = list(prompts)
    st.session_state[KEY_PROMPT_FILTERS] = filters
    atomic_write_json(proj.root / ACTIVE_PROMPTS_FILE, {"set": set_name, "prompts": list(prompts),
                                                        "filters": filters})


def restore_active_prompts(proj) -> list[str] | None:
    """Active prompts of the session, else those saved in ``proj`` (copied into the session)."""
    current = active_prompts()
    if current:
        return current
    set_name, prompts, filters = load_active_prompts(proj)
    if prompts:
        st.session_state[KEY_PROMPT_SET] = set_name
        st.session_state[KEY_ACTIVE_PROMPTS] = prompts
        st.session_state[KEY_PROMPT_FILTERS] = filters
    return prompts


def active_prompt_set(proj):
    """The prompt set the active prompts were chosen from (the default set when none was chosen); jobs take
    the style filter's ``filter:`` hints from it."""
    from genmix_core.prompts import list_prompt_sets, pick_prompt_set

    restore_active_prompts(proj)
    return pick_prompt_set(list_prompt_sets(proj.prompts_dir), st.session_state.get(KEY_PROMPT_SET))


def prompt_filters() -> tuple[tuple[str, str], ...]:
    """The active prompts' style-filter recipes as sorted ``(text, recipe)`` pairs (for ``ui.cache``)."""
    value = st.session_state.get(KEY_PROMPT_FILTERS) or {}
    return tuple(sorted((str(k), str(v)) for k, v in value.items()))


def applied_recipe(job: str) -> dict:
    """The applied recipe's settings for ``job`` (``"generate"`` or ``"train"``: field names of that job's
    config), or ``{}`` when no recipe was applied (or it sets nothing for that job). The pages take them as
    their widgets' starting values."""
    recipe = st.session_state.get(KEY_RECIPE) or {}
    return dict(recipe.get(job) or {})
