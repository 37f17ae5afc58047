"""The quality filter on the pages: the Prompts page's evidence (table and chart of prompt_stats.csv) and the
Generate page's review saying why an edit is not used, in the user's language."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pandas as pd
from test_app_helpers import app_at, navigation_mode  # noqa: F401
from test_app_generate import _wait_done as wait_for_job
from test_quality_filter import ScriptedEditor, sample_photos

from genmix_core.data.project import open_project
from genmix_core.generate import GenerateConfig, manifest, run_generation
from genmix_core.i18n import t
from genmix_core.quality import DEFAULT_FLOOR

PROMPTS_PAGE = "pages/2_prompts.py"
GENERATE_PAGE = "pages/4_generate.py"


def _project_with_a_run(prompts=("blur", "noise")):
    proj = open_project("default", create=True)
    sample_photos(proj.data_dir("train"), per_class=3)
    run = proj.new_run_dir("generate")
    run_generation(GenerateConfig(data=str(proj.data_dir("train")), out=str(run), prompts=list(prompts),
                                  workers=1), editor=ScriptedEditor())
    return proj, run


def test_prompts_page_shows_the_evidence_of_the_latest_run_as_table_and_chart():
    _project_with_a_run()
    at = app_at(None, PROMPTS_PAGE)
    assert not at.exception
    assert t("ui.prompts.evidence.header", "en") in [h.value for h in at.subheader]
    table = at.dataframe[-1].value                         # the evidence section ends the page
    rows = table.set_index("prompt")
    assert list(rows.index) == ["blur", "noise"] and rows["items"].tolist() == [6, 6]
    assert rows.loc["blur", "acceptance_rate"] == 1.0 and rows.loc["noise", "acceptance_rate"] == 0.0
    assert rows.loc["noise", "rejected_low_similarity"] == 6
    assert rows.loc["blur", "mean_similarity"] > rows.loc["noise", "mean_similarity"]
    chart = at.get("plotly_chart")
    assert len(chart) == 1 and '"blur"' in chart[0].proto.spec and '"noise"' in chart[0].proto.spec


def test_prompts_page_without_runs_says_where_the_evidence_comes_from_in_japanese():
    at = app_at("ja-JP", PROMPTS_PAGE)
    assert not at.exception
    assert t("ui.prompts.evidence.no_runs", "ja") in [i.value for i in at.info]


def test_generate_review_says_why_an_edit_is_not_used_in_japanese():
    proj, run = _project_with_a_run(prompts=("noise",))
    at = app_at("ja-JP", GENERATE_PAGE, gen_run=str(run))
    assert not at.exception
    captions = [c.value for c in at.caption]
    assert t("gen.reason.low_similarity", "ja") in captions
    assert any(c.startswith("類似度 ") for c in captions)
    assert pd.Series([tg.value for tg in at.toggle if tg.key and tg.key.startswith("gen_accept_")]).eq(False).all()


def test_review_narrows_to_rejected_edits_and_a_manual_accept_wins_over_a_rerun_of_the_filter():
    proj, run = _project_with_a_run(prompts=("blur", "noise"))
    at = app_at(None, GENERATE_PAGE, gen_run=str(run))
    assert {m.label: m.value for m in at.metric}["Accepted"] == "6"       # the 6 blur edits; noise rejected
    at.selectbox(key="gen_filter_show").set_value("unused").run()
    assert not at.exception
    toggles = [tg for tg in at.toggle if tg.key.startswith("gen_accept_")]
    assert len(toggles) == 6 and all(tg.key.endswith("__noise") for tg in toggles)
    assert [c.value for c in at.caption].count(t("gen.reason.low_similarity", "en")) == 6
    item = toggles[0].key.removeprefix(f"gen_accept_{run.name}_")
    toggles[0].set_value(True).run()                                      # the user keeps one rejected edit
    assert json.loads((run / "review.json").read_text()) == {item: True}
    assert {m.label: m.value for m in at.metric}["Accepted"] == "7"
    run_generation(GenerateConfig(data=str(proj.data_dir("train")), out=str(run), prompts=["blur", "noise"],
                                  workers=1, filter_floor=0.4), editor=ScriptedEditor())   # filter again
    row = manifest.load_manifest(run).set_index("item_id").loc[item]
    assert (row["accepted"], row["reason"]) == (True, "")
    with zipfile.ZipFile(manifest.export_zip(run)) as zf:                 # and it is exported
        assert sum(n.endswith(".png") for n in zf.namelist()) == 7


def test_a_run_started_on_the_page_filters_with_the_floor_chosen_there():
    proj = open_project("default", create=True)
    sample_photos(proj.data_dir("train"), per_class=2)
    at = app_at(None, GENERATE_PAGE, active_prompts=["dim lighting"])
    assert at.toggle(key="gen_filter_on").value and at.slider(key="gen_filter_floor").value == DEFAULT_FLOOR
    at.slider(key="gen_filter_floor").set_value(0.9).run()                # stricter than any style edit here
    at.button(key="gen_start").click().run()
    assert not at.exception
    run = Path(at.session_state["gen_run"])
    wait_for_job(run)
    args = json.loads((run / "config.json").read_text())["args"]
    assert args["filter_floor"] == 0.9 and "no_filter" not in args
    df = manifest.load_manifest(run)
    assert len(df) == 4 and (df["reason"] == "low_similarity").all() and not df["accepted"].any()
