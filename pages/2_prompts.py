"""Prompts: pick a prompt set, edit it, save it as the user's own, choose the active prompts, try one."""

from __future__ import annotations

import io

import streamlit as st
from PIL import Image

from genmix_core import preview
from genmix_core.errors import UserError
from ui.cache import edit_png, filter_pairs, get_editor
from ui.prompt_table import checked_texts, column_config, from_editor, prompt_labels, table_frame
from ui.state import KEY_PROMPT_SET, editor_id, project, restore_active_prompts, save_active_prompts, t
from ui.state import lang as session_lang
from ui.widgets import empty_project_hint, go_to_page_button, image_grid, localized, show_error

SET_SELECT_KEY = "prompts_set_select"
PENDING_SET_KEY = "prompts_pending_set"
PENDING_CHECKS_KEY = "prompts_pending_checks"  # the ticks of the table just saved as a new set
TRY_IMAGES = 4

st.title(t("ui.prompts.title"))
st.markdown(t("ui.prompts.intro"))

try:
    proj = project()
    from genmix_core import prompts as prompts_core

    problems: list[UserError] = []
    sets = {s.name: s for s in prompts_core.list_prompt_sets(proj.prompts_dir, problems=problems)}
except Exception as exc:
    show_error(exc)
    st.stop()

if problems:
    st.warning(t("ui.prompts.problem_files") + "\n\n"
               + "\n".join(f"- {p.message(session_lang())}" for p in problems))

active = restore_active_prompts(proj) or []
# A set saved in the last run becomes the selection; allowed here because the selectbox is not drawn yet.
pending = st.session_state.pop(PENDING_SET_KEY, None)
if pending in sets:
    st.session_state[SET_SELECT_KEY] = pending
elif st.session_state.get(SET_SELECT_KEY) not in sets:
    remembered = st.session_state.get(KEY_PROMPT_SET)
    fallback = prompts_core.DEFAULT_PROMPT_SET if prompts_core.DEFAULT_PROMPT_SET in sets else next(iter(sets))
    st.session_state[SET_SELECT_KEY] = remembered if remembered in sets else fallback


def _set_label(name: str) -> str:
    s = sets[name]
    title = localized(s.title, name)
    return t("ui.prompts.curated" if s.curated else "ui.prompts.user_set", title=title)


# Labels computed now: AppTest calls format_func outside the script run, where the language is unknown.
set_labels = {n: _set_label(n) for n in sets}
name = st.selectbox(t("ui.prompts.set"), list(sets), format_func=set_labels.get, key=SET_SELECT_KEY)
chosen = sets[name]
if chosen.description:
    st.caption(localized(chosen.description))
if chosen.curated:
    st.caption(t("ui.prompts.curated_hint"))

# Ticks carried over from the table that was just saved under this name; else the project's active prompts.
kept = st.session_state.get(f"{PENDING_CHECKS_KEY}_{name}")
edited = from_editor(st.data_editor(table_frame(chosen, kept if kept is not None else active), num_rows="dynamic",
                                    hide_index=True, key=f"prompts_table_{name}", column_config=column_config()))
if kept is not None and pending == name:
    st.info(t("ui.prompts.kept_checks", count=len(kept), total=len(chosen.prompts)))

edited_prompts = None
try:
    edited_prompts = prompts_core.table_to_prompts(edited[list(prompts_core.TABLE_COLUMNS)])
except UserError as exc:
    show_error(exc)


def _checked_texts() -> list[str]:
    checked = checked_texts(edited)
    return prompts_core.validate_prompts(checked, source=prompts_core.TABLE_SOURCE) if checked else []


def _use_checked() -> list[str] | None:
    """Make the ticked prompts active, after checking that the chosen editor can draw each; None if refused."""
    from genmix_core.editing import EDITORS, quoted, style_ids, style_key, undrawable
    from genmix_core.i18n import Term

    checked = _checked_texts()
    if not checked:
        st.warning(t("ui.prompts.none_checked"))
        return None
    recipes = {p.text: p.filter for p in edited_prompts or [] if p.filter}
    bad = undrawable(editor_id(), checked, recipes)
    if bad:
        show_error(UserError("err.editor.cannot_draw", prompts=quoted(bad),
                             styles=tuple(Term(style_key(s)) for s in style_ids())))
        st.caption(t("ui.prompts.editor_now", editor=t(EDITORS[editor_id()].label_key)))
        return None
    save_active_prompts(proj, name, checked, recipes)
    st.session_state.pop(f"{PENDING_CHECKS_KEY}_{name}", None)
    st.success(t("ui.prompts.active_saved", count=len(checked)))
    return checked


if st.button(t("ui.prompts.use_checked"), key="prompts_use", type="primary", disabled=edited_prompts is None):
    try:
        active = _use_checked() or active
    except Exception as exc:
        show_error(exc)

