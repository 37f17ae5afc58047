"""Export a run's report: HTML text, or a PDF printed from it (the page's buttons and the command line)."""

from __future__ import annotations

import time
from pathlib import Path

from genmix_core.report.document import build_report, build_search_report
from genmix_core.report.html import render_html
from genmix_core.report.pdf import print_to_pdf


def export_html(results: dict, lang: str = "en") -> str:
    """The report of ``results`` as one self-contained HTML page (opens offline; plotly.js and images inside)."""
    return render_html(build_report(results, lang))


def export_search_html(search: dict, lang: str = "en") -> str:
    """A recipe search's report (``search.json``) as one self-contained HTML page."""
    return render_html(build_search_report(search, lang))


def export_pdf(results: dict, pdf_path: str | Path, lang: str = "en", *, html_text: str | None = None) -> Path:
    """Print the report to ``pdf_path`` (see :func:`genmix_core.report.pdf.print_to_pdf` for the errors)."""
    return print_to_pdf(html_text or export_html(results, lang), pdf_path)


def report_file_name(results: dict, lang: str, suffix: str) -> str:
    """``genmix_report_<project>_<YYYYmmdd-HHMM>_<lang>.<suffix>``, from the run's own date."""
    from genmix_core.paths import safe_name
    from genmix_core.report.facts import project_name

    stamp = time.strftime("%Y%m%d-%H%M", time.localtime(results.get("updated") or time.time()))
    return f"genmix_report_{safe_name(project_name(results), fallback='run')}_{stamp}_{lang}.{suffix}"
