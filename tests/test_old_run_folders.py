"""Run folders made before the restructure (config.json as ``{"kind", "args"}``, no version, keys this version
does not know) still open and resume with ``--run``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genmix_core.generate import manifest
from test_generate_fakes import make_data


def _age_config(run_dir: Path, drop: tuple[str, ...] = ()) -> dict:
    """Rewrite config.json as the earlier version wrote it: no ``version``, an extra key, some keys missing."""
    path = run_dir / "config.json"
    data = json.loads(path.read_text())
    data.pop("version", None)
    data["args"] = {k: v for k, v in data["args"].items() if k not in drop}
    data["args"]["option_of_an_older_version"] = True
    path.write_text(json.dumps(data))
    return data["args"]


def test_an_old_generation_folder_resumes_with_run(tmp_path, capsys):
    from genmix_core.generate.cli import main

    data = make_data(tmp_path / "data", per_class=2)
    out = tmp_path / "gen"
    assert main(["--data", str(data), "--out", str(out), "--prompts", "snowy,sunset", "--workers", "1"]) == 0
    before = {p: p.read_bytes() for p in sorted((out / "images").rglob("*.png"))}
    _age_config(out)
    capsys.readouterr()
    assert main(["--run", str(out)]) == 0
    said = capsys.readouterr().out
    assert "8 of 8 items already done" in said
    assert {p: p.read_bytes() for p in sorted((out / "images").rglob("*.png"))} == before
    assert len(manifest.load_manifest(out)) == 8


def test_an_old_comparison_folder_opens_and_resumes_or_says_why(tmp_path, capsys):
    from genmix_core.train import load_results
    from genmix_core.train.cli import main

    data = make_data(tmp_path / "data", per_class=4, size=(16, 16))
    out = tmp_path / "cmp"
    args = ["--data", str(data), "--out", str(out), "--conditions", "baseline", "--backbone", "small_cnn",
            "--size", "16", "--epochs", "1", "--eps", "1/255", "--pgd-steps", "1", "--device", "cpu"]
    assert main(args) == 0
    first = load_results(out)
    _age_config(out, drop=("few_shot",))
    capsys.readouterr()
    assert main(["--run", str(out)]) == 0
    again = load_results(out)
    assert again["status"] == "done" and set(again["conditions"]) == {"baseline"}
    assert again["conditions"]["baseline"]["accuracy"]["values"] == first["conditions"]["baseline"]["accuracy"]["values"]


def test_a_folder_of_another_job_is_refused_with_a_clear_message(tmp_path, capsys):
    from genmix_core.train.cli import main

    (tmp_path / "config.json").write_text(json.dumps({"kind": "generate", "args": {}}))
    with pytest.raises(SystemExit) as stop:
        main(["--run", str(tmp_path)])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and str(tmp_path) in err and "Traceback" not in err
