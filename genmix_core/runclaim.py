"""One live run per run folder, claimed atomically before any work.

A worker takes :func:`claim_run_folder`: an exclusive, non-blocking ``flock`` on ``<run folder>/.job.lock``. A
second process into the same folder gets :class:`AlreadyRunning` at once, however close together the two
started (a check of ``job.json`` cannot do that: the file is written long after the work begins). The kernel
drops the lock when its holder dies, SIGKILL included, so a killed run never blocks its own resume; the pid and
process token the holder writes into the file only name it in the refusal (a dead holder's stale record is
recognised by :func:`genmix_core.processes.process_alive` and ignored).

A run made by several processes (the ranks of ``torchrun``, :mod:`genmix_core.generate.ranks`) has one leader
(rank 0) that takes the claim as above; every rank then holds a *shared* ``flock`` on ``.job.members.lock``
(:func:`join_run_folder`) for as long as it works. A leader asked to check the members (``members_key``) must
also get that file exclusively for a moment, so a new run is refused while any rank of an earlier run still
works there, even one whose leader or launcher was killed. The ranks of one launch never refuse each other:
only the leader takes the exclusive lock, and the others join after it says so. On several servers the run
folder lies on a shared filesystem whose locks reach every server (NFSv4, CephFS, GPFS; Lustre mounted with
``-o flock``).
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
MEMBERS_FILE = ".job.members.lock"


class AlreadyRunning(UserError):
    """Another live process works in the run folder (``pid`` in ``params``, "?" when it could not be read)."""


class RunClaim:
    """This process's claim on a run folder; :func:`claim_run_folder` gives it, ``release`` (or the process's
    end, also by SIGKILL) ends it. Claims are counted per process, so a job may claim its folder again."""

    _held: dict[str, list] = {}   # lock path -> [file descriptor, depth]

    def __init__(self, *paths: Path):
        self.paths = paths

    @property
    def path(self) -> Path:
        return self.paths[0]

    def release(self) -> None:
        for path in reversed(self.paths):
            entry = RunClaim._held.get(str(path))
            if entry is None:
                continue
            entry[1] -= 1
            if entry[1] == 0:
                del RunClaim._held[str(path)]
                os.close(entry[0])   # closing drops the flock
        self.paths = ()

    def __enter__(self) -> "RunClaim":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def claim_run_folder(run_dir: str | os.PathLike, error_key: str, *, members_key: str | None = None) -> RunClaim:
    """Claim ``run_dir`` for this process before any work in it: atomically, one live run per folder.

    An exclusive, non-blocking ``flock`` on ``<run_dir>/.job.lock``; the holder writes its pid and process token
    into the file. A page-started worker gets the claim although ``job.json`` already names it (that file is
    never consulted here), and a dead holder's lock is gone with it (its stale pid in the file is ignored).

    Args:
        error_key: catalog key of the refusal (placeholders ``{out}``, ``{pid}``).
        members_key: also refuse, with this key (placeholder ``{out}``), while a process of an earlier run of
            several processes still holds ``.job.members.lock``; on success this process holds it shared, as a
            member of its own run.

    Raises:
        AlreadyRunning: ``error_key`` when another live process holds the claim; ``members_key`` when a
            member of an earlier run still works in the folder.
        UserError: ``err.io.*`` when the folder cannot be made or written.
    """
    claim = RunClaim(_claim_lock(run_dir, error_key))
    if members_key is None:
        return claim
    try:
        claim.paths += (_lock_members(run_dir, leader=True, error_key=members_key),)
    except BaseException:
        claim.release()
        raise
    return claim


def join_run_folder(run_dir: str | os.PathLike) -> RunClaim:
    """Hold ``.job.members.lock`` shared, as a member of a run whose leader holds the folder's claim (taken with
    ``members_key``): from then on no new run starts in the folder while this process lives.

    Raises:
        UserError: ``err.io.*`` when the lock file cannot be opened.
    """
    return RunClaim(_lock_members(run_dir, leader=False))


def _open_lock(path: Path) -> int | None:
    """A new descriptor of lock file ``path``, or None when this process holds it already (then counted again)."""
    held = RunClaim._held.get(str(path))
    if held is not None:
        held[1] += 1
        return None
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise io_error(exc, path) from exc


def _lock_members(run_dir: str | os.PathLike, *, leader: bool, error_key: str = "") -> Path:
    import fcntl

    path = ensure_dir(run_dir).resolve() / MEMBERS_FILE
    fd = _open_lock(path)
    if fd is None:
        return path
    if leader:
        try:   # a member of an earlier run still holds its shared lock: refuse
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise AlreadyRunning(error_key, out=str(Path(run_dir)), pid="?") from None
    # Not atomic after the exclusive test (flock converts by unlock + lock), which is safe: only a leader
    # holding the folder's claim ever asks for it exclusively.
    fcntl.flock(fd, fcntl.LOCK_SH)
    RunClaim._held[str(path)] = [fd, 1]
    return path


def _claim_lock(run_dir: str | os.PathLike, error_key: str) -> Path:
    import fcntl

    path = ensure_dir(run_dir).resolve() / LOCK_FILE
    fd = _open_lock(path)
    if fd is None:
        return path
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
    return path


def _lock_holder(path: Path) -> int | None:
    """The live pid recorded in a lock file, or None (not written yet, or a dead process's)."""
    try:
        data = json.loads(path.read_bytes() or b"null")
        pid = int(data["pid"])
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return pid if process_alive(pid, str(data.get("pid_token") or "")) else None
