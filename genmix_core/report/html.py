"""The report as one self-contained HTML file: it opens offline and prints to PDF as it is.

Self-contained means no ``http(s)`` source anywhere: plotly.js is embedded once, images are embedded as
``data:`` URIs (small JPEG thumbnails, so the file stays a few MB). The print style sheet sets A4 pages, keeps
charts, tables and example rows whole, and names fonts with Japanese glyphs (Noto CJK on Linux, Yu Gothic or
Meiryo on Windows, Hiragino on macOS), so the PDF printed from it shows Japanese text.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

from PIL import Image, ImageOps
from plotly.io import to_html

from genmix_core.i18n import t
from genmix_core.report.charts import FONT_FAMILY
from genmix_core.report.document import Block, Report

THUMB_PX = 220
CHART_W, CHART_H = 700, 380

CSS = """
body{font-family:%(font)s;margin:2em auto;max-width:760px;color:#222;line-height:1.5}
h1{font-size:1.6em;margin-bottom:.2em} h2{font-size:1.25em;border-bottom:1px solid #ccc;margin-top:1.4em}
.meta{color:#555;margin:0} .verdict{font-size:1.1em;font-weight:bold;background:#f3f6fb;
border-left:4px solid #2c6fbb;padding:.4em .8em;margin:.4em 0} .note{color:#555;font-size:.9em}
.verdict.worse{background:#fdf0ec;border-color:#c0392b} .verdict.better{background:#eef8f1;border-color:#2e8b57}
table{border-collapse:collapse;margin:.6em 0} td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
.examples td{text-align:center;font-size:.85em;vertical-align:top} .examples img{width:%(thumb)dpx}
.chart{margin:.6em 0}
table,.chart,.verdict,.examples tr{break-inside:avoid;page-break-inside:avoid} table.examples{break-inside:auto}
h2{break-after:avoid}
@page{size:A4;margin:14mm 12mm}
@media print{body{margin:0;max-width:none} h2{margin-top:1em}}
""" % {"font": FONT_FAMILY, "thumb": THUMB_PX * 0.7}


def thumbnail_uri(path: str | Path, px: int = THUMB_PX) -> str:
    """A ``data:image/jpeg;base64,...`` thumbnail (longest side ``px``) of an image file."""
    with Image.open(path) as img:
        img = ImageOps.exif_transpose(img).convert("RGB")
        img.thumbnail((px, px))
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _table(rows: list[dict], css: str = "") -> str:
    if not rows:
        return ""
    head = "".join(f"<th>{html.escape(k)}</th>" for k in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in r.values()) + "</tr>"
                   for r in rows)
    return f"<table class='{css}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _examples(items, lang: str) -> str:
    head = "".join(f"<th>{html.escape(t(k, lang))}</th>" for k in
                   ("report.examples.original", "report.examples.edit", "report.examples.final"))
    rows = []
    for ex in items:
        cells = "".join(f"<td><img alt='' src='{thumbnail_uri(p)}'></td>" if p else "<td>–</td>"
                        for p in (ex.original, ex.edit, ex.final))
        caption = html.escape(t("report.examples.caption", lang, label=ex.label, prompt=ex.prompt))
        rows.append(f"<tr>{cells}</tr><tr><td colspan='3'>{caption}</td></tr>")
    return f"<table class='examples'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _block(block: Block, lang: str, first_chart: list[bool]) -> str:
    if block.kind == "heading":
        return f"<h2>{html.escape(block.text)}</h2>"
    if block.kind == "verdict":
        return "".join(f"<p class='verdict {call or ''}'>{html.escape(s)}</p>" for s, call in block.items)
    if block.kind in ("text", "note"):
        return f"<p class='{block.kind}'>{html.escape(block.text)}</p>" if block.text else ""
    if block.kind == "bullets":
        return "<ul>" + "".join(f"<li>{html.escape(s)}</li>" for s in block.items) + "</ul>"
    if block.kind == "table":
        return _table(block.items)
    if block.kind == "examples":
        return _examples(block.items, lang)
    if block.kind == "chart":
        fig = block.figure.update_layout(width=CHART_W, height=CHART_H)
        embed = first_chart[0]
        first_chart[0] = False
        return "<div class='chart'>" + to_html(fig, full_html=False, include_plotlyjs=embed,
                                               config={"displayModeBar": False, "responsive": False}) + "</div>"
    raise ValueError(f"unknown report block kind {block.kind!r}")


def render_html(report: Report) -> str:
    """The whole report as an HTML page (UTF-8 text)."""
    first_chart = [True]
    body = "".join(_block(b, report.lang, first_chart) for b in report.blocks)
    title = html.escape(report.title)
    meta = "".join(f"<p class='meta'>{html.escape(m)}</p>" for m in report.meta)
    return (f"<!DOCTYPE html><html lang='{report.lang}'><head><meta charset='utf-8'><title>{title}</title>"
            f"<style>{CSS}</style></head><body><h1>{title}</h1>{meta}{body}</body></html>")
