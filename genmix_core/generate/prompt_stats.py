"""Prompt evidence: which prompts give usable edits, from a run's manifest (``prompt_stats.csv``).

Per prompt, over its finished items (done or failed; pending ones are left out):

* ``items``: finished items; ``accepted``: those used for training (filter verdict or the user's review);
  ``acceptance_rate`` = accepted / items;
* ``mean_similarity``: mean feature similarity (cosine) of its scored edits to their originals: how well the
  prompt keeps what makes a photo its class (low: it destroys the label);
* ``diversity``: mean feature distance between its accepted edits and their originals, the Euclidean distance
  of the unit-length feature vectors, ``sqrt(2 − 2·similarity)`` (0 = the edit changes nothing the backbone sees,
  up to 2): how much new appearance the kept edits bring (near 0: the prompt changes nothing);
* ``rejected_low_similarity``, ``rejected_class_outlier``, ``rejected_black_or_flat``: counts per filter reason.

Empty (NaN) where a prompt has nothing to average (no scored or no accepted edit). :func:`rank_prompts` orders
prompts by expected useful change per item, ``acceptance_rate × diversity``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from genmix_core.fileio import atomic_write_text
from genmix_core.quality.rules import BLACK_OR_FLAT, CLASS_OUTLIER, LOW_SIMILARITY

PROMPT_STATS_FILE = "prompt_stats.csv"
STATS_COLUMNS = ("prompt", "items", "accepted", "acceptance_rate", "mean_similarity", "diversity",
                 "rejected_low_similarity", "rejected_class_outlier", "rejected_black_or_flat")
_REASON_COLUMNS = {"rejected_low_similarity": LOW_SIMILARITY, "rejected_class_outlier": CLASS_OUTLIER,
                   "rejected_black_or_flat": BLACK_OR_FLAT}


def prompt_stats(df: pd.DataFrame) -> pd.DataFrame:
    """The evidence table from a manifest table (:func:`genmix_core.generate.manifest.load_manifest`), one row
    per prompt in the order the prompts first appear, columns :data:`STATS_COLUMNS`."""
    rows = []
    for prompt, g in df.groupby("prompt", sort=False):
        g = g[g["status"].isin(["done", "failed"])]
        sims = pd.to_numeric(g["similarity"], errors="coerce")
        accepted = g["accepted"].astype(bool)
        kept = sims[accepted].dropna()
        n = len(g)
        rows.append({
            "prompt": prompt, "items": n, "accepted": int(accepted.sum()),
            "acceptance_rate": accepted.sum() / n if n else np.nan,
            "mean_similarity": sims.mean() if sims.notna().any() else np.nan,
            "diversity": float(np.sqrt(np.clip(2.0 - 2.0 * kept, 0.0, None)).mean()) if len(kept) else np.nan,
            **{col: int((g["reason"] == reason).sum()) for col, reason in _REASON_COLUMNS.items()},
        })
    return pd.DataFrame(rows, columns=list(STATS_COLUMNS))


def write_prompt_stats(out_dir: str | os.PathLike, manifest_df: pd.DataFrame) -> Path:
    """Write ``<out>/prompt_stats.csv`` (UTF-8, atomically; rates and means to 4 decimals)."""
    table = prompt_stats(manifest_df).round(4)
    return atomic_write_text(Path(out_dir) / PROMPT_STATS_FILE, table.to_csv(index=False))


def read_prompt_stats(out_dir: str | os.PathLike) -> pd.DataFrame:
    """``prompt_stats.csv`` of a run folder; an empty table with :data:`STATS_COLUMNS` when it has none yet."""
    path = Path(out_dir) / PROMPT_STATS_FILE
    if not path.is_file():
        return pd.DataFrame(columns=list(STATS_COLUMNS))
    table = pd.read_csv(path, keep_default_na=False, dtype=str)   # a prompt "NA" stays text
    for col in STATS_COLUMNS[1:]:
        table[col] = pd.to_numeric(table[col], errors="coerce")
    return table


def rank_prompts(stats: pd.DataFrame) -> list[str]:
    """Prompts from most to least useful: by ``acceptance_rate × diversity`` (accepted change per item),
    then by acceptance rate; prompts without a score last, in table order. For recipe searches that try the
    promising prompts first."""
    score = (stats["acceptance_rate"].astype(float) * stats["diversity"].astype(float)).fillna(-1.0)
    order = pd.DataFrame({"prompt": stats["prompt"], "score": score,
                          "rate": stats["acceptance_rate"].astype(float).fillna(-1.0), "pos": range(len(stats))})
    return list(order.sort_values(["score", "rate", "pos"], ascending=[False, False, True])["prompt"])


def prompt_chart(stats: pd.DataFrame, lang: str = "en", floor: float | None = None):
    """A plotly scatter of the evidence: similarity to the original (x) against diversity (y), one bubble per
    prompt (size: items, colour: acceptance rate, red 0 → green 1), the filter's floor as a dashed line."""
    import plotly.graph_objects as go

    from genmix_core.i18n import t

    data = stats.dropna(subset=["mean_similarity"])
    col = {c: t(f"ui.prompts.col.{c}", lang) for c in STATS_COLUMNS}
    fig = go.Figure(go.Scatter(
        x=data["mean_similarity"], y=data["diversity"].fillna(0.0), text=data["prompt"], mode="markers+text",
        textposition="top center",
        marker={"size": 12 + 28 * np.sqrt(data["items"] / max(1, data["items"].max())),
                "color": data["acceptance_rate"], "cmin": 0, "cmax": 1, "colorscale": "RdYlGn", "showscale": True,
                "colorbar": {"title": {"text": col["acceptance_rate"]}}, "line": {"width": 1, "color": "#444"}},
        customdata=np.stack([data["acceptance_rate"], data["items"]], axis=-1) if len(data) else None,
        hovertemplate=(f"<b>%{{text}}</b><br>{col['mean_similarity']}: %{{x:.3f}}<br>{col['diversity']}: %{{y:.3f}}"
                       f"<br>{col['acceptance_rate']}: %{{customdata[0]:.0%}}<br>{col['items']}: %{{customdata[1]}}"
                       "<extra></extra>")))
    if floor is not None:
        fig.add_vline(x=float(floor), line_dash="dash", line_color="#c0392b",
                      annotation_text=t("ui.prompts.evidence.floor", lang, floor=floor))
    fig.update_layout(title=t("ui.prompts.evidence.chart_title", lang), xaxis_title=col["mean_similarity"],
                      yaxis_title=col["diversity"], height=420, margin={"l": 40, "r": 20, "t": 50, "b": 40})
    return fig
