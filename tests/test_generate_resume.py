"""Resume after the data changed: a replaced photo is redone (its old outputs superseded, the manifest says
which); unchanged photos, also in run folders of older versions, resume byte for byte."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
import pandas as pd
from PIL import Image

from genmix_core.generate import GenerateConfig, manifest, run_generation
from genmix_core.seeds import item_seed
from test_generate_fakes import FakeEditor, make_data

PROMPTS = ["snowy", "sunset"]


def _cfg(data, out):
    return GenerateConfig(data=str(data), out=str(out), prompts=PROMPTS, batch_size=2, workers=1)


def _files(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted((out / "images").rglob("*.png"))}


def _replace_photo(path: Path) -> str:
    """New content under the same name; returns the new content hash."""
    import hashlib

    arr = np.random.default_rng(99).integers(0, 256, (20, 24, 3), dtype=np.uint8)
    Image.fromarray(arr).save(path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_replaced_photo_is_redone_and_its_old_outputs_are_superseded(tmp_path):
    data, out = make_data(tmp_path / "data"), tmp_path / "out"
    run_generation(_cfg(data, out), editor=FakeEditor())
    before, old_manifest = _files(out), pd.read_csv(out / manifest.MANIFEST_FILE)
    old_hash = old_manifest.loc[old_manifest["image"] == "ok/img0.png", "image_hash"].iloc[0]
    new_hash = _replace_photo(data / "ok" / "img0.png")

    editor = FakeEditor()
    summary = run_generation(_cfg(data, out), editor=editor)
    redone = ["ok/img0__snowy", "ok/img0__sunset"]
    assert (summary.total, summary.already_done, summary.done, summary.superseded) == (8, 6, 8, redone)
    assert sorted(p for p, _ in editor.seen) == PROMPTS                 # only the new photo was edited
    after = _files(out)
    changed = sorted(k for k in before if before[k] != after[k])
    assert changed == [f"images/{i}.png" for i in redone]                # the rest is byte for byte the same
    df = pd.read_csv(out / manifest.MANIFEST_FILE, keep_default_na=False).set_index("item_id")
    assert (df["status"] == "done").all()
    assert set(df.loc[redone, "image_hash"]) == {new_hash} and set(df.loc[redone, "superseded"]) == {old_hash}
    assert set(df.drop(index=redone)["superseded"]) == {""}
    assert df.loc["ok/img0__snowy", "seed"] == item_seed(0, new_hash, "snowy")   # the new photo's own seed
    assert set(json.loads((out / manifest.SUPERSEDED_FILE).read_text())) == set(redone)

    again = run_generation(_cfg(data, out), editor=FakeEditor())
    assert (again.already_done, again.superseded) == (8, [])             # nothing stale is left


def test_the_result_of_a_replaced_photo_is_pending_until_redone(tmp_path):
    """While the run redoes it, the old image of a replaced photo is not offered as done (the review and the
    Train & Compare step read the manifest), its file is gone and so is the review of it."""
    data, out = make_data(tmp_path / "data"), tmp_path / "out"
    run_generation(_cfg(data, out), editor=FakeEditor())
    manifest.set_accepted(out, "ok/img0__snowy", False)
    _replace_photo(data / "ok" / "img0.png")
    parked, release = tmp_path / "parked", tmp_path / "release"
    worker = threading.Thread(target=run_generation, args=(_cfg(data, out),), kwargs={"editor": FakeEditor(
        park_after=0, park_file=str(parked), release_file=str(release))})
    worker.start()
    try:
        while not parked.exists() and worker.is_alive():
            worker.join(0.01)
        df = manifest.load_manifest(out).set_index("item_id")
        assert df.loc[["ok/img0__snowy", "ok/img0__sunset"], "status"].tolist() == ["pending", "pending"]
        assert not (out / "images" / "ok" / "img0__snowy.png").exists()   # the stale image is gone
        assert "ok/img0__snowy" not in manifest.read_review(out)            # so is its review
    finally:
        release.touch()
        worker.join()
    assert manifest.load_manifest(out)["accepted"].all()


def test_a_run_folder_of_an_older_version_resumes_byte_for_byte(tmp_path):
    """Older versions wrote no photo hash into items.jsonl: unchanged photos still count as done, and a
    replaced one is still found (through the hash the previous plan.json recorded)."""
    data, out = make_data(tmp_path / "data"), tmp_path / "out"
    run_generation(_cfg(data, out), editor=FakeEditor())
    records = [json.loads(line) for line in (out / manifest.RECORDS_FILE).read_text().splitlines()]
    (out / manifest.RECORDS_FILE).write_text("".join(
        json.dumps({k: v for k, v in r.items() if k != "image_hash"}, sort_keys=True) + "\n" for r in records))
    saved = {name: (out / name).read_bytes() for name in (manifest.RECORDS_FILE, manifest.MANIFEST_FILE,
                                                          manifest.PLAN_FILE, "config.json")}
    before = _files(out)
    editor = FakeEditor()
    assert run_generation(_cfg(data, out), editor=editor).already_done == 8 and not editor.seen
    assert _files(out) == before
    assert {name: (out / name).read_bytes() for name in saved} == saved
    _replace_photo(data / "scratch" / "img1.png")
    summary = run_generation(_cfg(data, out), editor=FakeEditor())
    assert summary.superseded == ["scratch/img1__snowy", "scratch/img1__sunset"] and summary.already_done == 6
    assert run_generation(_cfg(data, out), editor=FakeEditor()).already_done == 8


def test_a_folder_mixed_with_the_old_fractal_rendering_is_refused_not_resumed(tmp_path, capsys):
    """Fractals are rendered at 512 px and shrunk now (issue #15): GenMix images of a folder made before hold
    other fractals, so a rerun must not add new ones beside them, and Train & Compare must not train on them;
    their raw edits stay usable (the mix is re-drawn from them)."""
    from genmix_core.errors import UserError
    from genmix_core.mixing import FRACTAL_RENDER
    from genmix_core.train.cli import main

    data, out = make_data(tmp_path / "data", per_class=3), tmp_path / "out"
    run_generation(_cfg(data, out), editor=FakeEditor())
    stored = json.loads((out / "config.json").read_text())
    assert stored["args"]["fractal_render"] == FRACTAL_RENDER
    del stored["args"]["fractal_render"]                       # as the earlier version wrote it
    (out / "config.json").write_text(json.dumps(stored))
    with pytest.raises(UserError) as info:
        run_generation(_cfg(data, out), editor=FakeEditor())
    assert info.value.key == "err.gen.old_fractals" and "512 px" in str(info.value)
    common = ["--data", str(data), "--edits", str(out), "--backbone", "small_cnn", "--size", "16", "--epochs", "1",
              "--eps", "1/255", "--pgd-steps", "1", "--conditions", "baseline,genmix"]
    assert main([*common, "--out", str(tmp_path / "stored"), "--no-redraw"]) == 2
    assert "older rule" in capsys.readouterr().err
    assert main([*common, "--out", str(tmp_path / "redrawn")]) == 0
