"""What work costs on this machine, measured, and how long a running job still needs.

Long jobs record what they measured (seconds per generated image, per training step, per evaluated image) in
``<workspace>/machine_costs.json``; the pages read it to say, before a job starts, how many minutes it will take.
A running job's remaining time is then refined from its own progress (:func:`remaining_seconds`).

Values are kept as a running mean per key (the last :data:`KEEP` measurements weigh equally), so one run on a busy
machine does not swing the next estimate.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from genmix_core.fileio import atomic_write_json, read_json

COSTS_FILE = "machine_costs.json"
KEEP = 5
#: A measurement this many times above or below the running mean replaces it instead of joining it: the machine
#: changed, or the mean was off (one run on a busy machine, an old bug), and averaging would take KEEP runs to heal.
OUTLIER = 10.0
_LOCK = threading.Lock()


def costs_path() -> Path:
    from genmix_core.paths import workspace_root

    return workspace_root() / COSTS_FILE


def measured(kind: str, key: str) -> dict[str, float] | None:
    """The recorded costs ``{name: seconds}`` of ``kind`` (``"generate"``, ``"train"``) under ``key``, or None."""
    entry = (read_json(costs_path(), default={}) or {}).get(kind, {}).get(key)
    return dict(entry["values"]) if isinstance(entry, dict) and entry.get("values") else None


def record(kind: str, key: str, values: dict[str, float]) -> None:
    """Fold new measurements ``{name: seconds}`` into the running means of ``kind``/``key`` (atomic write); one
    more than :data:`OUTLIER` times off the mean replaces it.

    Never raises: a cost that cannot be written only makes the next estimate less exact.
    """
    values = {k: float(v) for k, v in values.items() if v is not None and v == v and float(v) > 0}
    if not values:
        return
    try:
        with _LOCK:
            data = read_json(costs_path(), default={}) or {}
            entry = data.setdefault(kind, {}).setdefault(key, {"n": 0, "values": {}})
            n = min(int(entry.get("n", 0)), KEEP - 1)
            for name, value in values.items():
                old = entry["values"].get(name)
                fresh = old is None or not old / OUTLIER <= value <= old * OUTLIER
                entry["values"][name] = value if fresh else (old * n + value) / (n + 1)
            entry["n"] = n + 1
            entry["updated"] = time.time()
            atomic_write_json(costs_path(), data)
    except Exception:  # noqa: BLE001 - an estimate is never worth failing a job
        pass


def remaining_seconds(job: Any, now: float | None = None) -> float | None:
    """Seconds a running job still needs: its own plan at first, then its measured pace.

    The job states its progress in ``done``/``total`` and, optionally, in ``extra``: ``estimate_s`` (planned
    seconds for the whole job, from measured costs) and ``base_done`` (work already done before this start, e.g.
    items a resumed run had finished). Once a few percent of the new work is done, the pace so far
    (elapsed / new work) times the work left wins, so a slower or faster machine corrects the plan.

    Returns:
        Seconds (>= 0), or None when nothing is known yet.
    """
    now = time.time() if now is None else now
    total = float(getattr(job, "total", 0) or 0)
    done = float(getattr(job, "done", 0) or 0)
    extra = getattr(job, "extra", None) or {}
    base = float(extra.get("base_done", 0) or 0)
    planned = extra.get("estimate_s")
    elapsed = max(0.0, now - float(getattr(job, "started", 0) or now))
    if total <= 0:
        return None
    left = max(0.0, total - done)
    new_work, new_done = total - base, done - base
    if new_work > 0 and new_done / new_work >= 0.03 and elapsed > 0:
        return elapsed / new_done * left
    if planned:
        return max(0.0, float(planned) * (left / new_work if new_work > 0 else 0.0) - (elapsed if not new_done else 0))
    return None
