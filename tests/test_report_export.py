"""The report of a real (tiny) comparison: what it says, that the HTML is self-contained, no raw ids, and the
command line ``python -m genmix_core.report`` writing HTML and PDF (or saying plainly how to print by hand)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genmix_core.i18n import t
from genmix_core.report import build_report, export_html, verdict_sentences
from genmix_core.report.charts import fig_per_class
from genmix_core.report.cli import main
from genmix_core.train import CompareConfig, load_results, run_compare

pytestmark = pytest.mark.usefixtures("one_torch_thread")
COLORS = {"crack": (200, 60, 60), "ok": (180, 180, 180), "scratch": (60, 60, 200)}


def _folder(root: Path, classes, n: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    for name in classes:
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            arr = np.clip(rng.normal(COLORS[name], 25, (20, 20, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(arr).save(root / name / f"{name}_{i}.png")
    return root


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """Baseline vs GenMix, one seed, in a project "Line 3" whose on-site photos lack the class "scratch"."""
    proj = tmp_path_factory.mktemp("ws") / "projects" / "Line 3"
    train = _folder(proj / "data" / "train", COLORS, 5, 0)
    onsite = _folder(proj / "data" / "onsite", ["crack", "ok"], 3, 1)
    out = proj / "runs" / "20260101-120000-train"
    run_compare(CompareConfig(data=str(train), test=str(onsite), out=str(out), conditions=["baseline", "genmix"],
                              seeds=[0], epochs=1, batch_size=4, backbone="small_cnn", size=16, eps=["1/255"],
                              pgd_steps=1, prompts=["dim lighting", "motion blur"], device="cpu"))
    return out


def visible_text(page: str) -> str:
    """The HTML's text as a reader sees it (scripts and tags removed)."""
    page = re.sub(r"<script.*?</script>", " ", page, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


def test_runs_keep_each_photos_answer_and_results_store_the_verdict(run_dir):
    raw = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    assert [(v["domain"], v["method"]) for v in raw["verdict"]] == [("held_out", "bootstrap_images"),
                                                                    ("onsite", "bootstrap_images")]
    assert {v["call"] for v in raw["verdict"]} <= {"better", "worse", "no_clear_difference"}
    for run in raw["runs"]:
        assert len(run["in_domain"]["predictions"]) == len(run["in_domain"]["targets"]) == raw["split"]["n_test"]
        assert len(run["cross_domain"]["predictions"]) == 6
    assert raw["counts"]["onsite"] == {"crack": 3, "ok": 3} and raw["counts"]["train"]["scratch"] == 4


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_report_says_what_a_meeting_needs_without_raw_ids(run_dir, lang):
    res = load_results(run_dir)
    page = export_html(res, lang)
    text = visible_text(page)
    for sentence in verdict_sentences(res, lang):
        assert sentence in text
    assert text.index(verdict_sentences(res, lang)[0]) < text.index(t("report.h.data", lang))   # verdict first
    assert t("report.meta.project", lang, name="Line 3") in text
    assert "crack" in text and "scratch" in text
    assert t("report.data.onsite_some", lang, n=6, k=2, total=3, missing="scratch") in text
    assert "暗い照明" in text and "dim lighting" in text                    # the prompt and its Japanese meaning
    assert t("editor.offline.name", lang) in text and t("editor.pix2pix.name", lang) not in text
    assert t("report.spread.one", lang) in text and "± 0" not in text
    for raw_id in ("small_cnn", "efficientnet", "genmix;", "：genmix", "Top-1", "ε=", "baseline（", "baseline (",
                   "genmix（", "in_domain", "cross_domain", "held_out", "Second domain", "別の撮影条件"):
        assert raw_id not in text, raw_id
    # Self-contained: plotly.js inline once, images as data: URIs, no tag loading anything over http(s).
    tags = re.findall(r"<[a-zA-Z][^>]*>", re.sub(r"(<script[^>]*>).*?</script>", r"\1", page, flags=re.S))
    assert not [tag for tag in tags if re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", tag)]
    assert not [tag for tag in tags if tag.startswith("<script") and "src" in tag]
    assert page.count("plotly.js v") == 1 and page.count("data:image/jpeg;base64,") == 3 * 3   # 3 example rows
    examples = next(b for b in build_report(res, lang).blocks if b.kind == "examples").items
    assert [e.label for e in examples] == ["crack", "ok", "scratch"] and all(e.edit for e in examples)


def test_on_site_chart_shows_only_classes_with_on_site_photos(run_dir):
    fig = fig_per_class(load_results(run_dir), "en", domain="cross")
    assert list(fig.data[0].x) == ["crack", "ok"]
    assert "2 of 3 classes" in fig.layout.title.text


def _pdf_text(path: Path) -> str:
    return subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout


@pytest.mark.skipif(not (Path("/usr/bin/chromium").exists() and shutil.which("pdftotext")),
                    reason="needs chromium and pdftotext (apt-get install chromium poppler-utils)")
def test_command_line_writes_html_and_a_pdf_holding_the_verdict(run_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GENMIX_BROWSER", "/usr/bin/chromium")
    html, pdf = tmp_path / "r.html", tmp_path / "r.pdf"
    assert main([str(run_dir), "--lang", "ja", "--html", str(html), "--pdf", str(pdf)]) == 0
    sentences = verdict_sentences(load_results(run_dir), "ja")
    assert capsys.readouterr().out.splitlines()[:2] == sentences
    assert sentences[0] in html.read_text(encoding="utf-8")
    flat = re.sub(r"\s+", "", _pdf_text(pdf))
    assert all(re.sub(r"\s+", "", s) in flat for s in sentences)
    assert "GenMixワークベンチ" in flat                                    # Japanese glyphs, not boxes


def test_without_a_browser_the_html_is_written_and_the_message_says_how_to_print(run_dir, tmp_path, monkeypatch,
                                                                                   capsys):
    monkeypatch.setenv("GENMIX_BROWSER", str(tmp_path / "no-such-browser"))
    html = tmp_path / "r.html"
    assert main([str(run_dir), "--lang", "ja", "--html", str(html), "--pdf", str(tmp_path / "r.pdf")]) == 2
    assert html.is_file() and not (tmp_path / "r.pdf").exists()
    assert t("err.report.no_browser", "ja") in capsys.readouterr().err
