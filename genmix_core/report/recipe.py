"""The "recommended recipe" section: what a recipe search (``search.json``) found, in plain words.

Used three ways: in the Train & Compare report when the project has a finished search on the same training
photos (:func:`genmix_core.report.facts.gather_facts` finds it), as the whole report of a search on the Search
page and in its HTML export (:func:`genmix_core.report.document.build_search_report`). This module gives the
section as ``(kind, fields)`` pairs that :mod:`~genmix_core.report.document` turns into its blocks. Every visible
word comes from the catalog (``search.rec.*``, ``search.fig.*``, ``search.label.*``).
"""

from __future__ import annotations

import plotly.graph_objects as go

from genmix_core.i18n import t
from genmix_core.report.charts import FONT_FAMILY, condition_label
from genmix_core.report.texts import number, pct, points
from genmix_core.train import CONDITIONS

TOP_ROWS = 6


def _sep(lang: str) -> str:
    return "、" if lang == "ja" else ", "


def recipe_label(settings: dict, prompts: list[str], lang: str = "en", *, short: bool = False) -> str:
    """A recipe in words: ``GenMix (λ 0.05–0.15 drawn per image, DiffuseMix masks, 2 of 3 prompts, 4× longer
    training)``; ``short`` for chart axes (``GenMix λ0.05–0.15 · DiffuseMix · p1+3 · ×4``)."""
    parts = []
    if settings.get("lam") is not None:
        parts.append(t("search.label.lam", lang, lam=number(settings["lam"], 2, strip=True)))
    elif settings.get("lam_range"):
        low, high = settings["lam_range"]
        parts.append(t("search.label.lam_range" + ("_short" if short else ""), lang,
                       low=number(low, 3, strip=True), high=number(high, 3, strip=True)))
    if settings.get("mask_set"):
        parts.append(t(f"search.label.masks.{settings['mask_set']}", lang))
    chosen = settings.get("prompts")
    if chosen is not None and prompts and len(chosen) < len(prompts):
        left_out = [p for p in prompts if p not in chosen]
        if short:
            parts.append("p" + "+".join(str(prompts.index(p) + 1) for p in chosen if p in prompts))
        elif len(left_out) < len(chosen):      # name the shorter list: "without: dim lighting"
            parts.append(t("search.label.without", lang, prompts=_sep(lang).join(left_out)))
        else:
            parts.append(t("search.label.prompts", lang, prompts=_sep(lang).join(chosen)))
    scale = int(settings.get("steps_scale", 1))
    if scale != 1:
        parts.append(f"×{scale}" if short else t("search.label.longer", lang, scale=scale))
    name = condition_label(settings["condition"], lang)
    if not parts:
        return name
    if short:
        return f"{name} " + " · ".join(parts)
    return f"{name}（{_sep(lang).join(parts)}）" if lang == "ja" else f"{name} ({_sep(lang).join(parts)})"


def _entry(search: dict, name: str | None) -> dict | None:
    return next((r for r in search.get("recipes", []) if r["name"] == name), None)


def label_of(search: dict, name: str | None, lang: str = "en", *, short: bool = False) -> str:
    entry = _entry(search, name)
    return recipe_label(entry["settings"], search.get("prompts") or [], lang, short=short) if entry else (name or "–")


def fig_recipes(search: dict, lang: str = "en") -> go.Figure:
    """Every recipe scored, ranked by its selection accuracy (best on top), ± one standard deviation over seeds
    where several seeds ran (filled dots); recipes that stopped after the first round have one seed (open
    dots, no bar). The chosen recipe is drawn as a star."""
    rows = sorted(search.get("recipes", []), key=lambda r: (r["selection"]["mean"] or 0.0))
    prompts = search.get("prompts") or []
    fig = go.Figure()
    for complete in (False, True):
        part = [r for r in rows if bool(r.get("complete")) == complete]
        if not part:
            continue
        fig.add_scatter(
            x=[r["selection"]["mean"] for r in part],
            y=[recipe_label(r["settings"], prompts, lang, short=True) for r in part],
            error_x=dict(type="data", array=[r["selection"]["std"] or 0.0 for r in part]) if complete else None,
            mode="markers", name=t("search.fig.all_seeds" if complete else "search.fig.one_seed", lang),
            marker=dict(size=[16 if r["name"] == search.get("chosen") else 9 for r in part],
                        symbol=[("star" if r["name"] == search.get("chosen") else "circle")
                                + ("" if complete else "-open") for r in part],
                        color=[CONDITIONS[r["settings"]["condition"]].color
                               if r["settings"]["condition"] in CONDITIONS else "#7f7f7f" for r in part]))
    fig.update_layout(title=t("search.fig.title", lang), xaxis_title=t("search.fig.x", lang),
                      template="plotly_white", font_family=FONT_FAMILY, height=max(320, 28 * len(rows) + 140),
                      margin=dict(l=20, r=20, t=60, b=60), legend_title_text="")
    fig.update_xaxes(tickformat=".0%")
    fig.update_yaxes(categoryorder="array",
                     categoryarray=[recipe_label(r["settings"], prompts, lang, short=True) for r in rows])
    return fig


