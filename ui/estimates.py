"""Time plans shown before a job starts (Generate, Train & Compare), from what this PC measured.

Measuring is cached per process: the offline filter is timed on one photo, a training model on a few random
batches (a few seconds, once; the job then records its real pace for the next estimate).
"""

from __future__ import annotations

import streamlit as st

from ui.state import t
from ui.widgets import duration


@st.cache_data(show_spinner=False, max_entries=32, ttl=600)
def _generation(items: int, editor: str, model: str | None, steps: int | None, size: int | None,
                photo: str | None):
    from genmix_core.generate import estimate_generation

    return estimate_generation(items, editor, model=model, steps=steps, size=size, photo=photo)


def generation_plan(photos: int, per_photo: int, editor: str, model: str | None = None, steps: int | None = None,
                    size: int | None = None, photo: str | None = None):
    """Draw "N photos × k prompts = M images, about T on this PC" (a warning when it takes long)."""
    est = _generation(photos * per_photo, editor, model, steps, size, photo)
    text = t("gen.page.plan", photos=photos, per_photo=per_photo, items=est.items, time=duration(est.seconds),
             source=t(f"ui.estimate.source.{est.source}"))
    (st.warning if est.seconds > 15 * 60 else st.info)(text)
    return est


@st.cache_resource(show_spinner=False, max_entries=8)
def _units(backbone: str, finetune: str, device: str, size: int, batch: int):
    from genmix_core.train import unit_costs

    return unit_costs(backbone, finetune, device, size, batch)


def compare_plan(cfg, class_counts, n_onsite: int, n_prompts: int, photo: str | None) -> None:
    """Draw what a comparison will do and how long it takes here (before Start)."""
    from genmix_core.train import estimate_compare, held_out_count, pick_device, planned_budget

    with st.spinner(t("ui.estimate.measuring")):
        units = _units(cfg.backbone, cfg.finetune, str(pick_device(cfg.device)), cfg.size, cfg.batch_size)
        per_image = _generation(1, cfg.editor, cfg.model, None, None, photo).per_item if n_prompts else 0.0
    est = estimate_compare(cfg, class_counts, n_onsite, units, per_image, n_prompts)
    budget = planned_budget(class_counts, cfg.epochs, cfg.batch_size, cfg.test_fraction)
    n_test = sum(held_out_count(int(n), cfg.test_fraction) for n in class_counts if int(n) >= 2)
    steps = budget.steps
    text = t("train.page.plan", runs=est.runs, conditions=len(cfg.conditions), seeds=len(cfg.seeds),
             few=t("train.page.plan.few", n=len(cfg.few_shot)) if cfg.few_shot else "",
             steps=steps, batch=cfg.batch_size, n_test=n_test, attacks=len(cfg.eps),
             onsite=t("train.page.plan.onsite", n=n_onsite) if cfg.test else "",
             generate=t("train.page.plan.generate", images=est.images) if est.images else "",
             time=duration(est.total_s), source=t(f"ui.estimate.source.{units.source}"),
             train=duration(est.train_s), test=duration(est.eval_s),
             gen_time=t("train.page.plan.gen_time", time=duration(est.generation_s)) if est.images else "")
    (st.warning if est.total_s > 15 * 60 else st.info)(text)


def search_plan(cfg, class_counts, n_selection: int, n_prompts: int, photo: str | None) -> None:
    """Draw how many runs a recipe search makes and how long it takes here (before Start)."""
    from genmix_core.search import estimate_search
    from genmix_core.train import pick_device

    with st.spinner(t("ui.estimate.measuring")):
        units = _units(cfg.backbone, cfg.finetune, str(pick_device(cfg.device)), cfg.size, cfg.batch_size)
        per_image = _generation(1, cfg.editor, cfg.model, None, None, photo).per_item if n_prompts else 0.0
    est = estimate_search(cfg, class_counts, n_selection, n_prompts, units, per_image)
    (st.warning if est.total_s > 15 * 60 else st.info)(
        t("search.page.plan", runs=est.runs, images=est.images, time=duration(est.total_s),
          source=t(f"ui.estimate.source.{units.source}")))
