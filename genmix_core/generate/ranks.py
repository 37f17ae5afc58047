"""A generation run over several processes: every GPU of a server, or several servers (``torch.distributed``).

Launch it with ``torchrun`` or ``accelerate launch``; both set ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR`` and ``MASTER_PORT``, which :func:`ranks_from_env` reads (without them: one process, as before).
Each process (a *rank*) binds GPU ``LOCAL_RANK`` before its editor loads. The default process group is NCCL when
CUDA is usable, gloo otherwise; the job's few messages (Python objects: the plan, the outcome of each rank) go
through a gloo group on the CPU, so NCCL is never used for them (and two ranks may share one GPU).

Assumption: the data folder, the run folder and the edit cache lie on a filesystem every rank sees at the same
path (one server's disk, or NFS/Lustre/GPFS/CephFS for several servers), with working ``flock`` locks
(:mod:`genmix_core.runclaim`).

The story of a run (:func:`genmix_core.generate.run.run_generation`):

1. **Rank 0 alone** claims the folder, checks ``config.json``, plans, sets aside replaced photos, writes
   ``plan.json`` and ``skipped.csv``, cleans temp files, reads the completion logs of *all* ranks and keeps the
   items still to do. It then shares them (or the error that stopped it) with every rank: :meth:`Group.share`.
2. **Every rank** joins the folder's members lock, loads its editor and says whether it is ready
   (:meth:`Group.gather`; one failure stops all). It takes its shard of the remaining items (:func:`take_shard`:
   within each shape bucket, in ``sha256(item id)`` order, the items are dealt to the ranks in turn, so every
   rank gets the same number of items of each shape, give or take one, and full batches), and works through it, appending its records
   to its own log (``items.jsonl`` for rank 0, ``items.rank<r>.jsonl`` for the others). Rank 0 also reports the
   progress of all ranks in ``job.json`` (:class:`LogProgress`).
3. **The end** (:meth:`Group.gather`, a barrier): every rank says what it made or why it failed; rank 0 writes
   one ``manifest.csv`` merged from all logs and the final ``job.json``, and shares the result.

Dealing the items *after* removing finished ones makes a resume with any number of ranks do exactly the
remaining items; an item's output depends only on its photo, prompt and the job seed, never on its rank.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import threading
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from genmix_core.errors import UserError

#: How long a rank waits for the others at a meeting point (rank 0's planning, the slowest rank at the end).
#: A rank that dies is noticed at once (its connections close, and torchrun stops the group); this bounds a hang.
MEETING_TIMEOUT = datetime.timedelta(hours=6)


@dataclass(frozen=True)
class Ranks:
    """This process's place in its launch: ``rank`` of ``world`` processes, GPU ``local_rank`` of the
    ``local_world`` processes on its server."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1

    @property
    def leader(self) -> bool:
        return self.rank == 0


