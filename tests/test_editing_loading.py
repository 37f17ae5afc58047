"""Model sources, safetensors-only rule, offline recipe, device/precision choice (real diffusers, tiny models)."""

import shutil

import pytest
import torch

from genmix_core.editing import loading
from genmix_core.editing.pix2pix import InstructPix2PixEditor
from genmix_core.editing.testing import make_tiny_pix2pix
from genmix_core.errors import UserError


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    return make_tiny_pix2pix(tmp_path_factory.mktemp("models") / "tiny-p2p")


@pytest.fixture
def models_home(tmp_path, monkeypatch):
    home = tmp_path / "models"
    monkeypatch.setenv("GENMIX_MODELS_DIR", str(home))
    return home


def _copy(src, dst):
    shutil.copytree(src, dst)
    return dst


def test_checked_folder_reports_components(tiny_folder):
    info = loading.check_model_folder(tiny_folder)
    assert info["class_name"] == "StableDiffusionInstructPix2PixPipeline"
    assert {"unet", "vae", "text_encoder", "tokenizer", "scheduler"} <= set(info["components"])
    assert info["variant"] is None


def test_pickle_only_component_is_refused_with_the_conversion_recipe(tiny_folder, tmp_path):
    folder = _copy(tiny_folder, tmp_path / "pickled")
    (folder / "unet" / "diffusion_pytorch_model.safetensors").unlink()
    (folder / "unet" / "diffusion_pytorch_model.bin").write_bytes(b"not even a real pickle")
    with pytest.raises(UserError, match=r"only as pickle files \(diffusion_pytorch_model.bin\)") as exc:
        InstructPix2PixEditor(str(folder))
    assert exc.value.key == "err.editor.model.pickle_only"
    assert exc.value.params["component"] == "unet"
    assert "safe_serialization=True" in str(exc.value)
    assert "pickle" in exc.value.message("ja")


def test_pickle_files_beside_safetensors_are_never_read(tiny_folder, tmp_path):
    # A garbage .bin next to the real weights: loading succeeds only because use_safetensors=True ignores it.
    folder = _copy(tiny_folder, tmp_path / "both")
    for comp in ("unet", "vae"):
        (folder / comp / "diffusion_pytorch_model.bin").write_bytes(b"garbage that torch.load would choke on")
    (folder / "text_encoder" / "pytorch_model.bin").write_bytes(b"garbage")
    pipe = InstructPix2PixEditor(str(folder), steps=1, size=32).load()
    assert pipe.unet.config.in_channels == 8


def test_component_without_weights_is_incomplete(tiny_folder, tmp_path):
    folder = _copy(tiny_folder, tmp_path / "cut")
    (folder / "vae" / "diffusion_pytorch_model.safetensors").unlink()
    with pytest.raises(UserError, match="'vae' folder has no .safetensors") as exc:
        loading.check_model_folder(folder)
    assert exc.value.key == "err.editor.model.weights_missing"


@pytest.mark.parametrize("weights", ["unet/diffusion_pytorch_model.safetensors", "text_encoder/model.safetensors",
                                     "vae/diffusion_pytorch_model.safetensors"])
def test_truncated_weights_of_any_component_give_the_same_clean_message(tiny_folder, tmp_path, weights):
    # transformers loads the text encoder with safetensors.safe_open and let its SafetensorError escape as a
    # traceback; the header check names the file for every component before anything is loaded.
    folder = _copy(tiny_folder, tmp_path / "cut")
    path = folder / weights
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(UserError) as exc:
        InstructPix2PixEditor(str(folder), steps=1, size=32).load()
    err = exc.value
    assert err.key == "err.editor.model.weights_truncated"
    assert err.params["component"] == weights.split("/")[0] and err.params["file"] == weights.split("/")[1]
    assert f"{weights} is cut off" in str(err) and "copy the model folder again" in str(err)
    assert weights in err.message("ja") and "途中で切れて" in err.message("ja")


def test_a_safetensors_error_while_loading_is_a_clean_load_failure(tiny_folder, tmp_path, monkeypatch, caplog):
    # Second line of defence: damage the header check cannot see still ends in the catalog message, in plain
    # words (no raw exception text for the user); the raw error goes to the log for whoever debugs it.
    folder = _copy(tiny_folder, tmp_path / "bad")
    path = folder / "text_encoder" / "model.safetensors"
    path.write_bytes(path.read_bytes()[:100])
    monkeypatch.setattr(loading, "check_weights", lambda *a, **k: None)
    with pytest.raises(UserError) as exc:
        InstructPix2PixEditor(str(folder), steps=1, size=32).load()
    assert exc.value.key == "err.editor.model.load_failed" and "SafetensorError" not in str(exc.value)
    assert "copy it again" in str(exc.value) and "SafetensorError" in caplog.text


