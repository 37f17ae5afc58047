"""Train & Compare: fine-tune a small classifier with and without GenMix at a matched budget, then compare.

The run is ``python -m genmix_core.train`` in its own process (``genmix_core.jobs.start_process``) writing
into a new run folder of the project; ``job_panel`` follows it, and the report (verdict, charts, exports) comes
from ``results.json`` through ``ui.report_view``, also while later seeds still run. Earlier runs stay selectable.
"""

from __future__ import annotations

import streamlit as st

from genmix_core.generate import manifest
from genmix_core.jobconfig import launch, resume
from genmix_core.jobs import ACTIVE, read_job
from genmix_core.mixing import DEFAULT_LAM_RANGE, MASK_SETS
from genmix_core.search import AXES
from genmix_core.train import (BACKBONES, CONDITIONS, DEFAULT_EPS, RESULTS_FILE, CompareConfig, check_drawable,
                               list_train_runs, needs_edits)
from ui.estimates import compare_plan
from ui.report_view import report_section
from ui.state import (KEY_RECIPE, KEY_TRAIN_RUN, active_prompt_set, applied_recipe, project, prompt_filters,
                      restore_active_prompts, t)
from ui.widgets import empty_project_hint, job_runs, show_error

NEW_GENERATION = "__new__"
SIZES = (64, 96, 112, 128, 160, 224)

st.title(t("train.page.title"))
st.caption(t("train.page.intro"))

try:
    from genmix_core.data import scan_split

    proj = project()
    class_counts = scan_split(proj, "train")["label"].value_counts().tolist()
    n_train = sum(class_counts)
    n_onsite = len(scan_split(proj, "onsite"))
except Exception as exc:
    show_error(exc)
    st.stop()


def _start(cfg: CompareConfig) -> None:
    """Write the run's config.json (checked settings) and start the worker on it."""
    launch(cfg.out, cfg.validated())
    st.session_state[KEY_TRAIN_RUN] = cfg.out


def _lam_settings(lam_range: tuple[float, float] | None) -> dict:
    """The slider's λ range as CompareConfig settings: both ends equal means one fixed λ."""
    if lam_range is None:
        return {}
    low, high = (round(float(v), 4) for v in lam_range)
    return {"lam": low} if low == high else {"lam_range": [low, high]}


def _recipe_lam(recipe: dict) -> tuple[float, float]:
    """The λ slider's starting range: an applied recipe's fixed λ (both ends) or range, else the default."""
    if recipe.get("lam") is not None:
        return float(recipe["lam"]), float(recipe["lam"])
    return tuple(recipe.get("lam_range") or DEFAULT_LAM_RANGE)