def _split_sentence(search: dict, lang: str) -> str:
    split = search["split"]
    counts = split.get("counts", {})
    n_sel = sum(counts.get("selection", {}).values())
    n_rep = sum(counts.get("report", {}).values())
    if split["mode"] == "onsite":
        return t("search.rec.split", lang, n_sel=n_sel, n_rep=n_rep)
    per_seed = split.get("per_seed") or {}
    n_hold = len(next(iter(per_seed.values()), {}).get("selection", []))
    return t(f"search.rec.weaker.{split.get('reason') or 'too_few'}", lang, n=n_hold, min=split.get("min_per_class"),
             n_rep=n_rep)


def recipe_lines(search: dict, lang: str = "en") -> list[tuple[str, str | None]]:
    """``(sentence, call)``: the recommendation, the one check on the report part with its verdict."""
    chosen, complete = search.get("chosen"), [r for r in search.get("recipes", []) if r.get("complete")]
    if search.get("status") != "done" or not chosen:
        return [(t("search.rec.pending", lang), None)]
    entry = _entry(search, chosen)
    n_sel = entry["selection"]["n_photos"]
    seeds = len(entry["selection"]["per_seed"])
    if entry["settings"]["condition"] == "baseline" and int(entry["settings"].get("steps_scale", 1)) == 1:
        lines = [(t("search.rec.baseline_best", lang, n=len(search["recipes"]), n_sel=n_sel), None)]
    else:
        lines = [(t("search.rec.chosen", lang, label=label_of(search, chosen, lang), n=len(search["recipes"]),
                    n_sel=n_sel, value=pct(entry["selection"]["mean"], lang), seeds=seeds,
                    finalists=len(complete)), None)]
    report = search.get("report") or {}
    if report:
        part = t(f"search.rec.part.{report['part']}", lang, n=report["n_photos"])
        base = report.get("baseline")
        lines.append((t("search.rec.report" if base else "search.rec.report_alone", lang, part=part,
                        value=pct(report["chosen"]["mean"], lang), ref=pct(base["mean"], lang) if base else "",
                        seeds=len(report["chosen"]["per_seed"])), None))
    verdict = search.get("verdict")
    if verdict:
        low, high = verdict["interval"]
        method = "seeds" if verdict["method"] == "paired_seeds" else "images"
        why = t(f"report.why.{method}.{'unclear' if verdict['call'] == 'no_clear_difference' else 'clear'}", lang,
                n=verdict["n"], low=points(low), high=points(high))
        lines.append((t(f"search.rec.verdict.{verdict['call']}", lang, label=label_of(search, chosen, lang),
                        reference=label_of(search, search.get("reference"), lang), delta=points(verdict["delta"]),
                        why=why), verdict["call"]))
    return lines


def section(search: dict, lang: str = "en", *, heading: bool = True) -> list[tuple[str, dict]]:
    """The section as ``(block kind, block fields)``: recommendation and verdict, how the photos were used, the
    ranking chart, the best recipes as a table, the budget rule, how to apply it."""
    blocks = [("heading", {"text": t("search.rec.heading", lang)})] if heading else []
    blocks.append(("verdict", {"items": recipe_lines(search, lang)}))
    if not search.get("recipes"):
        return blocks
    if search.get("split"):
        blocks.append(("text", {"text": _split_sentence(search, lang)}))
    blocks.append(("chart", {"figure": fig_recipes(search, lang)}))
    rows = sorted((r for r in search["recipes"] if r.get("complete")), key=lambda r: -(r["selection"]["mean"] or 0))
    cols = [t(k, lang) for k in ("search.col.recipe", "search.col.selection", "search.col.seeds")]
    blocks.append(("table", {"items": [{cols[0]: label_of(search, r["name"], lang),
                                        cols[1]: _mean_std(r["selection"], lang),
                                        cols[2]: str(len(r["selection"]["per_seed"]))} for r in rows[:TOP_ROWS]]}))
    budget = search.get("budget") or {}
    longer = budget.get("scales", [])[1:]
    blocks.append(("note", {"text": t("search.rec.budget" if longer else "search.rec.budget_one", lang,
                                      steps=budget.get("base_steps"), batch=budget.get("batch_size"),
                                      scales=_sep(lang).join(f"×{s}" for s in longer),
                                      seeds=len(budget.get("seeds", [])), n_grid=len(search["grid"]["recipes"]))}))
    blocks.append(("note", {"text": t("search.rec.apply", lang)}))
    return blocks


def _mean_std(selection: dict, lang: str) -> str:
    mean, std = selection.get("mean"), selection.get("std")
    if len(selection.get("per_seed", {})) > 1:
        return f"{pct(mean, lang)} ± {number((std or 0.0) * 100)}"
    return pct(mean, lang)
