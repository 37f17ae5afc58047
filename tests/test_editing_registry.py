"""Editor registry: ids, creation, availability on this machine, and the time estimate."""

import shutil

import pytest
from hypothesis import given, settings, strategies as st

from genmix_core.editing import registry
from genmix_core.editing.testing import make_tiny_pix2pix
from genmix_core.errors import UserError
from genmix_core.i18n import t


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_pix2pix(tmp_path_factory.mktemp("reg") / "p2p")


@pytest.fixture
def offline_empty(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("GENMIX_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    return tmp_path / "models"


def test_ids_and_creation(tiny):
    assert registry.editor_ids() == ("offline", "instruct-pix2pix", "img2img")
    offline = registry.create_editor("offline")
    assert offline.info.id == "offline" and not offline.info.is_diffusion
    ed = registry.create_editor("instruct-pix2pix", str(tiny), preset="fast", size=32)
    assert ed.info.id == "instruct-pix2pix" and ed.info.is_diffusion
    record = registry.editor_record(ed)
    assert record["settings"]["steps"] == 20 and record["model"] == str(tiny) and record["events"] == []
    with pytest.raises(UserError) as exc:
        registry.create_editor("dall-e")
    assert exc.value.key == "err.editor.unknown" and "instruct-pix2pix" in str(exc.value)


def test_choices_offline_without_models(offline_empty):
    choices = {c.id: c for c in registry.editor_choices()}
    assert set(choices) == set(registry.editor_ids())
    assert choices["offline"].available and not choices["offline"].is_diffusion
    for eid in ("instruct-pix2pix", "img2img"):
        c = choices[eid]
        assert c.is_diffusion and not c.available
        assert c.reason_key == "err.editor.model.offline_missing"
        assert "hf download" in t(c.reason_key, "en", **c.reason_params)
    assert choices["instruct-pix2pix"].reason_params["model"] == "timbrooks/instruct-pix2pix"


def test_choices_with_a_copied_model_say_slow_on_cpu(tiny, offline_empty):
    shutil.copytree(tiny, offline_empty / "timbrooks--instruct-pix2pix")
    c = {c.id: c for c in registry.editor_choices()}["instruct-pix2pix"]
    assert c.available
    if c.reason_key == "editor.reason.slow_cpu":
        assert c.reason_params["seconds"] > 60  # 100 steps at 512 px on a CPU is minutes, never seconds
    else:
        assert c.reason_key is None  # on a GPU there is nothing to warn about
    folder_choice = {c.id: c for c in registry.editor_choices({"img2img": str(tiny)})}["img2img"]
    assert folder_choice.available


def test_estimate_is_calibrated_on_the_environment_note():
    # Full-size pix2pix, 2 cores, 256², 10 steps: 68 s measured.
    measured = registry.estimate_seconds_per_edit("instruct-pix2pix", "cpu", 10, 256, cores=2)
    assert measured == pytest.approx(68, rel=0.02)
    assert registry.estimate_seconds_per_edit("instruct-pix2pix", "cuda", 100, 512) == pytest.approx(0.9, rel=0.05)
    assert registry.estimate_seconds_per_edit("offline", "cpu", size=512) <= 0.1
    half = registry.estimate_seconds_per_edit("img2img", "cpu", 30, 512, cores=2, strength=0.5)
    full = registry.estimate_seconds_per_edit("img2img", "cpu", 30, 512, cores=2, strength=1.0)
    assert half < full


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(["instruct-pix2pix", "img2img"]), st.sampled_from(["cpu", "cuda", "mps"]),
       st.integers(1, 200), st.integers(16, 1024), st.integers(1, 64))
def test_estimate_grows_with_steps_and_size_and_shrinks_with_cores(editor_id, device, steps, size, cores):
    est = lambda s=steps, z=size, c=cores: registry.estimate_seconds_per_edit(editor_id, device, s, z, cores=c)
    assert 0 < est()
    assert est(s=steps + 2) > est()
    assert est(z=size + 8) > est()
    assert est(c=cores + 1) <= est()
