"""Long jobs (batch generation, training) as resumable background processes with a progress record.

A job owns a run folder. It writes ``job.json`` (status, progress, message) atomically as it goes; the UI only
reads that file, so progress survives reruns, page changes, a browser reload and even a restart of the
Streamlit server. Cancelling writes a ``CANCEL`` marker that the worker checks between steps. A job whose
process died (killed, power cut) shows as ``interrupted``; starting it again with the same arguments resumes,
because the workers themselves skip work that is already recorded as done.

Statuses: ``running``, ``done``, ``failed``, ``cancelled``, ``interrupted`` (derived: running but the process
is gone).

One live run per folder: a worker takes :func:`genmix_core.runclaim.claim_run_folder` before any work.

A full disk still gets its record: ``job.json`` is kept larger than its content (trailing spaces), so the final
"failed" state can be written over the old one in place when a new file cannot be made.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genmix_core.errors import UserError
from genmix_core.fileio import (atomic_write_bytes, atomic_write_json, ensure_dir, io_error, overwrite_in_place,
                                read_json)
from genmix_core.processes import process_alive, process_token
from genmix_core.runclaim import claim_run_folder

JOB_FILE = "job.json"
JOB_RESERVE = 16384  # job.json is padded to at least this size (and 4 KiB above its content)
CANCEL_FILE = "CANCEL"
LOG_FILE = "log.txt"
ACTIVE = ("running",)
FINISHED = ("done", "failed", "cancelled")


@dataclass
class JobProgress:
    """What the worker reports, as stored in ``job.json``."""

    kind: str
    status: str = "running"
    done: int = 0
    total: int = 0
    message: str = ""
    message_key: str = ""
    message_params: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    error_key: str = ""
    error_params: dict[str, Any] = field(default_factory=dict)
    pid: int | None = None
    pid_token: str = ""
    started: float = 0.0
    updated: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else (1.0 if self.status == "done" else 0.0)


class JobReporter:
    """Used inside a worker: report progress (throttled), check for a cancel request, finish.

    Example:
        rep = JobReporter(run_dir, kind="generate", total=len(items))
        for item in items:
            if rep.cancel_requested(): rep.finish("cancelled"); return
            ...; rep.advance(1)
        rep.finish("done")
    """

    def __init__(self, run_dir: str | os.PathLike, kind: str, total: int = 0, min_interval: float = 0.5):
        self.run_dir = ensure_dir(run_dir)
        _clear_cancel(self.run_dir)
        now = time.time()
        self.state = JobProgress(kind=kind, total=total, pid=os.getpid(), pid_token=process_token(os.getpid()),
                                 started=now, updated=now)
        self.min_interval = min_interval
        self._last = 0.0
        self.write(force=True)

    def write(self, force: bool = False) -> None:
        """Write ``job.json`` (throttled unless ``force``), padded so a later write fits in place.

        Raises:
            UserError: ``err.io.*`` when neither a new file nor an in-place rewrite could be written.
        """
        now = time.time()
        if not force and now - self._last < self.min_interval:
            return
        self._last = now
        self.state.updated = now
        data = json.dumps(self.state.__dict__, ensure_ascii=False, indent=2, sort_keys=True, default=str).encode()
        size = max(JOB_RESERVE, -(-(len(data) + 4096) // 4096) * 4096)
        path = self.run_dir / JOB_FILE
        try:
            atomic_write_bytes(path, data + b" " * (size - len(data) - 1) + b"\n")
        except UserError:
            slim = {**self.state.__dict__, "extra": {}}   # the outcome matters more than the details
            if not any(overwrite_in_place(path, json.dumps(d, ensure_ascii=False, default=str).encode())
                       for d in (self.state.__dict__, slim)):
                raise

    def update(self, *, done: int | None = None, total: int | None = None, message: str | None = None,
               message_key: str | None = None, force: bool = False, **message_params: Any) -> None:
        if done is not None:
            self.state.done = done
        if total is not None:
            self.state.total = total
        if message is not None:
            self.state.message = message
        if message_key is not None:
            self.state.message_key = message_key
            self.state.message_params = message_params
        self.write(force=force)

    def advance(self, n: int = 1, **kwargs: Any) -> None:
        self.update(done=self.state.done + n, **kwargs)

    def cancel_requested(self) -> bool:
        return (self.run_dir / CANCEL_FILE).exists()

    def finish(self, status: str, error: BaseException | str | None = None) -> None:
        """Record the end. Never raises: a record that cannot be written is reported on stderr instead (the
        caller is usually handling the error that matters)."""
        self.state.status = status
        if error is not None:
            self.state.error = str(error)
            self.state.error_key = getattr(error, "key", "") or ""
            self.state.error_params = {k: str(v) for k, v in (getattr(error, "params", {}) or {}).items()}
        try:
            self.write(force=True)
        except UserError as exc:
            print(f"warning: {exc}", file=sys.stderr)


def _clear_cancel(run_dir: Path) -> None:
    try:
        (run_dir / CANCEL_FILE).unlink(missing_ok=True)
    except OSError as exc:
        raise io_error(exc, run_dir / CANCEL_FILE) from exc


def read_job(run_dir: str | os.PathLike) -> JobProgress | None:
    """The job's last recorded state, with ``running`` turned into ``interrupted`` if its process is gone."""
    data = read_json(Path(run_dir) / JOB_FILE)
    if not isinstance(data, dict):
        return None
    known = {k: v for k, v in data.items() if k in JobProgress.__dataclass_fields__}
    job = JobProgress(**known)
    if job.status in ACTIVE and not process_alive(job.pid, job.pid_token):
        job.status = "interrupted"
    return job


