"""Full and read-only disks: a clear message with the fix in both languages (no traceback), job.json ends
"failed" with the error's key even on a full disk, and the same command resumes once space is back."""

from __future__ import annotations

import collections
import errno
import json
import os
from pathlib import Path

import pytest

from genmix_core import fileio
from genmix_core.errors import UserError
from genmix_core.generate.cli import main
from genmix_core.generate.manifest import RECORDS_FILE
from genmix_core.i18n import t
from genmix_core.jobs import read_job
from test_generate_fakes import FakeEditor, make_data


@pytest.fixture(autouse=True)
def fake_editor(monkeypatch):
    import genmix_core.generate.run as run

    monkeypatch.setattr(run, "create_editor_for", lambda cfg: FakeEditor())


def _fill_disk_after(monkeypatch, n_files: int, code: int = errno.ENOSPC) -> dict:
    """Every atomic write after the first ``n_files`` fails with ``OSError(code)``, as on a disk that is full
    (or turned read-only); rewriting a file's own blocks in place still works, as it does on a full disk."""
    state = {"writes": 0, "failed": 0}
    real = fileio._write_file

    def write(fh, data):
        state["writes"] += 1
        if state["writes"] > n_files:
            state["failed"] += 1
            raise OSError(code, os.strerror(code))
        real(fh, data)

    monkeypatch.setattr(fileio, "_write_file", write)
    return state


def test_a_full_disk_fails_the_job_clearly_and_the_same_command_resumes(tmp_path, monkeypatch, capsys):
    data, out = make_data(tmp_path / "data", per_class=3), tmp_path / "out"
    argv = ["--data", str(data), "--out", str(out), "--prompts", "snowy,sunset", "--batch-size", "2",
            "--workers", "1"]
    state = _fill_disk_after(monkeypatch, 12)      # the run's records, then a few edits and images
    assert main(argv) == 2
    assert state["failed"] > 0
    stderr = capsys.readouterr().err
    err = stderr.strip().splitlines()[-1]           # after the progress bar
    assert err.startswith("error: The disk is full while writing ") and "Traceback" not in stderr
    assert "start the same run again: it resumes" in err
    job = json.loads((out / "job.json").read_text())
    assert (job["status"], job["error_key"]) == ("failed", "err.io.disk_full")
    assert read_job(out).status == "failed"               # not "running", nor "interrupted" on the page
    assert "ディスクがいっぱい" in t(job["error_key"], "ja", **job["error_params"])
    assert not list(out.rglob("*.incomplete"))
    monkeypatch.undo()                                   # space is freed

    import genmix_core.generate.run as run

    monkeypatch.setattr(run, "create_editor_for", lambda cfg: FakeEditor())
    assert main(argv) == 0
    stdout = capsys.readouterr().out
    already = int(stdout.split(" of 12 items already done")[0].split()[-1])
    assert 0 < already < 12
    ids = [json.loads(line)["id"] for line in (out / RECORDS_FILE).read_text().splitlines() if line.strip()]
    assert sorted(collections.Counter(ids).values()) == [1] * 12
    assert read_job(out).status == "done"


def test_a_full_disk_from_the_first_write_still_ends_with_a_clear_message(tmp_path, monkeypatch, capsys):
    data, out = make_data(tmp_path / "data", per_class=1), tmp_path / "out"
    _fill_disk_after(monkeypatch, 0)
    assert main(["--data", str(data), "--out", str(out), "--prompts", "snowy"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: " + t("err.io.disk_full", "en", path=str(out / "config.json"))


def _unwritable(tmp_path: Path) -> tuple[Path, str]:
    """A folder this process cannot create, and the key of the message that explains why.

    chmod stops a normal user; root (as in CI) writes anyway, so there the folder is asked for under a file,
    which no user can create either.
    """
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        (locked / "probe").mkdir()
    except PermissionError:
        return locked / "out", "err.io.no_permission"
    (locked / "probe").rmdir()
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    return blocker / "out", "err.io.not_a_folder"


@pytest.mark.parametrize("job", ["generate", "train"])
def test_an_output_folder_that_cannot_be_written_gives_the_fix_not_an_oserror(tmp_path, capsys, job):
    data = make_data(tmp_path / "data", per_class=2)
    target, key = _unwritable(tmp_path)
    if job == "generate":
        rc = main(["--data", str(data), "--out", str(target), "--prompts", "snowy"])
    else:
        from genmix_core.train.cli import main as train_main

        rc = train_main(["--data", str(data), "--out", str(target), "--conditions", "baseline"])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: " + t(key, "en", path=str(target))
    assert UserError(key, path=str(target)).message("ja") != t(key, "en", path=str(target))   # Japanese too


def test_a_read_only_disk_is_named_as_such(tmp_path, monkeypatch, capsys):
    data, out = make_data(tmp_path / "data", per_class=1), tmp_path / "out"
    _fill_disk_after(monkeypatch, 0, errno.EROFS)
    assert main(["--data", str(data), "--out", str(out), "--prompts", "snowy"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: " + t("err.io.read_only", "en", path=str(out / "config.json"))
