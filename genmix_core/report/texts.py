"""Sentences and the summary table of a report, in plain words (catalog keys ``train.report.*``, ``report.*``).

Numbers: accuracies are shown as percent ("61 %"), differences as points ("−30 points"), one decimal only
where it is not zero. No raw ids: conditions, models, layers and masks are named through the catalog.
"""

from __future__ import annotations

from genmix_core.editing import EDITORS
from genmix_core.i18n import t
from genmix_core.report.charts import (ATTACKS, condition_label, conditions_in_order, eps_value, few_shot_ks,
                                       mean_std)
from genmix_core.train import CONDITIONS

MINUS = "\u2212"


def number(x: float, decimals: int = 1, *, strip: bool = False) -> str:
    """``61.04`` → ``"61.0"``, ``-3`` → ``"−3.0"`` (a real minus sign); ``strip`` drops a zero fraction
    (``"61"``)."""
    text = f"{x:.{decimals}f}"
    if strip and "." in text:
        text = text.rstrip("0").rstrip(".")
    if text.lstrip("-").strip("0.") == "":
        text = text.lstrip("-")           # no "−0.0"
    return text.replace("-", MINUS)


def pct(x: float | None, lang: str = "en") -> str:
    """An accuracy in [0, 1] as percent with one decimal: ``"61.0 %"`` (``"61.0%"`` in Japanese)."""
    if x is None:
        return "–"
    return f"{number(x * 100)}%" if lang == "ja" else f"{number(x * 100)} %"


def points(delta: float, *, sign: bool = True) -> str:
    """A difference in [−1, 1] as percentage points with its sign: ``"−30.0"``, ``"+4.5"``, ``"0.0"``."""
    text = number(delta * 100)
    return f"+{text}" if sign and text[0] != MINUS and text.strip("0.") else text


def grey_levels(eps_label: str) -> str:
    """An attack strength label (``"1/255"``) as grey levels out of 255 (``"1"``, ``"0.25"``)."""
    return number(eps_value(eps_label) * 255, 2, strip=True)


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


def uses_edits(results: dict) -> bool:
    """Whether a condition of the run trained on edited or GenMix images."""
    conds = results.get("config", {}).get("conditions", [])
    return bool(results.get("generation")) and any(c in CONDITIONS and CONDITIONS[c].needs_edits for c in conds)


def editor_text(results: dict, lang: str = "en") -> str:
    """Who made the edits, named honestly: the style filter is never called an AI edit."""
    gen = results.get("generation") or {}
    spec = EDITORS.get(gen.get("editor"))
    made_by = t(spec.label_key, lang) if spec else t("train.report.editor_unknown", lang)
    if gen.get("model") and (spec is None or spec.is_diffusion):
        made_by += f" ({gen['model']})"
    return made_by


def is_diffusion(results: dict) -> bool:
    spec = EDITORS.get((results.get("generation") or {}).get("editor"))
    return bool(spec and spec.is_diffusion)


def genmix_text(results: dict, lang: str = "en") -> str:
    """One sentence on how the GenMix images and edits were made: which editor (so a style-filter run is never
    read as diffusion edits), the masks and λ; "" when no condition used them."""
    if not uses_edits(results):
        return ""
    cfg = results.get("config", {})
    if cfg.get("lam") is not None:
        lam = t("train.report.lam_fixed", lang, lam=f"{cfg['lam']:g}")
    elif cfg.get("lam_range"):
        lam = t("train.report.lam_range", lang, low=f"{cfg['lam_range'][0]:g}", high=f"{cfg['lam_range'][1]:g}")
    else:  # results from before λ was re-drawn: the fixed default of the time
        lam = t("train.report.lam_fixed", lang, lam="0.2")
    masks = t(f"train.report.mask_set.{cfg.get('mask_set', 'genmix')}", lang)
    return t("train.report.genmix_settings", lang, editor=editor_text(results, lang), mask_set=masks,
             lam=lam, redraw=t(f"train.report.redraw.{bool(cfg.get('redraw', True))}", lang))


