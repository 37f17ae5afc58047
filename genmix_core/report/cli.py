"""Command line of the report: ``python -m genmix_core.report RUN_DIR --lang ja --html FILE --pdf FILE``.

Prints the verdict sentences; writes the HTML and/or PDF asked for (the HTML first, so it exists even when
no browser is found to print the PDF). Without ``--html`` and ``--pdf`` it writes the HTML into the run
folder. Exit codes: 0 done, 2 a problem the user can fix (message printed, in the chosen language).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from genmix_core.errors import UserError
from genmix_core.fileio import atomic_write_bytes
from genmix_core.i18n import LANGS
from genmix_core.report.export import export_html, export_pdf, report_file_name
from genmix_core.report.verdict import verdict_sentences
from genmix_core.train import load_results


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m genmix_core.report",
                                description="Export the report of a Train & Compare run as HTML and/or PDF.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="the run folder (holding results.json)")
    p.add_argument("--lang", choices=LANGS, default="en", help="language of the report (default: en)")
    p.add_argument("--html", metavar="FILE", help="write the self-contained HTML report here")
    p.add_argument("--pdf", metavar="FILE", help="write the PDF report here (needs Chrome, Edge or Chromium)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        results = load_results(args.run_dir)
        for line in verdict_sentences(results, args.lang):
            print(line)
        html_path = args.html or (None if args.pdf else Path(args.run_dir) / report_file_name(results, args.lang,
                                                                                              "html"))
        page = export_html(results, args.lang)
        if html_path:
            print(f"HTML: {atomic_write_bytes(Path(html_path), page.encode('utf-8'))}")
        if args.pdf:
            print(f"PDF: {export_pdf(results, args.pdf, args.lang, html_text=page)}")
    except UserError as exc:
        print(f"error: {exc.message(args.lang)}", file=sys.stderr)
        return 2
    return 0
