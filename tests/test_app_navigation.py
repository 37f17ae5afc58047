"""Pages opened without app.py having run first still get app.py's frame (legacy ``pages/`` mode is left).

No ``navigation_mode`` fixture here on purpose: AppTest 1.67 starts every run in Streamlit's legacy multipage
mode (the repository has a ``pages/`` folder), like a freshly started server whose first request is a page URL.
"""

import pytest
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

APP = "../app.py"
TIMEOUT = 60
PAGES = ["pages/0_home.py", "pages/1_data.py", "pages/2_prompts.py", "pages/3_preview.py", "pages/4_generate.py",
         "pages/5_train.py"]


@pytest.fixture(autouse=True)
def restore_flag():
    saved = PagesManager.uses_pages_directory
    yield
    PagesManager.uses_pages_directory = saved


@pytest.mark.parametrize("page", [PAGES[0], PAGES[5]])
def test_page_in_legacy_mode_is_rerun_inside_app_frame(page):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    at.switch_page(page).run()
    assert not at.exception
    assert PagesManager.uses_pages_directory is False
    # the sidebar of app.py is there: language and project selectors
    labels = [s.label for s in at.sidebar.selectbox]
    assert labels[:2] == ["Language", "Project"]


def test_page_file_run_on_its_own_still_renders():
    """A page run as the main script (a smoke test of one page) is left alone after the flag is cleared."""
    at = AppTest.from_file("../" + PAGES[5], default_timeout=TIMEOUT).run()
    assert not at.exception
    assert at.title[0].value == "Train & Compare"
