"""Preview: one image through every GenMix stage, with the mixing parameters on sliders.

The edit is cached (``ui.cache``) on image hash, prompt, editor settings and seed, so moving a slider only
re-runs the millisecond mixing step (``genmix_core.preview.mix_stages``).
"""

from __future__ import annotations

import io
import json
import secrets

import streamlit as st
from PIL import Image

from genmix_core import preview
from genmix_core.errors import UserError
from ui.cache import edit_png, edit_pngs, get_editor
from ui.prompt_table import text_labels
from ui.state import (KEY_EDITOR, KEY_EDITOR_MODEL, KEY_MIX_PARAMS, editor_id, project, prompt_filters,
                      restore_active_prompts, t)
from ui.widgets import empty_project_hint, framed, go_to_page_button, show_error, show_text

SEED_MAX = 2**31 - 1  # the browser's number input is exact only up to 2**53; 31 bits are plenty to browse
SEED_KEY = "preview_fractal_seed"
# The row of every prompt on this photo: one editor call (one batch on a GPU), two rows of four at most.
ALL_PROMPTS_MAX = 8

st.title(t("ui.preview.title"))
st.caption(t("ui.preview.intro"))

try:
    proj = project()
    from genmix_core.data import scan_split
    from genmix_core.mixing import (DEFAULT_LAM, DEFAULT_RADIUS, DEFAULT_RAMP, DEFAULT_SOFTNESS, MASK_KINDS,
                                    MixParams)

    images = scan_split(proj, "train")
except Exception as exc:
    show_error(exc)
    st.stop()

if len(images) == 0:
    empty_project_hint(key="preview_go_data")
    st.stop()


def _prompt_choices() -> list[str]:
    active = restore_active_prompts(proj)
    if active:
        return active
    from genmix_core.prompts import list_prompt_sets, pick_prompt_set

    return [p.text for p in pick_prompt_set(list_prompt_sets(None)).prompts]


def _editor_choices(model: str | None) -> dict:
    """Every editor backend by id, with whether it runs here (the session's model for diffusion editors)."""
    from genmix_core.editing import EDITORS, editor_choices

    models = {e: model for e, spec in EDITORS.items() if spec.is_diffusion} if model else None
    return {c.id: c for c in editor_choices(models)}


def _on_gpu() -> bool:
    from genmix_core.editing import choose_device

    return choose_device(None) == "cuda"


def _pick_prompt(text: str) -> None:
    st.session_state["preview_prompt"] = text


def _random_seed() -> None:
    st.session_state[SEED_KEY] = secrets.randbelow(SEED_MAX + 1)


saved = st.session_state.get(KEY_MIX_PARAMS) or {}
st.session_state.setdefault(SEED_KEY, int(saved.get("fractal_seed", 0)) % (SEED_MAX + 1))

# The editor gets a whole row: in a third of the page its name was cut ("スタイルフィルタ（オフライン・AIモ").
model = st.session_state.get(KEY_EDITOR_MODEL)
choices = _editor_choices(model)
options = list(choices)
if st.session_state.get(KEY_EDITOR) not in options:
    st.session_state[KEY_EDITOR] = options[0]
# Labels computed now: AppTest calls format_func outside the script run, where the language is unknown.
editor_labels = {o: t(c.label_key) for o, c in choices.items()}
chosen_editor = st.selectbox(t("ui.preview.editor"), options, index=options.index(editor_id()),
                             format_func=editor_labels.get, key="preview_editor")
st.session_state[KEY_EDITOR] = chosen_editor
choice = choices[chosen_editor]
if choice.is_diffusion:
    model = st.text_input(t("gen.page.model"), model or "", key="preview_model").strip() or None
    if model != st.session_state.get(KEY_EDITOR_MODEL):
        st.session_state[KEY_EDITOR_MODEL] = model
        st.rerun()
else:
    model = None
if choice.reason_key:
    params = choice.reason_params or {}
    show_text(t(choice.reason_key, **params), params.get("command"), st.caption if choice.available else st.warning)
if not choice.available:
    st.stop()


pick, mix = st.columns([1, 2], gap="large")
with pick:
    labels = sorted(images["label"].unique())
    label = st.selectbox(t("ui.preview.class"), labels, key="preview_class")
    in_class = images[images["label"] == label].sort_values("rel")
    rel = st.selectbox(t("ui.preview.image"), list(in_class["rel"]), key="preview_image",
                       format_func=lambda r: str(r).split("/")[-1])
    path = str(in_class[in_class["rel"] == rel]["path"].iloc[0])
    try:
        prompts = _prompt_choices()
    except Exception as exc:
        show_error(exc)
        st.stop()
    from genmix_core.prompts import list_prompt_sets

    prompt_labels = text_labels(prompts, list_prompt_sets(proj.prompts_dir))
    prompt = st.selectbox(t("ui.preview.prompt"), prompts, key="preview_prompt", format_func=prompt_labels.get,
                          help=t("ui.preview.prompt_active_hint"))
    # Cheap with the style filter or on a GPU (one batch); a diffusion model on a CPU takes minutes per edit. One
    # key per kind of editor: turning it on for the filter must not start minutes of AI edits after a switch.
    show_all = st.toggle(t("ui.preview.all.toggle"), help=t("ui.preview.all.help"),
                         key=f"preview_all_prompts_{'ai' if choice.is_diffusion else 'filter'}",
                         value=not choice.is_diffusion or _on_gpu())
