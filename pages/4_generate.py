"""Generate: run the batch job (edit → mask hybrid → fractal blend) over the project's training photos, review.

The job runs as its own process (``python -m genmix_core.generate``) in a new run folder of the project, so it
keeps going when the user clicks elsewhere or reloads; ``job_panel`` redraws its progress from ``job.json``.
Edits are cached in the project's ``cache/edits``, so later runs reuse them.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from genmix_core.generate import GenerateConfig, manifest
from genmix_core.jobconfig import launch, resume
from genmix_core.jobs import ACTIVE, read_job
from ui.estimates import generation_plan
from ui.prompt_table import text_labels
from ui.review import failed_reasons, review
from ui.state import (KEY_EDITOR, KEY_EDITOR_MODEL, KEY_GEN_RUN, KEY_MIX_PARAMS, KEY_PROMPT_SET, KEY_RECIPE,
                      applied_recipe, project, prompt_filters, restore_active_prompts, t)
from ui.widgets import empty_project_hint, job_runs, localized, plain, show_error

st.title(t("gen.page.title"))
st.caption(t("gen.page.intro"))

try:
    from genmix_core.data import scan_split
    from genmix_core.editing import editor_choices
    from genmix_core.mixing import DEFAULT_LAM, DEFAULT_RAMP, MASK_SETS
    from genmix_core.prompts import list_prompt_sets, pick_prompt_set
    from genmix_core.quality import DEFAULT_FLOOR

    proj = project()
    images = scan_split(proj, "train")
    prompt_sets = {s.name: s for s in list_prompt_sets(proj.prompts_dir)}
except Exception as exc:
    show_error(exc)
    st.stop()


def _start(cfg: GenerateConfig, run_dir: Path) -> None:
    """Write the run's config.json (checked settings) and start the worker on it."""
    launch(run_dir, cfg.resolved())
    st.session_state[KEY_GEN_RUN] = str(run_dir)


def _settings_form() -> None:
    """Prompts, editor and mixing settings, then Start (a new run folder). An applied recipe (Recipe search
    page) gives the prompts, mask set and λ their starting values."""
    recipe = applied_recipe("generate")
    if recipe:
        st.info(t("search.applied.generate", name=(st.session_state.get(KEY_RECIPE) or {}).get("name", "")))
    active = restore_active_prompts(proj)
    set_name = st.session_state.get(KEY_PROMPT_SET)
    pset = pick_prompt_set(prompt_sets.values(), set_name)
    options = list(dict.fromkeys([*(active or []), *(p.text for p in pset.prompts)]))
    st.caption(t("gen.page.prompt_set", name=localized(pset.title, pset.name)))
    labels = text_labels(options, prompt_sets.values())
    prompts = st.multiselect(t("gen.page.prompts"), options, default=active or options[:4], key="gen_prompts",
                             format_func=labels.get)
    all_prompts = st.toggle(t("gen.page.all_prompts"), value=True, key="gen_all_prompts")
    per_image = None
    if not all_prompts:
        per_image = int(st.number_input(t("gen.page.per_image"), 1, max(1, len(prompts)), 1, key="gen_per_image"))

    choices = {c.id: c for c in editor_choices()}
    available = [i for i, c in choices.items() if c.available] or ["offline"]
    if st.session_state.get(KEY_EDITOR) not in available:
        st.session_state[KEY_EDITOR] = available[0]
    labels = {i: t(choices[i].label_key) for i in available}
    editor = st.selectbox(t("gen.page.editor"), available, index=available.index(st.session_state[KEY_EDITOR]),
                          format_func=labels.get, key="gen_editor")
    st.session_state[KEY_EDITOR] = editor
    model = steps = size = None
    if choices[editor].is_diffusion:
        model = st.text_input(t("gen.page.model"), st.session_state.get(KEY_EDITOR_MODEL) or "", key="gen_model")
        st.session_state[KEY_EDITOR_MODEL] = model or None
        left, right = st.columns(2)
        steps = int(left.number_input(t("gen.page.steps"), 1, 1000, 20, key="gen_steps"))
        size = int(right.number_input(t("gen.page.size"), 64, 1024, 512, 64, key="gen_size"))
    else:
        st.caption(t("gen.page.offline_note"))
    if prompts:  # how many images, and how long on this PC, before Start
        generation_plan(len(images), per_image or len(prompts), editor, model or None, steps, size,
                        photo=str(images["path"].iloc[0]))

    left, mid, right = st.columns(3)
    # Labels computed now: AppTest calls format_func outside the script run, where the language is unknown.
    mask_labels = {m: t(f"gen.page.mask_set.{m}") for m in MASK_SETS}
    mask_set = left.selectbox(t("gen.page.mask_set"), list(MASK_SETS), key="gen_mask_set", format_func=mask_labels.get,
                              index=list(MASK_SETS).index(recipe.get("mask_set") or list(MASK_SETS)[0]))
    preview = st.session_state.get(KEY_MIX_PARAMS) or {}   # the Preview page's choice carries over
    ramp = mid.slider(t("gen.page.ramp"), 0.0, 0.5, float(preview.get("ramp", DEFAULT_RAMP)), 0.01, key="gen_ramp")
    lam = right.slider(t("gen.page.lam"), 0.0, 1.0, float(recipe.get("lam", preview.get("lam", DEFAULT_LAM))), 0.005,
                       key="gen_lam")
    if preview:
        st.caption(t("gen.page.from_preview", ramp=f"{float(preview.get('ramp', DEFAULT_RAMP)):g}",
                     lam=f"{float(preview.get('lam', DEFAULT_LAM)):g}"))
    fractals = st.text_input(t("gen.page.fractals"), "", key="gen_fractals", help=t("gen.page.fractals_help"))
    seed = int(st.number_input(t("gen.page.seed"), 0, 2**31 - 1, 0, key="gen_seed"))
    left, right = st.columns(2)
    filter_on = left.toggle(t("gen.page.filter_on"), value=not recipe.get("no_filter", False), key="gen_filter_on",
                            help=t("gen.page.filter_help"))
    floor = right.slider(t("gen.page.filter_floor"), 0.0, 0.9, DEFAULT_FLOOR, 0.05, key="gen_filter_floor",
                         disabled=not filter_on, help=t("gen.page.filter_floor_help", floor=DEFAULT_FLOOR))

    current_job = read_job(st.session_state[KEY_GEN_RUN]) if st.session_state.get(KEY_GEN_RUN) else None
    busy = current_job is not None and current_job.status in ACTIVE
    if busy:
        st.caption(t("gen.page.busy"))
    if st.button(t("gen.page.start"), type="primary", key="gen_start", disabled=not prompts or busy):
        cfg = GenerateConfig(
            data=str(proj.data_dir("train")), out="", prompts=list(prompts), editor=editor, model=model or None,
            steps=steps, size=size, per_image=per_image, seed=seed, mask_set=mask_set, ramp=ramp, lam=lam,
            fractals=fractals.strip() or None, prompt_set=recipe.get("prompt_set") or pset.ref,
            filters=dict(prompt_filters()) or None, cache=str(proj.cache_dir / "edits"), no_filter=not filter_on,
            filter_floor=float(floor))
        try:
            cfg.out = str(proj.runs_dir)
            # Bad settings, and prompts the editor cannot draw, are shown here, before a run folder is made.
            cfg.resolved().check_drawable(for_app=True)
            run_dir = proj.new_run_dir("generate")
            cfg.out = str(run_dir)
            _start(cfg, run_dir)
        except Exception as exc:
            show_error(exc)
            return
        st.rerun()


