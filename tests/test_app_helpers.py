"""Shared helpers for the AppTest files (no tests here): app runner, navigation fix, tiny images.

Import what you need: ``from test_app_helpers import app_at, png_bytes, navigation_mode  # noqa: F401``
(the ``navigation_mode`` fixture is autouse once imported into a test module).
"""

import io
import zipfile

import numpy as np
import pytest
from PIL import Image
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

APP = "../app.py"          # AppTest resolves relative paths against the calling test file (tests/)
TIMEOUT = 60               # 2 shared CPU cores: the first render imports pandas/PIL/numpy


@pytest.fixture(autouse=True)
def navigation_mode(monkeypatch):
    """Run every AppTest rerun through app.py, as the server does.

    AppTest 1.67 resets ``PagesManager.uses_pages_directory`` before each run; because the repository has a
    ``pages/`` folder it then re-runs only the page file (legacy multipage mode), without app.py and its
    sidebar. The server instead switches the flag off when it starts (``ui.server.lifespan``) and keeps it off.
    """
    original = PagesManager.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)
    yield


def app_at(locale=None, page=None, **state):
    """Run app.py (optionally with a browser locale and preset session keys), then open ``page``."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    if locale:
        at.context["locale"] = locale
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    if page:
        at.switch_page(page).run()
    return at


def png_bytes(seed=0, size=(40, 32)):
    """A small, valid, non-uniform RGB PNG (different seeds give different bytes)."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buf, format="PNG")
    return buf.getvalue()


def zip_bytes(members):
    """A zip of ``{"class/name.png": bytes}``."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def add_images(project_name="default", classes=("ok", "scratch"), per_class=5, split="train"):
    """Import ``per_class`` random PNGs per class into a project through the real data module."""
    from genmix_core.data import import_uploads
    from genmix_core.data.project import open_project

    proj = open_project(project_name)
    for c, label in enumerate(classes):
        files = [(f"{label}_{i}.png", png_bytes(seed=100 * c + i)) for i in range(per_class)]
        report = import_uploads(proj, files, split=split, label=label)
        assert len(report.added) == per_class, report
    return proj


def run_pick(at, prefix):
    """The run picker (``ui.widgets.run_picker``) whose key starts with ``prefix``."""
    found = [s for s in at.selectbox if s.key and s.key.startswith(prefix + "_")]
    assert len(found) == 1, [s.key for s in at.selectbox]
    return found[0]


def image_captions(at):
    """Captions of every ``st.image`` on the page, in order."""
    return [c for el in at.get("image") for c in el.captions]
