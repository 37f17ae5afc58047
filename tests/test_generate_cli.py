"""The generation CLI: one-line errors, resume messages, and survival of SIGKILL at any moment."""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from genmix_core.generate.cli import main
from genmix_core.generate.manifest import RECORDS_FILE
from genmix_core.paths import REPO_ROOT
from test_generate_fakes import make_data

TESTS_DIR = Path(__file__).resolve().parent

# Runs the real CLI (genmix_core.generate.cli.main) with a slowed fake editor in place of the registry's.
RUNNER = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    import genmix_core.generate.run as gen
    from genmix_core.generate.cli import main
    from test_generate_fakes import FakeEditor
    gen.create_editor_for = lambda cfg: FakeEditor(delay={delay}, diffusion={diffusion})
    raise SystemExit(main(sys.argv[1:]))
""")


@pytest.mark.parametrize("argv, fragment", [
    (["--out", "x", "--prompts", "snowy"], "the following arguments are required: --data"),
    (["--data", "{data}", "--out", "{out}", "--prompts", "snowy", "--editor", "dalle"], "invalid choice: 'dalle'"),
    (["--data", "{data}", "--out", "{out}", "--prompts", "snowy", "--lam", "abc"], "--lam takes numbers, got 'abc'"),
    (["--data", "{data}", "--out", "{out}", "--prompts", "snowy", "--lam", "2"], "between 0 and 1, not 2.0"),
    (["--data", "{data}", "--out", "{out}"], "No prompts were given"),
    (["--data", "{tmp}/missing", "--out", "{out}", "--prompts", "snowy"], "does not exist"),
    (["--data", "{data}", "--out", "{out}", "--prompts", "a,b", "--per-image", "3"], "only 2 prompts"),
])
def test_bad_arguments_exit_2_with_one_line(tmp_path, capsys, argv, fragment):
    data = make_data(tmp_path / "data", per_class=1)
    argv = [a.format(data=data, out=tmp_path / "out", tmp=tmp_path) for a in argv]
    with pytest.raises(SystemExit) as info:
        raise SystemExit(main(argv))
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err and err.startswith("error: ") and "\n" not in err and "Traceback" not in err


def test_cli_args_round_trip_through_the_parser(tmp_path):
    from genmix_core.generate.cli import parse_config
    from genmix_core.generate.config import GenerateConfig
    from genmix_core.jobconfig import to_argv as cli_args

    cfg = GenerateConfig(data=str(tmp_path), out=str(tmp_path / "o"), prompts=["a sketch, with crayon", "snowy"],
                         editor="img2img", model="some/model", steps=3, size=64, per_image=1, seed=9, batch_size=2,
                         mask_set="diffusemix", ramp=0.0, lam=0.5, fractals="/f", prompt_set="factory", cache="/c",
                         workers=3)
    assert parse_config((cli_args(cfg))) == cfg
    assert "--compile" not in cli_args(cfg)
    cfg.compile = True
    assert "--compile" in cli_args(cfg) and parse_config((cli_args(cfg))) == cfg


def _run_cli(args, delay=0.0, diffusion=False, **kw):
    script = RUNNER.format(tests=str(TESTS_DIR), delay=delay, diffusion=diffusion)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=REPO_ROOT, **kw)


def _record_lines(out: Path) -> int:
    try:
        return (out / RECORDS_FILE).read_bytes().count(b"\n")
    except OSError:
        return 0


# Serial; overlapped (the pool mixes and writes batch k while the editor, on the main thread, edits k+1); CPU
# editor in parallel (one item per pool thread) and overlapped.
@pytest.mark.parametrize("workers, diffusion", [("1", False), ("3", True), ("3", False)])
def test_sigkill_at_any_moment_then_rerun_finishes_every_item_exactly_once(tmp_path, workers, diffusion):
    data = make_data(tmp_path / "data", per_class=3)
    out = tmp_path / "out"
    args = ["--data", str(data), "--out", str(out), "--prompts", "snowy,sunset", "--batch-size", "2",
            "--workers", workers]
    # Kill three times, each after a few more items (mid-batch: the fake sleeps inside the editor).
    for target in (2, 5, 8):
        # parallel CPU edits sleep side by side: a longer sleep keeps the kills before the end of the run
        proc = _run_cli(args, delay=0.03 if workers == "1" or diffusion else 0.1, diffusion=diffusion)
        deadline = time.time() + 60
        while _record_lines(out) < target and proc.poll() is None and time.time() < deadline:
            time.sleep(0.01)
        time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL
    assert _record_lines(out) < 12
    proc = _run_cli(args, diffusion=diffusion)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    already = int(stdout.split(" of 12 items already done")[0].split()[-1])
    assert 8 <= already < 12
    ids = [json.loads(line)["id"] for line in (out / RECORDS_FILE).read_text().splitlines() if line.strip()]
    assert sorted(collections.Counter(ids).values()) == [1] * 12  # nothing lost, nothing duplicated
    df = pd.read_csv(out / "manifest.csv")
    assert len(df) == 12 and (df["status"] == "done").all()
    for path in df["mix_path"]:
        with Image.open(out / path) as im:
            im.load()
    assert len(list((out / "images").rglob("*.png"))) == 12
    assert not list(out.rglob("*.incomplete"))
    job = json.loads((out / "job.json").read_text())
    assert (job["status"], job["done"], job["total"]) == ("done", 12, 12)
    # a second rerun has nothing left to do and says so
    again = _run_cli(args)
    stdout, _ = again.communicate(timeout=120)
    assert again.returncode == 0 and "12 of 12 items already done" in stdout


def test_rerun_with_other_arguments_is_refused_and_keeps_the_earlier_job(tmp_path):
    data = make_data(tmp_path / "data", per_class=1)
    out = tmp_path / "out"
    proc = _run_cli(["--data", str(data), "--out", str(out), "--prompts", "snowy"])
    assert proc.wait(timeout=120) == 0
    proc = _run_cli(["--data", str(data), "--out", str(out), "--prompts", "snowy", "--lam", "0.4"])
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert stderr.strip().startswith("error: The folder") and "--lam 0.2 -> 0.4" in stderr
    assert "Traceback" not in stderr
    assert json.loads((out / "job.json").read_text())["status"] == "done"
