"""Issue 16.1: one prompt the style filter cannot draw never ends a whole run.

Checked before anything runs (CLI: exit 2, one line, no folder), and at run time its items fail alone while the
other prompts generate (a run folder made before the check, or a resume of one).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from genmix_core.editing import style_ids, undrawable
from genmix_core.errors import UserError
from genmix_core.generate import GenerateConfig, manifest, run_generation
from genmix_core.jobs import read_job
from genmix_core.paths import REPO_ROOT
from test_generate_fakes import make_data

BAD = "oil film on the surface"
GOOD = ["dim lighting", "motion blur"]


def test_undrawable_names_only_the_prompts_the_filter_cannot_draw():
    assert undrawable("offline", [*GOOD, BAD]) == [BAD]
    assert undrawable("offline", [*GOOD, BAD], {BAD: "glare"}) == []      # a style chosen in the table
    assert undrawable("instruct-pix2pix", [BAD]) == []                     # a diffusion model draws anything


def test_cli_refuses_an_undrawable_prompt_before_any_run_folder_exists(tmp_path):
    """The real command line: exit code 2, one line naming the prompt and the styles, no traceback, no folder."""
    data = make_data(tmp_path / "data", per_class=1)
    out = tmp_path / "runs" / "gen1"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "GENMIX_WORKSPACE": str(tmp_path / "ws")}
    proc = subprocess.run([sys.executable, "-m", "genmix_core.generate", "--data", str(data), "--out", str(out),
                           "--prompts", ",".join([*GOOD, BAD])], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=300)
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert err.startswith("error: ") and f"“{BAD}”" in err and "dim lighting" not in err
    assert all(style in err for style in style_ids()) and "filter:" in err
    assert not out.exists() and not out.parent.exists()


def test_train_cli_refuses_it_too_before_any_folder(tmp_path):
    data = make_data(tmp_path / "data", per_class=3)
    out = tmp_path / "cmp"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "GENMIX_WORKSPACE": str(tmp_path / "ws")}
    proc = subprocess.run([sys.executable, "-m", "genmix_core.train", "--data", str(data), "--out", str(out),
                           "--conditions", "baseline,genmix", "--prompts", BAD], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and f"“{BAD}”" in proc.stderr
    assert not out.exists()


def test_the_page_check_names_styles_in_the_users_language(tmp_path):
    cfg = GenerateConfig(data=str(make_data(tmp_path / "data", per_class=1)), out=str(tmp_path / "o"),
                         prompts=[*GOOD, BAD]).resolved()
    with pytest.raises(UserError) as info:
        cfg.check_drawable(for_app=True)
    assert info.value.key == "err.editor.cannot_draw"
    assert "暗い照明 (dim_light)" in info.value.message("ja") and "dim light" in info.value.message("en")
    cfg.filters = {BAD: "glare"}
    cfg.resolved().check_drawable(for_app=True)        # a chosen style makes it drawable


@pytest.mark.parametrize("workers", [1, 2])
def test_at_run_time_its_items_fail_and_the_good_prompts_still_generate(tmp_path, workers):
    data = make_data(tmp_path / "data", per_class=2)
    out = tmp_path / "run"
    cfg = GenerateConfig(data=str(data), out=str(out), prompts=[*GOOD, BAD], workers=workers)
    summary = run_generation(cfg)
    assert summary.status == "done" and (summary.done, summary.failed, summary.already_done) == (8, 4, 0)
    df = manifest.load_manifest(out)
    assert set(df.loc[df["status"] == "failed", "prompt"]) == {BAD}
    assert (df.loc[df["prompt"] != BAD, "status"] == "done").all()
    failed = manifest.read_records(out)[df.loc[df["status"] == "failed", "item_id"].iloc[0]]
    assert failed["error_key"] == "err.editor.needs_diffusion" and failed["error_params"] == {"prompt": BAD}
    job = read_job(out)
    assert job.status == "done" and job.done == job.total == 12
    # Resume does the same: nothing left to do, no failure of the whole run.
    again = run_generation(cfg)
    assert again.status == "done" and again.already_done == 12
    assert json.loads((out / "config.json").read_text())["args"]["prompts"] == [*GOOD, BAD]
