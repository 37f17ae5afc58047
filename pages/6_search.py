"""Recipe search: find the augmentation recipe that helps this project's photos, then apply it.

The search is ``python -m genmix_core.search`` in its own process, in a new run folder of the project (as
Generate and Train & Compare run); ``job_panel`` follows it with the time left. The result (the recommended
recipe in plain words, the ranking chart, which photo served which purpose) comes from ``search.json`` through
``genmix_core.report``; "Apply" makes the chosen recipe the starting point of Generate and Train & Compare.
"""

from __future__ import annotations

import streamlit as st

from genmix_core.jobconfig import launch, resume
from genmix_core.jobs import ACTIVE, read_job
from genmix_core.mixing import MASK_SETS
from genmix_core.report import build_search_report, export_search_html, recipe_label
from genmix_core.search import (AXES, SEARCH_FILE, SearchConfig, fallback_reason, list_search_runs, load_search,
                                recipe_entry)
from genmix_core.train import CONDITIONS, held_out_count
from ui.estimates import search_plan
from ui.recipe import apply_recipe
from ui.report_view import draw_report
from ui.state import KEY_SEARCH_RUN, active_prompt_set, lang, project, prompt_filters, restore_active_prompts, t
from ui.widgets import empty_project_hint, go_to_page_button, job_runs, show_error

LAMS = (0.0, 0.05, 0.1, 0.2, 0.3)
SCALES = (1, 2, 4, 8)
DEFAULTS = SearchConfig(data="", out="")

st.title(t("search.page.title"))
st.caption(t("search.page.intro"))

try:
    from genmix_core.data import scan_split

    proj = project()
    train_df = scan_split(proj, "train")
    onsite_df = scan_split(proj, "onsite")
except Exception as exc:
    show_error(exc)
    st.stop()