def _review(run_dir: Path) -> None:
    """Counts, the review (original beside each GenMix image; all or one class/prompt), failed items, the zip."""
    try:
        df = manifest.load_manifest(run_dir)
    except Exception as exc:
        show_error(exc)
        return
    counts = df["status"].value_counts()
    cols = st.columns(4)
    for col, status in zip(cols, ("done", "failed", "pending")):
        col.metric(t(f"gen.page.count.{status}"), int(counts.get(status, 0)))
    cols[3].metric(t("gen.page.count.accepted"), int(df["accepted"].sum()))
    review(run_dir, df, text_labels(df["prompt"].unique(), prompt_sets.values()))
    failed = df[df["status"] == "failed"]
    if not failed.empty:
        with st.expander(t("gen.page.failed", n=len(failed)), expanded=len(failed) < len(df)):
            for line in failed_reasons(run_dir, failed):
                st.markdown(f"- {plain(line)}")
    if int(df["accepted"].sum()) and st.button(t("gen.page.prepare_zip"), key="gen_prepare_zip"):
        try:
            st.session_state["gen_zip"] = str(manifest.export_zip(run_dir))
        except Exception as exc:
            show_error(exc)
    zip_path = st.session_state.get("gen_zip")
    if zip_path and Path(zip_path).parent == run_dir and Path(zip_path).is_file():
        st.download_button(t("gen.page.download_zip"), Path(zip_path).read_bytes(), file_name=Path(zip_path).name,
                           mime="application/zip", key="gen_download_zip")


def _editor_notes(job) -> None:
    """What the editor had to change on the way (GPU memory ran short, torch.compile failed), in plain words."""
    for event in (job.extra or {}).get("editor_events", []) if job else []:
        if event.get("event") == "oom_backoff":
            st.info(t("gen.page.event.oom_backoff", old=event.get("from"), new=event.get("to")))
        elif event.get("event") == "compile_failed":
            st.info(t("gen.page.event.compile_failed"))


def _skipped_notes(job) -> None:
    """The files of the data folder that the run left out, with the reason in the user's language."""
    skipped = (job.extra or {}).get("skipped", []) if job else []
    if skipped:
        with st.expander(t("gen.page.skipped", n=len(skipped))):
            rows = [{t("gen.page.skipped_file"): s.get("file"),
                     t("gen.page.skipped_reason"): localized({"en": s.get("reason"), "ja": s.get("reason_ja")})}
                    for s in skipped]
            st.dataframe(rows, hide_index=True)


if len(images) == 0:
    empty_project_hint(key="gen_go_data")
    st.stop()

def _notes(job) -> None:
    _editor_notes(job)
    _skipped_notes(job)


run_dir = job_runs(manifest.list_runs(proj.runs_dir), ns="gen", session_key=KEY_GEN_RUN,
                  settings_form=_settings_form, resume_run=lambda run: resume(run, GenerateConfig),
                  notes=_notes)
if (run_dir / manifest.PLAN_FILE).is_file():  # results so far, also while the job runs
    _review(run_dir)
