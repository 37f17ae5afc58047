"""A search killed mid-run resumes: the runs it recorded are reused as they are, and it ends where an
uninterrupted search ends (the same scores, the same choice, the same check on the report part)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from genmix_core.jobs import read_job
from genmix_core.paths import REPO_ROOT
from genmix_core.search import load_search
from genmix_core.search.cli import main
from test_search_cli import TINY, make_photos

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _recorded(out):
    return {p.name: p.read_bytes() for p in sorted((out / "runs").glob("*.json"))} if (out / "runs").is_dir() else {}


def test_a_killed_search_resumes_and_ends_as_an_uninterrupted_one(tmp_path):
    data, onsite = make_photos(tmp_path / "lab", 10, seed=0), make_photos(tmp_path / "line", 8, seed=1, cast=8)
    argv = ["--data", str(data), "--test", str(onsite), *TINY]
    reference = tmp_path / "reference"
    assert main([*argv, "--out", str(reference)]) == 0

    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "genmix_core.search", *argv, "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT,
                            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    deadline = time.time() + 300
    while len(_recorded(out)) < 4:              # wait for an observable state: four runs recorded
        assert proc.poll() is None, proc.communicate()[1]
        assert time.time() < deadline, "the search recorded no runs"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert read_job(out).status == "interrupted"
    before = _recorded(out)
    assert 4 <= len(before) < len(_recorded(reference))

    assert main([*argv, "--out", str(out)]) == 0
    after, search, ref = _recorded(out), load_search(out), load_search(reference)
    assert {name: after[name] for name in before} == before          # recorded runs reused, not trained again
    assert search["runs"] == {"reused": len(before), "trained": len(after) - len(before)}
    assert set(after) == set(_recorded(reference))
    assert [(r["name"], r["selection"]["per_seed"]) for r in search["recipes"]] == \
        [(r["name"], r["selection"]["per_seed"]) for r in ref["recipes"]]
    assert (search["chosen"], search["report"], search["verdict"]) == (ref["chosen"], ref["report"], ref["verdict"])
    assert read_job(out).status == "done"
    # Once more: nothing left to train.
    assert main([*argv, "--out", str(out)]) == 0
    assert load_search(out)["runs"] == {"reused": len(after), "trained": 0}
