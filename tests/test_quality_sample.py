"""The quality filter on the shipped sample photos, through the generation job as users run it: style-filter edits
of the factory prompts are mostly kept, edits of an untrained (random-weight) diffusion pipeline are mostly
rejected, each with its reason."""

from __future__ import annotations

import pytest

from genmix_core.editing.testing import make_tiny_pix2pix
from genmix_core.generate import GenerateConfig, manifest, run_generation
from genmix_core.quality import FILTER_REASONS
from test_quality_filter import sample_photos

pytestmark = pytest.mark.usefixtures("one_torch_thread")
CLASSES = ("crack", "dent", "ok", "scratch", "stain")


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return sample_photos(tmp_path_factory.mktemp("sample") / "lab", per_class=8, classes=CLASSES)


def test_style_filter_edits_of_the_factory_prompts_are_mostly_kept(photos, tmp_path):
    out = tmp_path / "run"
    run_generation(GenerateConfig(data=str(photos), out=str(out), prompt_set="factory", editor="offline"))
    df = manifest.load_manifest(out)
    assert len(df) == 40 * 8 and (df["status"] == "done").all()
    assert df["similarity"].notna().all()
    assert df["accepted"].mean() >= 0.75, df.groupby("prompt")["accepted"].mean()
    assert set(df.loc[~df["accepted"], "reason"]) <= set(FILTER_REASONS)


def test_edits_of_an_untrained_diffusion_pipeline_are_mostly_rejected_each_with_a_reason(photos, tmp_path):
    model = make_tiny_pix2pix(tmp_path / "random-pix2pix")
    out = tmp_path / "run"
    run_generation(GenerateConfig(data=str(photos), out=str(out), prompts=["snowy", "dim lighting"],
                                  editor="instruct-pix2pix", model=str(model), steps=2, size=64, batch_size=8))
    df = manifest.load_manifest(out)
    done = df[df["status"] == "done"]
    assert len(done) == 80
    rejected = done[~done["accepted"]]
    assert len(rejected) >= 0.9 * len(done), done[["prompt", "similarity"]]
    assert set(rejected["reason"]) <= {"low_similarity", "class_outlier"} and (rejected["reason"] != "").all()