def request_cancel(run_dir: str | os.PathLike) -> None:
    """Ask the worker to stop at its next check; work already done stays on disk."""
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    (Path(run_dir) / CANCEL_FILE).touch()


def start_process(run_dir: str | os.PathLike, module: str, args: list[str], kind: str,
                  env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start ``python -m module *args`` in its own session, logging to ``run_dir/log.txt``.

    The process outlives the Streamlit script run (and the server, if that is restarted). A first
    ``job.json`` is written at once so the UI can show the job before the worker's first report.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / CANCEL_FILE).unlink(missing_ok=True)
    log = open(run_dir / LOG_FILE, "ab")
    from genmix_core.paths import REPO_ROOT, child_env

    full_env = child_env(**(env or {}), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", module, *args], stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, cwd=str(REPO_ROOT), env=full_env,
                            start_new_session=True)
    log.close()
    now = time.time()
    atomic_write_json(run_dir / JOB_FILE, JobProgress(kind=kind, pid=proc.pid, pid_token=process_token(proc.pid), started=now, updated=now,
                                                      message_key="job.starting").__dict__)
    return proc


def log_tail(run_dir: str | os.PathLike, max_chars: int = 4000) -> str:
    """The end of the job's log (for the 'details' expander when something failed)."""
    try:
        text = (Path(run_dir) / LOG_FILE).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return text[-max_chars:]


def run_reported(out: str | os.PathLike, kind: str, work, cancelled: type[BaseException]) -> tuple[int, Any]:
    """The end of a job's command line, shared by the jobs whose work is ``work(reporter)``: ``job.json`` is kept
    by a :class:`JobReporter` and ends ``done``, ``cancelled`` or ``failed`` (with the error's key); a disk or
    permission failure becomes its clear message.

    Returns:
        ``(exit code, result)``: 0 and ``work``'s result when done; 1 when cancelled (finished work is kept);
        2 for a user error (printed). Anything else is recorded as failed and raised.
    """
    reporter = JobReporter(out, kind=kind)
    try:
        try:
            result = work(reporter)
        except OSError as exc:   # a disk or permission failure outside the atomic writes
            raise io_error(exc) from exc
    except cancelled:
        reporter.finish("cancelled")
        print("cancelled; finished runs are kept (rerun the same command to resume)", file=sys.stderr)
        return 1, None
    except UserError as exc:
        reporter.finish("failed", exc)
        print(f"error: {exc}", file=sys.stderr)
        return 2, None
    except Exception as exc:
        reporter.finish("failed", exc)
        raise
    reporter.finish("done")
    return 0, result


def run_claimed(out: str | os.PathLike, kind: str, busy_key: str, work,
                cancelled: type[BaseException]) -> tuple[int, Any]:
    """:func:`run_reported` under the run folder's claim, the whole end of a job CLI.

    The claim comes first: a second process refused with ``busy_key`` ("already running") must not touch the
    running one's ``job.json``. A refused claim, or a folder that cannot be written, is printed: exit code 2.
    """
    try:
        with claim_run_folder(out, busy_key):
            return run_reported(out, kind, work, cancelled)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
    except OSError as exc:
        print(f"error: {io_error(exc)}", file=sys.stderr)
    return 2, None


def list_runs(runs_dir: str | os.PathLike, kind: str, result_file: str) -> list[Path]:
    """Run folders of job ``kind`` under ``runs_dir`` (holding ``result_file`` or a ``job.json`` of that kind),
    newest first (by the job's start, else the folder's time; ties by name)."""
    root = Path(runs_dir)
    if not root.is_dir():
        return []
    found = []
    for p in root.iterdir():
        job = read_json(p / JOB_FILE, default={}) or {}
        if (p / result_file).is_file() or job.get("kind") == kind:
            found.append((float(job.get("started") or p.stat().st_mtime), p))
    return [p for _, p in sorted(found, key=lambda r: (r[0], r[1].name), reverse=True)]
