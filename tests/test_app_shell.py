"""app.py (language, project, navigation) and the shared ui helpers, through Streamlit's AppTest."""

import pytest
from streamlit.testing.v1 import AppTest
from test_app_helpers import TIMEOUT, app_at, navigation_mode  # noqa: F401

from genmix_core.jobs import CANCEL_FILE, JobReporter
from genmix_core.data.project import list_projects


def _app(locale=None):
    return app_at(locale)


@pytest.mark.parametrize("locale, lang, home_title, nav_data", [
    (None, "en", "GenMix Workbench", "Data"), ("ja-JP", "ja", "GenMix ワークベンチ", "データ")])
def test_app_starts_in_the_browser_language(locale, lang, home_title, nav_data):
    at = _app(locale)
    assert not at.exception
    assert at.session_state["lang"] == lang
    assert at.sidebar.selectbox(key="app_lang").value == lang
    assert at.title[0].value == home_title
    assert at.session_state["project"] == "default" and at.session_state["editor_id"] == "offline"



@pytest.mark.parametrize("address, warned", [("127.0.0.1", False), ("", True), ("0.0.0.0", True)])
def test_a_server_reachable_from_other_pcs_is_pointed_out(monkeypatch, address, warned):
    import streamlit

    real = streamlit.get_option
    monkeypatch.setattr(streamlit, "get_option", lambda key: address if key == "server.address" else real(key))
    at = _app()
    assert not at.exception
    warnings = [w.value for w in at.sidebar.warning]
    assert bool(warnings) == warned
    if warned:
        assert "Other PCs" in warnings[0] and (address or "0.0.0.0") in warnings[0]

def test_language_choice_is_kept_across_pages():
    at = _app()
    at.sidebar.selectbox(key="app_lang").set_value("ja").run()
    assert at.title[0].value == "GenMix ワークベンチ"
    assert at.sidebar.selectbox(key="app_project").label == "プロジェクト"
    at.switch_page("pages/1_data.py").run()
    assert not at.exception
    assert at.title[0].value == "データ"
    assert at.sidebar.selectbox(key="app_lang").value == "ja"
    at.sidebar.selectbox(key="app_lang").set_value("en").run()
    assert at.title[0].value == "Data"


def test_create_project_from_the_sidebar_selects_it():
    at = _app()
    at.sidebar.text_input(key="app_new_project").input("Line 3 / 検査").run()
    at.sidebar.button(key="app_create_project").click().run()
    assert not at.exception
    # "/" is not allowed in a folder name: safe_name turns it into "_".
    assert at.session_state["project"] == "Line 3 _ 検査"
    assert "Line 3 _ 検査" in list_projects()
    assert "Line 3 _ 検査" in at.sidebar.selectbox(key="app_project").options
    assert any("Line 3 _ 検査" in s.value for s in at.sidebar.success)


def test_unusable_project_name_is_refused_with_the_reason():
    at = _app("ja-JP")
    at.sidebar.text_input(key="app_new_project").input("...").run()
    at.sidebar.button(key="app_create_project").click().run()
    assert not at.exception
    assert at.session_state["project"] == "default"
    assert any("名前として使えません" in e.value for e in at.sidebar.error)


def test_every_registered_page_opens_in_both_languages():
    for locale in (None, "ja-JP"):
        at = _app(locale)
        for page in ("pages/0_home.py", "pages/1_data.py", "pages/2_prompts.py", "pages/3_preview.py",
                     "pages/4_generate.py", "pages/5_train.py"):
            at.switch_page(page).run()
            assert not at.exception, (locale, page, at.exception)


@pytest.mark.parametrize("page", ["0_home.py", "1_data.py", "2_prompts.py", "3_preview.py"])
def test_each_page_also_runs_on_its_own(page):
    # Tools that treat pages/ as a legacy multipage folder run each file alone: no app.py, no session defaults.
    at = AppTest.from_file(f"../pages/{page}", default_timeout=TIMEOUT).run()
    assert not at.exception
    assert at.title[0].value


JOB_SCRIPT = """
import streamlit as st
from ui.widgets import job_panel, show_error
job = job_panel(st.session_state["run_dir"], key="t_job")
st.session_state["job_status"] = job.status if job else None
if st.session_state.get("boom"):
    try:
        raise RuntimeError("disk on fire")
    except RuntimeError as exc:
        show_error(exc)
"""


def _job_app(run_dir, **state):
    at = AppTest.from_string(JOB_SCRIPT, default_timeout=TIMEOUT)
    at.session_state["run_dir"] = str(run_dir)
    for k, v in state.items():
        at.session_state[k] = v
    return at.run()


def test_job_panel_shows_a_running_job_and_cancel_requests_a_stop(tmp_path):
    rep = JobReporter(tmp_path, kind="generate", total=8)   # this process is alive, so the job is "running"
    rep.update(done=3, force=True)
    at = _job_app(tmp_path)
    assert not at.exception
    assert at.session_state["job_status"] == "running"
    assert at.progress[0].value == int(100 * 3 / 8)   # AppTest reports percent
    at.button(key="t_job_cancel").click().run()
    assert (tmp_path / CANCEL_FILE).exists()


def test_job_panel_shows_a_failure_with_its_localised_reason_and_log(tmp_path):
    rep = JobReporter(tmp_path, kind="generate", total=2)
    from genmix_core.errors import UserError

    rep.finish("failed", UserError("err.path.bad_name", name="???"))
    (tmp_path / "log.txt").write_text("Traceback: worker said hello\n")
    at = _job_app(tmp_path, lang="ja")
    assert at.session_state["job_status"] == "failed"
    assert any("名前として使えません" in e.value for e in at.error)
    assert any("worker said hello" in c.value for c in at.code)
    assert not [b for b in at.button if b.key == "t_job_cancel"]


def test_job_panel_without_a_job_draws_nothing(tmp_path):
    at = _job_app(tmp_path / "empty")
    assert at.session_state["job_status"] is None and len(at.progress) == 0


def test_unexpected_errors_get_a_generic_text_and_details(tmp_path):
    at = _job_app(tmp_path / "empty", boom=True)
    assert any("RuntimeError" in e.value for e in at.error)
    assert any("disk on fire" in c.value for c in at.code)
