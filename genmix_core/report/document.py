"""The report of a comparison as one list of blocks, drawn the same way by the page and by the HTML export.

Reading order (issue 9): title, project and date; the verdict sentences; the photos used (classes, counts per
set, which classes have on-site photos); how the GenMix images were made (editor named honestly, prompts with
their Japanese meaning, examples original → edit → final); the results (table, spread, charts in plain words,
the matched budget, time spent); the recommended recipe when the project has a finished recipe search on the
same training photos (issue 10, :mod:`genmix_core.report.recipe`); caveats; what to try next.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from genmix_core.i18n import t
import time

from genmix_core.report import advice, charts, recipe, texts
from genmix_core.report.facts import ReportFacts, gather_facts
from genmix_core.report.verdict import verdict_lines


@dataclass
class Block:
    """One piece of the report.

    ``kind``: ``heading``, ``verdict`` (``items``: ``(sentence, call)``, call ``better``/``worse``/
    ``no_clear_difference`` or None), ``text``, ``note`` (small print),
    ``bullets`` (``items``: str), ``table`` (``items``: rows as dicts), ``examples`` (``items``:
    :class:`~genmix_core.report.facts.Example`) or ``chart`` (``figure``: a plotly figure).
    """

    kind: str
    text: str = ""
    items: list = field(default_factory=list)
    figure: Any = None


@dataclass
class Report:
    title: str
    meta: list[str]
    blocks: list[Block]
    lang: str


def _sep(lang: str) -> str:
    return "、" if lang == "ja" else ", "


def _data_blocks(results: dict, lang: str) -> list[Block]:
    classes = results["classes"]
    counts = results.get("counts") or {}
    split = results.get("split", {})
    n_train, n_test = int(split.get("n_train") or 0), int(split.get("n_test") or 0)
    blocks = [Block("heading", t("report.h.data", lang)),
              Block("text", t("report.data.classes", lang, n=len(classes), classes=_sep(lang).join(classes))),
              Block("text", t("report.data.split", lang, total=n_train + n_test, n_train=n_train, n_test=n_test))]
    if results.get("cross_domain"):
        missing = advice.missing_onsite_classes(results)
        n_onsite = results["cross_domain"].get("n", 0)
        blocks.append(Block("text", t("report.data.onsite_some", lang, n=n_onsite, k=len(classes) - len(missing),
                                      total=len(classes), missing=_sep(lang).join(missing))
                            if missing else t("report.data.onsite_all", lang, n=n_onsite, total=len(classes))))
    else:
        blocks.append(Block("text", t("report.data.no_onsite", lang)))
    cols = [("train", "report.col.train"), ("test", "train.fig.in_domain"), ("onsite", "train.fig.cross_domain")]
    cols = [(k, key) for k, key in cols if k in counts and (k != "onsite" or results.get("cross_domain"))]
    if cols:
        rows = [{t("train.fig.class", lang): c, **{t(key, lang): str(counts[k].get(c, 0)) for k, key in cols}}
                for c in classes]
        blocks.append(Block("table", items=rows))
    return blocks


def _genmix_blocks(results: dict, facts: ReportFacts, lang: str) -> list[Block]:
    if not texts.uses_edits(results):
        return []
    editor = texts.editor_text(results, lang)
    blocks = [Block("heading", t("report.h.genmix", lang)),
              Block("text", t("report.editor.diffusion" if texts.is_diffusion(results) else "report.editor.filter",
                              lang, editor=editor)),
              Block("text", texts.genmix_text(results, lang))]
    if facts.prompts:
        cols = t("report.col.prompt", lang), t("report.col.meaning", lang)
        blocks.append(Block("table", items=[{cols[0]: text, cols[1]: ja or "–"} for text, ja in facts.prompts]))
    if facts.examples:
        blocks.append(Block("text", t("report.examples", lang)))
        blocks.append(Block("examples", items=facts.examples))
    return blocks


def _result_blocks(results: dict, lang: str) -> list[Block]:
    blocks = [Block("heading", t("report.h.results", lang)),
              Block("table", items=texts.summary_rows(results, lang)),
              Block("note", texts.spread_note(results, lang)),
              Block("chart", figure=charts.fig_accuracy(results, lang))]
    if charts.has_onsite(results):
        blocks.append(Block("chart", figure=charts.fig_domains(results, lang)))
    blocks.append(Block("chart", figure=charts.fig_per_class(results, lang)))
    if charts.has_onsite(results) and charts.onsite_classes(results):
        blocks.append(Block("chart", figure=charts.fig_per_class(results, lang, domain="cross")))
    if results.get("eps"):
        blocks += [Block("text", t("report.attack.explain", lang)),
                   Block("chart", figure=charts.fig_robustness(results, lang))]
    if charts.has_few_shot(results):
        blocks += [Block("chart", figure=charts.fig_few_shot(results, lang)),
                   Block("note", texts.few_shot_text(results, lang))]
    blocks += [Block("text", texts.budget_text(results, lang)),
               Block("note", texts.settings_text(results, lang)),
               Block("note", texts.time_text(results, lang))]
    return blocks


def build_report(results: dict, lang: str = "en", facts: ReportFacts | None = None) -> Report:
    """The whole report of ``results`` in ``lang`` (facts gathered from the run's records when not given)."""
    facts = facts or gather_facts(results)
    meta = [t("report.meta.project", lang, name=facts.project), t("report.meta.date", lang, date=facts.finished)]
    if results.get("status") not in (None, "done"):
        meta.append(t("report.meta.status", lang, status=t(f"ui.job.status.{results['status']}", lang)))
    blocks = [Block("heading", t("report.h.verdict", lang)),
              Block("verdict", items=verdict_lines(results, lang)),
              Block("note", t("report.verdict.rule", lang))]
    retrained = texts.reuse_text(results, lang)   # earlier runs on other photos or settings were not reused
    if retrained:
        blocks.append(Block("note", retrained))
    blocks += _data_blocks(results, lang)
    blocks += _genmix_blocks(results, facts, lang)
    blocks += _result_blocks(results, lang)
    if facts.search:
        blocks += recipe_blocks(facts.search, lang)
    for heading, items in (("report.h.caveats", advice.caveats(results, lang)),
                           ("report.h.next", advice.next_steps(results, lang))):
        if items:
            blocks += [Block("heading", t(heading, lang)), Block("bullets", items=items)]
    return Report(title=t("train.report.title", lang), meta=meta, blocks=blocks, lang=lang)


def recipe_blocks(search: dict, lang: str = "en", *, heading: bool = True) -> list[Block]:
    """The "recommended recipe" section of a recipe search's ``search.json`` (:mod:`.recipe`)."""
    return [Block(kind, **fields) for kind, fields in recipe.section(search, lang, heading=heading)]


def build_search_report(search: dict, lang: str = "en") -> Report:
    """The report of a recipe search on its own (the Search page and its HTML export)."""
    updated = search.get("updated")
    date = time.strftime("%Y-%m-%d %H:%M", time.localtime(updated)) if updated else "–"
    return Report(title=t("search.report.title", lang), meta=[t("report.meta.date", lang, date=date)],
                  blocks=recipe_blocks(search, lang, heading=False), lang=lang)
