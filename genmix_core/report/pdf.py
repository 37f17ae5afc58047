"""The report as a PDF: the HTML report printed by a Chromium-based browser in headless mode.

Why a browser: it is already on the PCs this runs on (Microsoft Edge on every Windows 10/11 laptop, Chrome or
Chromium elsewhere), it draws the plotly charts exactly as on screen, and it embeds whatever Japanese font the
PC has. The command is ``<browser> --headless --print-to-pdf=FILE file:///report.html``: no extra package and
no download. When no browser is found, :class:`NoBrowserError` says how to print the HTML by hand.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from genmix_core.errors import UserError
from genmix_core.fileio import atomic_write_bytes

BROWSER_ENV = "GENMIX_BROWSER"       # a browser executable to use instead of the search
TIMEOUT_S = 120
NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "microsoft-edge",
         "microsoft-edge-stable", "msedge", "chrome")


class NoBrowserError(UserError):
    """No Chrome, Edge or Chromium was found to print the PDF with (also a :class:`UserError`)."""


def _install_paths() -> list[Path]:
    """Where Edge and Chrome install themselves on Windows and macOS (not on ``PATH`` there)."""
    if sys.platform == "win32":
        roots = [os.environ.get(v) for v in ("PROGRAMFILES(X86)", "PROGRAMFILES", "LOCALAPPDATA")]
        tails = [r"Microsoft\Edge\Application\msedge.exe", r"Google\Chrome\Application\chrome.exe"]
        return [Path(r) / tail for tail in tails for r in roots if r]
    if sys.platform == "darwin":
        return [Path("/Applications/Google Chrome.app/Contents/MacOS/Google Chrome"),
                Path("/Applications/Microsoft Edge.app/Contents/MacOS/Microsoft Edge"),
                Path("/Applications/Chromium.app/Contents/MacOS/Chromium")]
    return []


def find_browser() -> Path | None:
    """The browser to print with: ``$GENMIX_BROWSER``, else the first of :data:`NAMES` on ``PATH``, else the
    usual install folders of Edge and Chrome; None when there is none."""
    chosen = os.environ.get(BROWSER_ENV)
    if chosen:
        return Path(chosen) if Path(chosen).is_file() else None
    for name in NAMES:
        found = shutil.which(name)
        if found:
            return Path(found)
    return next((p for p in _install_paths() if p.is_file()), None)


def print_to_pdf(html_text: str, pdf_path: str | Path, *, browser: str | Path | None = None,
                 timeout: float = TIMEOUT_S) -> Path:
    """Print an HTML page to ``pdf_path`` (A4, written atomically) with a headless browser.

    Raises:
        NoBrowserError: ``err.report.no_browser`` when no browser is found.
        UserError: ``err.report.pdf_failed`` when the browser fails or makes no PDF.
    """
    exe = Path(browser) if browser else find_browser()
    if exe is None:
        raise NoBrowserError("err.report.no_browser")
    with tempfile.TemporaryDirectory(prefix="genmix_pdf_") as tmp:
        page, out = Path(tmp) / "report.html", Path(tmp) / "report.pdf"
        page.write_text(html_text, encoding="utf-8")
        cmd = [str(exe), "--headless", "--disable-gpu", "--no-first-run", "--disable-extensions",
               f"--user-data-dir={Path(tmp) / 'profile'}", "--no-pdf-header-footer", "--print-to-pdf-no-header",
               "--run-all-compositor-stages-before-draw", "--virtual-time-budget=20000",
               f"--print-to-pdf={out}", page.as_uri()]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.insert(1, "--no-sandbox")      # Chromium refuses to start as root (containers) with its sandbox
        try:
            proc = subprocess.run(cmd, capture_output=True, timeout=timeout, text=True, errors="replace")
            reason = (proc.stderr or "").strip().splitlines()[-1:] or [f"exit code {proc.returncode}"]
        except subprocess.TimeoutExpired:
            reason = [f"no answer within {timeout:.0f} s"]
        except OSError as exc:
            reason = [str(exc)]
        if not out.is_file() or out.read_bytes()[:5] != b"%PDF-":
            raise UserError("err.report.pdf_failed", browser=str(exe), reason=reason[0])
        return atomic_write_bytes(Path(pdf_path), out.read_bytes())