def _settings_form() -> None:
    """Conditions, budget, seeds, model and where the GenMix images come from; then Start. An applied recipe
    (Recipe search page) gives the widgets their starting values."""
    recipe = applied_recipe("train")
    if recipe:
        st.info(t("search.applied.train", name=(st.session_state.get(KEY_RECIPE) or {}).get("name", "")))
    labels = {name: t(c.label_key) for name, c in CONDITIONS.items()}
    conditions = st.multiselect(t("train.page.conditions"), list(CONDITIONS),
                                default=recipe.get("conditions", ["baseline", "genmix"]),
                                format_func=labels.get, key="train_conditions")
    left, mid, right = st.columns(3)
    epochs = int(left.number_input(t("train.page.epochs"), 1, 500, int(recipe.get("epochs", 10)), key="train_epochs",
                                   help=t("train.page.epochs_help")))
    batch = int(mid.number_input(t("train.page.batch"), 1, 512, int(recipe.get("batch_size", 32)), key="train_batch"))
    seeds_text = right.text_input(t("train.page.seeds"), "0,1,2", key="train_seeds")
    left, mid, right = st.columns(3)
    backbone_labels = {b: t(f"train.page.backbone.{b}") for b in BACKBONES}
    backbone = left.selectbox(t("train.page.backbone"), list(BACKBONES), format_func=backbone_labels.get,
                              index=list(BACKBONES).index(recipe.get("backbone") or BACKBONES[0]), key="train_backbone")
    finetune_labels = {m: t(f"train.page.finetune.{m}") for m in ("head", "all")}
    finetune = mid.radio(t("train.page.finetune"), ["head", "all"], format_func=finetune_labels.get,
                         index=["head", "all"].index(recipe.get("finetune") or "head"),
                         key="train_finetune", disabled=backbone == "small_cnn")
    sizes = tuple(sorted({*SIZES, int(recipe["size"])})) if recipe.get("size") else SIZES
    size = right.selectbox(t("train.page.size"), sizes, index=sizes.index(int(recipe.get("size") or 112)),
                           key="train_size")
    eps = st.text_input(t("train.page.eps"), ",".join(DEFAULT_EPS), key="train_eps", help=t("train.page.eps_help"))
    lam_range = None
    mask_set = recipe.get("mask_set", "genmix")
    if any("lam" in AXES.get(c, ()) for c in conditions):
        lam_range = st.slider(t("train.page.lam_range"), 0.0, 1.0, _recipe_lam(recipe), 0.005, key="train_lam",
                              help=t("train.page.lam_help"))
    if any("mask_set" in AXES.get(c, ()) for c in conditions):
        mask_labels = {m: t(f"gen.page.mask_set.{m}") for m in MASK_SETS}
        mask_set = st.selectbox(t("gen.page.mask_set"), list(MASK_SETS), index=list(MASK_SETS).index(mask_set),
                                format_func=mask_labels.get, key="train_mask_set")
    use_onsite = st.toggle(t("train.page.use_onsite", n=n_onsite), value=n_onsite > 0, disabled=n_onsite == 0,
                           key="train_use_onsite")
    ks_text = ""
    if st.toggle(t("train.page.few_shot"), value=False, key="train_few_shot", help=t("train.page.few_shot_help")):
        ks_text = st.text_input(t("train.page.few_shot_ks"), "1,2,5,10", key="train_few_shot_ks")
    edits = None
    if needs_edits(conditions):
        gen_runs = [r for r in manifest.list_runs(proj.runs_dir) if (r / manifest.PLAN_FILE).is_file()]
        options = [r.name for r in gen_runs] + [NEW_GENERATION]
        source_labels = {r.name: t("train.page.edits_run", name=r.name) for r in gen_runs}
        source_labels[NEW_GENERATION] = t("train.page.edits_new")
        # An applied recipe generates its own edits (its prompts) unless another run is picked.
        source = st.selectbox(t("train.page.edits"), options, format_func=source_labels.get, key="train_edits",
                              index=options.index(NEW_GENERATION) if recipe.get("prompts") else 0)
        edits = None if source == NEW_GENERATION else str(proj.runs_dir / source)

    seeds, few_shot, bad = [], [], False
    try:
        seeds = [int(s) for s in seeds_text.replace(" ", "").split(",") if s]
    except ValueError:
        st.error(t("train.page.bad_seeds", value=seeds_text))
        bad = True
    try:
        few_shot = [int(k) for k in ks_text.replace(" ", "").split(",") if k]
    except ValueError:
        st.error(t("err.train.bad_few_shot", value=ks_text))
        bad = True
    prompts = list(restore_active_prompts(proj) or [])
    pset = active_prompt_set(proj)
    cfg = CompareConfig(
        data=str(proj.data_dir("train")), out=str(proj.runs_dir), conditions=list(conditions), seeds=seeds,
        epochs=epochs, batch_size=batch, backbone=backbone, finetune=finetune, size=int(size),
        eps=[e for e in eps.replace(" ", "").split(",") if e],
        test=str(proj.data_dir("onsite")) if use_onsite else None, edits=edits,
        prompts=prompts, prompt_set=recipe.get("prompt_set") or pset.ref, filters=dict(prompt_filters()) or None,
        few_shot=few_shot, mask_set=mask_set, no_filter=bool(recipe.get("no_filter", False)),
        **({"lr": recipe["lr"]} if recipe.get("lr") is not None else {}),
        **_lam_settings(lam_range))
    if conditions and seeds and not bad:
        try:  # how many runs, and how long on this PC, before Start
            compare_plan(cfg.validated(), class_counts, n_onsite, len(prompts or pset.prompts),
                         photo=str(scan_split(proj, "train")["path"].iloc[0]))
        except Exception as exc:
            show_error(exc)

    current = st.session_state.get(KEY_TRAIN_RUN)
    job = read_job(current) if current else None
    busy = job is not None and job.status in ACTIVE
    if busy:
        st.caption(t("train.page.busy"))
    if st.button(t("train.page.start"), type="primary", key="train_start", disabled=not conditions or busy or bad):
        try:
            check_drawable(cfg, for_app=True)  # bad settings and undrawable prompts: before a run folder
            cfg.out = str(proj.new_run_dir("train"))
            _start(cfg)
        except Exception as exc:
            show_error(exc)
            return
        st.rerun()


if n_train == 0:
    empty_project_hint(key="train_go_data")
    st.stop()

run_dir = job_runs(list_train_runs(proj.runs_dir), ns="train", session_key=KEY_TRAIN_RUN,
                  settings_form=_settings_form, resume_run=lambda run: resume(run, CompareConfig))
if (run_dir / RESULTS_FILE).is_file():
    report_section(run_dir)
