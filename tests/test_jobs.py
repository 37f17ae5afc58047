"""Background job records (genmix_core.jobs): progress, cancel, and telling a live job from a dead one."""

import json
import os
import subprocess
import sys
import time

import pytest

from genmix_core.jobs import (CANCEL_FILE, JOB_FILE, JobReporter, log_tail, process_alive, process_token, read_job,
                              request_cancel, start_process)


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
