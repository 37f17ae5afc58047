"""Generation with worker threads: the serial path's outputs, bounded memory, the serial path's errors.

The SIGKILL-resume test of the overlapped and parallel paths is in ``test_generate_cli.py`` (parametrised).
"""

from __future__ import annotations

import collections
import json
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genmix_core.generate import pipeline as generate_pipeline

from genmix_core.generate import manifest
from genmix_core.errors import UserError
from genmix_core.generate import GenerateConfig, run_generation
from genmix_core.generate.batch import BatchWorker
from genmix_core.jobs import read_job
from test_generate_fakes import FakeEditor, make_data

PROMPTS = ["snowy", "sunset", "watercolor art"]


def _black(prompt, seed):
    """Some first edits are bad (then retried), all of one prompt stay bad (then failed)."""
    return prompt == "watercolor art" or (prompt == "sunset" and seed % 3 == 0)


def _run(data, out, *, workers, batch_size=2, editor=None, **kw):
    cfg = GenerateConfig(data=str(data), out=str(out), prompts=kw.pop("prompts", PROMPTS), batch_size=batch_size,
                         workers=workers, **kw)
    return run_generation(cfg, editor=editor or FakeEditor(black=_black))


def _outputs(out):
    """Everything a run produced except timings: manifest rows, mix PNG bytes, cached edit PNG bytes."""
    df = manifest.load_manifest(out).drop(columns=["seconds"])
    mixes = {p: (out / p).read_bytes() for p in df["mix_path"] if p}
    edits = {p: (out / p).read_bytes() for p in df["edit_path"] if p}
    rows = df.astype(object).where(df.notna(), None).to_dict("records")  # NaN (failed items) != NaN
    return rows, mixes, edits


class _Reference:
    """The serial run every parallel run is compared with (short repr for hypothesis' failure reports)."""

    def __init__(self, root):
        self.data = make_data(root / "data", per_class=3)
        self.summary = _run(self.data, root / "run", workers=1)
        self.outputs = _outputs(root / "run")

    def __repr__(self) -> str:
        return "<serial reference run>"


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    ref = _Reference(tmp_path_factory.mktemp("serial"))
    # the reference exercises retries and failures, so the comparison covers them
    assert ref.summary.failed > 6 and ref.summary.done > 0
    assert any(r["retried"] and r["status"] == "done" for r in ref.outputs[0])
    return ref


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(workers=st.integers(2, 6), batch_size=st.integers(1, 5), diffusion=st.booleans())
def test_any_worker_count_gives_the_serial_outputs(serial, tmp_path_factory, workers, batch_size, diffusion):
    out = tmp_path_factory.mktemp("par") / "run"
    summary = _run(serial.data, out, workers=workers, batch_size=batch_size,
                   editor=FakeEditor(black=_black, diffusion=diffusion))
    assert summary.workers == workers
    assert (summary.done, summary.failed) == (serial.summary.done, serial.summary.failed)
    assert _outputs(out) == serial.outputs


def test_offline_style_filter_in_parallel_is_bit_identical_to_serial(tmp_path):
    data = make_data(tmp_path / "data", per_class=3, size=(48, 40))
    prompts = ["snowy", "sunset", "dim lighting", "motion blur"]
    cfgs = {w: GenerateConfig(data=str(data), out=str(tmp_path / f"w{w}"), prompts=prompts, editor="offline",
                              batch_size=3, workers=w) for w in (1, 4)}
    summaries = {w: run_generation(c) for w, c in cfgs.items()}
    assert summaries[4].workers == 4 and summaries[4].editor_calls == 24 == summaries[1].done
    assert _outputs(tmp_path / "w1") == _outputs(tmp_path / "w4")


def test_unrecorded_batches_stay_bounded(tmp_path, monkeypatch):
    """A slow finishing stage must hold the editor back, not pile up edited batches in memory."""
    data = make_data(tmp_path / "data", per_class=4)
    lock = threading.Lock()
    count = collections.Counter()
    finish = BatchWorker.finish

    def slow_finish(self, ready):
        time.sleep(0.02)
        return finish(self, ready)

    def counting_prepare(self, batch, pool=None):
        with lock:
            count["prepared"] += len(batch)
            count["peak"] = max(count["peak"], count["prepared"] - count["recorded"])
        return prepare(self, batch, pool)

    prepare = BatchWorker.prepare
    monkeypatch.setattr(BatchWorker, "finish", slow_finish)
    monkeypatch.setattr(BatchWorker, "prepare", counting_prepare)

    def progress(done, total):
        with lock:
            count["recorded"] = done

    cfg = GenerateConfig(data=str(data), out=str(tmp_path / "run"), prompts=PROMPTS, batch_size=2, workers=4)
    assert run_generation(cfg, editor=FakeEditor(diffusion=True), progress=progress).done == 24
    # at most one batch being finished (unrecorded) + the one being edited; more than one: they did overlap
    assert count["peak"] == 2 * 2


def test_write_error_on_a_pool_thread_is_the_same_user_error(tmp_path):
    data = make_data(tmp_path / "data", per_class=3)
    keys, records = {}, {}
    for workers in (1, 3):
        out = tmp_path / f"w{workers}"
        (out / "images").mkdir(parents=True)
        (out / "images" / "ok").write_text("a file where the class folder should be")
        with pytest.raises(UserError) as info:
            _run(data, out, workers=workers)
        keys[workers] = info.value.key
        job = read_job(out)
        assert job.status == "failed" and job.error_key == info.value.key
        records[workers] = manifest.read_records(out)
        (out / "images" / "ok").unlink()
        again = _run(data, out, workers=workers, editor=FakeEditor(black=_black))
        assert again.done + again.failed == 18
        ids = [json.loads(line)["id"] for line in (out / manifest.RECORDS_FILE).read_text().splitlines() if line]
        assert sorted(collections.Counter(ids).values()) == [1] * 18
    assert keys == {1: "err.io.not_a_folder", 3: "err.io.not_a_folder"}   # a file stands where a folder must be
    assert records == {1: {}, 3: {}}  # the first batch already failed: nothing recorded


@pytest.mark.parametrize("workers, diffusion, recorded", [(1, False, 2), (3, True, 2), (3, False, 0)])
def test_editor_error_on_a_pool_thread_is_the_same_user_error(tmp_path, workers, diffusion, recorded):
    data = make_data(tmp_path / "data", per_class=2)
    out = tmp_path / "run"
    with pytest.raises(UserError, match="watercolor art") as info:
        _run(data, out, workers=workers, editor=FakeEditor(diffusion=diffusion, fail_prompt="watercolor art"))
    assert info.value.key == "err.editor.needs_diffusion"
    assert read_job(out).error_key == "err.editor.needs_diffusion"
    # batches edited before the failing one are recorded (with their files), as on the serial path
    done = manifest.read_records(out)
    assert len(done) == recorded and all((out / r["mix"]["path"]).is_file() for r in done.values())


def test_auto_worker_count_follows_the_cores_and_the_editor(monkeypatch):
    for cpus, cpu_editor, diffusion_editor in ((1, 1, 2), (2, 2, 2), (3, 3, 3), (16, 4, 4), (64, 4, 4)):
        monkeypatch.setattr(generate_pipeline, "available_cpus", lambda cpus=cpus: cpus)
        assert generate_pipeline.resolve_workers(None, is_diffusion=False) == cpu_editor
        assert generate_pipeline.resolve_workers(None, is_diffusion=True) == diffusion_editor
        assert generate_pipeline.resolve_workers(1, is_diffusion=True) == 1
        assert generate_pipeline.resolve_workers(7, is_diffusion=False) == 7
