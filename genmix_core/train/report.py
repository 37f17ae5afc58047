"""Figures and a self-contained HTML report of a Train & Compare result (``results.json``).

Every function takes the results dict (:func:`genmix_core.train.compare.load_results`) and a language; every
visible label comes from the catalog (``train.*`` keys). The HTML export embeds plotly.js once
(``include_plotlyjs=True`` on the first figure), so the file opens offline in any browser: no CDN.
"""

from __future__ import annotations

import html

import plotly.graph_objects as go
from plotly.io import to_html

from genmix_core.i18n import t
from genmix_core.train.conditions import CONDITIONS

# A fixed colour per condition, so every chart of a report reads the same way.
def _color(condition: str) -> str | None:
    """The condition's fixed chart colour (None for a condition this version does not know)."""
    found = CONDITIONS.get(condition)
    return found.color if found else None


def condition_label(condition: str, lang: str = "en") -> str:
    """Display name of a condition (``train.cond.<name>``; the bare name for one this version does not know)."""
    found = CONDITIONS.get(condition)
    return t(found.label_key, lang) if found else condition


def conditions_in_order(results: dict) -> list[str]:
    """The conditions that have results, in the order the user asked for them (JSON keys come back sorted)."""
    asked = list(results.get("config", {}).get("conditions", []))
    have = results["conditions"]
    return [c for c in asked if c in have] + sorted(c for c in have if c not in asked)


def _mean_std(stat: dict | None) -> tuple[float | None, float | None]:
    if not stat or stat.get("mean") is None:
        return None, None
    return stat["mean"], stat.get("std") or 0.0


def _layout(fig: go.Figure, title: str, x: str, y: str, *, percent: bool = True) -> go.Figure:
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=y, template="plotly_white",
                      margin=dict(l=60, r=20, t=60, b=60), legend_title_text="")
    if percent:
        fig.update_yaxes(range=[0, 1.05], tickformat=".0%")
    return fig


def fig_accuracy(results: dict, lang: str = "en") -> go.Figure:
    """In-domain top-1 accuracy per condition: mean over seeds, error bars ± one std."""
    conds = conditions_in_order(results)
    stats = [_mean_std(results["conditions"][c]["accuracy"]) for c in conds]
    fig = go.Figure(go.Bar(
        x=[condition_label(c, lang) for c in conds], y=[m for m, _ in stats],
        error_y=dict(type="data", array=[s for _, s in stats]), marker_color=[_color(c) for c in conds],
        text=[f"{m:.1%}" if m is not None else "" for m, _ in stats], textposition="outside"))
    return _layout(fig, t("train.fig.accuracy", lang), t("train.fig.condition", lang), t("train.fig.top1", lang))


def fig_domains(results: dict, lang: str = "en") -> go.Figure:
    """In-domain vs second-domain accuracy per condition (grouped bars, ± std); in-domain only without one."""
    conds = conditions_in_order(results)
    x = [condition_label(c, lang) for c in conds]
    fig = go.Figure()
    for key, name in (("accuracy", "train.fig.in_domain"), ("cross_domain_accuracy", "train.fig.cross_domain")):
        stats = [_mean_std(results["conditions"][c].get(key)) for c in conds]
        if all(m is None for m, _ in stats):
            continue
        fig.add_bar(x=x, y=[m for m, _ in stats], name=t(name, lang),
                    error_y=dict(type="data", array=[s for _, s in stats]))
    fig.update_layout(barmode="group")
    return _layout(fig, t("train.fig.domains", lang), t("train.fig.condition", lang), t("train.fig.top1", lang))


def eps_value(label: str) -> float:
    """``"4/255"`` → 0.0157 (labels as written in the results)."""
    from genmix_core.train.evaluate import parse_eps

    return parse_eps(label)[0][1]


