"""The Train & Compare page through AppTest: empty project, a run started in the background, results shown,
an earlier run reopened, Japanese texts."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from streamlit.testing.v1 import AppTest

from genmix_core.report import reuse_text, verdict_lines
from genmix_core.train import CompareConfig, load_config, load_results, run_compare
from genmix_core.i18n import t
from genmix_core.jobs import read_job
from genmix_core.data.project import open_project
from test_app_helpers import run_pick

PAGE = "../pages/5_train.py"
TIMEOUT = 60
COLORS = {"ok": (180, 180, 180), "dent": (60, 60, 60)}


def _project(per_class=4):
    proj = open_project("default", create=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", per_class), ("onsite", 2)):
        for name, color in COLORS.items():
            folder = proj.data_dir(split) / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                arr = np.clip(rng.normal(color, 20, (24, 24, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(arr).save(folder / f"{name}_{i}.png")
    return proj


def _page(lang="en"):
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT)
    at.session_state["lang"] = lang
    return at


def test_empty_project_points_to_the_data_page():
    at = _page().run()
    assert not at.exception
    assert at.title[0].value == "Train & Compare"
    assert [i.value for i in at.info] == [t("ui.empty.no_data", "en")]


def test_start_a_run_in_the_background_and_see_the_results():
    proj = _project()
    at = _page().run()
    assert not at.exception and at.info[-1].value == t("train.page.no_runs", "en")
    at.multiselect(key="train_conditions").set_value(["baseline", "mixup"])
    at.selectbox(key="train_backbone").set_value("small_cnn")
    at.number_input(key="train_epochs").set_value(1)
    at.number_input(key="train_batch").set_value(4)
    at.text_input(key="train_seeds").set_value("0")
    at.selectbox(key="train_size").set_value(64)
    at.text_input(key="train_eps").set_value("2/255")
    assert at.toggle(key="train_use_onsite").value
    at.button(key="train_start").click().run()
    assert not at.exception
    run_dir = Path(at.session_state["train_run"])
    assert run_dir.parent == proj.runs_dir and run_dir.name.endswith("train")
    deadline = time.time() + 90
    while read_job(run_dir).status == "running" and time.time() < deadline:
        time.sleep(0.3)
    assert read_job(run_dir).status == "done", (run_dir / "log.txt").read_text()
    at.run()
    assert not at.exception
    table = next(d.value for d in at.dataframe if t("train.fig.condition", "en") in d.value.columns)
    assert list(table.iloc[:, 0]) == [t("train.cond.baseline", "en"), t("train.cond.mixup", "en")]
    assert t("train.fig.cross_domain", "en") in table.columns and "On-site photos" in table.columns
    assert not table.apply(lambda col: col.str.contains("±")).any().any()      # one seed: no "± 0.0"
    assert any("matched budget" in m.value for m in at.markdown)
    # The verdict of the run, one sentence per test set, at the top of the report.
    lines = verdict_lines(load_results(run_dir), "en")
    shown = {"worse": at.warning, "better": at.success, "no_clear_difference": at.info}
    assert len(lines) == 2 and all(any(a.value == text for a in shown[call]) for text, call in lines)
    assert all("run-to-run spread is unknown" in text for text, _ in lines)
    assert run_pick(at, "train_run_pick").value == run_dir.name


def test_an_earlier_run_reopens_in_japanese():
    proj = _project()
    run_dir = proj.new_run_dir("train")
    run_compare(CompareConfig(data=str(proj.data_dir("train")), out=str(run_dir), conditions=["baseline"],
                              seeds=[0, 1], epochs=1, batch_size=4, backbone="small_cnn", size=16,
                              eps=["1/255"], pgd_steps=1, few_shot=[1, 2]))
    at = _page("ja").run()
    assert not at.exception
    assert at.title[0].value == "学習・比較"
    assert run_pick(at, "train_run_pick").value == run_dir.name
    assert any("学習量をそろえています" in m.value for m in at.markdown)
    assert t("report.verdict.only_reference", "ja") in [i.value for i in at.info]   # nothing to compare with
    assert at.selectbox(key="train_confusion").value == "baseline"
    assert at.get("download_button")
    assert any(c.value.startswith("少数ショット曲線") for c in at.caption)    # the few-shot curve's rule
    assert len(at.get("plotly_chart")) == 5    # accuracy, robustness, per-class, few-shot curve, confusion


def test_few_shot_option_is_off_by_default_and_reaches_the_run():
    proj = _project(per_class=3)
    at = _page().run()
    assert not at.toggle(key="train_few_shot").value
    assert not [w for w in at.text_input if w.key == "train_few_shot_ks"]
    at.multiselect(key="train_conditions").set_value(["baseline"])
    at.selectbox(key="train_backbone").set_value("small_cnn")
    at.number_input(key="train_epochs").set_value(1)
    at.selectbox(key="train_size").set_value(64)
    at.text_input(key="train_seeds").set_value("0")
    at.text_input(key="train_eps").set_value("1/255")
    at.toggle(key="train_few_shot").set_value(True).run()
    at.text_input(key="train_few_shot_ks").set_value("1,x").run()
    assert at.error[0].value == t("err.train.bad_few_shot", "en", value="1,x")
    assert at.button(key="train_start").disabled
    assert not list(proj.runs_dir.glob("*train*"))
    at.text_input(key="train_few_shot_ks").set_value("2, 1").run()
    at.button(key="train_start").click().run()
    run_dir = Path(at.session_state["train_run"])
    deadline = time.time() + 90
    while read_job(run_dir).status in ("starting", "running") and time.time() < deadline:
        time.sleep(0.3)
    assert read_job(run_dir).status == "done", (run_dir / "log.txt").read_text()
    assert load_results(run_dir)["few_shot"]["ks"] == [1, 2]


def test_fractal_weight_is_offered_for_genmix_only_and_reaches_the_run():
    proj = _project(per_class=3)
    at = _page().run()
    at.multiselect(key="train_conditions").set_value(["baseline"]).run()
    assert not [w for w in at.slider if w.key == "train_lam"]
    at.multiselect(key="train_conditions").set_value(["baseline", "genmix"]).run()
    assert at.slider(key="train_lam").value == (0.1, 0.3)       # drawn per mix; the authors' 0.2 on average
    at.selectbox(key="train_backbone").set_value("small_cnn")
    at.number_input(key="train_epochs").set_value(1)
    at.selectbox(key="train_size").set_value(64)
    at.text_input(key="train_seeds").set_value("0")
    at.text_input(key="train_eps").set_value("1/255")
    at.slider(key="train_lam").set_value((0.05, 0.15)).run()
    at.button(key="train_start").click().run()
    assert not at.exception
    run_dir = Path(at.session_state["train_run"])
    assert run_dir.parent == proj.runs_dir
    deadline = time.time() + 90
    while read_job(run_dir).status in ("starting", "running") and time.time() < deadline:
        time.sleep(0.3)
    assert read_job(run_dir).status == "done", (run_dir / "log.txt").read_text()
    cfg = load_config(run_dir)
    assert cfg.lam is None and cfg.lam_range == [0.05, 0.15]
    # The stored GenMix images (for --no-redraw) take the middle of the range.
    mixes = pd.read_csv(run_dir / "generation" / "manifest.csv")["lam"]
    assert set(mixes) == {0.1}
    # The results say how the GenMix images were made: by the style filter, λ drawn from the chosen range.
    at.run()
    assert not at.exception
    made = [m.value for m in at.markdown if m.value.startswith("Each GenMix image joins")]
    assert len(made) == 1 and "Style filter" in made[0] and "0.05–0.15" in made[0]


def test_the_page_says_why_earlier_runs_were_trained_again():
    proj = _project(per_class=3)
    run_dir = proj.new_run_dir("train")
    cfg = CompareConfig(data=str(proj.data_dir("train")), out=str(run_dir), conditions=["baseline"], seeds=[0],
                        epochs=1, batch_size=4, backbone="small_cnn", size=16, eps=["1/255"], pgd_steps=1)
    run_compare(cfg)
    extra = proj.data_dir("train") / "ok" / "ok_extra.png"
    Image.fromarray(np.full((24, 24, 3), 170, np.uint8)).save(extra)         # a photo added since
    run_compare(cfg)
    for lang, words in (("en", "the photos changed since"), ("ja", "写真が変わっています")):
        at = _page(lang).run()
        assert not at.exception
        notes = [i.value for i in at.info if words in i.value]
        assert len(notes) == 1 and notes[0] == reuse_text(load_results(run_dir), lang)
