"""Generation ``include``: only the listed originals are edited; runs without it keep their config.json."""

import json

import pytest

from genmix_core.generate import manifest
from genmix_core.errors import UserError
from genmix_core.generate import run_generation
from genmix_core.generate.cli import build_parser, main, parse_config
from genmix_core.generate.config import GenerateConfig
from test_generate_fakes import FakeEditor, make_data

PROMPTS = ["snowy", "sunset"]


@pytest.fixture
def data(tmp_path):
    return make_data(tmp_path / "data", classes=("ok", "scratch"), per_class=3)


def cfg(data, out, **kw):
    return GenerateConfig(data=str(data), out=str(out), prompts=PROMPTS, batch_size=2, **kw)


def test_only_included_originals_are_edited(data, tmp_path):
    include = ["ok/img0.png", "./scratch/img2.png", "ok\\img0.png"]   # spellings of two images
    editor = FakeEditor()
    summary = run_generation(cfg(data, tmp_path / "run", include=include), editor=editor)
    assert sum(editor.calls) == len(editor.seen) == 2 * len(PROMPTS) == summary.total == summary.done
    rows = manifest.load_manifest(tmp_path / "run")
    assert sorted(set(rows["image"])) == ["ok/img0.png", "scratch/img2.png"] and len(rows) == 4
    stored = json.loads((tmp_path / "run" / manifest.CONFIG_FILE).read_text())["args"]
    assert stored["include"] == ["ok/img0.png", "scratch/img2.png"]


def test_without_include_config_json_is_as_before_and_old_runs_resume(data, tmp_path):
    out = tmp_path / "run"
    run_generation(cfg(data, out), editor=FakeEditor())
    stored = json.loads((out / manifest.CONFIG_FILE).read_text())["args"]
    assert "include" not in stored and len(manifest.load_manifest(out)) == 6 * len(PROMPTS)
    again = FakeEditor()
    assert run_generation(cfg(data, out), editor=again).already_done == 12 and again.calls == []
    with pytest.raises(UserError) as err:   # narrowing a finished full run is another run's arguments
        run_generation(cfg(data, out, include=["ok/img0.png"]), editor=FakeEditor())
    assert err.value.key == "err.gen.config_changed" and "--include" in str(err.value)


def test_unknown_or_empty_include_is_a_user_error(data, tmp_path):
    for include, shown in ((["ok/img0.png", "ok/nope.png"], "ok/nope.png"), ([], "(none)")):
        with pytest.raises(UserError) as err:
            run_generation(cfg(data, tmp_path / f"run{len(include)}", include=include), editor=FakeEditor())
        assert err.value.key == "err.gen.include_unknown" and shown in str(err.value)
        assert "相対パス" in err.value.message("ja")


def test_cli_include_file_round_trip(data, tmp_path, capsys, monkeypatch):
    listing = tmp_path / "list.txt"
    listing.write_text("# training originals\nok/img1.png\n\nscratch/img0.png\n", encoding="utf-8")
    out = tmp_path / "cli"
    parsed = parse_config((["--data", str(data), "--out", str(out), "--include",
                                                     str(listing), "--prompts", "snowy"]))
    assert parsed.include == ["ok/img1.png", "scratch/img0.png"]
    import genmix_core.generate.run as gen

    monkeypatch.setattr(gen, "create_editor_for", lambda c: FakeEditor())
    assert main(["--data", str(data), "--out", str(out), "--include", str(listing), "--prompts", "snowy"]) == 0
    assert sorted(manifest.load_manifest(out)["image"]) == ["ok/img1.png", "scratch/img0.png"]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--data", "d", "--out", "o", "--include", str(tmp_path / "missing.txt")])
