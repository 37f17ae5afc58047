"""The Streamlit settings of .streamlit/config.toml keep foreign web pages out (and what README says about it)."""

from __future__ import annotations

import tomllib

import pytest

from genmix_core.paths import REPO_ROOT


@pytest.fixture
def project_config(monkeypatch):
    from streamlit import config

    monkeypatch.chdir(REPO_ROOT)                       # Streamlit reads .streamlit/config.toml from here
    config.get_config_options(force_reparse=True)
    yield config
    config.get_config_options(force_reparse=True)


def test_foreign_pages_are_refused_and_the_readme_explains_the_outside_lookup(project_config, monkeypatch):
    from streamlit import net_util
    from streamlit.web.server.starlette.starlette_websocket import _is_origin_allowed

    settings = tomllib.loads((REPO_ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))["server"]
    assert settings["enableCORS"] is True and settings["enableXsrfProtection"] is True
    assert settings["address"] == "127.0.0.1"
    lookups = []
    monkeypatch.setattr(net_util, "_external_ip", None)
    monkeypatch.setattr(net_util, "_make_blocking_http_get", lambda url, timeout=5: lookups.append(url))
    assert _is_origin_allowed("http://127.0.0.1:8501", "127.0.0.1:8501")          # the workbench itself
    assert lookups == []
    assert not _is_origin_allowed("https://foreign.example", "127.0.0.1:8501")     # another site: refused
    # ... after asking an outside service for this PC's address. If a Streamlit update stops doing that,
    # this fails: then update the security note in README.md.
    assert lookups and all("checkip.amazonaws.com" in url for url in lookups)
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert "checkip.amazonaws.com" in readme and "server.enableCORS = false" in readme
