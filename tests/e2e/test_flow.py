"""End to end in a real browser: streamlit run app.py, use the sample data, open Preview, see the final image.

Needs Debian's /usr/bin/chromium (no browser download); skipped without it. With ``GENMIX_SCREENSHOTS=1``
it also refreshes the README screenshots in docs/ (home in Japanese, preview in English).
"""

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian chromium at /usr/bin/chromium")]

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    """A `streamlit run app.py` server on a free loopback port with its own empty workspace."""
    workspace = tmp_path_factory.mktemp("e2e_workspace")
    port = _free_port()
    pythonpath = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "GENMIX_WORKSPACE": str(workspace), "PYTHONPATH": pythonpath}
    log = open(workspace / "server.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.address", "127.0.0.1",
         "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("streamlit did not start:\n" + (workspace / "server.log").read_text())
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def browser():
    with playwright_sync.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield b
        b.close()


def _wait_idle(page, timeout=60_000):
    """Wait until the app is connected and its script run has finished (pattern of Streamlit's own e2e)."""
    page.wait_for_timeout(250)
    page.wait_for_selector("[data-testid='stApp'][data-test-connection-state='CONNECTED']", state="attached",
                           timeout=timeout)
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", state="attached",
                           timeout=timeout)


def _screenshot(page, name):
    if os.environ.get("GENMIX_SCREENSHOTS") == "1":
        page.wait_for_timeout(800)                 # let images fade in (skeletons otherwise)
        page.screenshot(path=str(DOCS / name))


def test_sample_data_then_preview_shows_the_final_image(app_url, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 840}, locale="en-US")
    page.goto(app_url)
    _wait_idle(page)
    expect(page.get_by_role("heading", name="GenMix Workbench")).to_be_visible(timeout=30_000)

    page.get_by_test_id("stSidebarNav").get_by_text("Data").click()
    _wait_idle(page)
    page.get_by_role("button", name="Use the sample data").click()
    _wait_idle(page, timeout=120_000)
    expect(page.get_by_text(re.compile(r"Sample data added"))).to_be_visible(timeout=120_000)

    page.get_by_test_id("stSidebarNav").get_by_text("Preview").click()
    _wait_idle(page, timeout=120_000)
    final = page.get_by_test_id("stImage").filter(has_text=re.compile(r"Final GenMix image"))
    expect(final).to_be_visible(timeout=60_000)
    expect(final.locator("img")).to_be_visible()
    assert final.locator("img").evaluate("img => img.naturalWidth") > 0
    expect(page.get_by_text("Style filter, not an AI model", exact=False).first).to_be_visible()
    _screenshot(page, "screenshot_preview.png")
    page.close()


def test_home_in_japanese(app_url, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1100}, locale="ja-JP")
    page.goto(app_url)
    _wait_idle(page)
    expect(page.get_by_role("heading", name="GenMix ワークベンチ")).to_be_visible(timeout=30_000)
    expect(page.get_by_test_id("stSidebarNav").get_by_text("データ")).to_be_visible()
    if shutil.which("fc-list") is None or "CJK" not in subprocess.run(["fc-list"], capture_output=True,
                                                                       text=True).stdout:
        pytest.skip("no CJK font installed (apt-get install fonts-noto-cjk): screenshot would show boxes")
    expect(page.get_by_test_id("stImage").first).to_be_visible(timeout=60_000)
    _screenshot(page, "screenshot_home_ja.png")
    page.close()
