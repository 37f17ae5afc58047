"""Server start-up of the workbench: what must happen once, before the first browser session connects.

``app.py`` defines ``app = st.App(__file__, lifespan=lifespan)``. ``streamlit run app.py`` finds that
assignment by reading the file, imports ``app.py`` once as a module and serves it; ``lifespan`` runs when
the server starts, before it accepts any connection. Each browser session still runs ``app.py`` as its script.
"""

from __future__ import annotations

from contextlib import asynccontextmanager


def use_app_navigation() -> None:
    """Turn off Streamlit's legacy ``pages/`` mode for this server process.

    Streamlit 1.67 decides the mode in ``PagesManager.__init__`` (``streamlit/runtime/pages_manager.py``):
    while the class flag ``uses_pages_directory`` is unset, the first session sets it to "a ``pages/``
    folder exists beside the main script", which is true here (the customer fixed that folder name). With the
    flag set, every script run goes through ``script_runner._mpa_v1``: it sends the browser a navigation
    built from the file names (``app, home, data, …``) and runs the requested page file on its own, without
    ``app.py``. Only ``st.navigation`` in ``app.py`` clears the flag, so a page opened by URL before any
    session has run ``app.py`` (a bookmark after a restart) showed the legacy file list. Clearing it here,
    as ``st.navigation`` does, makes every session use ``app.py``'s navigation from its first run.
    """
    from streamlit.runtime.pages_manager import PagesManager

    PagesManager.uses_pages_directory = False


@asynccontextmanager
async def lifespan(_app):
    """``st.App`` start-up hook: runs once when the server starts, before the first session."""
    use_app_navigation()
    yield