with mix:
    left, right = st.columns(2)
    mask_labels = {k: t(f"mix.mask.{k}") for k in MASK_KINDS}
    mask = left.selectbox(t("ui.preview.mask"), MASK_KINDS, format_func=mask_labels.get,
                          index=MASK_KINDS.index(saved.get("mask", MASK_KINDS[0])), key="preview_mask")
    if mask == "radial":
        radius = left.slider(t("mix.param.radius"), 0.05, 1.0, float(saved.get("radius", DEFAULT_RADIUS)),
                             0.01, key="preview_radius")
        softness = left.slider(t("mix.param.softness"), 0.0, 0.5, float(saved.get("softness", DEFAULT_SOFTNESS)),
                               0.01, key="preview_softness")
        ramp = float(saved.get("ramp", DEFAULT_RAMP))
    else:
        ramp = left.slider(t("mix.param.ramp"), 0.0, 0.5, float(saved.get("ramp", DEFAULT_RAMP)), 0.01,
                           key="preview_ramp")
        radius = float(saved.get("radius", DEFAULT_RADIUS))
        softness = float(saved.get("softness", DEFAULT_SOFTNESS))
    lam = right.slider(t("mix.param.lam"), 0.0, 1.0, float(saved.get("lam", DEFAULT_LAM)), 0.05, key="preview_lam")
    # The button goes under the seed, not beside it: in a third of the page "ランダム" was cut to "ラン…".
    fractal_seed = right.number_input(t("ui.preview.fractal_seed"), 0, SEED_MAX, step=1, key=SEED_KEY)
    right.button(t("ui.preview.random"), key="preview_random", on_click=_random_seed, icon="🎲")

try:
    params = MixParams(mask=mask, ramp=ramp, radius=radius, softness=softness, lam=lam,
                       fractal_seed=int(fractal_seed))
    st.session_state[KEY_MIX_PARAMS] = params.to_dict()
    filters = prompt_filters() if chosen_editor == "offline" else ()
    editor = get_editor(chosen_editor, model, filters)
    if not editor.can_edit(prompt):
        raise UserError("err.editor.needs_diffusion", prompt=prompt)
    row = None
    if show_all:
        drawable = [p for p in prompts if editor.can_edit(p)]
        try:   # before the chosen prompt's edit: that one is then taken from the same batch
            with st.spinner(t("ui.preview.all.computing", count=min(len(drawable), ALL_PROMPTS_MAX))):
                row = edit_pngs(path, drawable[:ALL_PROMPTS_MAX], chosen_editor, model, filters=filters)
        except Exception as exc:   # the chosen prompt's view below still works
            show_error(exc)
    with st.spinner(t("ui.preview.computing")):
        png, seed = edit_png(path, prompt, chosen_editor, model, filters=filters)
    original = preview.load_preview_image(path)
    edited = Image.open(io.BytesIO(png)).convert("RGB")
    stages = preview.mix_stages(original, edited, params)
except Exception as exc:
    show_error(exc)
    st.stop()

if editor.info.is_diffusion:
    # On a GPU: this photo shape compiled ahead of time by a process of its own, then loaded by the editor.
    from genmix_core.editing import ensure_fast_preview

    try:
        fast = ensure_fast_preview(editor, chosen_editor, model, original.size, len(row) if row else 1,
                                   other_sizes=list(zip(images["width"], images["height"])))
        if fast.message_key:
            show_text(t(fast.message_key, **fast.params), None, st.caption)
    except Exception as exc:   # the previews themselves are unaffected
        show_error(exc)

edit_key = "ui.preview.stage.edit_ai" if editor.info.is_diffusion else "ui.preview.stage.edit_filter"
shown = [(original, t("ui.preview.stage.original", label=label)), (edited, t(edit_key, prompt=prompt)),
         (framed(stages["mask"]), t("ui.preview.stage.mask")), (stages["hybrid"], t("ui.preview.stage.hybrid")),
         (stages["fractal"], t("ui.preview.stage.fractal")),
         (stages["final"], t("ui.preview.stage.final", label=label))]
# Three to a row: about 300 px each at a 1400 px window, readable on a projector (six in a row were 130 px).
for start in range(0, len(shown), 3):
    for column, (image, caption) in zip(st.columns(3), shown[start:start + 3]):
        column.image(image, caption=caption, width="stretch")

record = preview.reproduction_record(path, prompt, editor, seed, params)
record["label"] = label
download_col, next_col = st.columns(2)
download_col.download_button(t("ui.preview.download"), preview.png_bytes(stages["final"]),
                             file_name=f"genmix_{label}_{str(rel).split('/')[-1].rsplit('.', 1)[0]}.png",
                             mime="image/png", key="preview_download", icon="⬇️")
with next_col:
    go_to_page_button("pages/4_generate.py", t("ui.preview.next"), key="preview_next", icon="➡️")
with st.expander(t("ui.preview.record")):
    st.code(json.dumps(record, ensure_ascii=False, indent=2), language="json")

if row:
    st.subheader(t("ui.preview.all.title_ai" if editor.info.is_diffusion else "ui.preview.all.title_filter"))
    items = list(row.items())
    for start in range(0, len(items), 4):
        for i, (column, (text, png)) in enumerate(zip(st.columns(4), items[start:start + 4]), start):
            mark = "▶ " if text == prompt else ""
            column.image(png, caption=f"{mark}“{prompt_labels.get(text, text)}”", width="stretch")
            # Its mixing steps above, from the same cached edit: nothing is edited again.
            column.button(t("ui.preview.all.pick"), key=f"preview_pick_{i}", on_click=_pick_prompt, args=(text,),
                          disabled=text == prompt, width="stretch")
    left_out = [p for p in prompts if p not in row]
    if left_out:
        from genmix_core.editing import quoted

        st.caption(t("ui.preview.all.left_out", prompts=quoted(prompt_labels.get(p, p) for p in left_out),
                     max=ALL_PROMPTS_MAX))
