"""Issue 16.3: the place a person is at lives in the address (project, language, run), so a reload (F5) or a
shared link opens the same place instead of the default project in the browser's language."""

from streamlit.testing.v1 import AppTest
from test_app_helpers import APP, TIMEOUT, add_images, navigation_mode  # noqa: F401

from genmix_core.data import open_project
from genmix_core.generate import GenerateConfig, run_generation


def _open(query: dict, locale="en-US", page=None):
    """A new browser session (a reload or a shared link) on an address with these query parameters."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.context["locale"] = locale
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    if page:
        at.switch_page(page).run()
    return at


def test_choices_in_the_sidebar_go_into_the_address():
    open_project("line_3", create=True)
    at = _open({})
    assert at.query_params["project"] == "default" and at.query_params["lang"] == "en"
    at.sidebar.selectbox(key="app_project").set_value("line_3").run()
    at.sidebar.selectbox(key="app_lang").set_value("ja").run()
    assert at.query_params["project"] == "line_3" and at.query_params["lang"] == "ja"


def test_a_reload_opens_the_same_project_and_language_whatever_the_browser_says():
    open_project("line_3", create=True)
    at = _open({"project": "line_3", "lang": "ja"}, locale="en-US")
    assert not at.exception
    assert at.session_state["project"] == "line_3" and at.session_state["lang"] == "ja"
    assert at.sidebar.selectbox(key="app_project").value == "line_3"
    assert at.title[0].value == "GenMix ワークベンチ"


def test_an_unknown_project_in_the_address_falls_back_without_creating_it():
    at = _open({"project": "nope", "lang": "xx"}, locale="ja-JP")
    assert at.session_state["project"] == "default" and at.session_state["lang"] == "ja"
    assert at.query_params["project"] == "default"


def _generation_run(proj, name):
    run_dir = proj.runs_dir / name
    run_generation(GenerateConfig(data=str(proj.data_dir("train")), out=str(run_dir), prompts=["snowy"],
                                  workers=1))
    return run_dir


def test_the_run_in_the_address_reopens_on_its_page():
    add_images(classes=("ok", "scratch"), per_class=1)
    proj = open_project("default")
    older = _generation_run(proj, "20260101-000000-generate")
    _generation_run(proj, "20260102-000000-generate")            # the newest, shown by default
    at = _open({"project": "default", "lang": "en", "run": older.name}, page="pages/4_generate.py")
    assert not at.exception
    picker = next(s for s in at.selectbox if s.key and s.key.startswith("gen_run_pick"))
    assert picker.value == older.name
    assert at.query_params["run"] == older.name