def fig_robustness(results: dict, lang: str = "en") -> go.Figure:
    """Accuracy vs attack strength ε for FGSM (dashed) and PGD (solid), ε = 0 being clean accuracy."""
    fig = go.Figure()
    eps = results.get("eps", [])
    xs = [0.0] + [eps_value(e) * 255 for e in eps]
    for cond in conditions_in_order(results):
        s = results["conditions"][cond]
        clean = _mean_std(s["accuracy"])
        for attack, dash in (("fgsm", "dash"), ("pgd", "solid")):
            pts = [clean] + [_mean_std(s.get(f"{attack}_accuracy", {}).get(e)) for e in eps]
            fig.add_scatter(x=xs, y=[m for m, _ in pts], error_y=dict(type="data", array=[d for _, d in pts]),
                            mode="lines+markers", line=dict(color=_color(cond), dash=dash),
                            name=f"{condition_label(cond, lang)} · {attack.upper()}")
    return _layout(fig, t("train.fig.robustness", lang), t("train.fig.eps", lang), t("train.fig.top1", lang))


def fig_per_class(results: dict, lang: str = "en", domain: str = "in") -> go.Figure:
    """Per-class accuracy (recall) per condition, grouped by class; ``domain`` ``"in"`` or ``"cross"``."""
    key = "per_class" if domain == "in" else "cross_domain_per_class"
    fig = go.Figure()
    classes = results["classes"]
    for cond in conditions_in_order(results):
        s = results["conditions"][cond]
        stats = [_mean_std((s.get(key) or {}).get(c)) for c in classes]
        fig.add_bar(x=classes, y=[m for m, _ in stats], name=condition_label(cond, lang),
                    marker_color=_color(cond), error_y=dict(type="data", array=[d for _, d in stats]))
    fig.update_layout(barmode="group")
    title = t("train.fig.per_class" if domain == "in" else "train.fig.per_class_cross", lang)
    return _layout(fig, title, t("train.fig.class", lang), t("train.fig.recall", lang))


def fig_confusion(results: dict, condition: str, lang: str = "en", domain: str = "in") -> go.Figure:
    """Confusion matrix of one condition, counts summed over seeds; rows true class, columns predicted."""
    s = results["conditions"][condition]
    cm = s["confusion"] if domain == "in" else s.get("cross_domain_confusion")
    classes = results["classes"]
    fig = go.Figure(go.Heatmap(z=cm, x=classes, y=classes, colorscale="Blues", text=cm, texttemplate="%{text}",
                               hovertemplate=t("train.fig.confusion_hover", lang) + "<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    title = t("train.fig.confusion", lang, condition=condition_label(condition, lang),
              domain=t("train.fig.in_domain" if domain == "in" else "train.fig.cross_domain", lang))
    return _layout(fig, title, t("train.fig.predicted", lang), t("train.fig.true", lang), percent=False)


def count_text(noun: str, n: int, lang: str = "en") -> str:
    """``n`` with its noun in the right number: "1 optimizer step", "3 optimizer steps" (``train.count.*``)."""
    return t(f"train.count.{noun}.{'one' if n == 1 else 'other'}", lang, n=n)


def budget_text(results: dict, lang: str = "en") -> str:
    """One sentence stating the matched budget, e.g. for a caption under the charts."""
    b = results["budget"]
    return t("train.report.budget", lang, steps=b["steps"], batch=b["batch_size"], samples=b["samples"],
             epochs=b["epochs"], n=b["n_train_originals"], steps_text=count_text("steps", b["steps"], lang),
             batch_text=count_text("images", b["batch_size"], lang),
             samples_text=count_text("samples", b["samples"], lang),
             epochs_text=count_text("epochs", b["epochs"], lang),
             n_text=count_text("originals", b["n_train_originals"], lang))


def genmix_text(results: dict, lang: str = "en") -> str:
    """One sentence on how the GenMix images and edits were made: which editor (so a style-filter run is never
    read as diffusion edits), the masks and λ; "" when no condition used them."""
    gen, cfg = results.get("generation"), results.get("config", {})
    if not gen or not any(c in CONDITIONS and CONDITIONS[c].needs_edits for c in cfg.get("conditions", [])):
        return ""
    from genmix_core.editing.registry import EDITORS

    spec = EDITORS.get(gen.get("editor"))
    made_by = t(spec.label_key, lang) if spec else t("train.report.editor_unknown", lang)
    if gen.get("model") and (spec is None or spec.is_diffusion):
        made_by += f" ({gen['model']})"
    if cfg.get("lam") is not None:
        lam = t("train.report.lam_fixed", lang, lam=f"{cfg['lam']:g}")
    elif cfg.get("lam_range"):
        lam = t("train.report.lam_range", lang, low=f"{cfg['lam_range'][0]:g}", high=f"{cfg['lam_range'][1]:g}")
    else:  # results from before λ was re-drawn: the fixed default of the time
        lam = t("train.report.lam_fixed", lang, lam="0.2")
    return t("train.report.genmix_settings", lang, editor=made_by, mask_set=cfg.get("mask_set", "genmix"),
             lam=lam, redraw=t(f"train.report.redraw.{bool(cfg.get('redraw', True))}", lang))


def reuse_text(results: dict, lang: str = "en") -> str:
    """Why finished runs of an earlier start were trained again instead of reused (one sentence per reason,
    e.g. "the photos changed since 2025-03-01 14:05 (training originals 40 → 60 …)"); "" when all were reused
    or the results predate the check."""
    import time

    entries = results.get("not_reused") or []
    sentences = []
    for reason in ("data_changed", "data_unknown", "settings_changed"):
        group = [e for e in entries if e.get("reason") == reason]
        if not group:
            continue
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(max(float(e.get("since") or 0) for e in group)))
        counts: dict[str, list] = {}
        for e in group:
            for part in e.get("parts", []):
                counts.setdefault(part, (e.get("counts") or {}).get(part) or [None, None])
        parts = ", ".join(t("train.reuse.part", lang, part=t(f"train.part.{p}", lang), old=c[0], new=c[1])
                          for p, c in counts.items())
        sentences.append(t(f"train.reuse.{reason}", lang, n=len(group), when=when, parts=parts))
    return " ".join(sentences)


