"""The Generate page through AppTest: start a run with the offline style filter, see progress and results,
review, export; errors in the user's language."""

from __future__ import annotations

import json
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

from genmix_core.generate import manifest
from genmix_core.i18n import t
from genmix_core.jobs import read_job
from genmix_core.data.project import open_project
from test_app_helpers import run_pick
from test_generate_fakes import make_data

PAGE = "../pages/4_generate.py"
TIMEOUT = 60


def _page(lang="en", prompts=("snowy", "sunset")):
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT)
    at.session_state["lang"] = lang
    at.session_state["active_prompts"] = list(prompts)
    return at


def _project():
    proj = open_project("default", create=True)
    make_data(proj.data_dir("train"), per_class=2, size=(32, 24))
    return proj


def _wait_done(run_dir: Path, seconds: float = 90) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        job = read_job(run_dir)
        if job is not None and job.status not in ("running",):
            return
        time.sleep(0.2)
    raise AssertionError(f"job in {run_dir} did not finish: {read_job(run_dir)}")


def test_empty_project_points_to_the_data_page():
    at = _page().run()
    assert not at.exception
    assert at.title[0].value == "Generate"
    assert [i.value for i in at.info] == [t("ui.empty.no_data", "en")]
    assert at.button(key="gen_go_data")


def test_start_a_run_follow_it_and_review_the_results():
    proj = _project()
    at = _page().run()
    assert not at.exception and at.info[-1].value.startswith("No generation run yet")
    assert at.info[0].value.startswith("4 photos × 2 prompt(s) = **8 images**. About")
    assert at.multiselect(key="gen_prompts").value == ["snowy", "sunset"]
    assert at.toggle(key="gen_filter_on").value                 # the quality filter is on unless turned off
    # This test counts and reviews all 8 images of random pictures: the quality filter, whose verdicts on such
    # pictures mean nothing, is turned off here (its verdicts in the review: tests/test_app_quality.py).
    at.toggle(key="gen_filter_on").set_value(False).run()
    at.button(key="gen_start").click().run()
    assert not at.exception
    run_dir = Path(at.session_state["gen_run"])
    assert run_dir.parent == proj.runs_dir and run_dir.name.endswith("generate")
    if read_job(run_dir).status == "running":  # one run at a time from this session
        assert at.button(key="gen_start").disabled
    _wait_done(run_dir)
    at.run()
    assert not at.exception
    assert read_job(run_dir).status == "done", (run_dir / "log.txt").read_text()
    args = json.loads((run_dir / "config.json").read_text())["args"]
    assert args["cache"] == str(proj.cache_dir / "edits") and args["data"] == str(proj.data_dir("train").resolve())
    assert args["no_filter"] is True and not (run_dir / "quality.json").exists()
    assert len(list((proj.cache_dir / "edits").glob("*.png"))) == 8
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Done"] == "8" and metrics["Failed"] == "0" and metrics["Accepted"] == "8"
    assert run_pick(at, "gen_run_pick").value == run_dir.name
    assert not at.button(key="gen_start").disabled
    assert len(at.get("image")) == 8  # every class and prompt at once, each GenMix image beside its original

    at.selectbox(key="gen_filter_class").set_value("ok").run()
    at.selectbox(key="gen_filter_prompt").set_value("sunset").run()
    toggles = [w for w in at.toggle if w.key.startswith("gen_accept_")]
    assert len(toggles) == 2 and all(w.value for w in toggles)
    toggles[0].set_value(False).run()
    assert not at.exception
    assert list(json.loads((run_dir / "review.json").read_text()).values()) == [False]
    assert {m.label: m.value for m in at.metric}["Accepted"] == "7"
    # "Reject all of this prompt": every class, one click (issue 16.6).
    at.selectbox(key="gen_filter_class").set_value("__all__").run()
    assert at.button(key="gen_reject_all").label == "Reject all 4 images of “sunset”"
    at.button(key="gen_reject_all").click().run()
    assert {m.label: m.value for m in at.metric}["Accepted"] == "4"
    assert not any(w.value for w in at.toggle if w.key.startswith("gen_accept_"))
    at.button(key="gen_accept_all").click().run()

    at.button(key="gen_prepare_zip").click().run()
    assert not at.exception
    zip_path = Path(at.session_state["gen_zip"])
    assert zip_path.is_file() and zip_path.parent == run_dir
    assert at.get("download_button")


def _finished_run_cut_by_a_power_cut() -> Path:
    """Run a job to the end, then make job.json say running with a process that no longer exists."""
    at = _page().run()
    at.button(key="gen_start").click().run()
    run_dir = Path(at.session_state["gen_run"])
    _wait_done(run_dir)
    job = json.loads((run_dir / "job.json").read_text())
    (run_dir / "job.json").write_text(json.dumps({**job, "status": "running", "pid": 2**22 + 12345, "done": 3}))
    return run_dir