def _numbers(text: str, kind=int) -> list | None:
    try:
        return [kind(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        return None


def _split_line(use_onsite: bool, fraction: float) -> None:
    """What the on-site photos will be used for (or why the search falls back to training photos)."""
    reason = fallback_reason(onsite_df if use_onsite else None, DEFAULTS.min_per_class)
    if reason is None:
        counts = onsite_df["label"].value_counts()
        n_sel = sum(min(max(1, int(round(n * fraction))), n - 1) for n in counts)
        st.info(t("search.page.split", n=len(onsite_df), n_sel=n_sel, n_rep=len(onsite_df) - n_sel))
    else:
        st.warning(t(f"search.page.fallback.{reason}", min=DEFAULTS.min_per_class))


def _settings_form() -> None:
    """The grid (conditions, λ, mask sets, prompts), budgets and seeds; the plan; Start."""
    labels = {name: t(c.label_key) for name, c in CONDITIONS.items()}
    conditions = st.multiselect(t("search.page.conditions"), list(CONDITIONS), default=list(DEFAULTS.conditions),
                                format_func=labels.get, key="search_conditions")
    lams, mask_sets = list(DEFAULTS.lams), list(DEFAULTS.mask_sets)
    if any("lam" in AXES.get(c, ()) for c in conditions):
        lams = st.multiselect(t("search.page.lams"), list(LAMS), default=list(DEFAULTS.lams), key="search_lams",
                              help=t("search.page.lams_help"))
    if any("mask_set" in AXES.get(c, ()) for c in conditions):
        mask_labels = {m: t(f"gen.page.mask_set.{m}") for m in MASK_SETS}
        mask_sets = st.multiselect(t("gen.page.mask_set"), list(MASK_SETS), default=list(DEFAULTS.mask_sets),
                                   format_func=mask_labels.get, key="search_mask_sets")
    prompt_search = st.toggle(t("search.page.prompt_search"), value=DEFAULTS.prompt_search, key="search_prompt_search",
                              help=t("search.page.prompt_search_help"))
    left, mid, right = st.columns(3)
    epochs = int(left.number_input(t("train.page.epochs"), 1, 500, DEFAULTS.epochs, key="search_epochs",
                                   help=t("train.page.epochs_help")))
    scales = mid.multiselect(t("search.page.scales"), list(SCALES), default=list(DEFAULTS.steps_scale),
                             format_func=lambda s: f"×{s}", key="search_scales", help=t("search.page.scales_help"))
    seeds_text = right.text_input(t("train.page.seeds"), ",".join(map(str, DEFAULTS.seeds)), key="search_seeds")
    n_onsite = len(onsite_df)
    use_onsite = st.toggle(t("search.page.use_onsite", n=n_onsite), value=n_onsite > 0, disabled=n_onsite == 0,
                           key="search_use_onsite")
    _split_line(use_onsite, DEFAULTS.selection_fraction)
    seeds = _numbers(seeds_text)
    if seeds is None:
        st.error(t("train.page.bad_seeds", value=seeds_text))
    prompts = list(restore_active_prompts(proj) or [])
    pset = active_prompt_set(proj)
    cfg = SearchConfig(data=str(proj.data_dir("train")), out=str(proj.runs_dir), conditions=list(conditions),
                       lams=list(lams), mask_sets=list(mask_sets), prompt_search=prompt_search, epochs=epochs,
                       steps_scale=sorted(scales), seeds=seeds or [],
                       test=str(proj.data_dir("onsite")) if use_onsite else None, prompts=prompts,
                       prompt_set=pset.ref, filters=dict(prompt_filters()) or None,
                       cache=str(proj.cache_dir / "edits"))
    ready = bool(conditions and seeds and scales)
    if ready:
        try:
            _plan(cfg.validated(), len(prompts or pset.prompts), use_onsite)
        except Exception as exc:
            show_error(exc)
            ready = False
    current = st.session_state.get(KEY_SEARCH_RUN)
    job = read_job(current) if current else None
    busy = job is not None and job.status in ACTIVE
    if busy:
        st.caption(t("search.page.busy"))
    if st.button(t("search.page.start"), type="primary", key="search_start", disabled=not ready or busy):
        try:
            cfg.validated()
            cfg.out = str(proj.new_run_dir("search"))
            launch(cfg.out, cfg.validated())
            st.session_state[KEY_SEARCH_RUN] = cfg.out
        except Exception as exc:
            show_error(exc)
            return
        st.rerun()


def _plan(cfg: SearchConfig, n_prompts: int, use_onsite: bool) -> None:
    """How many runs, and how long on this PC, before Start (a warning above 15 minutes)."""
    counts = train_df["label"].value_counts().tolist()
    if use_onsite and fallback_reason(onsite_df, cfg.min_per_class) is None:
        n_sel = int(round(len(onsite_df) * cfg.selection_fraction))
    else:
        n_sel = sum(held_out_count(int(n), cfg.val_fraction) for n in counts)
    search_plan(cfg, counts, n_sel, n_prompts, str(train_df["path"].iloc[0]))


def _photos(search: dict) -> None:
    """Which photo served which purpose (the on-site split, or the held-out training photos per seed)."""
    split = search.get("split") or {}
    with st.expander(t("search.page.photos")):
        rows = [{t("search.page.col.photo"): p["rel"], t("train.fig.class"): p["label"],
                 t("search.page.col.part"): t(f"search.page.part.{p['part']}")} for p in split.get("photos", [])]
        for seed, parts in (split.get("per_seed") or {}).items():
            rows += [{t("search.page.col.photo"): rel, t("train.fig.class"): "",
                      t("search.page.col.part"): t("search.page.part.training_holdout", seed=seed)}
                     for rel in parts.get("selection", [])]
        st.dataframe(rows, hide_index=True)


def _apply(search: dict, run_dir) -> None:
    """Apply a recipe (the chosen one unless another finalist is picked): Generate and Train & Compare start from
    its settings."""
    chosen = recipe_entry(search)
    if search.get("status") != "done" or chosen is None:
        return
    others = sorted((r for r in search["recipes"] if r.get("complete") and r["name"] != chosen["name"]),
                    key=lambda r: -(r["selection"]["mean"] or 0.0))
    ln, prompts = lang(), search.get("prompts") or []
    labels = {r["name"]: recipe_label(r["settings"], prompts, ln) for r in [chosen, *others]}
    labels[chosen["name"]] = t("search.page.chosen_mark", label=labels[chosen["name"]])
    pick = st.selectbox(t("search.page.apply_pick"), list(labels), format_func=labels.get, key="search_apply_pick")
    if st.button(t("search.page.apply"), type="primary", key="search_apply"):
        try:
            settings = apply_recipe(proj, search, run_dir, pick)
        except Exception as exc:
            show_error(exc)
            return
        st.success(t("search.page.applied" if settings["generate"] else "search.page.applied_train",
                     name=recipe_label(recipe_entry(search, pick)["settings"], prompts, ln)))
    left, right = st.columns(2)
    with left:
        go_to_page_button("pages/4_generate.py", t("ui.nav.generate"), key="search_go_generate")
    with right:
        go_to_page_button("pages/5_train.py", t("ui.nav.train"), key="search_go_train")


def _results(run_dir) -> None:
    try:
        search = load_search(run_dir)
    except Exception as exc:
        show_error(exc)
        return
    if not search.get("recipes"):
        st.info(t("search.page.no_results_yet"))
        return
    report = build_search_report(search, lang())
    draw_report(report)
    _apply(search, run_dir)
    _photos(search)
    st.download_button(t("train.page.download_html"), data=lambda: export_search_html(search, lang()).encode("utf-8"),
                       file_name=f"recipe_search_{run_dir.name}_{lang()}.html", mime="text/html",
                       key="search_download", on_click="ignore")


if len(train_df) == 0:
    empty_project_hint(key="search_go_data")
    st.stop()

run_dir = job_runs(list_search_runs(proj.runs_dir), ns="search", session_key=KEY_SEARCH_RUN,
                  settings_form=_settings_form, resume_run=lambda run: resume(run, SearchConfig))
if (run_dir / SEARCH_FILE).is_file():
    _results(run_dir)
