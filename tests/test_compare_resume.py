"""Train & Compare resume: runs are keyed by the photos as well as the settings, so a changed data set starts
fresh runs and the results say why; older results still open; one process per run folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genmix_core.train import format_table, load_results
from genmix_core.train.cli import main
from genmix_core.report import export_html, reuse_text

pytestmark = pytest.mark.usefixtures("one_torch_thread")

COLORS = {"red": (200, 40, 40), "blue": (40, 40, 200)}
ARGS = ["--conditions", "baseline", "--backbone", "small_cnn", "--size", "16", "--epochs", "1", "--batch-size",
        "8", "--eps", "1/255", "--pgd-steps", "1"]


def add_photos(root: Path, per_class: int, start: int = 0, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for name, color in COLORS.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(start, start + per_class):
            arr = np.clip(rng.normal(color, 30, (16, 16, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(arr).save(root / name / f"{name}_{i:03d}.png")
    return root


def _runs(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / "runs").glob("*.json"))}


def test_added_photos_start_fresh_runs_instead_of_mixing_old_and_new(tmp_path):
    data, out = add_photos(tmp_path / "data", 20), tmp_path / "out"
    assert main(["--data", str(data), "--out", str(out), "--seeds", "0", *ARGS]) == 0
    first = json.loads((out / "runs" / "baseline_seed0.json").read_text())
    assert first["data"]["train"]["n"] == 32 and first["data"]["test"]["n"] == 8
    add_photos(data, 10, start=20, seed=1)                          # 40 -> 60 photos
    assert main(["--data", str(data), "--out", str(out), "--seeds", "0,1", *ARGS]) == 0
    res = load_results(out)
    assert {r["seed"]: r["data"]["train"]["n"] for r in res["runs"]} == {0: 48, 1: 48}   # both on the new data
    assert res["conditions"]["baseline"]["accuracy"]["n"] == 2
    assert res["data"]["train"]["n"] == 48 and res["data"]["test"]["n"] == 12
    (why,) = res["not_reused"]
    assert (why["condition"], why["seed"], why["k"], why["reason"]) == ("baseline", 0, None, "data_changed")
    assert why["parts"] == ["train", "test"] and why["counts"] == {"train": [32, 48], "test": [8, 12]}
    assert why["since"] == pytest.approx(first["finished"])
    en, ja = reuse_text(res, "en"), reuse_text(res, "ja")
    assert en.startswith("1 earlier run(s) in this folder were trained again instead of reused: the photos changed "
                         "since ") and "training originals 32 → 48 files" in en
    assert "写真が変わっています" in ja and "学習用の元写真 32 → 48 枚" in ja
    assert en in export_html(res, "en")

    # The same photos again: everything is reused, nothing to explain.
    before = _runs(out)
    assert main(["--data", str(data), "--out", str(out), "--seeds", "0,1", *ARGS]) == 0
    assert _runs(out) == before and load_results(out)["not_reused"] == []
    # A photo replaced under the same name counts as a change too.
    victim = sorted((data / "red").glob("*.png"))[0]
    Image.fromarray(np.full((16, 16, 3), 255, np.uint8)).save(victim)
    assert main(["--data", str(data), "--out", str(out), "--seeds", "0,1", *ARGS]) == 0
    res = load_results(out)
    assert [(w["seed"], w["reason"]) for w in res["not_reused"]] == [(0, "data_changed"), (1, "data_changed")]
    assert all(len(w["parts"]) == 1 for w in res["not_reused"])      # training originals or held-out, same count


def test_results_and_runs_of_older_versions_still_open_and_are_not_trusted(tmp_path):
    data, out = add_photos(tmp_path / "data", 5), tmp_path / "out"
    assert main(["--data", str(data), "--out", str(out), "--seeds", "0", *ARGS]) == 0
    # As an older version wrote them: no photo record in the run or the results.
    run_path = out / "runs" / "baseline_seed0.json"
    run = json.loads(run_path.read_text())
    run["fingerprint"] = run.pop("config_fingerprint")
    for key in ("data", "finished"):
        run.pop(key)
    run_path.write_text(json.dumps(run))
    res = load_results(out)
    old = {k: v for k, v in res.items() if k not in ("data", "not_reused")}
    (out / "results.json").write_text(json.dumps(old))
    old = load_results(out)
    assert reuse_text(old, "en") == "" and format_table(old) and export_html(old, "ja")
    # Resuming does not reuse a run whose photos are unknown, and says so.
    assert main(["--data", str(data), "--out", str(out), "--seeds", "0", *ARGS]) == 0
    (why,) = load_results(out)["not_reused"]
    assert why["reason"] == "data_unknown"
    assert "did not record which photos" in reuse_text(load_results(out), "en")


def test_other_settings_are_named_as_the_reason(tmp_path):
    data, out = add_photos(tmp_path / "data", 5), tmp_path / "out"
    assert main(["--data", str(data), "--out", str(out), "--seeds", "0", *ARGS]) == 0
    assert main(["--data", str(data), "--out", str(out), "--seeds", "0", *ARGS, "--pgd-steps", "2"]) == 0
    (why,) = load_results(out)["not_reused"]
    assert why["reason"] == "settings_changed"
    assert "the settings changed since" in reuse_text(load_results(out), "en")


def test_two_comparisons_started_together_into_one_folder_one_works_the_other_is_refused(tmp_path):
    from test_generate_cli import first_to_exit, run_cli

    data, out = add_photos(tmp_path / "data", 4), tmp_path / "out"
    parked, release = tmp_path / "parked", tmp_path / "release"
    argv = ["--data", data, "--out", out, "--seeds", "0", *ARGS, "--conditions", "baseline,genmix",
            "--prompts", "snowy"]
    # The one that claims the folder waits in its generation step until the other has ended.
    procs = [run_cli(argv, module="genmix_core.train.cli", park_after=0, park_file=str(parked),
                     release_file=str(release)) for _ in range(2)]
    refused, (winner,) = first_to_exit(procs)
    _, stderr = refused.communicate(timeout=60)
    assert refused.returncode == 2
    assert stderr.strip() == f"error: A Train & Compare run is already running in {out} (process {winner.pid}). " \
                             "Wait for it to finish or cancel it, then start again: the same command resumes it."
    release.touch()
    _, stderr = winner.communicate(timeout=300)
    assert winner.returncode == 0, stderr
    job = json.loads((out / "job.json").read_text())
    assert (job["status"], job["pid"]) == ("done", winner.pid)
    assert set(load_results(out)["conditions"]) == {"baseline", "genmix"}
