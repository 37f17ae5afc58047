"""Generation over two processes on the CPU (gloo), launched as users launch it: ``torchrun`` and ``accelerate
launch``. One merged manifest, every item exactly once, each rank about half of the work, the images of one
process byte for byte; a SIGKILL of the whole group, then one process finishes the run.

Every launch rendezvouses on 127.0.0.1 at a free port; the kill waits for an observable state (records of both
ranks), never for a time.
"""

from __future__ import annotations

import collections
import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from genmix_core.generate import GenerateConfig, manifest, run_generation
from genmix_core.generate.cli import main
from genmix_core.generate.ranks import Ranks, take_shard
from genmix_core.jobs import CANCEL_FILE
from genmix_core.paths import REPO_ROOT
from genmix_core.processes import process_alive
from test_generate_cli import RUNNER, TESTS_DIR, run_cli, wait_for
from test_generate_fakes import make_data

LAUNCH_TIMEOUT = 300


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(args, log: Path, *, launcher: str = "torchrun", script: Path | None = None) -> subprocess.Popen:
    """Two processes of ``python -m genmix_core.generate ARGS`` (or of ``script ARGS``), in their own session;
    stdout and stderr go to ``log``."""
    port = _free_port()
    if launcher == "torchrun":
        cmd = ["-m", "torch.distributed.run", "--nproc-per-node", "2", "--rdzv-backend", "c10d",
               "--rdzv-endpoint", f"127.0.0.1:{port}", "--local-addr", "127.0.0.1", "--monitor-interval", "0.1"]
    else:
        cmd = ["-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
               "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_ip", "127.0.0.1",
               "--main_process_port", str(port), "--monitor_interval", "0.1"]
    target = [str(script)] if script else ["-m", "genmix_core.generate"]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1",
           "HF_HOME": str(log.parent / "hf-home")}   # no accelerate config of this machine's user
    with open(log, "w") as fh:
        return subprocess.Popen([sys.executable, *cmd, *target, *map(str, args)], stdout=fh,
                                stderr=subprocess.STDOUT, env=env, cwd=REPO_ROOT, start_new_session=True)


def finish(proc: subprocess.Popen, log: Path) -> str:
    proc.wait(timeout=LAUNCH_TIMEOUT)
    text = log.read_text()
    assert proc.returncode == 0, text[-4000:]
    return text


def logged_ids(out: Path) -> list[str]:
    return [json.loads(line)["id"] for path in manifest.record_logs(out)
            for line in path.read_text().splitlines() if line.strip()]


class _Id:
    def __init__(self, item_id: str):
        self.id = item_id


def made_per_rank(text: str) -> list[int]:
    line = re.search(r"items made per rank \(2 processes\): rank 0: (\d+), rank 1: (\d+)", text)
    assert line, text[-4000:]
    return [int(line.group(1)), int(line.group(2))]


def images(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted((out / "images").rglob("*.png"))}


@pytest.mark.parametrize("launcher", ["torchrun", "accelerate"])
def test_two_ranks_finish_a_started_run_with_the_images_of_one_process(tmp_path, launcher):
    data = make_data(tmp_path / "data", per_class=4, size=(40, 32))   # 8 photos x 2 prompts = 16 items
    ref, out = tmp_path / "ref", tmp_path / "out"

    def argv(folder):
        return ["--data", str(data), "--out", str(folder), "--prompts", "snowy,sunset", "--editor", "offline",
                "--batch-size", "2", "--workers", "1"]

    assert main(argv(ref)) == 0                                     # one process, the whole run
    started = run_generation(GenerateConfig(data=str(data), out=str(out), prompts=["snowy", "sunset"],
                                            editor="offline", batch_size=2, workers=1),
                             progress=lambda done, total: done and (out / CANCEL_FILE).touch())
    assert (started.status, started.done) == ("cancelled", 2)       # one process made the first batch

    text = finish(launch(argv(out), tmp_path / "launch.log", launcher=launcher), tmp_path / "launch.log")
    assert "2 of 16 items already done; 14 to go" in text
    df = pd.read_csv(out / manifest.MANIFEST_FILE, keep_default_na=False).set_index("item_id")
    assert len(df) == 16 and (df["status"] == "done").all()
    assert sorted(collections.Counter(logged_ids(out)).values()) == [1] * 16   # no duplicate, none missing
    first = [i for i in df.index if i in set(logged_ids(out)[:2])]
    rest = [_Id(i) for i in df.index if i not in first]            # dealt by item id (one shape: one group)
    dealt = {it.id: r for r in (0, 1) for it in take_shard(rest, Ranks(r, 2))}
    assert df["rank"].to_dict() == {i: 0 if i in first else dealt[i] for i in df.index}
    made = made_per_rank(text)
    assert made == [sum(1 for r in dealt.values() if r == rank) for rank in (0, 1)] == [7, 7]   # half each
    assert images(out) == images(ref)                               # byte for byte the one-process images
    # The quality filter (on by default) judged all 16 items once, at the end, like the one-process run.
    ref_df = pd.read_csv(ref / manifest.MANIFEST_FILE, keep_default_na=False).set_index("item_id")
    assert df[["accepted", "reason"]].equals(ref_df.loc[df.index, ["accepted", "reason"]])
    assert (df["similarity"] - ref_df.loc[df.index, "similarity"]).abs().max() < 2e-3
    assert len(json.loads((out / "quality.json").read_text())["items"]) == 16
    assert "Quality filter: " in text and (out / "prompt_stats.csv").is_file()
    job = json.loads((out / "job.json").read_text())
    assert (job["status"], job["done"], job["total"]) == ("done", 16, 16)
    assert job["extra"]["made_by_rank"] == made and job["extra"]["ranks"] == 2
    assert not list(out.rglob("*.incomplete"))


