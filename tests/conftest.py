"""Shared test setup: every test gets its own empty workspace, and torch stays on few threads (2-core CI)."""

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(autouse=True)
def _isolated_workspace(tmp_path, monkeypatch):
    """Point GENMIX_WORKSPACE at a fresh folder so no test sees another test's projects."""
    ws = tmp_path / "workspace"
    monkeypatch.setenv("GENMIX_WORKSPACE", str(ws))
    yield ws
