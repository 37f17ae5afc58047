"""Settings written once and plug-in tables, through the paths users take.

- A prompt with a comma (``rain, at night``) reaches the editor and ``manifest.csv`` as one prompt from both
  command lines (``--prompts-file``) and from the Generate and Train pages (which hand the job its
  ``config.json``, not an argv).
- A new editor is one row of the editor table; a new training condition is one class.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from genmix_core.data import open_project
from genmix_core.editing import EDITORS, EditorSpec, register_editor
from genmix_core.generate import manifest
from genmix_core.jobs import read_job
from genmix_core.prompts import Prompt, save_user_prompt_set
from genmix_core.train import CONDITIONS, Condition, register_condition
from test_generate_fakes import FakeEditor, make_data

COMMA = "rain, at night"
PROMPTS_FILE_TEXT = f"{COMMA}\nsnowy\n"


class RecordingEditor(FakeEditor):
    """A third-party backend, known to the workbench only through its table row."""

    seen_prompts: list[str] = []

    def _edit_batch(self, images, prompts, seeds):
        RecordingEditor.seen_prompts.extend(prompts)
        return super()._edit_batch(images, prompts, seeds)


@pytest.fixture
def recording_editor():
    RecordingEditor.seen_prompts = []
    register_editor(EditorSpec("recording", f"{__name__}:RecordingEditor", "editor.offline.name", False,
                               seconds_512=0.01))
    yield RecordingEditor
    EDITORS.pop("recording")


def _prompts_file(tmp_path: Path) -> Path:
    path = tmp_path / "prompts.txt"
    path.write_text(PROMPTS_FILE_TEXT, encoding="utf-8")
    return path


def test_a_fake_editor_registered_with_one_row_runs_a_generation_from_the_cli(recording_editor, tmp_path):
    from genmix_core.editing import editor_choices, estimate_seconds_per_edit
    from genmix_core.generate.cli import main

    data = make_data(tmp_path / "data", per_class=2)
    out = tmp_path / "run"
    assert "recording" in {c.id for c in editor_choices()}
    assert estimate_seconds_per_edit("recording", size=512) == pytest.approx(0.01)
    assert main(["--data", str(data), "--out", str(out), "--editor", "recording",
                 "--prompts-file", str(_prompts_file(tmp_path)), "--workers", "1"]) == 0
    assert sorted(set(recording_editor.seen_prompts)) == [COMMA, "snowy"]
    df = manifest.load_manifest(out)
    assert sorted(df["prompt"].unique()) == [COMMA, "snowy"] and len(df) == 8
    assert set(df["editor"]) == {"fake"}
    assert json.loads((out / "config.json").read_text())["args"]["prompts"] == [COMMA, "snowy"]
    # The run folder alone is enough to resume it: nothing is re-edited.
    recording_editor.seen_prompts.clear()
    assert main(["--run", str(out)]) == 0 and recording_editor.seen_prompts == []


def test_run_flag_takes_no_other_flags(tmp_path, capsys):
    from genmix_core.generate.cli import main

    with pytest.raises(SystemExit) as stop:
        main(["--run", str(tmp_path), "--seed", "3"])
    assert stop.value.code == 2 and "--run takes no other flag" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        main(["--run", str(tmp_path / "nothing")])
    assert stop.value.code == 2 and "generation run" in capsys.readouterr().err


def _tiny_split(root: Path) -> Path:
    return make_data(root, classes=("ok", "scratch"), per_class=4, size=(16, 16))


def test_train_cli_prompts_file_keeps_the_comma(recording_editor, tmp_path):
    from genmix_core.train.cli import main

    out = tmp_path / "cmp"
    assert main(["--data", str(_tiny_split(tmp_path / "data")), "--out", str(out), "--conditions",
                 "baseline,edits", "--backbone", "small_cnn", "--size", "16", "--epochs", "1", "--eps", "1/255",
                 "--pgd-steps", "1", "--device", "cpu", "--editor", "recording",
                 "--prompts-file", str(_prompts_file(tmp_path))]) == 0
    assert sorted(set(recording_editor.seen_prompts)) == [COMMA, "snowy"]
    assert sorted(manifest.load_manifest(out / "generation")["prompt"].unique()) == [COMMA, "snowy"]


def _user_set(proj) -> str:
    save_user_prompt_set(proj.prompts_dir, "commas", [Prompt(COMMA, filter="rain"), Prompt("snowy")])
    return "commas"


def _wait_done(run_dir: Path) -> None:
    deadline = time.time() + 120
    while time.time() < deadline:
        job = read_job(run_dir)
        if job is not None and job.status != "running":
            return
        time.sleep(0.2)
    raise AssertionError(f"job in {run_dir} did not finish: {read_job(run_dir)}")


def _page(name: str, proj, set_name: str) -> AppTest:
    at = AppTest.from_file(f"../pages/{name}", default_timeout=60)
    at.session_state["lang"] = "en"
    at.session_state["active_prompts"] = [COMMA, "snowy"]
    at.session_state["prompt_set"] = set_name
    return at


def test_the_generate_page_hands_a_comma_prompt_to_the_job_unchanged():
    proj = open_project("default", create=True)
    make_data(proj.data_dir("train"), per_class=1, size=(24, 20))
    at = _page("4_generate.py", proj, _user_set(proj)).run()
    assert at.multiselect(key="gen_prompts").value == [COMMA, "snowy"]
    at.button(key="gen_start").click().run()
    assert not at.exception
    run_dir = Path(at.session_state["gen_run"])
    assert json.loads((run_dir / "config.json").read_text())["args"]["prompts"] == [COMMA, "snowy"]
    _wait_done(run_dir)
    assert read_job(run_dir).status == "done", (run_dir / "log.txt").read_text()
    assert sorted(manifest.load_manifest(run_dir)["prompt"].unique()) == [COMMA, "snowy"]


def test_the_train_page_hands_a_comma_prompt_to_the_job_unchanged():
    proj = open_project("default", create=True)
    _tiny_split(proj.data_dir("train"))
    at = _page("5_train.py", proj, _user_set(proj)).run()
    at.multiselect(key="train_conditions").set_value(["baseline", "edits"])
    at.selectbox(key="train_backbone").set_value("small_cnn")
    at.number_input(key="train_epochs").set_value(1)
    at.text_input(key="train_seeds").set_value("0")
    at.selectbox(key="train_size").set_value(64)
    at.text_input(key="train_eps").set_value("2/255")
    at.button(key="train_start").click().run()
    assert not at.exception
    run_dir = Path(at.session_state["train_run"])
    assert json.loads((run_dir / "config.json").read_text())["args"]["prompts"] == [COMMA, "snowy"]
    _wait_done(run_dir)
    assert read_job(run_dir).status == "done", (run_dir / "log.txt").read_text()
    assert sorted(manifest.load_manifest(run_dir / "generation")["prompt"].unique()) == [COMMA, "snowy"]


class Darken(Condition):
    """A new condition in one class: its pool is the originals, each batch darkened by a seeded factor."""

    name = "darken"
    color = "#000000"

    @property
    def label_key(self) -> str:
        return "train.cond.baseline"

    def mix_batch(self, x, y, gen, cfg):
        return x * (0.5 + 0.5 * torch.rand(1, generator=gen).item()), y


def test_a_training_condition_added_as_one_class_runs_and_is_charted(tmp_path):
    from genmix_core.report import charts
    from genmix_core.train import load_results, run_compare
    from genmix_core.train.config import CompareConfig

    register_condition(Darken())
    try:
        out = tmp_path / "cmp"
        cfg = CompareConfig(data=str(_tiny_split(tmp_path / "data")), out=str(out), conditions=["baseline", "darken"],
                            backbone="small_cnn", size=16, epochs=1, eps=["1/255"], pgd_steps=1, device="cpu")
        run_compare(cfg)
        res = load_results(out)
        assert set(res["conditions"]) == {"baseline", "darken"}
        base, dark = (res["runs"][i]["stats"] for i in (0, 1))
        assert dark["steps"] == base["steps"] and dark["final_loss"] != base["final_loss"]
        fig = charts.fig_accuracy(res, "en")
        assert "#000000" in list(fig.data[0].marker.color)
    finally:
        CONDITIONS.pop("darken")
    assert np.isfinite(dark["final_loss"])