@pytest.fixture(scope="module")
def tiny_pix2pix(tmp_path_factory):
    pytest.importorskip("diffusers")
    from genmix_core.editing.testing import make_tiny_pix2pix

    return make_tiny_pix2pix(tmp_path_factory.mktemp("tiny") / "pix2pix")


@pytest.mark.usefixtures("one_torch_thread")
def test_two_ranks_with_a_tiny_diffusion_model_make_the_images_of_one_process(tmp_path, tiny_pix2pix):
    data = make_data(tmp_path / "data", classes=("ok", "dent"), per_class=2, size=(32, 32))   # 8 items
    # One item per editor call in both runs: how items share a batch moves float rounding (one 8-bit step at
    # most, as between batch sizes in one process); with one item per call the arithmetic is the same.
    common = ["--data", str(data), "--prompts", "snowy,sunset", "--editor", "instruct-pix2pix",
              "--model", str(tiny_pix2pix), "--steps", "2", "--size", "32", "--batch-size", "1", "--workers", "1"]
    ref, out = tmp_path / "ref", tmp_path / "out"
    assert main([*common, "--out", str(ref)]) == 0                  # one process (one torch thread, as the ranks)
    text = finish(launch([*common, "--out", str(out)], tmp_path / "launch.log"), tmp_path / "launch.log")
    made = made_per_rank(text)
    assert sum(made) == 8 and min(made) >= 2
    df = pd.read_csv(out / manifest.MANIFEST_FILE).set_index("item_id")
    assert (df["status"] == "done").all() and sorted(collections.Counter(logged_ids(out)).values()) == [1] * 8
    assert images(out) == images(ref)                               # GenMix images, byte for byte
    edits = {f: (out / p).read_bytes() for f, p in df["edit_path"].items()}
    ref_df = pd.read_csv(ref / manifest.MANIFEST_FILE).set_index("item_id")
    assert edits == {f: (ref / p).read_bytes() for f, p in ref_df["edit_path"].items()}   # and the edits


def _workers_of(pid: int) -> list[int]:
    """The child processes of ``pid`` (torchrun's workers, each in its own session)."""
    children = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
        except (OSError, ValueError):
            continue
        if entry.name.isdigit() and int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            children.append(int(entry.name))
    return children


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def test_sigkill_of_the_whole_group_then_one_process_finishes_every_item_exactly_once(tmp_path):
    data = make_data(tmp_path / "data", per_class=3)                 # 6 photos x 2 prompts = 12 items
    out = tmp_path / "out"
    args = ["--data", data, "--out", out, "--prompts", "snowy,sunset", "--batch-size", "2", "--workers", "1"]
    ids = [f"{c}/img{i}__{p}" for c in ("ok", "scratch") for i in range(3) for p in ("snowy", "sunset")]
    assert all(len(take_shard([_Id(i) for i in ids], Ranks(r, 2))) == 6 for r in (0, 1))   # each has a second batch
    runner = tmp_path / "runner.py"
    runner.write_text(RUNNER.format(tests=str(TESTS_DIR), module="genmix_core.generate.cli"))
    # Each rank records its first batch (2 items), then waits in the editor on its next item.
    parked = json.dumps({"park_after": 2, "park_file": str(tmp_path / "parked")})
    group = launch([parked, *args], tmp_path / "group.log", script=runner)
    logs = (out / manifest.RECORDS_FILE, out / manifest.records_file(1))
    try:
        wait_for(lambda: all(_lines(p) >= 2 for p in logs), [group])
        # While it works, one process and a second group into the folder are refused (no rank waits forever).
        single = run_cli(args)
        assert single.wait(timeout=LAUNCH_TIMEOUT) == 2 and "is already running in" in single.stderr.read()
        second = launch([json.dumps({}), *args], tmp_path / "second.log", script=runner)
        second.wait(timeout=LAUNCH_TIMEOUT)
        refusals = (tmp_path / "second.log").read_text()
        assert second.returncode != 0
        assert all(f"[rank {r}/2] error: A generation run is already running in" in refusals for r in (0, 1))
    finally:
        workers = _workers_of(group.pid)
        for pid in (group.pid, *workers):   # the launcher and each worker lead their own process group
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        group.wait()
        wait_for(lambda: not any(process_alive(pid) for pid in workers))
    assert len(workers) == 2 and [_lines(p) for p in logs] == [2, 2]

    rerun = run_cli(args)
    stdout, stderr = rerun.communicate(timeout=LAUNCH_TIMEOUT)
    assert rerun.returncode == 0, stderr
    assert "4 of 12 items already done" in stdout
    assert sorted(collections.Counter(logged_ids(out)).values()) == [1] * 12   # nothing lost, nothing twice
    df = pd.read_csv(out / manifest.MANIFEST_FILE)
    assert len(df) == 12 and (df["status"] == "done").all() and sorted(df["rank"]) == [0] * 10 + [1] * 2
    job = json.loads((out / "job.json").read_text())
    assert (job["status"], job["done"], job["total"]) == ("done", 12, 12)
