"""Generation with long Japanese names and with originals deleted while the job runs (issue #12 items 4, 6)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from genmix_core.generate import GenerateConfig, SourceImage, plan_items, run_generation
from genmix_core.generate.manifest import read_records
from genmix_core.i18n import t
from genmix_core.paths import MAX_NAME_BYTES, REPO_ROOT, utf8_len
from genmix_core.prompts import Prompt, save_user_prompt_set
from test_generate_fakes import FakeEditor, make_data

PROMPT_JA = "夜勤の暗い照明で撮影した部品の写真です"          # 19 characters: a 57-byte prompt slug


def _picture(path: Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(path)


def test_cli_with_long_japanese_names_writes_every_item(tmp_path):
    data = tmp_path / "data"
    stems = ["傷" * 64, "😀" * 62, "img0"]         # 192 bytes (fits exactly with the prompt), 248 (cut), short
    for i, stem in enumerate(stems):
        _picture(data / "キズ" / f"{stem}.png", i)
    _picture(data / "ok" / "img0.png", 9)
    prompt_set = save_user_prompt_set(tmp_path / "prompts", "夜勤", [Prompt(text=PROMPT_JA, filter="dim_light")])
    out = tmp_path / "run"
    argv = ["--data", str(data), "--out", str(out), "--prompt-set", str(prompt_set), "--editor", "offline",
            "--workers", "1"]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.run([sys.executable, "-m", "genmix_core.generate", *argv], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    df = pd.read_csv(out / "manifest.csv")
    assert len(df) == 4 and (df["status"] == "done").all()
    names = {row.image: Path(row.mix_path).name for row in df.itertuples()}
    slug = PROMPT_JA
    assert names[f"キズ/{'傷' * 64}.png"] == f"{'傷' * 64}__{slug}.png"             # 255 bytes: kept as it is
    assert names["キズ/img0.png"] == f"img0__{slug}.png" and names["ok/img0.png"] == f"img0__{slug}.png"
    cut = names[f"キズ/{'😀' * 62}.png"]
    assert cut.startswith("😀" * 30) and cut.endswith(f"__{slug}.png") and "~" in cut
    for row in df.itertuples():
        assert utf8_len(Path(row.mix_path).name) <= MAX_NAME_BYTES
        assert (out / row.mix_path).is_file()
    assert not list(out.rglob("*.incomplete"))
    # A rerun resumes: every item is found done under the same name.
    again = subprocess.run([sys.executable, "-m", "genmix_core.generate", *argv], cwd=REPO_ROOT, env=env,
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "4 were already done" in again.stdout


# Item ids of names that fit, as the planner made them before names were limited in bytes: a run folder
# started before must resume with exactly these ids.
BEFORE = [
    "キズ/" + "長" * 60 + "__snowy", "キズ/" + "長" * 60 + "__snowy-e69dcbaa", "キズ/" + "長" * 60 + "__暗い照明",
    "キズ/" + "長" * 60 + "__make-it-look-like-a-watercolor-painting", "キズ/" + "長" * 60 + "__" + "夕焼け" * 7,
    "ok/" + "x" * 80 + "__snowy", "ok/" + "x" * 80 + "__snowy-deae2fa4", "ok/" + "x" * 80 + "__暗い照明",
    "ok/" + "x" * 80 + "__make-it-look-like-a-watercolor-painting", "ok/" + "x" * 80 + "__" + "夕焼け" * 7,
    "ok/img__snowy", "ok/img__snowy-15604cdc", "ok/img__暗い照明", "ok/img__make-it-look-like-a-watercolor-painting",
    "ok/img__" + "夕焼け" * 7, "ok/img__snowy-520d3eff", "ok/img__snowy-aa550671", "ok/img__暗い照明-50b001b6",
    "ok/img__make-it-look-like-a-watercolor-painting-0afe8376", "ok/img__" + "夕焼け" * 7 + "-bd33e149",
]


def test_ids_of_names_that_fit_are_the_ids_of_before():
    prompts = ["snowy", "Snowy!", "暗い照明", "make it look like a watercolor painting with soft edges please", "夕焼け" * 7]
    sources = [SourceImage("/x/a.png", "キズ/" + "長" * 60 + ".png", "キズ", "h1"),
               SourceImage("/x/b.png", "ok/" + "x" * 90 + ".png", "ok", "h2"),
               SourceImage("/x/c.png", "ok/img.jpg", "ok", "h3"), SourceImage("/x/d.png", "ok/img.png", "ok", "h4")]
    assert [it.id for it in plan_items(sources, prompts, seed=1)] == BEFORE


def test_long_ids_fit_and_stay_unique():
    sources = [SourceImage(f"/x/{i}", f"ok/{'長' * 80}.{ext}", "ok", f"h{i}") for i, ext in enumerate(("png", "jpg"))]
    items = plan_items(sources, ["ア" * 40, "ア" * 40 + "!"], seed=0)   # two prompts with one slug, two stems alike
    names = [it.id.split("/")[1] + ".png" for it in items]
    assert len({n.lower() for n in names}) == 4
    assert all(utf8_len(n) <= MAX_NAME_BYTES for n in names)


# ---------------------------------------------------------------------------- originals deleted mid-run

class DeletingEditor(FakeEditor):
    """Deletes a class folder the first time it is asked to edit: the job is then mid-way, deterministically."""

    def __init__(self, folder: Path, **kw):
        super().__init__(**kw)
        self.folder = folder

    def _edit_batch(self, images, prompts, seeds):
        shutil.rmtree(self.folder, ignore_errors=True)   # several pool threads may get here at once
        return super()._edit_batch(images, prompts, seeds)


@pytest.mark.parametrize("workers, diffusion", [(1, False), (3, True), (3, False)])
def test_class_deleted_while_the_job_runs_fails_its_items_and_finishes_the_rest(tmp_path, workers, diffusion):
    data = make_data(tmp_path / "data")                       # ok/img0, ok/img1, scratch/img0, scratch/img1
    out = tmp_path / "run"
    cfg = GenerateConfig(data=str(data), out=str(out), prompts=["snowy", "sunset"], batch_size=2, workers=workers)
    shutil.copytree(data / "scratch", tmp_path / "backup")
    editor = DeletingEditor(data / "scratch", diffusion=diffusion)
    summary = run_generation(cfg, editor=editor)
    assert (summary.status, summary.total, summary.done, summary.failed) == ("done", 8, 4, 4)
    df = pd.read_csv(out / "manifest.csv")
    failed = df[df["status"] == "failed"]
    assert set(failed["label"]) == {"scratch"} and set(df[df["status"] == "done"]["label"]) == {"ok"}
    assert all("scratch/img" in e and "deleted, moved or changed" in e for e in failed["error"])
    record = next(r for r in read_records(out).values() if r["status"] == "failed")
    assert record["error_key"] == "err.gen.source_unreadable"
    assert "ジョブの実行中に削除" in t(record["error_key"], "ja", **record["error_params"])
    # Put the pictures back: the same job resumes and makes the skipped items now.
    shutil.copytree(tmp_path / "backup", data / "scratch")
    again = run_generation(cfg, editor=FakeEditor(diffusion=diffusion))
    assert (again.already_done, again.done, again.failed) == (4, 8, 0)
