"""Background job records (genmix_core.jobs): progress, cancel, and telling a live job from a dead one."""

import json
import os
import subprocess
import sys
import time

import pytest

from genmix_core.jobs import CANCEL_FILE, JOB_FILE, JobReporter, log_tail, read_job, request_cancel, start_process
from genmix_core.processes import process_alive, process_token


def _rewrite(run_dir, **changes):
    data = json.loads((run_dir / JOB_FILE).read_text())
    (run_dir / JOB_FILE).write_text(json.dumps({**data, **changes}))


def test_reporter_records_progress_and_the_end(tmp_path):
    rep = JobReporter(tmp_path, kind="generate", total=4, min_interval=0)
    rep.advance(1, message_key="gen.job.progress", done_items=1)
    job = read_job(tmp_path)
    assert (job.status, job.done, job.total, job.kind) == ("running", 1, 4, "generate")
    assert job.fraction == 0.25 and job.pid == os.getpid() and job.pid_token
    rep.finish("done")
    assert read_job(tmp_path).status == "done"


def test_cancel_is_a_marker_the_worker_sees(tmp_path):
    rep = JobReporter(tmp_path, kind="train", total=2)
    assert not rep.cancel_requested()
    request_cancel(tmp_path)
    assert rep.cancel_requested() and (tmp_path / CANCEL_FILE).exists()
    JobReporter(tmp_path, kind="train", total=2)           # a restarted worker starts without the old request
    assert not (tmp_path / CANCEL_FILE).exists()


def test_a_job_whose_process_is_gone_reads_as_interrupted(tmp_path):
    JobReporter(tmp_path, kind="generate", total=3)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    _rewrite(tmp_path, pid=dead.pid, pid_token="")
    assert read_job(tmp_path).status == "interrupted"


def test_a_reused_process_number_after_a_reboot_is_not_mistaken_for_the_job(tmp_path):
    """After a power cut the recorded pid may belong to an unrelated live process: the token tells."""
    JobReporter(tmp_path, kind="generate", total=3)
    if not process_token(os.getpid()):
        pytest.skip("no /proc on this system: process start times are not available")
    _rewrite(tmp_path, pid_token="another-boot:12345")     # same (live) pid, but not the process that wrote it
    assert read_job(tmp_path).status == "interrupted"
    assert not process_alive(os.getpid(), "another-boot:12345")
    assert process_alive(os.getpid(), process_token(os.getpid()))


def test_unreadable_record_is_no_job(tmp_path):
    assert read_job(tmp_path) is None
    (tmp_path / JOB_FILE).write_text("{ cut by a crash")
    assert read_job(tmp_path) is None


def test_start_process_runs_the_module_in_the_background_and_logs(tmp_path):
    proc = start_process(tmp_path, "genmix_core.generate", ["--help"], kind="generate")
    job = read_job(tmp_path)
    assert job.pid == proc.pid and job.message_key == "job.starting"
    assert proc.wait(timeout=60) == 0
    deadline = time.time() + 5
    while read_job(tmp_path).status == "running" and time.time() < deadline:
        time.sleep(0.05)
    assert read_job(tmp_path).status == "interrupted"       # it never reported: it ended without finishing
    assert "--data" in log_tail(tmp_path)


CLAIMER = ("import sys; from genmix_core.runclaim import claim_run_folder; "
           "claim_run_folder(sys.argv[1], 'err.gen.already_running'); print('claimed', flush=True); sys.stdin.read()")


def test_one_claim_per_run_folder_and_a_killed_holder_blocks_nothing(tmp_path):
    from genmix_core.paths import REPO_ROOT
    from genmix_core.runclaim import LOCK_FILE, AlreadyRunning, claim_run_folder

    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    holder = subprocess.Popen([sys.executable, "-c", CLAIMER, str(tmp_path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env=env)
    assert holder.stdout.readline() == "claimed\n"
    # job.json naming this process (as the page writes it before the worker starts) changes nothing
    JobReporter(tmp_path, kind="generate")
    with pytest.raises(AlreadyRunning) as refused:
        claim_run_folder(tmp_path, "err.gen.already_running")
    assert refused.value.params["pid"] == holder.pid and "already running" in str(refused.value)
    assert "実行中" in refused.value.message("ja")
    holder.kill()
    holder.wait()
    assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == holder.pid   # its record is left behind
    with claim_run_folder(tmp_path, "err.gen.already_running"):
        with claim_run_folder(tmp_path, "err.gen.already_running"):   # a job inside a job of this process
            pass
        assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()
        other = subprocess.run([sys.executable, "-c", CLAIMER, str(tmp_path)], capture_output=True, text=True,
                               env=env, stdin=subprocess.DEVNULL)
        assert other.returncode != 0 and "AlreadyRunning" in other.stderr      # still held after the inner one
    other = subprocess.run([sys.executable, "-c", CLAIMER, str(tmp_path)], capture_output=True, text=True,
                           env=env, stdin=subprocess.DEVNULL)
    assert other.returncode == 0 and other.stdout == "claimed\n"             # released


def test_a_full_disk_still_records_the_failure_in_job_json(tmp_path, monkeypatch):
    import errno

    from genmix_core import fileio
    from genmix_core.errors import UserError

    rep = JobReporter(tmp_path, kind="generate", total=3)
    rep.update(done=1, force=True)

    def full(fh, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fileio, "_write_file", full)
    rep.state.extra = {"note": "x" * 50_000}                   # more than the reserve: dropped, the outcome kept
    rep.finish("failed", UserError("err.io.disk_full", path=str(tmp_path / "images" / "a.png")))
    job = read_job(tmp_path)
    assert (job.status, job.error_key, job.done, job.extra) == ("failed", "err.io.disk_full", 1, {})
    assert not list(tmp_path.glob("*.incomplete"))