def test_a_model_folder_linked_from_another_disk_is_found(tiny_folder, tmp_path, monkeypatch, models_home):
    # An administrator's link workspace/models/<name> -> another disk is allowed; the user types only the id.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hf-empty"))
    other_disk = _copy(tiny_folder, tmp_path / "other-disk" / "instruct-pix2pix")
    models_home.mkdir()
    (models_home / "acme--linked").symlink_to(other_disk, target_is_directory=True)
    folder, origin = loading.resolve_model("acme/linked")
    assert origin == "local" and folder == models_home / "acme--linked"
    assert InstructPix2PixEditor("acme/linked", steps=1, size=32).load().unet.config.in_channels == 8
    for typed in ("acme/../other-disk", "acme--linked/..", "acme/linked/.."):  # ids never climb out
        with pytest.raises(UserError) as exc:
            loading.resolve_model(typed)
        assert exc.value.key == "err.editor.model.bad_name", typed


def test_folder_without_model_index_is_not_a_diffusers_folder(tmp_path):
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "model.safetensors").write_bytes(b"x")
    with pytest.raises(UserError, match="no readable model_index.json") as exc:
        loading.resolve_model(str(tmp_path / "ckpt"))
    assert exc.value.key == "err.editor.model.not_diffusers"


def test_missing_path_and_bad_names(tmp_path):
    with pytest.raises(UserError) as exc:
        loading.resolve_model(str(tmp_path / "nowhere"))
    assert exc.value.key == "err.editor.model.folder_missing"
    for bad in ("", "a/b/c", "owner/../etc", "just-a-word"):
        with pytest.raises(UserError) as exc:
            loading.resolve_model(bad)
        assert exc.value.key == "err.editor.model.bad_name", bad


def test_missing_model_offline_gives_the_download_recipe(monkeypatch, models_home):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(models_home.parent / "hf-empty"))
    with pytest.raises(UserError) as exc:
        InstructPix2PixEditor("someone/not-here")
    e = exc.value
    assert e.key == "err.editor.model.offline_missing"
    text = str(e)
    assert "hf download someone/not-here --local-dir someone--not-here" in text
    assert "huggingface-cli download" in text
    assert str(models_home / "someone--not-here") in text
    assert "--model" in text
    assert "hf download someone/not-here" in e.message("ja")
    assert not models_home.exists() or not any(models_home.iterdir()), "nothing may be written for a missing model"


def test_hub_id_found_in_the_models_folder_offline(tiny_folder, monkeypatch, models_home):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _copy(tiny_folder, models_home / "acme--pix")
    folder, origin = loading.resolve_model("acme/pix")
    assert origin == "local" and folder == models_home / "acme--pix"
    shutil.rmtree(folder)
    _copy(tiny_folder, models_home / "pix")  # the plain repo name works too
    assert loading.resolve_model("acme/pix")[0] == models_home / "pix"


def test_hub_id_found_in_the_hub_cache_offline(tiny_folder, tmp_path, monkeypatch, models_home):
    # The layout huggingface_hub itself writes: models--owner--name/{refs/main, snapshots/<commit>/...}.
    cache = tmp_path / "hub"
    repo = cache / "models--acme--cached"
    commit = "0" * 40
    _copy(tiny_folder, repo / "snapshots" / commit)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(cache))
    folder, origin = loading.resolve_model("acme/cached")
    assert origin == "local" and folder == repo / "snapshots" / commit


def test_download_progress_reaches_the_callback():
    seen = []
    bar_cls = loading._tqdm_with_callback(lambda done, total, what: seen.append((done, total, what)))
    bar = bar_cls(total=10, desc="Fetching 3 files", disable=True)
    bar.update(4)
    bar.update(6)
    bar.close()
    assert seen == [(4.0, 10.0, "Fetching 3 files"), (10.0, 10.0, "Fetching 3 files")]


def test_device_and_precision_on_cpu():
    assert loading.choose_device() == ("cuda" if torch.cuda.is_available() else loading.choose_device())
    if not torch.cuda.is_available():
        assert loading.choose_device("cpu") == "cpu"
        with pytest.raises(UserError) as exc:
            loading.choose_device("cuda")
        assert exc.value.key == "err.editor.device.unavailable"
    for precision in ("auto", "float16", "bfloat16", "float32"):
        assert loading.choose_dtype("cpu", precision) is torch.float32, precision
    assert loading.choose_dtype("mps", "auto") is torch.float16
    assert loading.choose_dtype("mps", "float32") is torch.float32
    with pytest.raises(UserError):
        loading.choose_dtype("cpu", "int8")


def test_describe_device_for_the_home_page():
    info = loading.describe_device()
    assert info["cpu_cores"] >= 1
    assert info["torch"] == torch.__version__
    assert info["diffusers"]
    if info["device"] == "cpu":
        assert info["gpu_name"] is None and info["dtype"] == "float32"
