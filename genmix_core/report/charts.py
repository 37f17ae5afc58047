"""The charts of a Train & Compare result (``results.json``), with plain-language labels in either language.

Every function takes the results dict (:func:`genmix_core.train.load_results`) and a language; every visible
label comes from the catalog. With one seed there is no spread to draw: no error bars, never "± 0".
"""

from __future__ import annotations

import plotly.graph_objects as go

from genmix_core.i18n import t
from genmix_core.train import CONDITIONS, parse_eps

#: Fonts with Japanese glyphs first (Debian/Noto, Windows, macOS), so charts read the same on screen and in PDF.
FONT_FAMILY = ('"Noto Sans CJK JP", "Noto Sans JP", "Yu Gothic", "YuGothic", Meiryo, "Hiragino Sans", '
               "Arial, sans-serif")
ATTACKS = ("fgsm", "pgd")
DOMAIN_COLORS = ("#4c78a8", "#f58518")     # held-out, on-site: apart from every condition's colour


def _color(condition: str) -> str | None:
    """The condition's fixed chart colour (None for a condition this version does not know)."""
    found = CONDITIONS.get(condition)
    return found.color if found else None


def condition_label(condition: str, lang: str = "en") -> str:
    """Display name of a condition (its catalog label; the bare name for one this version does not know)."""
    found = CONDITIONS.get(condition)
    return t(found.label_key, lang) if found else condition


def conditions_in_order(results: dict) -> list[str]:
    """The conditions that have results, in the order the user asked for them (JSON keys come back sorted)."""
    asked = list(results.get("config", {}).get("conditions", []))
    have = results["conditions"]
    return [c for c in asked if c in have] + sorted(c for c in have if c not in asked)


def mean_std(stat: dict | None) -> tuple[float | None, float | None]:
    """``(mean, std)`` of a stored statistic; std is None for a single value (no spread is known)."""
    if not stat or stat.get("mean") is None:
        return None, None
    n = stat.get("n", len(stat.get("values", [])) or 2)
    return stat["mean"], (stat.get("std") or 0.0) if n > 1 else None


def _bars(stats):
    """Error bars for ``[(mean, std)]``, or None when no value has a spread (one seed)."""
    if all(s is None for _, s in stats):
        return None
    return dict(type="data", array=[s or 0.0 for _, s in stats])


def _layout(fig: go.Figure, title: str, x: str, y: str, *, percent: bool = True) -> go.Figure:
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=y, template="plotly_white", font_family=FONT_FAMILY,
                      margin=dict(l=60, r=20, t=60, b=60), legend_title_text="")
    if percent:
        fig.update_yaxes(range=[0, 1.05], tickformat=".0%")
    return fig


def onsite_classes(results: dict) -> list[str]:
    """The classes that have on-site photos, in class order (all classes when the counts are unknown)."""
    counts = (results.get("counts") or {}).get("onsite")
    if counts is None:
        return list(results["classes"])
    return [c for c in results["classes"] if counts.get(c)]


def fig_accuracy(results: dict, lang: str = "en") -> go.Figure:
    """Accuracy on the held-out photos per condition: mean over seeds, error bars ± one std (several seeds)."""
    conds = conditions_in_order(results)
    stats = [mean_std(results["conditions"][c]["accuracy"]) for c in conds]
    fig = go.Figure(go.Bar(
        x=[condition_label(c, lang) for c in conds], y=[m for m, _ in stats], error_y=_bars(stats),
        marker_color=[_color(c) for c in conds],
        text=[f"{m:.1%}" if m is not None else "" for m, _ in stats], textposition="outside"))
    return _layout(fig, t("train.fig.accuracy", lang), t("train.fig.condition", lang), t("train.fig.top1", lang))


def fig_domains(results: dict, lang: str = "en") -> go.Figure:
    """Held-out vs on-site accuracy per condition (grouped bars); held-out only without on-site photos."""
    conds = conditions_in_order(results)
    x = [condition_label(c, lang) for c in conds]
    fig = go.Figure()
    for key, name, color in (("accuracy", "train.fig.in_domain", DOMAIN_COLORS[0]),
                             ("cross_domain_accuracy", "train.fig.cross_domain", DOMAIN_COLORS[1])):
        stats = [mean_std(results["conditions"][c].get(key)) for c in conds]
        if all(m is None for m, _ in stats):
            continue
        fig.add_bar(x=x, y=[m for m, _ in stats], name=t(name, lang), error_y=_bars(stats), marker_color=color,
                    text=[f"{m:.0%}" if m is not None else "" for m, _ in stats], textposition="outside")
    fig.update_layout(barmode="group")
    return _layout(fig, t("train.fig.domains", lang), t("train.fig.condition", lang), t("train.fig.top1", lang))


def eps_value(label: str) -> float:
    """``"4/255"`` → 0.0157 (labels as written in the results)."""
    return parse_eps(label)[0][1]


