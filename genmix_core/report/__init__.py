"""The report of a Train & Compare run for the management meeting: the verdict in words, the photos and prompts
used, examples, charts in plain language, caveats and what to try next; on the page, as one self-contained HTML
file and as a PDF. Public face of the report package; ``python -m genmix_core.report RUN_DIR`` (see ``--help``).
"""

from genmix_core.report import charts, texts
from genmix_core.report.advice import caveats, next_steps
from genmix_core.report.document import Block, Report, build_report, build_search_report, recipe_blocks
from genmix_core.report.export import export_html, export_pdf, export_search_html, report_file_name
from genmix_core.report.facts import Example, ReportFacts, gather_facts
from genmix_core.report.pdf import NoBrowserError, find_browser, print_to_pdf
from genmix_core.report.recipe import fig_recipes, recipe_label, recipe_lines
from genmix_core.report.texts import reuse_text
from genmix_core.report.verdict import sentence, verdict_lines, verdict_sentences

__all__ = [
    "Block", "Example", "NoBrowserError", "Report", "ReportFacts", "build_report", "build_search_report", "caveats",
    "charts", "export_html", "export_pdf", "export_search_html", "fig_recipes", "find_browser", "gather_facts", "next_steps",
    "print_to_pdf", "recipe_blocks", "recipe_label", "recipe_lines", "report_file_name", "reuse_text", "sentence",
    "texts", "verdict_lines", "verdict_sentences",
]
