"""Generation job: planning, per-item seeds, cache, retries, OOM halving, resume, manifest, review, export."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from genmix_core.generate import manifest
from genmix_core.errors import UserError
from genmix_core.generate import (GenerateConfig, SourceImage, plan_items, retry_seed, run_generation,
                                  scan_sources)
from genmix_core.jobs import CANCEL_FILE, read_job
from genmix_core.seeds import item_seed
from test_generate_fakes import FakeEditor, make_data

PROMPTS = ["snowy", "sunset", "watercolor art"]


@pytest.fixture
def data(tmp_path):
    return make_data(tmp_path / "data")


def cfg(data, out, **kw):
    return GenerateConfig(data=str(data), out=str(out), prompts=kw.pop("prompts", PROMPTS), batch_size=kw.pop(
        "batch_size", 2), **kw)


def _sources(n):
    return [SourceImage(f"/x/{i}.png", f"c{i % 2}/img{i}.png", f"c{i % 2}", f"hash{i}") for i in range(n)]


# ------------------------------------------------------------------------------------------------ planning

def test_plan_all_prompts_groups_each_image_and_seeds_by_content():
    items = plan_items(_sources(3), PROMPTS, seed=7)
    assert len(items) == 9 and len({it.id for it in items}) == 9
    assert [it.source.rel for it in items] == [s.rel for s in _sources(3) for _ in PROMPTS]
    assert items[0].id == "c0/img0__snowy" and items[2].id == "c0/img0__watercolor-art"
    assert all(it.seed == item_seed(7, it.source.image_hash, it.prompt) for it in items)
    assert plan_items(_sources(3), PROMPTS, seed=8)[0].seed != items[0].seed


@settings(max_examples=30, deadline=None)
@given(order=st.permutations(list(range(6))), keep=st.integers(1, 6), k=st.integers(1, 3))
def test_plan_per_image_is_independent_of_the_other_images(order, keep, k):
    full = {(it.source.rel, it.prompt): it.seed for it in plan_items(_sources(6), PROMPTS, seed=3, per_image=k)}
    subset = [_sources(6)[i] for i in order[:keep]]
    part = plan_items(subset, PROMPTS, seed=3, per_image=k)
    assert len(part) == keep * k
    for it in part:
        assert full[(it.source.rel, it.prompt)] == it.seed
    per_image = pd.Series([it.source.rel for it in part]).value_counts()
    assert (per_image == k).all()


def test_plan_per_image_draws_vary_between_images():
    items = plan_items(_sources(12), PROMPTS, seed=0, per_image=1)
    assert len({it.prompt for it in items}) > 1


def test_plan_makes_ids_unique_for_clashing_stems_and_slugs():
    a = SourceImage("/x/a.png", "ok/a.png", "ok", "h1")
    b = SourceImage("/x/a.jpg", "ok/a.jpg", "ok", "h2")
    items = plan_items([a, b], ["Snowy!", "snowy?"], seed=0)
    assert len({it.id.lower() for it in items}) == 4


# ------------------------------------------------------------------------------------------- running

# (workers, diffusion editor, the editor's call sizes): serial; overlapped with a batching (diffusion-like)
# editor, which still gets whole batches; a CPU editor in parallel, which gets one item per call.
PATHS = [(1, False, [2] * 6), (3, True, [2] * 6), (3, False, [1] * 12)]


@pytest.mark.parametrize("workers, diffusion, calls", PATHS)
def test_run_writes_images_manifest_config_and_job(data, tmp_path, workers, diffusion, calls):
    out = tmp_path / "run"
    editor = FakeEditor(diffusion=diffusion)
    seen = []
    summary = run_generation(cfg(data, out, workers=workers), editor=editor,
                             progress=lambda done, total: seen.append((done, total)))
    assert (summary.status, summary.total, summary.done, summary.failed) == ("done", 12, 12, 0)
    assert summary.workers == workers
    # progress: from 0, one step per recorded batch, ending at the total
    steps = [b - a for (a, _), (b, _) in zip(seen, seen[1:])]
    assert seen[0] == (0, 12) and seen[-1] == (12, 12) and all(step > 0 for step in steps)
    df = pd.read_csv(out / "manifest.csv")
    for col in ("image", "label", "prompt", "seed", "status", "edit_path", "mix_path", "mask", "ramp", "lam",
                "fractal_seed", "seconds", "accepted", "editor", "model", "error"):
        assert col in df.columns
    assert (df["status"] == "done").all() and df["accepted"].all()
    assert set(df["label"]) == {"ok", "scratch"}
    for row in df.itertuples():
        with Image.open(out / row.mix_path) as im:
            assert im.size == (24, 20)
        assert row.mix_path == f"images/{row.label}/{row.image.split('/')[1][:-4]}__{row.mix_path.split('__')[1]}"
        assert (out / row.edit_path).is_file()
    config = json.loads((out / "config.json").read_text())
    assert config["args"]["prompts"] == PROMPTS and config["args"]["lam"] == pytest.approx(0.2)
    job = read_job(out)
    assert (job.status, job.done, job.total) == ("done", 12, 12)
    # the serial and diffusion paths show the editor each image's prompts together, in batches of 2
    assert sorted(editor.calls) == calls
    assert json.loads((out / "config.json").read_text())["args"]["workers"] == workers


def test_mix_params_are_recorded_and_rebuild_the_image(data, tmp_path):
    from genmix_core.mixing import MixParams, apply_mix, to_image

    out = tmp_path / "run"
    run_generation(cfg(data, out, mask_set="diffusemix", ramp=0.0, lam=0.3), editor=FakeEditor())
    df = manifest.load_manifest(out)
    assert set(df["mask"]) <= {"left_right", "top_bottom"} and (df["ramp"] == 0).all() and (df["lam"] == 0.3).all()
    row = df.iloc[3]
    params = MixParams.from_dict({k: row[k] for k in ("mask", "ramp", "radius", "softness", "lam", "fractal_seed",
                                                        "fractal_source")} | {"fractal_seed": int(row.fractal_seed)})
    original = Image.open(data / row.image).convert("RGB")
    rebuilt = to_image(apply_mix(original, Image.open(out / row.edit_path), params).final)
    assert np.array_equal(np.asarray(rebuilt), np.asarray(Image.open(out / row.mix_path)))


def test_outputs_do_not_depend_on_batch_size(data, tmp_path):
    run_generation(cfg(data, tmp_path / "b1", batch_size=1), editor=FakeEditor())
    run_generation(cfg(data, tmp_path / "b5", batch_size=5), editor=FakeEditor())
    a, b = manifest.load_manifest(tmp_path / "b1"), manifest.load_manifest(tmp_path / "b5")
    assert a["seed"].tolist() == b["seed"].tolist() and a["fractal_seed"].tolist() == b["fractal_seed"].tolist()
    for p in a["mix_path"]:
        assert (tmp_path / "b1" / p).read_bytes() == (tmp_path / "b5" / p).read_bytes()


def test_rerun_resumes_without_calling_the_editor(data, tmp_path):
    out = tmp_path / "run"
    run_generation(cfg(data, out), editor=FakeEditor())
    again = FakeEditor()
    summary = run_generation(cfg(data, out, batch_size=3, workers=2, compile=True), editor=again)  # may change
    assert again.calls == [] and summary.already_done == 12 and summary.done == 12


def test_missing_output_is_redone_from_the_cache_and_temp_files_are_cleaned(data, tmp_path):
    out = tmp_path / "run"
    run_generation(cfg(data, out), editor=FakeEditor())
    lost = out / manifest.load_manifest(out)["mix_path"].iloc[4]
    before = lost.read_bytes()
    lost.unlink()
    leftover = lost.parent / f".{lost.name}.x.incomplete"
    leftover.write_bytes(b"half")
    again = FakeEditor()
    summary = run_generation(cfg(data, out), editor=again)
    assert summary.already_done == 11 and summary.cache_hits == 1 and again.calls == []
    assert lost.read_bytes() == before and not leftover.exists()
    assert sum(1 for line in (out / manifest.RECORDS_FILE).read_text().splitlines() if line) == 13


def test_load_config_gives_back_the_run_arguments(data, tmp_path):
    from genmix_core.generate import load_config

    out = tmp_path / "run"
    run_generation(cfg(data, out, per_image=2, lam=0.4), editor=FakeEditor())
    assert load_config(out) == cfg(data, out, per_image=2, lam=0.4).resolved()
    with pytest.raises(UserError, match="not a generation run"):
        load_config(tmp_path)


def test_shared_cache_skips_the_editor_and_broken_cache_files_are_redone(data, tmp_path):
    cache = tmp_path / "cache"
    first = FakeEditor()
    run_generation(cfg(data, tmp_path / "a", cache=str(cache)), editor=first)
    assert sum(first.calls) == 12 and len(list(cache.glob("*.png"))) == 12
    broken = sorted(cache.glob("*.png"))[0]
    broken.write_bytes(broken.read_bytes()[:40])  # a cut file must never be used
    second = FakeEditor()
    summary = run_generation(cfg(data, tmp_path / "b", cache=str(cache), lam=0.5), editor=second)
    assert sum(second.calls) == 1 and summary.cache_hits == 11 and summary.done == 12
    with Image.open(broken) as im:
        im.load()
    # other editor settings never reuse a cached edit
    third = FakeEditor(version=2)
    run_generation(cfg(data, tmp_path / "c", cache=str(cache)), editor=third)
    assert sum(third.calls) == 12


def test_bad_edit_is_retried_once_then_marked_failed(data, tmp_path):
    out = tmp_path / "run"
    sources = scan_sources(data)
    retry_ok = {it.seed for it in plan_items(sources, PROMPTS, seed=0) if it.prompt == "sunset"}
    editor = FakeEditor(black=lambda p, s: p == "watercolor art" or s in retry_ok)
    summary = run_generation(cfg(data, out), editor=editor)
    df = manifest.load_manifest(out)
    assert summary.failed == 4 and summary.done == 8
    failed = df[df["status"] == "failed"]
    assert set(failed["prompt"]) == {"watercolor art"} and not failed["accepted"].any()
    assert failed["error"].str.contains("black or flat").all() and (failed["mix_path"] == "").all()
    sunset = df[df["prompt"] == "sunset"]
    assert sunset["retried"].all() and (sunset["status"] == "done").all()
    for row in sunset.itertuples():
        item = next(it for it in plan_items(sources, PROMPTS, seed=0) if it.id == row.item_id)
        assert row.seed == retry_seed(0, item)
    # failed items are final: a rerun does not redo them
    again = FakeEditor()
    assert run_generation(cfg(data, out), editor=again).failed == 4 and again.calls == []


@pytest.mark.parametrize("workers, diffusion", [(1, False), (3, True)])
def test_out_of_memory_halves_the_batch_and_continues(data, tmp_path, workers, diffusion):
    editor = FakeEditor(oom_above=1, diffusion=diffusion)
    logs = []
    summary = run_generation(cfg(data, tmp_path / "run", batch_size=4, workers=workers), editor=editor,
                             log=logs.append)
    assert summary.done == 12 and summary.batch_size == 1 and set(editor.calls) == {1}
    assert sum("Out of memory" in m for m in logs) == 2  # 4 -> 2 -> 1


@pytest.mark.parametrize("workers, diffusion", [(1, False), (3, True), (3, False)])
def test_out_of_memory_at_batch_size_one_is_a_user_error(data, tmp_path, workers, diffusion):
    out = tmp_path / "run"
    with pytest.raises(UserError, match="out of GPU memory") as info:
        run_generation(cfg(data, out, batch_size=1, workers=workers), editor=FakeEditor(oom_above=0,
                                                                                         diffusion=diffusion))
    assert info.value.key == "err.gen.out_of_memory"
    job = read_job(out)
    assert job.status == "failed" and job.error_key == "err.gen.out_of_memory"


# (workers, diffusion editor, items in the first batch): a parallel CPU batch holds at least one item per worker.
@pytest.mark.parametrize("workers, diffusion, first", [(1, False, 2), (3, True, 2), (3, False, 3)])
def test_cancel_between_batches_then_resume(data, tmp_path, workers, diffusion, first):
    out = tmp_path / "run"

    class Cancelling(FakeEditor):
        def _edit_batch(self, images, prompts, seeds):
            (out / CANCEL_FILE).touch()
            return super()._edit_batch(images, prompts, seeds)

    summary = run_generation(cfg(data, out, workers=workers), editor=Cancelling(diffusion=diffusion))
    assert summary.status == "cancelled" and summary.done == first
    job = read_job(out)
    assert job.status == "cancelled" and job.done == first
    assert (manifest.load_manifest(out)["status"] == "pending").sum() == 12 - first
    rest = FakeEditor()
    assert run_generation(cfg(data, out, workers=workers), editor=rest).done == 12 and sum(rest.calls) == 12 - first


def test_other_arguments_into_the_same_folder_are_refused(data, tmp_path):
    out = tmp_path / "run"
    run_generation(cfg(data, out), editor=FakeEditor())
    with pytest.raises(UserError, match="other settings") as info:
        run_generation(cfg(data, out, prompts=["snowy"]), editor=FakeEditor())
    assert info.value.key == "err.gen.config_changed" and "--prompts" in str(info.value)
    with pytest.raises(UserError, match="--seed 0 -> 1"):
        run_generation(cfg(data, out, seed=1), editor=FakeEditor())


@pytest.mark.parametrize("kw, key", [
    ({"lam": 1.5}, "err.gen.bad_lam"), ({"ramp": -0.1}, "err.gen.bad_ramp"),
    ({"per_image": 4}, "err.gen.per_image_too_many"), ({"batch_size": 0}, "err.gen.not_positive"),
    ({"workers": 0}, "err.gen.not_positive"),
    ({"mask_set": "stripes"}, "err.gen.bad_mask_set"), ({"prompts": []}, "err.gen.no_prompts"),
    ({"prompt_set": "no-such-set"}, "err.gen.unknown_prompt_set"), ({"fractals": "/no/such"}, "err.gen.no_fractals"),
])
def test_bad_arguments_are_user_errors(data, tmp_path, kw, key):
    with pytest.raises(UserError) as info:
        run_generation(cfg(data, tmp_path / "run", **kw), editor=FakeEditor())
    assert info.value.key == key and info.value.message("ja") != info.value.message("en")


def test_prompt_set_gives_the_prompts_unless_prompts_are_chosen(data, tmp_path):
    from genmix_core.prompts import list_prompt_sets

    pset = list_prompt_sets(None)[0]
    whole = cfg(data, tmp_path / "run", prompts=[], prompt_set=pset.name).resolved()
    assert whole.prompts == [p.text for p in pset.prompts]
    chosen = cfg(data, tmp_path / "run", prompts=[pset.prompts[1].text], prompt_set=pset.name).resolved()
    assert chosen.prompts == [pset.prompts[1].text]
    with pytest.raises(UserError) as info:
        cfg(data, tmp_path / "run", prompts=["snowy", "Snowy "]).resolved()
    assert info.value.key == "err.prompts.duplicate"


# ---------------------------------------------------------------------------------- records and review

def test_tolerant_reader_survives_a_cut_last_line(tmp_path):
    manifest.append_records(tmp_path, [{"id": "a", "status": "done"}])
    with open(tmp_path / manifest.RECORDS_FILE, "ab") as fh:
        fh.write(b'{"id": "b", "sta')  # what a SIGKILL mid-append leaves
    manifest.append_records(tmp_path, [{"id": "c", "status": "done"}, {"id": "a", "status": "failed"}])
    records = manifest.read_records(tmp_path)
    assert set(records) == {"a", "c"} and records["a"]["status"] == "failed"


def test_review_and_export_zip(data, tmp_path):
    out = tmp_path / "run"
    # The edit cache outside the run folder (as the app's project cache): its paths must not leave in the zip.
    run_generation(cfg(data, out, prompts=["snowy", "sunset"], cache=str(tmp_path / "cache")), editor=FakeEditor())
    df = manifest.load_manifest(out)
    rejected = df["item_id"].iloc[1]
    manifest.set_accepted(out, rejected, False)
    assert json.loads((out / "review.json").read_text()) == {rejected: False}
    csv = pd.read_csv(out / "manifest.csv")
    assert csv.set_index("item_id").loc[rejected, "accepted"] == False  # noqa: E712
    path = manifest.export_zip(out)
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        inside = pd.read_csv(zf.open("manifest.csv"))
        assert names == {"manifest.csv", *inside["mix_path"]} and len(inside) == 7
        assert all(n.split("/")[0] in {"ok", "scratch"} for n in names - {"manifest.csv"})
        Image.open(zf.open(inside["mix_path"].iloc[0])).load()
        text = zf.read("manifest.csv").decode("utf-8")
        assert str(tmp_path) not in text and "/tmp" not in text      # issue 16.6: no local path in the zip
    assert rejected not in set(inside["item_id"])
    manifest.set_accepted(out, rejected, True)
    assert manifest.load_manifest(out)["accepted"].all()
    with pytest.raises(UserError, match="no item"):
        manifest.set_accepted(out, "ok/nothing__snowy", True)


def test_export_with_nothing_accepted_is_refused(data, tmp_path):
    out = tmp_path / "run"
    run_generation(cfg(data, out, prompts=["snowy"]), editor=FakeEditor(black=lambda p, s: True))
    with pytest.raises(UserError) as info:
        manifest.export_zip(out)
    assert info.value.key == "err.gen.nothing_to_export"


def test_list_runs_finds_generation_runs(data, tmp_path):
    runs = tmp_path / "runs"
    run_generation(cfg(data, runs / "r1", prompts=["snowy"]), editor=FakeEditor())
    (runs / "other").mkdir()
    assert manifest.list_runs(runs) == [runs / "r1"]
    with pytest.raises(UserError, match="not a generation run"):
        manifest.load_manifest(runs / "other")


def test_without_a_batch_size_the_editor_chooses_it(data, tmp_path):
    """No ``--batch-size`` (the pages and the CLI by default): the editor's own size, e.g. a diffusion editor's
    micro-batch by GPU memory, not a fixed 4 that leaves a large GPU idle."""
    editor = FakeEditor()
    editor.preferred_batch_size = lambda: 5
    summary = run_generation(cfg(data, tmp_path / "run", batch_size=None, workers=1), editor=editor)
    assert summary.done == 12 and summary.batch_size == 5 and max(editor.calls) == 5 and len(editor.calls) < 12
    fixed = FakeEditor()
    fixed.preferred_batch_size = lambda: 5
    run_generation(cfg(data, tmp_path / "run2", batch_size=2, workers=1), editor=fixed)
    assert max(fixed.calls) == 2                                     # a given --batch-size wins
