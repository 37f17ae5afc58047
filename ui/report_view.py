"""The report section of the Train & Compare page: the same blocks as the exported report, drawn with Streamlit,
then the details for the ML engineer and the HTML and PDF exports.

The report's content comes from ``genmix_core.report.build_report`` (one home: the page, the HTML file and the
PDF say the same); this module only draws blocks.
"""

from __future__ import annotations

import re
from pathlib import Path

import streamlit as st

from genmix_core.report import (NoBrowserError, build_report, charts, export_html, export_pdf, find_browser,
                                report_file_name, reuse_text, texts)
from genmix_core.train import load_results
from ui.state import lang, t
from ui.widgets import image_grid, show_error

PDF_DIR = "report"
_MARKDOWN = re.compile(r"([\\`*_\[\]<>|~$])")


def _plain(text: str) -> str:
    """Text shown as it is by ``st.markdown`` (class names like ``no_defect`` or a "$" stay literal)."""
    return _MARKDOWN.sub(r"\\\1", text)


def _draw(block, i: int, ln: str) -> None:
    if block.kind == "heading":
        st.subheader(block.text)
    elif block.kind == "verdict":
        for sentence, call in block.items:     # lowered: orange, raised: green, no clear difference: blue
            {"worse": st.warning, "better": st.success}.get(call, st.info)(_plain(sentence))
    elif block.kind == "text" and block.text:
        st.markdown(_plain(block.text))
    elif block.kind == "note" and block.text:
        st.caption(_plain(block.text))
    elif block.kind == "bullets":
        st.markdown("\n".join(f"- {_plain(s)}" for s in block.items))
    elif block.kind == "table":
        st.dataframe(block.items, hide_index=True)
    elif block.kind == "examples":
        names = [t(f"report.examples.{k}") for k in ("original", "edit", "final")]
        items = []
        for ex in block.items:
            caption = t("report.examples.caption", label=ex.label, prompt=ex.prompt)
            items += [(p, f"{name} · {caption}") for p, name in zip((ex.original, ex.edit, ex.final), names) if p]
        image_grid(items, cols=3)
    elif block.kind == "chart":
        st.plotly_chart(block.figure, key=f"report_fig_{i}")


def draw_report(report) -> None:
    """Draw a report's title, meta line and blocks (the Recipe search page draws its report this way)."""
    st.header(report.title)
    st.caption(_plain(" · ".join(report.meta)))
    for i, block in enumerate(report.blocks):
        _draw(block, i, report.lang)


def _details(results: dict, ln: str) -> None:
    """All numbers (pool, steps, both attacks) and a confusion matrix per condition, for the ML engineer."""
    with st.expander(t("report.page.details")):
        st.dataframe(texts.summary_rows(results, ln, detail=True), hide_index=True)
        conds = charts.conditions_in_order(results)
        labels = {c: charts.condition_label(c, ln) for c in conds}
        cond = st.selectbox(t("train.page.confusion_for"), conds, format_func=labels.get, key="train_confusion")
        st.plotly_chart(charts.fig_confusion(results, cond, ln), key="train_fig_confusion")


def _pdf_path(run_dir: Path, results: dict, ln: str) -> Path:
    """Where the PDF of this state of the results is kept (a newer results.json gets a new file)."""
    return run_dir / PDF_DIR / f"report_{ln}_{int(results.get('updated') or 0)}.pdf"


def _exports(run_dir: Path, results: dict, ln: str) -> None:
    st.download_button(t("train.page.download_html"), data=lambda: export_html(results, ln).encode("utf-8"),
                       file_name=report_file_name(results, ln, "html"), mime="text/html", key="train_download",
                       on_click="ignore")
    pdf = _pdf_path(run_dir, results, ln)
    if not pdf.is_file():
        if find_browser() is None:
            st.info(NoBrowserError("err.report.no_browser").message(ln))
            return
        if not st.button(t("report.page.make_pdf"), key="train_make_pdf"):
            return
        try:
            with st.spinner(t("report.page.making_pdf")):
                export_pdf(results, pdf, ln)
        except Exception as exc:
            show_error(exc)
            return
    st.download_button(t("report.page.download_pdf"), data=pdf.read_bytes(), file_name=report_file_name(
        results, ln, "pdf"), mime="application/pdf", key="train_download_pdf", on_click="ignore")


def report_section(run_dir: Path) -> None:
    """The report of the run in ``run_dir`` (partial while it runs), its details and its exports."""
    try:
        results = load_results(run_dir)
    except Exception as exc:
        show_error(exc)
        return
    ln = lang()
    retrained = reuse_text(results, ln)   # earlier runs on other photos or settings were not reused
    if retrained:
        st.info(retrained)
    if not results["conditions"]:
        st.info(t("train.page.no_results_yet"))
        return
    report = build_report(results, ln)
    st.header(report.title)
    st.caption(_plain(" · ".join(report.meta)))
    for i, block in enumerate(report.blocks):
        _draw(block, i, ln)
    _details(results, ln)
    _exports(run_dir, results, ln)

