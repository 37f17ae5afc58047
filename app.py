"""GenMix Workbench: the Streamlit entrypoint (page frame, session defaults, language, project, navigation).

Run with ``streamlit run app.py``. Everything rendered here (the sidebar language and project selectors)
stays stateful on every page; the pages themselves live in ``pages/`` and are registered explicitly below.

This file is read two ways. Each browser session's script run executes it as ``__main__`` (``main()``).
``streamlit run`` also finds the ``st.App`` at the bottom, imports the file once as a module when the server
starts and serves that app, whose start-up hook (``ui.server.lifespan``) turns off Streamlit's legacy
``pages/`` mode before the first session connects.
"""

from __future__ import annotations

import streamlit as st

from genmix_core.data import list_projects, open_project
from genmix_core.errors import UserError
from genmix_core.i18n import LANGS
from genmix_core.paths import safe_name
from ui.server import lifespan
from ui.state import KEY_LANG, KEY_PROJECT, init_session, lang, project_name, sync_url, t

LANG_NAMES = {"en": "English", "ja": "日本語"}
# The sidebar widgets have their own keys and copy their value into the shared session keys: a plain key
# survives page changes and reloads of the widget tree, and callbacks may change it at any time.
LANG_WIDGET = "app_lang"
PROJECT_WIDGET = "app_project"
NEW_PROJECT_KEY = "app_new_project"
FLASH_KEY = "app_flash"
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _project_names() -> list[str]:
    return sorted(set(list_projects()) | {project_name()})


def _create_project() -> None:
    """Button callback: runs before the script, so it may change the project selectbox's value."""
    raw = st.session_state.get(NEW_PROJECT_KEY, "")
    if not raw.strip():
        st.session_state[FLASH_KEY] = ("warning", "ui.sidebar.new_project_empty", {})
        return
    try:
        name = safe_name(raw)
        existed = name in _project_names()
        open_project(name, create=True)
    except UserError as exc:
        st.session_state[FLASH_KEY] = ("error", exc.key, exc.params)
        return
    st.session_state[KEY_PROJECT] = name
    st.session_state[NEW_PROJECT_KEY] = ""
    st.session_state[FLASH_KEY] = ("info" if existed else "success",
                                   "ui.sidebar.project_exists" if existed else "ui.sidebar.project_created",
                                   {"name": name})


def _copy_widget(widget_key: str, session_key: str):
    def copy() -> None:
        st.session_state[session_key] = st.session_state[widget_key]
    return copy


def main() -> None:
    """One script run of a browser session: page frame, session defaults, sidebar, then the chosen page."""
    st.set_page_config(page_title="GenMix Workbench", page_icon="🧪", layout="wide")
    init_session()
    with st.sidebar:
        st.session_state[LANG_WIDGET] = lang()
        st.selectbox(t("common.language"), LANGS, format_func=LANG_NAMES.get, key=LANG_WIDGET,
                     on_change=_copy_widget(LANG_WIDGET, KEY_LANG))
        st.session_state[PROJECT_WIDGET] = project_name()
        st.selectbox(t("ui.sidebar.project"), _project_names(), key=PROJECT_WIDGET,
                     on_change=_copy_widget(PROJECT_WIDGET, KEY_PROJECT))
        with st.expander(t("ui.sidebar.create_project")):
            st.text_input(t("ui.sidebar.new_project"), key=NEW_PROJECT_KEY, max_chars=80)
            st.button(t("ui.sidebar.create_project"), key="app_create_project", on_click=_create_project)
        # Safe by default: .streamlit/config.toml binds 127.0.0.1, but only when the server starts in this folder.
        address = st.get_option("server.address")
        if address not in LOOPBACK:
            st.warning(t("ui.sidebar.exposed", address=address or "0.0.0.0"))
        flash = st.session_state.pop(FLASH_KEY, None)
        if flash:
            kind, key, params = flash
            getattr(st, kind)(t(key, **params))

    sync_url()  # project and language in the address: a reload or a shared link opens the same place
    pages = [
        st.Page("pages/0_home.py", title=t("ui.nav.home"), icon="🏠", default=True),
        st.Page("pages/1_data.py", title=t("ui.nav.data"), icon="📁", url_path="data"),
        st.Page("pages/2_prompts.py", title=t("ui.nav.prompts"), icon="📝", url_path="prompts"),
        st.Page("pages/3_preview.py", title=t("ui.nav.preview"), icon="🔍", url_path="preview"),
        st.Page("pages/4_generate.py", title=t("ui.nav.generate"), icon="⚙️", url_path="generate"),
        st.Page("pages/5_train.py", title=t("ui.nav.train"), icon="📊", url_path="train"),
        st.Page("pages/6_search.py", title=t("ui.nav.search"), icon="🧭", url_path="search"),
    ]
    st.navigation(pages).run()


if __name__ == "__main__":
    main()
else:  # imported by `streamlit run app.py` when the server starts: serve this app with its start-up hook
    app = st.App(__file__, lifespan=lifespan)
