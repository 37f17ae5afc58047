"""The default-on quality filter decides what Train & Compare trains on and what the export holds: rejected
edits are in neither, a manual accept brings one back, and the comparison's own generation step filters too."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from genmix_core.generate import manifest, run_generation
from genmix_core.train import load_results, run_compare
from genmix_core.train.config import CompareConfig
from test_quality_filter import ScriptedEditor, cfg, sample_photos

pytestmark = pytest.mark.usefixtures("one_torch_thread")
TRAIN = dict(seeds=[0], epochs=1, backbone="small_cnn", size=16, batch_size=4, eps=["2/255"], pgd_steps=1)


def test_rejected_edits_are_neither_trained_on_nor_exported_and_a_manual_accept_brings_one_back(tmp_path):
    data = sample_photos(tmp_path / "data", per_class=5)
    gen = tmp_path / "gen"
    run_generation(cfg(data, gen, ["blur", "noise"]), editor=ScriptedEditor())   # the filter on, as by default
    df = manifest.load_manifest(gen)
    assert (df.loc[df["prompt"] == "noise", "reason"] == "low_similarity").all()
    assert df.loc[df["prompt"] == "blur", "accepted"].all()

    res = run_compare(CompareConfig(data=str(data), out=str(tmp_path / "cmp"), edits=str(gen),
                                    conditions=["baseline", "genmix"], **TRAIN))
    n_train = res["split"]["n_train"]                                   # 4 of 5 originals per class
    assert n_train == 8
    assert res["generation"]["n_edits"] == n_train                      # one blur edit each, no noise edit
    assert res["conditions"]["genmix"]["pool_size"] == 2 * n_train
    with zipfile.ZipFile(manifest.export_zip(gen)) as zf:
        assert sorted(n for n in zf.namelist() if n.endswith(".png")) == sorted(
            df.loc[df["prompt"] == "blur", "mix_path"].str.replace("images/", "", regex=False))

    held_out = set(load_results(tmp_path / "cmp")["split"]["test_images"])
    noise = df[(df["prompt"] == "noise") & ~df["image"].isin(held_out)]["item_id"].iloc[0]
    manifest.set_accepted(gen, noise, True)                             # the user's review wins
    res = run_compare(CompareConfig(data=str(data), out=str(tmp_path / "cmp2"), edits=str(gen),
                                    conditions=["genmix"], **TRAIN))
    assert res["generation"]["n_edits"] == n_train + 1


def test_the_comparisons_own_generation_step_filters_unless_told_not_to(tmp_path):
    data = sample_photos(tmp_path / "data", per_class=5)
    on = run_compare(CompareConfig(data=str(data), out=str(tmp_path / "on"), prompts=["dim lighting"],
                                   conditions=["genmix"], **TRAIN))
    gen_dir = Path(on["generation"]["path"])                         # seed 0's own generation run
    assert gen_dir.parent == tmp_path / "on" / "generation"
    gen = manifest.load_manifest(gen_dir)
    assert (gen_dir / "quality.json").is_file() and gen["similarity"].notna().all()
    assert on["generation"]["n_edits"] == int(gen["accepted"].sum())
    off = run_compare(CompareConfig(data=str(data), out=str(tmp_path / "off"), prompts=["dim lighting"],
                                    conditions=["genmix"], no_filter=True, **TRAIN))
    assert not (Path(off["generation"]["path"]) / "quality.json").exists()
    assert off["generation"]["n_edits"] == len(gen) == on["split"]["n_train"]
