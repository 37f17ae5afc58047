"""Shared test setup: every test gets its own empty workspace, and every process computes on one thread."""

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# One compute thread per process (torch's intra-op pool, OpenMP, BLAS), here and in every process a test starts
# (job workers, the e2e server). CI has 2 cores shared with other jobs: a pool of 2 threads per process then waits
# on threads that are not running. Measured under load (~14 runnable processes): a tiny pipeline's 20-step preview
# edit took 170 s with 2 threads and 30 s with 1, and the AppTest run holding it timed out. Set before torch is
# imported, which reads it once.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")


@pytest.fixture(autouse=True)
def _isolated_workspace(tmp_path, monkeypatch):
    """Point GENMIX_WORKSPACE at a fresh folder so no test sees another test's projects."""
    ws = tmp_path / "workspace"
    monkeypatch.setenv("GENMIX_WORKSPACE", str(ws))
    yield ws


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for this module (the environment above already asks for one; this also holds when a
    test file is run with another setting). Restored afterwards."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
