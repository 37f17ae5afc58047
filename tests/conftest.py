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


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models run faster on one torch thread, and CI's two cores are shared; restored afterwards.

    Use with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``.
    """
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
