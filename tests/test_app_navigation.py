"""The server leaves Streamlit's legacy ``pages/`` mode when it starts, before any browser session exists.

Cause of the defect this guards (a page opened by URL right after start-up listed file names, ``app, home,
data …``): Streamlit 1.67's first session creates a ``PagesManager``, which sets the process-wide flag
``uses_pages_directory`` because a ``pages/`` folder sits beside ``app.py``; only ``st.navigation`` clears
it. ``streamlit run app.py`` now serves the ``st.App`` defined in ``app.py``, whose start-up hook clears the
flag first. The browser proof (a fresh server, ``/train`` as its first page, several times) is in
``tests/e2e/test_flow.py``.
"""

import asyncio
import subprocess
import sys

import pytest
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest
from streamlit.web.server.app_discovery import discover_asgi_app

from genmix_core.paths import REPO_ROOT
from ui.server import lifespan

APP = REPO_ROOT / "app.py"


@pytest.fixture(autouse=True)
def fresh_server_flag():
    """Each test starts as a freshly started server process does: the flag not yet decided."""
    saved = PagesManager.uses_pages_directory
    PagesManager.uses_pages_directory = None
    yield
    PagesManager.uses_pages_directory = saved


def test_without_the_hook_the_first_session_would_use_legacy_pages_mode():
    """The cause, pinned: a Streamlit upgrade that decides the mode differently makes this fail."""
    PagesManager(str(APP))  # what the first browser session's AppSession creates
    assert PagesManager.uses_pages_directory is True


def test_start_up_hook_keeps_the_first_session_in_app_navigation():
    async def serve_one_session():
        async with lifespan(None):
            PagesManager(str(APP))

    asyncio.run(serve_one_session())
    assert PagesManager.uses_pages_directory is False


def test_streamlit_run_serves_the_st_app_of_app_py():
    """``streamlit run app.py`` reads the file (no import) and, finding the st.App, serves ``app:app``."""
    found = discover_asgi_app(APP)
    assert found.is_asgi_app
    assert found.import_string == "app:app"


def test_app_py_imported_at_server_start_builds_the_app_with_the_hook_and_draws_nothing():
    code = ("import streamlit as st, app, ui.server\n"
            "assert isinstance(app.app, st.App)\n"
            "assert app.app._user_lifespan is ui.server.lifespan\n"
            "print('ok')")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
    # main() did not run: no Streamlit call outside a session, so no "missing ScriptRunContext" warning
    assert "ScriptRunContext" not in done.stderr


def test_page_file_run_on_its_own_still_renders():
    """A page run as the main script (a smoke test of one page, legacy tools) still draws its page."""
    at = AppTest.from_file("../pages/5_train.py", default_timeout=60).run()
    assert not at.exception
    assert at.title[0].value == "Train & Compare"
