"""Unusable files of the data folder: every usable photo is processed, every skipped file is listed with its
reason (console, job.json, skipped.csv) and the run ends well; --strict refuses instead."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image

from genmix_core.generate import SKIPPED_FILE, GenerateConfig, manifest
from genmix_core.generate.cli import main
from genmix_core.i18n import t
from test_generate_fakes import FakeEditor, make_data

SKIPPED = {  # file -> catalog key of its reason
    "loose.png": "err.gen.loose_file",
    "ok/cut.png": "err.image.truncated",
    "ok/notes.txt": "err.image.not_image",
    "ok/tiny.png": "err.image.too_small",
    "scratch/text.png": "err.image.text_file",
}


@pytest.fixture
def data(tmp_path, monkeypatch):
    """Four good photos and one of each kind of unusable file; the CLI gets the fake editor."""
    import genmix_core.generate.run as run

    monkeypatch.setattr(run, "create_editor_for", lambda cfg: FakeEditor())
    root = make_data(tmp_path / "data", per_class=2)
    good = (root / "ok" / "img0.png").read_bytes()
    (root / "ok" / "cut.png").write_bytes(good[:len(good) // 2])            # header fine, pixels cut off
    (root / "ok" / "notes.txt").write_text("shot on Monday", encoding="utf-8")
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(root / "ok" / "tiny.png")
    (root / "scratch" / "text.png").write_text("not a picture", encoding="utf-8")
    (root / "loose.png").write_bytes(good)
    return root


def test_unusable_files_are_skipped_and_listed_and_the_run_succeeds(data, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["--data", str(data), "--out", str(out), "--prompts", "snowy"]) == 0
    console = capsys.readouterr().out
    lines = [line for line in console.splitlines() if line.startswith("skipped: ")]
    assert sorted(line.split()[1] for line in lines) == sorted(SKIPPED)   # one line each, with the reason
    assert f"skipped: {t('err.image.text_file', 'en', file='scratch/text.png')}" in lines
    assert "5 file(s) of --data were skipped" in console
    with open(out / SKIPPED_FILE, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["file"]: r["key"] for r in rows} == SKIPPED
    assert all(r["reason"].startswith(r["file"]) and r["reason_ja"].startswith(r["file"]) for r in rows)
    job = json.loads((out / "job.json").read_text())
    assert job["status"] == "done" and job["message_key"] == "gen.job.done_skipped"
    assert {s["file"]: s["key"] for s in job["extra"]["skipped"]} == SKIPPED
    df = manifest.load_manifest(out)
    assert sorted(df["image"]) == ["ok/img0.png", "ok/img1.png", "scratch/img0.png", "scratch/img1.png"]
    assert (df["status"] == "done").all()


def test_strict_refuses_the_run_naming_the_files(data, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["--data", str(data), "--out", str(out), "--prompts", "snowy", "--strict"]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.startswith("error: --strict: 5 file(s) of") and "\n" not in err
    assert all(name in err for name in SKIPPED)
    assert "unusable: " + t("err.image.too_small", "en", file="ok/tiny.png", size="4×4", min_side=8) in captured.out
    assert not (out / "images").exists() and not (out / manifest.PLAN_FILE).exists()
    # strict changes no output: the same folder then runs without it
    assert main(["--data", str(data), "--out", str(out), "--prompts", "snowy"]) == 0


def test_strict_is_one_setting_on_the_command_line_and_in_config_json(data, tmp_path):
    from genmix_core.generate.cli import parse_config
    from genmix_core.jobconfig import stored_args, to_argv

    cfg = GenerateConfig(data=str(data), out=str(tmp_path / "o"), prompts=["snowy"], strict=True)
    assert "--strict" in to_argv(cfg) and parse_config(to_argv(cfg)) == cfg
    assert stored_args(cfg)["strict"] is True
    assert "strict" not in stored_args(GenerateConfig(data="d", out="o"))   # older runs' config.json unchanged


def test_a_folder_with_no_usable_photo_is_refused(tmp_path, capsys):
    root = tmp_path / "data"
    (root / "ok").mkdir(parents=True)
    (root / "ok" / "a.png").write_text("text", encoding="utf-8")
    assert main(["--data", str(root), "--out", str(tmp_path / "out"), "--prompts", "snowy"]) == 2
    err = capsys.readouterr().err
    assert "None of the images in" in err and "ok/a.png" in err