def has_few_shot(results: dict) -> bool:
    """Whether the results hold at least one finished point of a few-shot curve."""
    points = (results.get("few_shot") or {}).get("points") or {}
    return any(p.get("conditions") for p in points.values())


def few_shot_ks(results: dict) -> list[int]:
    """The k values of the few-shot curve that have results, ascending."""
    points = (results.get("few_shot") or {}).get("points") or {}
    return sorted(int(k) for k, p in points.items() if p.get("conditions"))


def fig_few_shot(results: dict, lang: str = "en") -> go.Figure:
    """Accuracy vs k originals per class, one line per condition (± std over seeds); the second domain dashed."""
    points = results["few_shot"]["points"]
    ks = few_shot_ks(results)
    fig = go.Figure()
    conds = [c for c in results.get("few_shot", {}).get("conditions", conditions_in_order(results))
             if any(c in points[str(k)]["conditions"] for k in ks)]
    for cond in conds:
        for key, dash, domain in (("accuracy", "solid", "train.fig.in_domain"),
                                  ("cross_domain_accuracy", "dash", "train.fig.cross_domain")):
            pts = [_mean_std(points[str(k)]["conditions"].get(cond, {}).get(key)) for k in ks]
            if all(m is None for m, _ in pts):
                continue
            fig.add_scatter(x=ks, y=[m for m, _ in pts], error_y=dict(type="data", array=[d for _, d in pts]),
                            mode="lines+markers", line=dict(color=_color(cond), dash=dash),
                            name=f"{condition_label(cond, lang)} · {t(domain, lang)}")
    fig.update_xaxes(type="log", tickvals=ks, ticktext=[str(k) for k in ks])
    return _layout(fig, t("train.fig.few_shot", lang), t("train.fig.k_per_class", lang), t("train.fig.top1", lang))


