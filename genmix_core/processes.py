"""Which process is alive: a process number plus a token (boot id + start time) that survives number reuse.

Used by the job records (``jobs``), the run-folder claim (``runclaim``) and the temp files' writer tags
(``fileio``); it imports nothing of the project, so all three can use it.
"""

from __future__ import annotations

import os
from pathlib import Path


def process_token(pid: int) -> str:
    """What identifies process ``pid`` beyond its number: boot id + start time (Linux ``/proc``), else "".

    After a power cut and reboot, process numbers start again from low values, so the number recorded in a
    ``job.json`` may belong to some unrelated new process; the token tells them apart.
    """
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        stat = Path(f"/proc/{int(pid)}/stat").read_text()
        return f"{boot}:{stat.rsplit(')', 1)[1].split()[19]}"   # field 22 of stat: start time in clock ticks
    except (OSError, IndexError, ValueError):
        return ""


def process_alive(pid: int | None, token: str = "") -> bool:
    """Whether the job process ``pid`` still runs (a zombie, or another process reusing the number, does not)."""
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    except OSError:
        return False
    # A zombie child of this process counts as dead.
    try:
        finished, _ = os.waitpid(int(pid), os.WNOHANG)
        if finished:
            return False
    except ChildProcessError:
        pass
    try:
        stat = Path(f"/proc/{int(pid)}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
    except OSError:
        pass
    if token:
        current = process_token(int(pid))
        if current and current != token:
            return False
    return True
