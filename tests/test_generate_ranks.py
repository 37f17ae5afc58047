"""The pieces of a multi-process generation run that need no launcher: shards, the launcher's variables, the
merge of the ranks' logs, the members lock, and temp files written on another server.

The runs themselves (torchrun, accelerate launch, SIGKILL) are in ``test_generate_torchrun.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from genmix_core.errors import UserError
from genmix_core.generate import manifest
from genmix_core.generate.ranks import Ranks, ranks_from_env, take_shard
from genmix_core.paths import REPO_ROOT
from genmix_core.runclaim import AlreadyRunning, claim_run_folder


class _Item:
    def __init__(self, item_id: str):
        self.id = item_id


IDS = [f"{label}/img{i}__{p}" for label in ("ok", "scratch", "dent") for i in range(60)
       for p in ("snowy", "sunset")]


@pytest.mark.parametrize("world", [1, 2, 3, 8])
def test_shards_cover_every_item_once_and_are_balanced(world):
    items = [_Item(i) for i in IDS]
    shards = [take_shard(items, Ranks(rank, world)) for rank in range(world)]
    assert sorted(it.id for shard in shards for it in shard) == sorted(IDS)   # every item once
    assert max(map(len, shards)) - min(map(len, shards)) <= 1                 # dealt in turn: equal, give or take one
    assert all([it.id for it in s] == [i for i in IDS if i in {it.id for it in s}] for s in shards)   # plan order kept


def test_every_shape_is_shared_equally_so_batches_stay_full():
    """Grouped by shape bucket (here the label), each rank gets as many items of each group as any other, +- 1."""
    items = [_Item(i) for i in IDS[:-7]]                                        # uneven group sizes
    group_of = lambda it: it.id.split("/")[0]                                   # noqa: E731
    shards = [take_shard(items, Ranks(rank, 4), group_of=group_of) for rank in range(4)]
    for label in ("ok", "scratch", "dent"):
        counts = [sum(1 for it in s if group_of(it) == label) for s in shards]
        assert max(counts) - min(counts) <= 1, (label, counts)
    assert max(map(len, shards)) - min(map(len, shards)) <= 1


def test_the_deal_depends_on_the_ids_not_on_their_order():
    """Every rank computes the deal on its own: the same remaining items in any order give the same shards."""
    rest = [_Item(i) for i in IDS[::3]]
    shuffled = rest[::-1]
    for rank in range(4):
        assert {it.id for it in take_shard(rest, Ranks(rank, 4))} == {it.id for it in take_shard(shuffled, Ranks(rank, 4))}


def test_launcher_variables():
    assert ranks_from_env({}) == Ranks(0, 1, 0, 1)
    env = {"RANK": "3", "WORLD_SIZE": "8", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"}
    assert ranks_from_env(env) == Ranks(3, 8, 1, 2) and not ranks_from_env(env).leader
    with pytest.raises(UserError, match=r"RANK='8' is not usable") as exc:
        ranks_from_env({"RANK": "8", "WORLD_SIZE": "8"})
    assert exc.value.key == "err.gen.bad_rank_env"
    with pytest.raises(UserError, match=r"WORLD_SIZE='two'"):
        ranks_from_env({"WORLD_SIZE": "two"})


def _write_log(path: Path, records: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def test_the_logs_of_all_ranks_merge_and_the_latest_record_of_an_item_wins(tmp_path):
    _write_log(tmp_path / "items.jsonl", [{"id": "a", "status": "failed", "t": 1.0},
                                          {"id": "b", "status": "done", "rank": 0, "t": 2.0}])
    _write_log(tmp_path / "items.rank1.jsonl", [{"id": "a", "status": "done", "rank": 1, "t": 5.0},
                                                {"id": "c", "status": "done", "rank": 1, "t": 3.0}])
    _write_log(tmp_path / "items.rank10.jsonl", [{"id": "b", "status": "failed", "rank": 10, "t": 1.5}])
    (tmp_path / "items.rank01.jsonl").write_text("not a rank's log\n")
    assert [p.name for p in manifest.record_logs(tmp_path)] == ["items.jsonl", "items.rank1.jsonl",
                                                                "items.rank10.jsonl"]
    records = manifest.read_records(tmp_path)
    assert {i: (r["status"], r.get("rank")) for i, r in records.items()} == {
        "a": ("done", 1), "b": ("done", 0), "c": ("done", 1)}
    manifest.append_records(tmp_path, [{"id": "c", "status": "done", "rank": 2, "t": 9.0}], rank=2)
    assert manifest.read_records(tmp_path)["c"]["rank"] == 2 and (tmp_path / "items.rank2.jsonl").is_file()


# A rank of a multi-process run: holds the members lock until its stdin closes.
MEMBER = textwrap.dedent("""
    import sys
    from genmix_core.runclaim import join_run_folder
    join_run_folder(sys.argv[1])
    print("joined", flush=True)
    sys.stdin.read()
""")


def _member(folder: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", MEMBER, str(folder)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT,
                            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert proc.stdout.readline().strip() == "joined"
    return proc


def test_a_rank_left_working_by_an_earlier_run_refuses_a_new_run_and_ranks_of_one_run_share(tmp_path):
    """Ranks of one run join together; a new run (one process, or the leader of a group) is refused while any
    rank of an earlier run lives, e.g. after its launcher alone was killed; the folder is free once they end."""
    members = [_member(tmp_path), _member(tmp_path)]   # two ranks of one run hold the lock together
    try:
        with pytest.raises(AlreadyRunning) as exc:
            claim_run_folder(tmp_path, "err.gen.already_running", members_key="err.gen.ranks_running")
        assert exc.value.key == "err.gen.ranks_running" and "earlier multi-process run" in str(exc.value)
        with claim_run_folder(tmp_path, "err.train.already_running"):   # a claim without members is not affected
            pass
    finally:
        for proc in members:
            proc.stdin.close()
            proc.wait()
    with claim_run_folder(tmp_path, "err.gen.already_running", members_key="err.gen.ranks_running"):
        pass


def test_a_temp_file_of_another_server_is_left_until_old(tmp_path):
    """A shared cache sees temp files of writers on other servers, whose processes cannot be checked here: they
    go by age, never at once (a live writer would lose its file); a killed writer of this server goes at once."""
    from genmix_core.fileio import temp_writer_gone
    from genmix_core.generate.edit_cache import clean_incomplete

    other = tmp_path / ".abc.png.999999-0badc0de-h000000.x1y2z3w4.incomplete"
    dead_here = tmp_path / f".def.png.999999-0badc0de-h{_host()}.x1y2z3w4.incomplete"
    for path in (other, dead_here):
        path.write_bytes(b"x")
    assert temp_writer_gone(other) is None and temp_writer_gone(dead_here) is True
    assert clean_incomplete(tmp_path) == 1 and other.exists() and not dead_here.exists()
    assert clean_incomplete(tmp_path, min_age_s=0) == 1 and not other.exists()


def _host() -> str:
    from genmix_core.fileio import _host_tag

    return _host_tag()
