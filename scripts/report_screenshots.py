"""Refresh the report screenshots in docs/ from a finished Train & Compare run (a real one: the e2e test's tiny
budget scores at chance).

    python scripts/report_screenshots.py WORKSPACE RUN_NAME

WORKSPACE holds ``projects/default/runs/RUN_NAME``. Starts ``streamlit run app.py`` on that workspace, opens
the Train & Compare page in English and Japanese (Debian chromium, headless) and saves the report part of the
page as docs/screenshot_report_<lang>.png; prints the PDF report with ``python -m genmix_core.report`` and
saves its first page as docs/screenshot_report_pdf_<lang>.png (``pdftoppm``, poppler-utils).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
sys.path.insert(0, str(REPO))
from genmix_core.i18n import t  # noqa: E402


def _serve(workspace: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "GENMIX_WORKSPACE": str(workspace), "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.address", "127.0.0.1",
                             "--server.port", str(port), "--server.headless", "true",
                             "--browser.gatherUsageStats", "false"], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                return proc, url
        except OSError:
            time.sleep(0.3)
    proc.terminate()
    raise RuntimeError("streamlit did not start")


def _idle(page) -> None:
    page.wait_for_timeout(250)
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", state="attached",
                           timeout=120_000)


def main(workspace: str, run_name: str) -> None:
    run_dir = Path(workspace) / "projects" / "default" / "runs" / run_name
    proc, url = _serve(Path(workspace))
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True)
            for lang, locale in (("en", "en-US"), ("ja", "ja-JP")):
                page = browser.new_page(viewport={"width": 1400, "height": 1500}, locale=locale)
                page.goto(f"{url}/train")
                _idle(page)
                page.get_by_test_id("stExpander").filter(has_text=t("train.page.settings", lang)).locator(
                    "summary").click()                      # fold the settings form away
                _idle(page)
                page.get_by_role("heading", name=t("train.report.title", lang)).scroll_into_view_if_needed()
                page.wait_for_timeout(1500)                 # charts and images fade in
                page.screenshot(path=str(DOCS / f"screenshot_report_{lang}.png"))
                page.close()
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    with tempfile.TemporaryDirectory() as tmp:
        for lang in ("en", "ja"):
            pdf = Path(tmp) / f"{lang}.pdf"
            subprocess.run([sys.executable, "-m", "genmix_core.report", str(run_dir), "--lang", lang, "--pdf",
                            str(pdf)], cwd=REPO, check=True)
            subprocess.run(["pdftoppm", "-r", "80", "-f", "1", "-l", "1", "-png", "-singlefile", str(pdf),
                            str(DOCS / f"screenshot_report_pdf_{lang}")], check=True)


if __name__ == "__main__":
    main(*sys.argv[1:3])