def few_shot_text(results: dict, lang: str = "en") -> str:
    """The few-shot sampling and budget rule, with the steps of every k (a caption under the curve)."""
    fs = results["few_shot"]
    points = ", ".join(t("train.report.few_shot_point", lang, k=k,
                         steps_text=count_text("steps", fs["points"][str(k)]["budget"]["steps"], lang))
                       for k in few_shot_ks(results))
    return t("train.report.few_shot_budget", lang, epochs_text=count_text("epochs", fs["epochs"], lang),
             points=points)


def summary_rows(results: dict, lang: str = "en") -> list[dict[str, str]]:
    """The results table as rows of display strings (condition, pool, accuracy, cross-domain, PGD per ε)."""
    def fmt(stat):
        m, s = _mean_std(stat)
        return "–" if m is None else f"{m:.1%} ± {s:.1%}"

    rows = []
    for cond in conditions_in_order(results):
        s = results["conditions"][cond]
        row = {t("train.fig.condition", lang): condition_label(cond, lang),
               t("train.report.pool", lang): str(s["pool_size"]),
               t("train.report.steps", lang): str(s["steps"]),
               t("train.report.samples", lang): str(s["samples"]),
               t("train.fig.in_domain", lang): fmt(s["accuracy"])}
        if "cross_domain_accuracy" in s:
            row[t("train.fig.cross_domain", lang)] = fmt(s["cross_domain_accuracy"])
        for attack in ("fgsm", "pgd"):
            for e in results.get("eps", []):
                row[f"{attack.upper()} ε={e}"] = fmt(s.get(f"{attack}_accuracy", {}).get(e))
        rows.append(row)
    return rows


def all_figures(results: dict, lang: str = "en", *, confusion: bool = True) -> list[go.Figure]:
    """Every chart of the report, in reading order (the confusion matrices last, one per condition)."""
    figs = [fig_accuracy(results, lang)]
    if any("cross_domain_accuracy" in s for s in results["conditions"].values()):
        figs.append(fig_domains(results, lang))
    if results.get("eps"):
        figs.append(fig_robustness(results, lang))
    figs.append(fig_per_class(results, lang))
    if any("cross_domain_per_class" in s for s in results["conditions"].values()):
        figs.append(fig_per_class(results, lang, domain="cross"))
    if has_few_shot(results):
        figs.append(fig_few_shot(results, lang))
    if confusion:
        figs += [fig_confusion(results, cond, lang) for cond in conditions_in_order(results)]
    return figs


def export_html(results: dict, lang: str = "en") -> str:
    """A self-contained HTML page (plotly.js embedded once, no network needed) with table and charts."""
    cfg = results.get("config", {})
    rows = summary_rows(results, lang)
    head = "".join(f"<th>{html.escape(k)}</th>" for k in (rows[0] if rows else {}))
    body = "".join("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in r.values()) + "</tr>" for r in rows)
    settings = t("train.report.settings", lang, backbone=cfg.get("backbone", ""), finetune=cfg.get("finetune", ""),
                 size=cfg.get("size", ""), seeds=", ".join(str(s) for s in cfg.get("seeds", [])),
                 n_test=results.get("split", {}).get("n_test", ""))
    parts = [to_html(fig, full_html=False, include_plotlyjs=(i == 0))
             for i, fig in enumerate(all_figures(results, lang))]
    title = html.escape(t("train.report.title", lang))
    return (f"<!DOCTYPE html><html lang='{lang}'><head><meta charset='utf-8'><title>{title}</title>"
            "<style>body{font-family:sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}</style></head><body>"
            f"<h1>{title}</h1><p>{html.escape(budget_text(results, lang))}</p><p>{html.escape(settings)}</p>"
            f"<p>{html.escape(genmix_text(results, lang))}</p><p>{html.escape(reuse_text(results, lang))}</p>"
            f"<p>{html.escape(t('train.report.std_note', lang))}</p>"
            + (f"<p>{html.escape(few_shot_text(results, lang))}</p>" if has_few_shot(results) else "") +
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
            + "".join(f"<div>{p}</div>" for p in parts) + "</body></html>")
