"""The meeting report in a real browser, once per language: sample data → Generate → Train & Compare (tiny budget)
→ the verdict sentence on the page → the HTML and the PDF downloaded, the PDF's text holding the verdict.

Every label is read from the catalog, so the same steps drive the English and the Japanese UI. The tiny budget
scores at chance, so the report screenshots in docs/ come from a real run: scripts/report_screenshots.py.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from genmix_core.i18n import t
from genmix_core.report import verdict_sentences
from genmix_core.train import load_results
from e2e_support import CHROMIUM, rerun_after, wait_idle
from test_flow import app_url, expect, playwright_sync  # noqa: F401

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(not Path(CHROMIUM).exists() or shutil.which("pdftotext") is None,
                                 reason="needs /usr/bin/chromium and pdftotext (apt-get install poppler-utils)")]
TRAIN_TIMEOUT = 240


def _go(page, key, title_key, lang):
    """Open the page ``key`` of the navigation and wait until it has drawn its title ``title_key``."""
    page.get_by_test_id("stSidebarNav").get_by_text(t(key, lang), exact=True).click()
    expect(page.get_by_role("heading", level=1, name=t(title_key, lang), exact=True)).to_be_visible(timeout=120_000)
    wait_idle(page, timeout=120_000)


def _open(page, key, lang):
    """Open the settings expander: once a run of the session exists the page draws it closed, and a rerun after
    a widget change can close it again (the second language meets the first one's runs)."""
    details = page.get_by_test_id("stExpander").filter(has_text=t(key, lang)).locator("details")
    if details.get_attribute("open") is None:
        details.locator("summary").click()          # drawn by the browser alone: the fields are waited for


def _in_settings(page, expander_key, lang, act):
    """Do ``act()`` inside the settings expander, opening it again if a rerun closed it meanwhile."""
    for attempt in range(3):
        _open(page, expander_key, lang)
        try:
            act()
            break
        except playwright_sync.TimeoutError:
            if attempt == 2:
                raise
    wait_idle(page)


def _fill(page, key, lang, value, role="spinbutton"):
    def act():
        field = page.get_by_role(role, name=t(key, lang), exact=True)
        field.fill(str(value), timeout=5000)
        field.press("Enter")
    _in_settings(page, "train.page.settings", lang, act)


def _choose(page, key, lang, option):
    def act():
        box = page.get_by_test_id("stSelectbox").filter(has=page.get_by_text(t(key, lang), exact=True))
        box.click(timeout=5000)
        page.get_by_role("option", name=option, exact=True).click(timeout=5000)
    _in_settings(page, "train.page.settings", lang, act)


def _click(page, expander_key, lang, locator):
    _in_settings(page, expander_key, lang, lambda: locator.click(timeout=5000))


def _picked(page, run_key, lang) -> str:
    """The run picker's current value ("<run folder> (<status>)"), or "" before the first run."""
    pick = page.get_by_role("combobox", name=t(run_key, lang), exact=True)
    return pick.input_value() if pick.count() else ""


def _start_and_wait(page, expander_key, start_key, run_key, lang, timeout) -> str:
    """Click Start, wait for the new run to show in the picker and then to be done; returns its folder name.

    Another session's runs (the other language) are listed too: the new run is the one that was not picked
    before the click.
    """
    before = _picked(page, run_key, lang).split(" ")[0]
    _click(page, expander_key, lang, page.get_by_role("button", name=t(start_key, lang)))
    done = re.escape(f"({t('ui.job.status.done', lang)})")
    ended = "|".join(re.escape(t(f"ui.job.status.{s}", lang))
                     for s in ("done", "failed", "cancelled", "interrupted"))
    deadline = time.monotonic() + timeout
    value = ""
    while time.monotonic() < deadline:
        value = _picked(page, run_key, lang)
        if value and value.split(" ")[0] != before and re.search(rf"\(({ended})\)", value):
            break
        page.wait_for_timeout(2000)
    assert value.split(" ")[0] != before and re.search(done, value), value
    wait_idle(page, timeout=60_000)
    return value.split(" ")[0]


def _download(page, label):
    with page.expect_download(timeout=120_000) as info:
        page.get_by_role("button", name=label, exact=True).click()
    return Path(info.value.path())


def _flat(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.mark.parametrize("locale, lang", [("en-US", "en"), ("ja-JP", "ja")])
def test_comparison_ends_with_a_verdict_and_exports_html_and_pdf(app_url, browser, locale, lang, tmp_path_factory):
    page = browser.new_page(viewport={"width": 1400, "height": 1300}, locale=locale)
    page.goto(f"{app_url}/data")
    expect(page.get_by_role("heading", level=1, name=t("ui.data.title", lang), exact=True)).to_be_visible(
        timeout=120_000)
    page.get_by_role("button", name=t("ui.data.sample.button", lang)).click()
    added = "|".join(re.escape(t(k, lang, count=0).split("0")[0]) for k in ("ui.data.report.added_sample",
                                                                         "ui.data.report.none_added"))
    expect(page.get_by_text(re.compile(added)).first).to_be_visible(timeout=120_000)
    wait_idle(page, timeout=120_000)

    _go(page, "ui.nav.generate", "gen.page.title", lang)
    _click(page, "gen.page.settings", lang, page.get_by_text(t("gen.page.all_prompts", lang)))  # 1 prompt a photo
    _start_and_wait(page, "gen.page.settings", "gen.page.start", "gen.page.run", lang, timeout=180)

    _go(page, "ui.nav.train", "train.page.title", lang)
    _fill(page, "train.page.epochs", lang, 1)                        # tiny budget: seconds, not minutes
    _fill(page, "train.page.seeds", lang, "0", role="textbox")
    _choose(page, "train.page.backbone", lang, t("train.page.backbone.small_cnn", lang))
    _choose(page, "train.page.size", lang, "64")
    _fill(page, "train.page.eps", lang, "1/255", role="textbox")
    name = _start_and_wait(page, "train.page.settings", "train.page.start", "train.page.run", lang, TRAIN_TIMEOUT)

    # The run's results, found in the server's workspace (a folder of this session's temp dir).
    (run_dir,) = tmp_path_factory.getbasetemp().glob(f"e2e_workspace[0-9]*/projects/default/runs/{name}")
    sentences = verdict_sentences(load_results(run_dir), lang)
    assert len(sentences) == 2                                         # held-out photos and on-site photos
    for sentence in sentences:
        expect(page.get_by_test_id("stAlert").filter(has_text=sentence)).to_be_visible(timeout=30_000)
    html = _download(page, t("train.page.download_html", lang)).read_text(encoding="utf-8")
    assert all(s in html for s in sentences) and "<script src" not in html
    rerun_after(page, page.get_by_role("button", name=t("report.page.make_pdf", lang), exact=True).click)
    pdf = _download(page, t("report.page.download_pdf", lang))
    assert pdf.read_bytes()[:5] == b"%PDF-"
    text = subprocess.run(["pdftotext", "-enc", "UTF-8", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert all(_flat(s) in _flat(text) for s in sentences)
    page.close()
