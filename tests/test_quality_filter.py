"""The quality filter through the generation job: scores, reasons, the GenMix 3σ rule, review overrides that
survive a re-filter, rejected edits left out of training and export, thresholds in the config, the CLI."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageFilter

from genmix_core.editing.base import Editor, EditorInfo
from genmix_core.errors import UserError
from genmix_core.generate import GenerateConfig, manifest, run_generation
from genmix_core.quality import (CLASS_OUTLIER, DEFAULT_FLOOR, DEFAULT_K, Edit, FeatureExtractor, FeatureStore,
                                 class_fits, score_edits)

pytestmark = pytest.mark.usefixtures("one_torch_thread")
SAMPLE = Path(__file__).resolve().parent.parent / "sample_data" / "lab"


class ScriptedEditor(Editor):
    """Per prompt: ``same`` returns the photo unchanged, ``blur`` a mild blur (keeps the class), ``noise`` seeded
    uniform noise (destroys it), ``black`` an all-black picture. Records its calls."""

    info = EditorInfo(id="scripted", is_diffusion=False, label_key="editor.offline.name")

    def __init__(self):
        self.calls: list[int] = []

    def _edit_batch(self, images, prompts, seeds):
        self.calls.append(len(images))
        out = []
        for image, prompt, seed in zip(images, prompts, seeds):
            if prompt == "noise":
                rng = np.random.default_rng(seed % 2**32)
                out.append(Image.fromarray(rng.integers(0, 256, (image.height, image.width, 3), dtype=np.uint8)))
            elif prompt == "black":
                out.append(Image.new("RGB", image.size))
            elif prompt == "blur":
                out.append(image.filter(ImageFilter.GaussianBlur(2)))
            else:
                out.append(image.copy())
        return out


def sample_photos(root: Path, per_class: int = 4, classes=("crack", "ok")) -> Path:
    """The first ``per_class`` shipped sample photos of each class, copied to ``root/<class>/``."""
    for label in classes:
        (root / label).mkdir(parents=True, exist_ok=True)
        for src in sorted((SAMPLE / label).glob("*.png"))[:per_class]:
            shutil.copy(src, root / label / src.name)
    return root


def cfg(data, out, prompts, **kw) -> GenerateConfig:
    return GenerateConfig(data=str(data), out=str(out), prompts=list(prompts), batch_size=4, workers=1, **kw)


@pytest.fixture
def data(tmp_path):
    return sample_photos(tmp_path / "data", per_class=5)   # 5: the fewest originals a class fit takes


def test_identical_edits_are_kept_noise_and_black_edits_are_rejected_with_their_reason(data, tmp_path):
    out = tmp_path / "run"
    run_generation(cfg(data, out, ["same", "noise", "black"]), editor=ScriptedEditor())
    df = pd.read_csv(out / manifest.MANIFEST_FILE, keep_default_na=False)
    by = {p: g for p, g in df.groupby("prompt")}
    same, noise, black = by["same"], by["noise"], by["black"]
    assert same["accepted"].all() and (same["reason"] == "").all()
    assert np.allclose(same["similarity"].astype(float), 1.0, atol=2e-3)
    assert not noise["accepted"].any() and (noise["reason"] == "low_similarity").all()
    assert (noise["similarity"].astype(float) < DEFAULT_FLOOR).all()
    assert not black["accepted"].any() and (black["reason"] == "black_or_flat").all()
    assert (black["status"] == "failed").all() and (black["similarity"] == "").all()
    # the thresholds the verdicts came from: in the run's config and in quality.json
    args = json.loads((out / "config.json").read_text())["args"]
    quality = json.loads((out / "quality.json").read_text())
    assert (args["filter_floor"], args["filter_k"]) == (DEFAULT_FLOOR, DEFAULT_K) == (quality["floor"], quality["k"])
    assert set(quality["classes"]) == {"crack", "ok"} and quality["classes"]["ok"]["n"] == 5


def _vectors(rng, center, spread, n):
    return center + spread * rng.normal(size=(n, center.size))


def test_the_3_sigma_rule_flags_a_planted_outlier_and_keeps_the_rest(tmp_path):
    rng = np.random.default_rng(0)
    center = np.ones(64)
    originals = _vectors(rng, center, 0.3, 20)
    edits = originals + 0.05 * rng.normal(size=originals.shape)
    edits[7] = originals[7] + 1.5 * rng.normal(size=64)          # the planted outlier: far from its original
    store = FeatureStore(tmp_path / "features")
    store.add([f"o{i}" for i in range(20)], originals)
    store.add([f"e{i}" for i in range(20)], edits)
    fits = class_fits(store, {"c": [f"o{i}" for i in range(20)]})
    unit = store.get([f"o{i}" for i in range(20)])
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    pairs = (unit @ unit.T)[np.triu_indices(20, 1)]               # the fit, by hand
    assert fits["c"].mean == pytest.approx(pairs.mean(), abs=1e-6)
    assert fits["c"].std == pytest.approx(pairs.std(ddof=1), abs=1e-6)
    judged = [Edit(f"i{i}", "c", f"o{i}", f"e{i}") for i in range(20)]
    verdicts = score_edits(store, judged, fits, floor=-1.0, k=3.0)    # floor off: the class rule alone
    assert [i for i in range(20) if verdicts[f"i{i}"].reason] == [7]
    assert verdicts["i7"].reason == CLASS_OUTLIER and verdicts["i7"].similarity < fits["c"].limit(3.0)
    assert all(verdicts[f"i{i}"].reason == "" for i in range(20) if i != 7)
    # a class with too few originals has no fit, and then only the floor judges
    assert class_fits(store, {"c": ["o0", "o1", "o2", "o3"]}) == {"c": None}
    assert score_edits(store, judged, {"c": None}, floor=-1.0, k=3.0)["i7"].reason == ""


def test_a_manual_override_survives_a_rerun_of_the_filter_which_edits_nothing(data, tmp_path, monkeypatch):
    out = tmp_path / "run"
    run_generation(cfg(data, out, ["same", "blur", "noise"]), editor=ScriptedEditor())
    df = manifest.load_manifest(out).set_index("item_id")
    assert df.loc["crack/lab_crack_000__blur", "accepted"]
    manifest.set_accepted(out, "crack/lab_crack_000__noise", True)      # the user keeps a rejected edit
    manifest.set_accepted(out, "ok/lab_ok_000__same", False)            # and drops an accepted one
    embedded = []
    monkeypatch.setattr(FeatureExtractor, "embed", lambda self, images: embedded.append(len(images)))
    editor = ScriptedEditor()
    floor = float(df.loc[df["prompt"] == "blur", "similarity"].max()) + 1e-3   # rejects every blur edit
    summary = run_generation(cfg(data, out, ["same", "blur", "noise"], filter_floor=floor), editor=editor)
    assert editor.calls == [] and summary.cache_hits == 0 and embedded == []  # nothing edited or embedded again
    after = manifest.load_manifest(out).set_index("item_id")
    assert after.loc["crack/lab_crack_000__noise", ["accepted", "reason"]].tolist() == [True, ""]
    assert after.loc["ok/lab_ok_000__same", ["accepted", "reason"]].tolist() == [False, "rejected_by_user"]
    blur = after[after["prompt"] == "blur"]
    assert (blur["reason"] == "low_similarity").all() and not blur["accepted"].any()   # re-filtered
    assert json.loads((out / "config.json").read_text())["args"]["filter_floor"] == floor
    assert json.loads((out / "quality.json").read_text())["floor"] == floor


def test_rejected_edits_are_left_out_of_training_and_of_the_export(data, tmp_path):
    from genmix_core.train.data import load_edits, scan_images

    out = tmp_path / "run"
    run_generation(cfg(data, out, ["blur", "noise"]), editor=ScriptedEditor())
    with zipfile.ZipFile(manifest.export_zip(out)) as zf:
        members = [n for n in zf.namelist() if n.endswith(".png")]
    assert len(members) == 10 and all("__blur" in n for n in members)
    edits = load_edits(out, scan_images(data), set())
    assert len(edits) == 10 and set(edits["prompt"]) == {"blur"}


def test_a_run_without_the_filter_keeps_every_edit_and_scores_none(data, tmp_path):
    out = tmp_path / "run"
    run_generation(cfg(data, out, ["noise"], no_filter=True), editor=ScriptedEditor())
    df = manifest.load_manifest(out)
    assert df["accepted"].all() and df["similarity"].isna().all() and not (out / "quality.json").exists()
    assert "no_filter" in json.loads((out / "config.json").read_text())["args"]


def test_an_unchecked_edit_is_not_used_until_a_run_scores_it(data, tmp_path):
    out = tmp_path / "run"
    run_generation(cfg(data, out, ["same"]), editor=ScriptedEditor())
    (out / "quality.json").unlink()                           # as after a run stopped before its filter step
    df = manifest.load_manifest(out)
    assert not df["accepted"].any() and (df["reason"] == "not_checked").all()
    run_generation(cfg(data, out, ["same"]), editor=ScriptedEditor())
    assert manifest.load_manifest(out)["accepted"].all()


@pytest.mark.parametrize("flag, value, match", [("floor", 1.5, "between -1 and 1"), ("k", -1, "0 or more")])
def test_bad_thresholds_are_refused_with_the_fix(data, tmp_path, flag, value, match):
    with pytest.raises(UserError, match=match):
        cfg(data, tmp_path / "run", ["same"], **{f"filter_{flag}": value}).resolved()


def test_a_rerun_with_nothing_new_loads_no_model(data, tmp_path, monkeypatch):
    import genmix_core.quality

    out = tmp_path / "run"
    run_generation(cfg(data, out, ["same"]), editor=ScriptedEditor())
    before = (out / "quality.json").read_bytes()

    def no_model(*args, **kwargs):
        raise AssertionError("the backbone was loaded although nothing changed")

    monkeypatch.setattr(genmix_core.quality, "load_extractor", no_model)
    run_generation(cfg(data, out, ["same"]), editor=ScriptedEditor())
    assert (out / "quality.json").read_bytes() == before and manifest.load_manifest(out)["accepted"].all()


def test_a_filter_pass_stopped_midway_keeps_its_finished_batches(tmp_path):
    from genmix_core.quality import compute_features

    calls = []
    fake = FeatureExtractor("fake", 4, "cpu", "float32", lambda x: (calls.append(len(x)), x.flatten(1))[1])
    rng = np.random.default_rng(0)
    pictures = [Image.fromarray(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)) for _ in range(40)]
    jobs = [(f"k{i}", (lambda p=p: p)) for i, p in enumerate(pictures)]
    store = FeatureStore(tmp_path / "features")
    compute_features(fake, store, jobs, cancelled=lambda: len(calls) >= 1)      # stopped after one batch of 32
    assert calls == [32] and len(list((tmp_path / "features").glob("*.npz"))) == 1
    again = FeatureStore(tmp_path / "features")                                    # a new process reads the disk
    compute_features(fake, again, jobs)
    assert calls == [32, 8] and again.missing(k for k, _ in jobs) == []
    assert np.array_equal(again.get(["k3"]), FeatureStore(tmp_path / "features").get(["k3"]))


def test_edits_are_embedded_while_the_run_goes_so_the_last_pass_embeds_nothing(data, tmp_path):
    out, logs = tmp_path / "run", []
    run_generation(cfg(data, out, ["same", "blur"]), editor=ScriptedEditor(), log=logs.append)
    assert any("20 of 20 edits kept" in m for m in logs), logs
    assert not any("embedding" in m for m in logs), logs               # nothing was left for the pass at the end
    store = FeatureStore(next((out / "features").iterdir()))
    records = manifest.read_records(out)
    keys = [f"e:{Path(r['edit_path']).stem}" for r in records.values()] + \
        [f"o:{r['image_hash']}" for r in records.values()]
    assert store.missing(keys) == []
