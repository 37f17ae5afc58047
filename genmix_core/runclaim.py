"""One live run per run folder, claimed atomically before any work.

A worker takes :func:`claim_run_folder`: an exclusive, non-blocking ``flock`` on ``<run folder>/.job.lock``. A
second process into the same folder gets :class:`AlreadyRunning` at once, however close together the two
started (a check of ``job.json`` cannot do that: the file is written long after the work begins). The kernel
drops the lock when its holder dies, SIGKILL included, so a killed run never blocks its own resume; the pid and
process token the holder writes into the file only name it in the refusal (a dead holder's stale record is
recognised by :func:`genmix_core.processes.process_alive` and ignored).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from genmix_core.errors import UserError
from genmix_core.fileio import ensure_dir, io_error
from genmix_core.processes import process_alive, process_token

LOCK_FILE = ".job.lock"


class AlreadyRunning(UserError):
    """Another live process works in the run folder (``pid`` in ``params``, "?" when it could not be read)."""


class RunClaim:
    """This process's claim on a run folder; :func:`claim_run_folder` gives it, ``release`` (or the process's
    end, also by SIGKILL) ends it. Claims are counted per process, so a job may claim its folder again."""

    _held: dict[str, list] = {}   # lock path -> [file descriptor, depth]

    def __init__(self, path: Path):
        self.path = path

    def release(self) -> None:
        entry = RunClaim._held.get(str(self.path))
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] == 0:
            del RunClaim._held[str(self.path)]
            os.close(entry[0])   # closing drops the flock

    def __enter__(self) -> "RunClaim":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def claim_run_folder(run_dir: str | os.PathLike, error_key: str) -> RunClaim:
    """Claim ``run_dir`` for this process before any work in it: atomically, one live run per folder.

    An exclusive, non-blocking ``flock`` on ``<run_dir>/.job.lock``; the holder writes its pid and process token
    into the file. A page-started worker gets the claim although ``job.json`` already names it (that file is
    never consulted here), and a dead holder's lock is gone with it (its stale pid in the file is ignored).

    Args:
        error_key: catalog key of the refusal (placeholders ``{out}``, ``{pid}``).

    Raises:
        AlreadyRunning: ``error_key`` when another live process holds the claim.
        UserError: ``err.io.*`` when the folder cannot be made or written.
    """
    import fcntl

    path = ensure_dir(run_dir).resolve() / LOCK_FILE
    held = RunClaim._held.get(str(path))
    if held is not None:
        held[1] += 1
        return RunClaim(path)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise io_error(exc, path) from exc
    deadline = time.monotonic() + 5.0
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            # The holder writes its pid right after locking: wait for it (or for the lock, if it died first).
            holder = _lock_holder(path)
            if holder or time.monotonic() > deadline:
                os.close(fd)
                raise AlreadyRunning(error_key, out=str(Path(run_dir)), pid=holder or "?") from None
            time.sleep(0.01)
    try:
        record = json.dumps({"pid": os.getpid(), "pid_token": process_token(os.getpid())}).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, record, 0)
    except OSError as exc:
        os.close(fd)   # let a waiting process take over rather than wait on a pid never written
        raise io_error(exc, path) from exc
    RunClaim._held[str(path)] = [fd, 1]
    return RunClaim(path)


def _lock_holder(path: Path) -> int | None:
    """The live pid recorded in a lock file, or None (not written yet, or a dead process's)."""
    try:
        data = json.loads(path.read_bytes() or b"null")
        pid = int(data["pid"])
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return pid if process_alive(pid, str(data.get("pid_token") or "")) else None
