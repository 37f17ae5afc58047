"""The generation CLI: one-line errors, resume messages, survival of SIGKILL at any moment, one run per folder,
and temp files of killed writers."""

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

# Runs a job's real CLI (``main``) with the fake editor in place of the registry's (keyword arguments: argv[1]).
RUNNER = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, {tests!r})
    import genmix_core.generate.run as gen
    from {module} import main
    from test_generate_fakes import FakeEditor
    options = json.loads(sys.argv[1])
    gen.create_editor_for = lambda cfg: FakeEditor(**options)
    raise SystemExit(main(sys.argv[2:]))
""")


def run_cli(args, module="genmix_core.generate.cli", **editor):
    """Start ``module``'s ``main(args)`` in a child process whose editor is ``FakeEditor(**editor)``."""
    script = RUNNER.format(tests=str(TESTS_DIR), module=module)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen([sys.executable, "-c", script, json.dumps(editor), *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO_ROOT)


def wait_for(condition, procs=(), seconds=120):
    """Poll ``condition()`` until it holds; fails at once if one of ``procs`` ends first (with its stderr)."""
    deadline = time.time() + seconds
    while not condition():
        for proc in procs:
            if proc.poll() is not None:
                raise AssertionError(f"process ended early ({proc.returncode}): {proc.communicate()[1]}")
        assert time.time() < deadline, "the awaited state never came"
        time.sleep(0.01)


def first_to_exit(procs, seconds=120):
    """The first of ``procs`` to end, and the others."""
    deadline = time.time() + seconds
    while all(p.poll() is None for p in procs):
        assert time.time() < deadline, "no process ended"
        time.sleep(0.01)
    done = next(p for p in procs if p.poll() is not None)
    return done, [p for p in procs if p is not done]


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
    args = ["--data", data, "--out", out, "--prompts", "snowy,sunset", "--batch-size", "2", "--workers", workers]
    # A batch holds 2 items, or 3 when the style filter edits one item per thread (a batch fills the 3 threads).
    unit = 3 if workers == "3" and not diffusion else 2
    recorded = 0
    # Kill three times, each while the editor is busy (parked) on the next batch, with every earlier batch
    # recorded: a state the test waits for, so the kills land mid-run on any machine.
    for i, park_after in enumerate((unit, unit, 2 * unit if unit == 2 else unit)):
        parked = tmp_path / f"parked{i}"
        proc = run_cli(args, diffusion=diffusion, park_after=park_after, park_file=str(parked))
        recorded += park_after
        wait_for(lambda: parked.exists() and _record_lines(out) >= recorded, [proc])
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL
        assert _record_lines(out) == recorded
    proc = run_cli(args, diffusion=diffusion)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    assert f"{recorded} of 12 items already done" in stdout
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
    again = run_cli(args)
    stdout, _ = again.communicate(timeout=120)
    assert again.returncode == 0 and "12 of 12 items already done" in stdout


def test_two_runs_started_together_into_one_folder_one_works_the_other_is_refused(tmp_path):
    data = make_data(tmp_path / "data", per_class=2)
    out = tmp_path / "out"
    args = ["--data", data, "--out", out, "--prompts", "snowy", "--workers", "1"]
    parked, release = tmp_path / "parked", tmp_path / "release"
    # Whichever claims the folder first waits in its editor until released, which happens only after the other
    # has ended: the two overlap for sure.
    procs = [run_cli(args, park_after=0, park_file=str(parked), release_file=str(release)) for _ in range(2)]
    refused, (winner,) = first_to_exit(procs)
    _, stderr = refused.communicate(timeout=60)
    assert refused.returncode == 2
    assert stderr.strip() == f"error: A generation run is already running in {out} (process {winner.pid}). " \
                             "Wait for it to finish or cancel it, then start again: the same command resumes it."
    release.touch()
    stdout, stderr = winner.communicate(timeout=120)
    assert winner.returncode == 0, stderr
    assert "0 of 4 items already done" in stdout
    ids = [json.loads(line)["id"] for line in (out / RECORDS_FILE).read_text().splitlines() if line.strip()]
    assert sorted(collections.Counter(ids).values()) == [1] * 4      # the work was done once
    job = json.loads((out / "job.json").read_text())
    assert (job["status"], job["pid"], job["done"]) == ("done", winner.pid, 4)
    # the claim ends with its process: the same command now resumes (nothing left to do)
    again = run_cli(args)
    assert again.communicate(timeout=120)[0].count("4 of 4 items already done") == 1


# A process writing one file through fileio.atomic_write_bytes that stops half-way until its stdin closes.
SLOW_WRITER = textwrap.dedent("""
    import sys
    from genmix_core import fileio
    def halfway(fh, data):
        fh.write(data[:10]); fh.flush()
        print("writing", flush=True)
        sys.stdin.read()
        fh.write(data[10:]); fh.flush()
    fileio._write_file = halfway
    fileio.atomic_write_bytes(sys.argv[1], b"x" * 100)
""")


def test_a_run_cleans_the_temp_files_of_killed_writers_in_a_shared_cache_but_not_of_live_ones(tmp_path):
    from genmix_core.generate import GenerateConfig, run_generation
    from test_generate_fakes import FakeEditor

    cache = tmp_path / "cache"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    writers = [subprocess.Popen([sys.executable, "-c", SLOW_WRITER, str(cache / f"{name}.png")], env=env,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for name in ("a", "b")]
    for w in writers:
        assert w.stdout.readline() == "writing\n"          # its temp file exists now
    killed, live = writers
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert len(list(cache.glob("*.incomplete"))) == 2
    data = make_data(tmp_path / "data", per_class=1)
    run_generation(GenerateConfig(data=str(data), out=str(tmp_path / "out"), prompts=["snowy"], cache=str(cache)),
                   editor=FakeEditor())
    left = list(cache.glob("*.incomplete"))
    assert [p.name.startswith(".b.png.") for p in left] == [True]      # the killed writer's file is gone
    live.communicate("", timeout=60)                                  # the live writer finishes its file
    assert live.returncode == 0 and (cache / "b.png").read_bytes() == b"x" * 100
    assert not list(cache.glob("*.incomplete"))


def test_rerun_with_other_arguments_is_refused_and_keeps_the_earlier_job(tmp_path):
    data = make_data(tmp_path / "data", per_class=1)
    out = tmp_path / "out"
    proc = run_cli(["--data", data, "--out", out, "--prompts", "snowy"])
    assert proc.communicate(timeout=120)[0] and proc.returncode == 0
    proc = run_cli(["--data", data, "--out", out, "--prompts", "snowy", "--lam", "0.4"])
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert stderr.strip().startswith("error: The folder") and "--lam 0.2 -> 0.4" in stderr
    assert "Traceback" not in stderr
    assert json.loads((out / "job.json").read_text())["status"] == "done"