def ranks_from_env(environ: Mapping[str, str] = os.environ) -> Ranks:
    """The launcher's ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and ``LOCAL_WORLD_SIZE`` (torchrun, accelerate
    launch); one process when they are not set.

    Raises:
        UserError: ``err.gen.bad_rank_env`` naming a variable that is no usable number.
    """
    values = {}
    for name, default in (("WORLD_SIZE", "1"), ("RANK", "0"), ("LOCAL_RANK", "0"), ("LOCAL_WORLD_SIZE", "1")):
        text = environ.get(name, "").strip() or default
        try:
            values[name] = int(text)
        except ValueError:
            raise UserError("err.gen.bad_rank_env", name=name, value=text) from None
    world, rank, local, local_world = (values[k] for k in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE"))
    for name, ok in (("WORLD_SIZE", world >= 1), ("RANK", 0 <= rank < world), ("LOCAL_RANK", local >= 0),
                     ("LOCAL_WORLD_SIZE", local_world >= 1)):
        if not ok:
            raise UserError("err.gen.bad_rank_env", name=name, value=str(values[name]))
    return Ranks(rank, world, local, local_world)


def _digest(item_id: str) -> bytes:
    return hashlib.sha256(item_id.encode("utf-8")).digest()


def take_shard(items: Sequence, ranks: Ranks, group_of: Callable[[Any], Any] | None = None) -> list:
    """The items of ``items`` that ``ranks.rank`` makes, in their order.

    Every rank is given the same ``items`` (the remaining ones, from rank 0) and computes the same deal: the items
    are grouped by ``group_of(item)`` (the shape bucket; one group without it), each group is sorted by
    ``sha256(item id)``, and the items are dealt to the ranks in turn, the turn carrying on from one group to the
    next. So each rank makes, of every shape, as many items as any other give or take one (full batches, no
    straggler; a hash alone was 99 against 93 of 192 on the 2-GPU bench), the shards are disjoint and cover
    ``items``, and the deal depends on the item ids only, never on their order in the plan or on a rank's log.
    """
    if ranks.world == 1:
        return list(items)
    groups: dict[Any, list] = {}
    for it in items:
        groups.setdefault(group_of(it) if group_of else None, []).append(it)
    mine, turn = set(), 0
    for members in groups.values():
        for it in sorted(members, key=lambda it: _digest(it.id)):
            if turn % ranks.world == ranks.rank:
                mine.add(it.id)
            turn += 1
    return [it for it in items if it.id in mine]


def bind_device(local_rank: int) -> str | None:
    """Make GPU ``local_rank`` this process's CUDA device (``"cuda"`` then means it); None without CUDA. With more
    ranks than GPUs on a server (e.g. two ranks on one GPU to check the path), ranks share GPUs round-robin."""
    import torch

    if not torch.cuda.is_available():
        return None
    index = local_rank % torch.cuda.device_count()
    torch.cuda.set_device(index)
    return f"cuda:{index}"


class Group:
    """The processes of one launch. For one process every exchange stays local and nothing is imported.

    Use as a context manager: entering binds the GPU and joins the process group, leaving destroys it.
    """

    def __init__(self, ranks: Ranks):
        self.ranks = ranks
        self._control = None

    @property
    def rank(self) -> int:
        return self.ranks.rank

    @property
    def world(self) -> int:
        return self.ranks.world

    def __enter__(self) -> "Group":
        if self.world == 1:
            return self
        import torch.distributed as dist

        device = bind_device(self.ranks.local_rank)   # before any CUDA work, the editor's included
        dist.init_process_group("nccl" if device else "gloo", timeout=MEETING_TIMEOUT)
        self._control = dist.new_group(backend="gloo", timeout=MEETING_TIMEOUT) if device else dist.group.WORLD
        return self

    def __exit__(self, exc_type, *exc: object) -> None:
        if self.world > 1:
            import torch.distributed as dist

            if dist.is_initialized():
                if exc_type is None:
                    # Leave together: a rank that destroyed its group while another still used the connection
                    # made that one abort at exit now and then ("terminate called without an active
                    # exception", exit -6, after all its work was written), and torchrun reported the run failed.
                    dist.barrier(group=self._control)
                dist.destroy_process_group()

    def share(self, obj: Any = None) -> Any:
        """Rank 0's ``obj``, on every rank (the others' ``obj`` is ignored)."""
        if self.world == 1:
            return obj
        import torch.distributed as dist

        box = [obj if self.rank == 0 else None]
        dist.broadcast_object_list(box, src=0, group=self._control)
        return box[0]

    def gather(self, obj: Any) -> list:
        """Every rank's ``obj``, by rank, on every rank (a barrier: it returns once all ranks called it)."""
        if self.world == 1:
            return [obj]
        import torch.distributed as dist

        box: list = [None] * self.world
        dist.all_gather_object(box, obj, group=self._control)
        return box


# ------------------------------------------------------------------------------------- outcomes of ranks

def failure(exc: BaseException, rank: int) -> dict[str, Any]:
    """An error as a message for the other ranks (a :class:`UserError` keeps its type, key and parameters)."""
    if isinstance(exc, UserError):
        return {"rank": rank, "type": type(exc), "key": exc.key, "params": dict(exc.params)}
    return {"rank": rank, "type": None, "error": f"{type(exc).__name__}: {exc}"}


def rebuild(fail: dict[str, Any]) -> UserError:
    """The error of :func:`failure` on another rank: the same ``UserError``, or ``err.gen.rank_failed``."""
    if fail.get("type") is not None:
        try:
            return fail["type"](fail["key"], **fail["params"])
        except Exception:  # noqa: BLE001 - an error type with another signature: say which rank failed
            pass
    return UserError("err.gen.rank_failed", rank=fail["rank"], error=fail.get("error") or fail.get("key"))


def first_failure(failures: Sequence[dict[str, Any] | None]) -> dict[str, Any] | None:
    """The failure (from :func:`failure`) of the lowest rank among ``failures``; None when all are None."""
    return next((f for f in failures if f is not None), None)


# -------------------------------------------------------------------------------------- overall progress

class LogProgress:
    """Rank 0's view of all ranks' progress: every ``interval`` seconds, counts the records appended to the
    run's completion logs since it started and calls ``report(finished, failed)`` (items recorded since, and
    how many of them failed).

    Reads only whole lines past the offsets it has seen, so polling a log that is being appended to is safe.
    """

    def __init__(self, out: str | os.PathLike, report: Callable[[int, int], None], interval: float = 0.5):
        from genmix_core.generate.manifest import record_logs

        self._logs = lambda: record_logs(out)
        self._offsets = {p: p.stat().st_size for p in self._logs()}
        self.finished = self.failed = 0
        self._report = report
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="genmix-progress", daemon=True)

    def __enter__(self) -> "LogProgress":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.poll()   # the last records, so the final count is whole
        self._report(self.finished, self.failed)

    def poll(self) -> None:
        import json

        for path in self._logs():
            start = self._offsets.get(path, 0)
            try:
                with open(path, "rb") as fh:
                    fh.seek(start)
                    chunk = fh.read()
            except OSError:
                continue
            end = chunk.rfind(b"\n") + 1
            self._offsets[path] = start + end
            for line in chunk[:end].split(b"\n"):
                try:
                    status = json.loads(line).get("status")
                except (ValueError, AttributeError):
                    continue
                self.finished += status in ("done", "failed")
                self.failed += status == "failed"

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.poll()
            self._report(self.finished, self.failed)


def log_prefix(ranks: Ranks) -> str:
    """``"[rank r/w] "`` for the lines of a process of a multi-process run; empty for one process."""
    return f"[rank {ranks.rank}/{ranks.world}] " if ranks.world > 1 else ""

