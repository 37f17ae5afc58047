"""The quality filter as one step of the whole job: a run stopped and resumed is judged like a run made in one
go; a rerun with nothing left to edit loads no editor and still (re-)filters; the filter turned on for a run
made without it. (Two processes: tests/test_generate_torchrun.py.)"""

from __future__ import annotations

import json

import pytest

import genmix_core.generate.run as run_module
from genmix_core.generate import manifest, run_generation
from genmix_core.jobs import CANCEL_FILE
from test_quality_filter import ScriptedEditor, cfg, sample_photos

pytestmark = pytest.mark.usefixtures("one_torch_thread")
PROMPTS = ["same", "blur", "noise"]


@pytest.fixture
def data(tmp_path):
    return sample_photos(tmp_path / "data", per_class=5)


def verdicts(out) -> dict:
    """``{item_id: (accepted, reason, similarity)}`` from the run's manifest."""
    df = manifest.load_manifest(out)
    return {r.item_id: (bool(r.accepted), r.reason, r.similarity) for r in df.itertuples()}


def assert_same_verdicts(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for item, (accepted, reason, similarity) in want.items():
        assert got[item][:2] == (accepted, reason), item
        # Features of one picture computed in other batches differ in float rounding only.
        assert got[item][2] == pytest.approx(similarity, abs=2e-3), item


def test_a_stopped_then_resumed_run_is_judged_like_a_run_made_in_one_go(data, tmp_path):
    ref, out = tmp_path / "ref", tmp_path / "out"
    run_generation(cfg(data, ref, PROMPTS), editor=ScriptedEditor())
    want = verdicts(ref)
    assert {r for _, r, _ in want.values()} >= {"", "low_similarity"}    # both verdicts occur

    stopped = run_generation(cfg(data, out, PROMPTS), editor=ScriptedEditor(),
                             progress=lambda done, total: done and (out / CANCEL_FILE).touch())
    assert stopped.status == "cancelled" and 0 < stopped.done < len(want)
    assert not (out / "quality.json").exists()                 # no verdict from a part of the run
    part = verdicts(out)
    assert {r for a, r, _ in part.values() if r != "pending"} == {"not_checked"}
    assert not any(a for a, _, _ in part.values())            # nothing is used before it is judged

    resumed = run_generation(cfg(data, out, PROMPTS), editor=ScriptedEditor())
    assert resumed.status == "done" and resumed.already_done == stopped.done
    assert_same_verdicts(verdicts(out), want)
    quality, ref_quality = (json.loads((d / "quality.json").read_text()) for d in (out, ref))
    for label, fit in ref_quality["classes"].items():          # class fits from all originals, as in one go
        assert quality["classes"][label]["n"] == fit["n"]
        assert quality["classes"][label]["mean"] == pytest.approx(fit["mean"], abs=2e-3)


def test_a_rerun_with_nothing_to_edit_loads_no_editor_and_refilters(data, tmp_path, monkeypatch):
    out = tmp_path / "run"
    run_generation(cfg(data, out, ["dim lighting", "motion blur"]))   # the offline style filter, as users run it
    first = manifest.load_manifest(out)
    assert first["similarity"].notna().all()

    def no_editor(config):
        raise AssertionError("an editor was loaded although nothing was left to edit")

    monkeypatch.setattr(run_module, "create_editor_for", no_editor)
    floor = float(first["similarity"].max()) + 1e-3            # above every edit: all are rejected now
    summary = run_generation(cfg(data, out, ["dim lighting", "motion blur"], filter_floor=floor))
    assert summary.status == "done" and summary.already_done == summary.total == len(first)
    after = manifest.load_manifest(out)
    assert (after["reason"] == "low_similarity").all() and not after["accepted"].any()
    assert json.loads((out / "quality.json").read_text())["floor"] == floor
    stats = (out / "prompt_stats.csv").read_text()
    assert "dim lighting" in stats and json.loads((out / "job.json").read_text())["status"] == "done"


def test_the_filter_turned_on_for_a_run_made_without_it_judges_it_without_editing(data, tmp_path, monkeypatch):
    out = tmp_path / "run"
    run_generation(cfg(data, out, ["same", "noise"], no_filter=True), editor=ScriptedEditor())
    assert manifest.load_manifest(out)["accepted"].all() and not (out / "quality.json").exists()
    monkeypatch.setattr(run_module, "create_editor_for", lambda config: pytest.fail("nothing to edit"))
    run_generation(cfg(data, out, ["same", "noise"]))
    df = manifest.load_manifest(out)
    assert df.loc[df["prompt"] == "same", "accepted"].all()
    assert (df.loc[df["prompt"] == "noise", "reason"] == "low_similarity").all()


def test_the_feeder_never_holds_the_run_up_while_its_backbone_loads(data, tmp_path, monkeypatch):
    """Loading the backbone takes seconds (torch, CUDA start-up, weights). Until it is loaded, a picture that
    finds the feeder's queue full is left to the pass at the end (and may be queued again later) instead of
    making the editing threads wait; once loaded, the feeder embeds what was queued."""
    import threading

    from PIL import Image

    import genmix_core.generate.filtering as filtering
    import genmix_core.quality as quality

    real_load, gate = quality.load_extractor, threading.Event()

    def slow_load(backbone):
        gate.wait()
        return real_load(backbone)

    monkeypatch.setattr(quality, "load_extractor", slow_load)
    monkeypatch.setattr(filtering, "FEED_QUEUE", 2)
    photos = sorted(data.rglob("*.png"))[:5]
    out = tmp_path / "out"
    feeder = filtering.Feeder(cfg(data, out, PROMPTS), log=lambda line: None)
    finished = threading.Event()

    def put_all():
        for i, path in enumerate(photos):
            feeder.put(f"k{i}", Image.open(path))
        finished.set()

    threading.Thread(target=put_all, daemon=True).start()
    assert finished.wait(120), "put() waited for the backbone to load"
    assert not feeder.loaded.is_set() and feeder.seen == {"k0", "k1"}      # 2 queued, 3 left for the end
    gate.set()
    assert feeder.loaded.wait(120)
    feeder.put("k2", Image.open(photos[2]))     # a dropped picture seen again is queued (now it may wait)
    feeder.close()
    store = quality.FeatureStore(filtering.features_dir(out, real_load(feeder.backbone).key))
    assert [k for k in ("k0", "k1", "k2", "k3", "k4") if k in store] == ["k0", "k1", "k2"]


def test_the_feeder_makes_its_first_forward_pass_before_anyone_may_wait_for_it(data, tmp_path, monkeypatch):
    """The first forward pass of a backbone is slow once (on an H200, cuDNN loads its kernels: 2.4 s). The feeder
    makes it on blank pictures before it counts as loaded, so that it never keeps the editing threads waiting
    on a full queue; the real pictures then go through batches as before."""
    from PIL import Image

    import threading

    import genmix_core.generate.filtering as filtering
    import genmix_core.quality as quality
    from genmix_core.quality.backbones import FeatureExtractor

    passes, feeders, made = [], [], threading.Event()
    real_load, real_embed = quality.load_extractor, FeatureExtractor.embed_arrays

    def load_once_made(backbone):   # the feeder's thread starts inside Feeder(): wait until it is in the list
        made.wait()
        return real_load(backbone)

    def recorded(self, arrays):
        passes.append((len(arrays), feeders[0].loaded.is_set(), any(a.any() for a in arrays)))
        return real_embed(self, arrays)

    monkeypatch.setattr(quality, "load_extractor", load_once_made)
    monkeypatch.setattr(FeatureExtractor, "embed_arrays", recorded)
    feeders.append(filtering.Feeder(cfg(data, tmp_path / "out", PROMPTS), log=pytest.fail))
    made.set()
    assert feeders[0].loaded.wait(120)
    assert len(passes) == 1 and passes[0][0] > 0 and passes[0][1:] == (False, False)   # blank, before loaded
    photo = sorted(data.rglob("*.png"))[0]
    feeders[0].put("k0", Image.open(photo))
    feeders[0].close()
    assert passes[1:] == [(1, True, True)]
