"""Home: what GenMix does (live, on a sample photo), what this machine offers, and where to start."""

from __future__ import annotations

import io

import streamlit as st
from PIL import Image

from genmix_core import preview
from genmix_core.paths import SAMPLE_DATA_DIR
from ui.cache import edit_png, get_editor
from ui.state import t
from ui.widgets import go_to_page_button, plain, show_error

# Prompts tried in order for the sample pictures; the first one the current offline filter can render wins.
HOME_PROMPTS = ("dim lighting", "snowy", "sunset", "Autumn")
HOME_FRACTAL_SEED = 7

st.title(t("ui.home.title"))
st.markdown(t("ui.home.intro"))


def _sample_image():
    for split in ("lab", "line"):
        images = sorted((SAMPLE_DATA_DIR / split).glob("*/*.png"))
        if images:
            return images[0]
    return None


def _pictures() -> None:
    from genmix_core.mixing import DEFAULT_LAM, DEFAULT_RAMP, DEFAULT_RADIUS, DEFAULT_SOFTNESS, MixParams

    path = _sample_image()
    if path is None:
        st.info(t("ui.home.no_sample"))
        return
    editor = get_editor("offline")
    prompt = next((p for p in HOME_PROMPTS if editor.can_edit(p)), None)
    if prompt is None:
        st.info(t("ui.home.no_sample"))
        return
    png, _ = edit_png(str(path), prompt, "offline")
    original = preview.load_preview_image(path)
    edited = Image.open(io.BytesIO(png)).convert("RGB")
    params = MixParams(mask="left_right", ramp=DEFAULT_RAMP, radius=DEFAULT_RADIUS, softness=DEFAULT_SOFTNESS,
                       lam=DEFAULT_LAM, fractal_seed=HOME_FRACTAL_SEED)
    stages = preview.mix_stages(original, edited, params)
    edit_caption = (t("ui.home.step.edit_ai", prompt=prompt) if editor.info.is_diffusion
                    else t("ui.home.step.edit_filter", prompt=prompt))
    captions = [(original, t("ui.home.step.original")), (edited, edit_caption),
                (stages["hybrid"], t("ui.home.step.hybrid")),
                (stages["final"], t("ui.home.step.final", lam=f"{params.lam:g}"))]
    for column, (image, caption) in zip(st.columns(4), captions):
        column.image(image, caption=caption, width="stretch")
    if not editor.info.is_diffusion:
        st.caption(t("ui.home.filter_note"))


st.subheader(t("ui.home.pictures"))
try:
    _pictures()
except Exception as exc:  # the home page must always render
    show_error(exc)


@st.cache_resource(show_spinner=False)
def _device_info() -> dict | None:
    """``describe_device()`` once per process (it imports torch, which takes seconds)."""
    from genmix_core.editing import describe_device

    return describe_device()


def _device_text() -> str | None:
    info = _device_info()
    if not info:
        return None
    if info.get("gpu_name"):
        return t("ui.home.device.gpu", name=info["gpu_name"], memory=info.get("gpu_memory_gb") or "?",
                 dtype=info.get("dtype", ""))
    if info.get("device") == "mps":
        return t("ui.home.device.mps")
    return t("ui.home.device.cpu", cores=info.get("cpu_cores") or "?")


def _availability(choice) -> str:
    if choice.needs_files:
        return t("ui.home.editor.needs_files")
    return t("ui.home.editor.yes" if choice.available else "ui.home.editor.no")


def _editors() -> None:
    """The editors with whether they run here; below, why not / how fast, a download command as a code block."""
    from genmix_core.editing import editor_choices

    choices = editor_choices()
    st.dataframe([{t("ui.home.editor.col.name"): t(c.label_key),
                   t("ui.home.editor.col.kind"): t("ui.home.editor.kind.diffusion" if c.is_diffusion
                                                   else "ui.home.editor.kind.filter"),
                   t("ui.home.editor.col.available"): _availability(c)} for c in choices],
                 hide_index=True, width="stretch")
    for choice in choices:
        params = choice.reason_params or {}
        if choice.needs_files:
            st.markdown(f"**{t(choice.label_key)}**")
            st.caption(plain(t("editor.reason.needs_files", **params)))
            st.code(f"pip install -U huggingface_hub\n{params.get('command', '')}", language="bash")
        elif choice.reason_key:
            st.caption(f"**{t(choice.label_key)}**: " + plain(t(choice.reason_key, **params)))


st.subheader(t("ui.home.machine"))
try:
    device = _device_text()
    st.markdown(device or t("ui.home.device_unknown"))
    st.markdown(f"**{t('ui.home.editors')}**")
    _editors()
except Exception as exc:
    show_error(exc)

st.subheader(t("ui.home.start"))
STEPS = [("pages/1_data.py", "ui.home.start.data"), ("pages/2_prompts.py", "ui.home.start.prompts"),
         ("pages/3_preview.py", "ui.home.start.preview"), ("pages/4_generate.py", "ui.home.start.generate"),
         ("pages/5_train.py", "ui.home.start.train")]
for number, (page, key) in enumerate(STEPS, start=1):
    text_col, button_col = st.columns([6, 1], vertical_alignment="center")
    text_col.markdown(f"{number}. {t(key)}")
    with button_col:
        go_to_page_button(page, t("ui.home.open"), key=f"home_open_{number}")

st.warning(t("ui.home.patent"), icon="⚖️")