if active:
    st.markdown(t("ui.prompts.active", prompts=", ".join(f"`{p}`" for p in active)))
else:
    st.caption(t("ui.prompts.active_none"))


def _save(new_name: str, overwrite: bool) -> None:
    try:
        path = prompts_core.save_user_prompt_set(proj.prompts_dir, new_name, edited_prompts, title=new_name,
                                                 overwrite=overwrite)
    except Exception as exc:
        show_error(exc)
        return
    st.session_state[PENDING_SET_KEY] = path.stem
    st.session_state[f"{PENDING_CHECKS_KEY}_{path.stem}"] = checked_texts(edited)
    st.toast(t("ui.prompts.saved", name=path.stem))
    st.rerun()


with st.expander(t("ui.prompts.save.header"), expanded=chosen.curated):
    new_name = st.text_input(t("ui.prompts.save.name"), key="prompts_new_name", max_chars=80)
    cols = st.columns(2)
    if cols[0].button(t("ui.prompts.save.button"), key="prompts_save", disabled=edited_prompts is None):
        if new_name.strip():
            _save(new_name, overwrite=False)
        else:
            st.warning(t("ui.prompts.save.need_name"))
    if not chosen.curated and cols[1].button(t("ui.prompts.save.overwrite"), key="prompts_overwrite",
                                             disabled=edited_prompts is None):
        _save(name, overwrite=True)

st.subheader(t("ui.prompts.try.header"))


def _try_prompt(proj, prompts: list) -> None:
    from genmix_core.data import scan_split

    df = scan_split(proj, "train")
    if len(df) == 0:
        empty_project_hint(key="prompts_go_data")
        return
    if not prompts:
        st.caption(t("ui.prompts.try.no_prompts"))
        return
    labels = prompt_labels(prompts)
    prompt = st.selectbox(t("ui.prompts.try.prompt"), list(labels), key="prompts_try_prompt",
                          format_func=labels.get)
    filters = filter_pairs(prompts)
    editor = get_editor(editor_id(), None, filters)
    if not editor.can_edit(prompt):
        st.info(UserError("err.editor.needs_diffusion", prompt=prompt).message(session_lang()))
        return
    samples = df.groupby("label", sort=True).head(1).head(TRY_IMAGES)
    key = "ui.prompts.try.edit_ai" if editor.info.is_diffusion else "ui.prompts.try.edit_filter"
    originals, edits = [], []
    for row in samples.itertuples():
        png, _ = edit_png(str(row.path), prompt, editor_id(), filters=filters)
        originals.append((preview.load_preview_image(row.path), t("ui.prompts.try.original", label=row.label)))
        edits.append((Image.open(io.BytesIO(png)), t(key, prompt=prompt)))
    image_grid(originals, cols=TRY_IMAGES)
    image_grid(edits, cols=TRY_IMAGES)


try:  # the valid rows can be tried while another row is still being fixed
    _try_prompt(proj, edited_prompts or prompts_core.usable_table_prompts(edited))
except Exception as exc:
    show_error(exc)

go_to_page_button("pages/3_preview.py", t("ui.prompts.next"), key="prompts_next", icon="➡️")


# --- Prompt evidence (issue #11): which prompts gave useful edits in a finished generation run -------------------

def _prompt_evidence(proj) -> None:
    """The run's prompt_stats.csv as a table and a chart (similarity to the original against diversity)."""
    from genmix_core.generate import PROMPT_STATS_FILE, manifest, prompt_chart, read_prompt_stats, read_quality
    from ui.state import KEY_GEN_RUN
    from ui.widgets import run_picker

    st.subheader(t("ui.prompts.evidence.header"))
    st.caption(t("ui.prompts.evidence.intro"))
    runs = [r for r in manifest.list_runs(proj.runs_dir) if (r / PROMPT_STATS_FILE).is_file()]
    if not runs:
        st.info(t("ui.prompts.evidence.no_runs"))
        return
    run = run_picker(runs, t("ui.prompts.evidence.run"), key="prompts_evidence_run", session_key=KEY_GEN_RUN)
    stats = read_prompt_stats(run)
    if stats["mean_similarity"].isna().all():
        st.info(t("ui.prompts.evidence.empty"))
    labels = {c: t(f"ui.prompts.col.{c}") for c in stats}
    config = {c: st.column_config.NumberColumn(labels[c], format="%.3f") for c in ("mean_similarity", "diversity")}
    config["acceptance_rate"] = st.column_config.NumberColumn(labels["acceptance_rate"], format="percent")
    st.dataframe(stats, hide_index=True, column_config={**labels, **config})
    st.plotly_chart(prompt_chart(stats, session_lang(), floor=read_quality(run).get("floor")),
                    key="prompts_evidence_chart")


try:
    _prompt_evidence(proj)
except Exception as exc:
    show_error(exc)