def test_resume_an_interrupted_run_from_the_page():
    proj = _project()
    run_dir = _finished_run_cut_by_a_power_cut()
    # ... and half the completion log is lost.
    lines = (run_dir / manifest.RECORDS_FILE).read_text().splitlines(keepends=True)
    (run_dir / manifest.RECORDS_FILE).write_text("".join(lines[:3]))
    at = _page().run()
    assert run_pick(at, "gen_run_pick").value == run_dir.name
    assert [w.value for w in at.warning] == [t("ui.job.interrupted_hint", "en")]
    at.button(key="gen_resume").click().run()
    assert not at.exception
    _wait_done(run_dir)
    assert read_job(run_dir).status == "done"
    assert "3 of 8 items already done" in (run_dir / "log.txt").read_text()
    assert (manifest.load_manifest(run_dir)["status"] == "done").all()
    assert len(list(proj.runs_dir.iterdir())) == 1


def test_a_resume_that_cannot_start_keeps_its_error_on_screen():
    _project()
    run_dir = _finished_run_cut_by_a_power_cut()
    (run_dir / manifest.CONFIG_FILE).write_text("{ cut by a crash")   # the recorded settings are unreadable
    at = _page().run()
    at.button(key="gen_resume").click().run()
    assert not at.exception
    assert [e.value for e in at.error] == [t("err.gen.not_a_run", "en", path=str(run_dir))]
    assert read_job(run_dir).status == "interrupted"                   # nothing was started

def test_japanese_page_and_bad_setting_shows_the_error_in_japanese():
    proj = _project()
    at = _page(lang="ja").run()
    assert not at.exception and at.title[0].value == "生成"
    at.text_input(key="gen_fractals").input("/no/such/folder").run()
    at.button(key="gen_start").click().run()
    assert not at.exception
    assert any("フラクタル画像フォルダ" in e.value for e in at.error)
    assert not proj.runs_dir.exists() or not any(proj.runs_dir.iterdir())  # no run folder for a refused start


def test_what_the_editor_changed_on_the_way_is_told_in_the_users_language():
    _project()
    at = _page().run()
    at.button(key="gen_start").click().run()
    run_dir = Path(at.session_state["gen_run"])
    _wait_done(run_dir)
    job = json.loads((run_dir / "job.json").read_text())
    assert job["extra"]["editor_events"] == []                     # the style filter changes nothing
    # As a diffusion run on a small GPU records it:
    job["extra"]["editor_events"] = [{"event": "oom_backoff", "stage": "denoise", "from": 8, "to": 4},
                                     {"event": "compile_failed", "error": "no triton"}]
    (run_dir / "job.json").write_text(json.dumps(job))
    for lang in ("en", "ja"):
        at = _page(lang).run()
        assert not at.exception
        infos = [i.value for i in at.info]
        assert t("gen.page.event.oom_backoff", lang, old=8, new=4) in infos
        assert t("gen.page.event.compile_failed", lang) in infos
    assert "8" in t("gen.page.event.oom_backoff", "ja", old=8, new=4)


def test_a_workspace_that_cannot_be_written_gives_the_fix_on_the_page():
    proj = _project()
    runs = proj.runs_dir
    runs.mkdir(parents=True, exist_ok=True)
    runs.chmod(0o555)
    try:
        (runs / "probe").mkdir()          # root (as in CI) writes anyway: put a file where the folder must be
        (runs / "probe").rmdir()
        runs.chmod(0o755)
        runs.rmdir()
        runs.write_text("not a folder", encoding="utf-8")
        key = "err.io.not_a_folder"
    except PermissionError:
        key = "err.io.no_permission"
    for lang in ("en", "ja"):
        at = _page(lang).run()
        at.button(key="gen_start").click().run()
        assert not at.exception
        before, after = t(key, lang, path="\x00").split("\x00")
        assert len(at.error) == 1 and at.error[0].value.startswith(before) and at.error[0].value.endswith(after)
    if key == "err.io.no_permission":
        runs.chmod(0o755)


def test_skipped_files_are_listed_on_the_page_in_the_users_language():
    proj = _project()
    (proj.data_dir("train") / "ok" / "broken.png").write_text("not a picture", encoding="utf-8")
    at = _page().run()
    at.button(key="gen_start").click().run()
    run_dir = Path(at.session_state["gen_run"])
    _wait_done(run_dir)
    assert read_job(run_dir).status == "done", (run_dir / "log.txt").read_text()
    for lang in ("en", "ja"):
        at = _page(lang).run()
        assert not at.exception
        assert [e.label for e in at.expander if e.label == t("gen.page.skipped", lang, n=1)]
        table = at.dataframe[0].value
        assert list(table.iloc[:, 0]) == ["ok/broken.png"]
        assert list(table.iloc[:, 1]) == [t("err.image.text_file", lang, file="ok/broken.png")]
