"""The Recipe search page through AppTest: empty project, the settings reaching the job, a finished search shown
(in both languages), and a recipe applied in the app reaching Generate and Train & Compare with exactly its
settings."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from genmix_core.data.project import open_project
from genmix_core.generate import GenerateConfig
from genmix_core.i18n import t
from genmix_core.jobconfig import read_config
from genmix_core.report import recipe_lines
from genmix_core.search import SearchConfig, app_settings, load_search, recipe_entry, run_search
from genmix_core.train import CompareConfig, load_results
from test_search_cli import make_photos

PAGES = "../pages/"
TIMEOUT = 120
PROMPTS = ["dim lighting", "motion blur"]


@pytest.fixture
def no_worker(monkeypatch):
    """Start no worker process: the page's launch still writes the run's config.json (what the job would read)."""
    started = []
    monkeypatch.setattr("genmix_core.jobs.start_process", lambda run_dir, module, args, kind: started.append(
        (Path(run_dir), module, kind)))
    return started


def _page(name: str, lang: str = "en", **state) -> AppTest:
    at = AppTest.from_file(PAGES + name, default_timeout=TIMEOUT)
    at.session_state["lang"] = lang
    for key, value in state.items():
        at.session_state[key] = value
    return at


def _project(onsite_per_class: int = 8):
    proj = open_project("default", create=True)
    make_photos(proj.data_dir("train"), 10, seed=0)
    make_photos(proj.data_dir("onsite"), onsite_per_class, seed=1, cast=8)
    return proj


def _finished_search(proj) -> Path:
    from genmix_core.prompts import list_prompt_sets, pick_prompt_set

    run_dir = proj.new_run_dir("search")
    run_search(SearchConfig(data=str(proj.data_dir("train")), out=str(run_dir), test=str(proj.data_dir("onsite")),
                            seeds=[0, 1], backbone="small_cnn", size=16, batch_size=8, epochs=2, prompts=PROMPTS,
                            conditions=["baseline", "genmix"], no_filter=True, prompt_set=pick_prompt_set(list_prompt_sets(None), "factory").ref,
                            lams=[0.0, 0.1], mask_sets=["genmix", "diffusemix"], steps_scale=[1, 2]))
    return run_dir


def test_empty_project_points_to_the_data_page():
    at = _page("6_search.py").run()
    assert not at.exception
    assert at.title[0].value == "Recipe search"
    assert [i.value for i in at.info] == [t("ui.empty.no_data", "en")]


def test_the_settings_reach_the_search_job(no_worker):
    proj = _project()
    at = _page("6_search.py", active_prompts=PROMPTS).run()
    assert not at.exception
    assert at.info[0].value == t("search.page.split", "en", n=16, n_sel=8, n_rep=8)
    at.multiselect(key="search_conditions").set_value(["baseline", "genmix", "edits"])
    at.multiselect(key="search_lams").set_value([0.0, 0.05])
    at.multiselect(key="search_mask_sets").set_value(["diffusemix"])
    at.multiselect(key="search_scales").set_value([1, 2])
    at.text_input(key="search_seeds").set_value("3,4").run()
    assert any(w.value.startswith("Plan: up to ") for w in [*at.info, *at.warning])
    at.button(key="search_start").click().run()
    assert not at.exception
    ((run_dir, module, kind),) = no_worker
    assert (module, kind, run_dir.parent) == ("genmix_core.search", "search", proj.runs_dir)
    cfg = read_config(run_dir, SearchConfig)
    assert (cfg.conditions, cfg.lams, cfg.mask_sets, cfg.steps_scale, cfg.seeds) == (
        ["baseline", "genmix", "edits"], [0.0, 0.05], ["diffusemix"], [1, 2], [3, 4])
    assert cfg.test == str(proj.data_dir("onsite").resolve()) and cfg.prompts == PROMPTS


def test_too_few_on_site_photos_are_named_before_the_start():
    _project(onsite_per_class=2)
    at = _page("6_search.py", lang="ja").run()
    assert not at.exception and at.title[0].value == "レシピ探索"
    assert at.warning[0].value == t("search.page.fallback.too_few", "ja", min=4)


def test_a_finished_search_is_shown_and_its_recipe_reaches_generate_and_train_exactly(no_worker):
    proj = _project()
    run_dir = _finished_search(proj)
    search = load_search(run_dir)
    at = _page("6_search.py").run()
    assert not at.exception
    shown = [*at.info, *at.success, *at.warning]
    for text, _ in recipe_lines(search, "en"):
        assert any(box.value == text for box in shown), text
    assert len(at.get("plotly_chart")) == 1
    assert at.selectbox(key="search_apply_pick").value == search["chosen"]        # the chosen one by default
    # Apply a GenMix finalist (λ, mask set and prompts all set): the chosen one when it is one.
    genmix = [r["name"] for r in search["recipes"] if r["complete"] and r["settings"]["condition"] == "genmix"]
    pick = search["chosen"] if search["chosen"] in genmix else genmix[0]
    at.selectbox(key="search_apply_pick").set_value(pick).run()
    at.button(key="search_apply").click().run()
    assert not at.exception and at.success
    expected = app_settings(recipe_entry(search, pick)["settings"], search["config"])
    assert {"mask_set", "prompts", "epochs"} <= set(expected["train"]) and {"lam", "lam_range"} & set(expected["train"])
    state = {k: at.session_state[k] for k in ("recipe", "active_prompts", "prompt_filters", "editor_id",
                                             "prompt_set") if k in at.session_state}
    assert state["recipe"]["name"] == pick

    gen = _page("4_generate.py", **state).run()
    assert not gen.exception
    assert gen.info[0].value.startswith("Starting from the applied recipe " + pick)
    gen.button(key="gen_start").click().run()
    assert not gen.exception
    gcfg = read_config(no_worker[-1][0], GenerateConfig)
    assert {k: getattr(gcfg, k) for k in expected["generate"]} == expected["generate"]

    # An older generation run in the project (other prompts) must not stand in for the recipe's own edits.
    from genmix_core.generate import run_generation

    old = proj.new_run_dir("generate")
    run_generation(GenerateConfig(data=str(proj.data_dir("train")), out=str(old), prompts=["motion blur"],
                                  no_filter=True))
    train = _page("5_train.py", **state).run()
    assert not train.exception
    train.text_input(key="train_eps").set_value("1/255").run()
    train.button(key="train_start").click().run()
    assert not train.exception
    ccfg = read_config(no_worker[-1][0], CompareConfig)
    assert {k: getattr(ccfg, k) for k in expected["train"]} == expected["train"]
    assert ccfg.edits is None                     # it generates its edits with the recipe's prompts, not an older run's
    if "lam_range" in expected["train"]:
        assert ccfg.lam is None                                     # λ drawn from the range, as in the search


def test_the_train_report_gains_the_recommended_recipe(tmp_path):
    from genmix_core.report import build_report
    from genmix_core.train import run_compare

    proj = _project()
    search = load_search(_finished_search(proj))
    train_dir = proj.new_run_dir("train")
    run_compare(CompareConfig(data=str(proj.data_dir("train")), out=str(train_dir), conditions=["baseline"],
                              seeds=[0], epochs=1, batch_size=8, backbone="small_cnn", size=16, eps=["1/255"],
                              pgd_steps=1))
    report = build_report(load_results(train_dir), "ja")
    headings = [b.text for b in report.blocks if b.kind == "heading"]
    assert t("search.rec.heading", "ja") in headings
    lines = [text for b in report.blocks if b.kind == "verdict" for text, _ in b.items]
    assert recipe_lines(search, "ja")[0][0] in lines
    # Another training folder: the search does not describe it, so no section.
    other = tmp_path / "other"
    shutil.copytree(proj.data_dir("train"), other)
    results = load_results(train_dir)
    results["config"]["data"] = str(other)
    assert t("search.rec.heading", "en") not in [b.text for b in build_report(results, "en").blocks]