def fig_robustness(results: dict, lang: str = "en") -> go.Figure:
    """Accuracy vs attack strength for the one-step (dashed) and repeated (solid) attack; 0 = no attack."""
    fig = go.Figure()
    eps = results.get("eps", [])
    xs = [0.0] + [eps_value(e) * 255 for e in eps]
    for cond in conditions_in_order(results):
        s = results["conditions"][cond]
        clean = mean_std(s["accuracy"])
        for attack, dash in zip(ATTACKS, ("dash", "solid")):
            pts = [clean] + [mean_std(s.get(f"{attack}_accuracy", {}).get(e)) for e in eps]
            fig.add_scatter(x=xs, y=[m for m, _ in pts], error_y=_bars(pts), mode="lines+markers",
                            line=dict(color=_color(cond), dash=dash),
                            name=f"{condition_label(cond, lang)} · {t(f'report.attack.{attack}', lang)}")
    return _layout(fig, t("train.fig.robustness", lang), t("train.fig.eps", lang), t("train.fig.top1", lang))


def fig_per_class(results: dict, lang: str = "en", domain: str = "in") -> go.Figure:
    """Per-class accuracy (recall) per condition, grouped by class; ``domain`` ``"in"`` or ``"cross"``.

    The on-site chart shows only the classes that have on-site photos and says how many of all classes that is.
    """
    key = "per_class" if domain == "in" else "cross_domain_per_class"
    classes = list(results["classes"]) if domain == "in" else onsite_classes(results)
    fig = go.Figure()
    for cond in conditions_in_order(results):
        s = results["conditions"][cond]
        stats = [mean_std((s.get(key) or {}).get(c)) for c in classes]
        fig.add_bar(x=classes, y=[m for m, _ in stats], name=condition_label(cond, lang),
                    marker_color=_color(cond), error_y=_bars(stats))
    fig.update_layout(barmode="group")
    title = (t("train.fig.per_class", lang) if domain == "in" else
             t("train.fig.per_class_cross", lang, n=len(classes), total=len(results["classes"])))
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


def has_few_shot(results: dict) -> bool:
    """Whether the results hold at least one finished point of a few-shot curve."""
    points = (results.get("few_shot") or {}).get("points") or {}
    return any(p.get("conditions") for p in points.values())


def few_shot_ks(results: dict) -> list[int]:
    """The k values of the few-shot curve that have results, ascending."""
    points = (results.get("few_shot") or {}).get("points") or {}
    return sorted(int(k) for k, p in points.items() if p.get("conditions"))


def fig_few_shot(results: dict, lang: str = "en") -> go.Figure:
    """Accuracy vs k originals per class, one line per condition (± std over seeds); on-site photos dashed."""
    points = results["few_shot"]["points"]
    ks = few_shot_ks(results)
    fig = go.Figure()
    conds = [c for c in results.get("few_shot", {}).get("conditions", conditions_in_order(results))
             if any(c in points[str(k)]["conditions"] for k in ks)]
    for cond in conds:
        for key, dash, domain in (("accuracy", "solid", "train.fig.in_domain"),
                                  ("cross_domain_accuracy", "dash", "train.fig.cross_domain")):
            pts = [mean_std(points[str(k)]["conditions"].get(cond, {}).get(key)) for k in ks]
            if all(m is None for m, _ in pts):
                continue
            fig.add_scatter(x=ks, y=[m for m, _ in pts], error_y=_bars(pts), mode="lines+markers",
                            line=dict(color=_color(cond), dash=dash),
                            name=f"{condition_label(cond, lang)} · {t(domain, lang)}")
    fig.update_xaxes(type="log", tickvals=ks, ticktext=[str(k) for k in ks])
    return _layout(fig, t("train.fig.few_shot", lang), t("train.fig.k_per_class", lang), t("train.fig.top1", lang))


def has_onsite(results: dict) -> bool:
    """Whether any condition was tested on on-site photos."""
    return any("cross_domain_accuracy" in s for s in results["conditions"].values())


def all_figures(results: dict, lang: str = "en", *, confusion: bool = True) -> list[go.Figure]:
    """Every chart of the report, in reading order (the confusion matrices last, one per condition)."""
    figs = [fig_accuracy(results, lang)]
    if has_onsite(results):
        figs.append(fig_domains(results, lang))
    if results.get("eps"):
        figs.append(fig_robustness(results, lang))
    figs.append(fig_per_class(results, lang))
    if any("cross_domain_per_class" in s for s in results["conditions"].values()) and onsite_classes(results):
        figs.append(fig_per_class(results, lang, domain="cross"))
    if has_few_shot(results):
        figs.append(fig_few_shot(results, lang))
    if confusion:
        figs += [fig_confusion(results, cond, lang) for cond in conditions_in_order(results)]
    return figs