def settings_text(results: dict, lang: str = "en") -> str:
    """The model and its training settings, named through the catalog (no ids)."""
    cfg = results.get("config", {})
    backbone = cfg.get("backbone", "")
    model = t(f"train.page.backbone.{backbone}", lang) if backbone else "–"
    layers = ("" if backbone == "small_cnn" or not cfg.get("finetune") else
              t("train.report.layers", lang, layers=t(f"train.page.finetune.{cfg['finetune']}", lang)))
    seeds = cfg.get("seeds", [])
    return t("train.report.settings", lang, model=model, layers=layers, size=cfg.get("size", ""),
             runs_text=t("report.runs." + ("one" if len(seeds) == 1 else "other"), lang, n=len(seeds)),
             seeds=", ".join(str(s) for s in seeds))


def few_shot_text(results: dict, lang: str = "en") -> str:
    """The few-shot sampling and budget rule, with the steps of every k (a caption under the curve)."""
    fs = results["few_shot"]
    pts = ", ".join(t("train.report.few_shot_point", lang, k=k,
                      steps_text=count_text("steps", fs["points"][str(k)]["budget"]["steps"], lang))
                    for k in few_shot_ks(results))
    return t("train.report.few_shot_budget", lang, epochs_text=count_text("epochs", fs["epochs"], lang),
             points=pts)


def seed_count(results: dict) -> int:
    """The fewest seeds any condition finished (what the ± of the table rests on)."""
    ns = [len(s.get("seeds", [])) for s in results["conditions"].values()]
    return min(ns) if ns else 0


def spread_note(results: dict, lang: str = "en") -> str:
    """What the ± means, or, with one seed, that the run-to-run spread is unknown."""
    n = seed_count(results)
    return t("report.spread.one" if n <= 1 else "train.report.std_note", lang, n=n)


def summary_rows(results: dict, lang: str = "en", *, detail: bool = False) -> list[dict[str, str]]:
    """The results table as rows of display strings: method, accuracy on each test set, under attack.

    ``detail`` adds the pool, steps and samples and the one-step attack (for the ML engineer on the page).
    A single seed shows the accuracy alone (never "± 0.0 %").
    """
    def fmt(stat):
        m, s = mean_std(stat)
        if m is None:
            return "–"
        return pct(m, lang) if s is None else f"{pct(m, lang)} ± {number(s * 100)}"

    rows = []
    for cond in conditions_in_order(results):
        s = results["conditions"][cond]
        row = {t("train.fig.condition", lang): condition_label(cond, lang)}
        if detail:
            row.update({t("train.report.pool", lang): str(s["pool_size"]),
                        t("train.report.steps", lang): str(s["steps"]),
                        t("train.report.samples", lang): str(s["samples"])})
        row[t("train.fig.in_domain", lang)] = fmt(s["accuracy"])
        if "cross_domain_accuracy" in s:
            row[t("train.fig.cross_domain", lang)] = fmt(s["cross_domain_accuracy"])
        for attack in ATTACKS if detail else ("pgd",):
            for e in results.get("eps", []):
                name = t(f"report.table.{attack}", lang, grey=grey_levels(e))
                row[name] = fmt(s.get(f"{attack}_accuracy", {}).get(e))
        rows.append(row)
    return rows


def duration(seconds: float, lang: str = "en") -> str:
    """``75`` → ``"1 min 15 s"`` (``"1 分 15 秒"``); under a minute in seconds."""
    s = int(round(seconds))
    if s < 60:
        return t("report.time.s", lang, s=s)
    if s < 3600:
        return t("report.time.min", lang, m=s // 60, s=s % 60)
    return t("report.time.h", lang, h=s // 3600, m=(s % 3600) // 60)


def time_text(results: dict, lang: str = "en") -> str:
    """Time spent: in total and per phase (preparing, GenMix images, training, testing)."""
    timings = results.get("timings") or {}
    runs = results.get("runs") or []
    parts = {"prepare": timings.get("prepare_s") or 0.0, "generate": timings.get("generation_s") or 0.0,
             "train": sum(r.get("stats", {}).get("seconds") or 0.0 for r in runs),
             "test": sum(r.get("eval_seconds") or 0.0 for r in runs)}
    shown = ("、" if lang == "ja" else ", ").join(t(f"report.time.{k}", lang, time=duration(v, lang))
                                                  for k, v in parts.items() if v >= 0.5)
    return t("report.time.total", lang, time=duration(sum(parts.values()), lang), parts=shown)


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
