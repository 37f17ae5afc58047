"""The Generate page's review: every class and prompt at once or filtered, each GenMix image beside its
original, one toggle per image and one button for all images of a prompt; failed items with their reason.

Each image shows the quality filter's similarity and, when it is not used, why (``manifest.csv`` ``reason``, in
the user's language). The toggle is the manual override: it is stored in ``review.json`` and wins over the
filter, also after the filter runs again (:mod:`genmix_core.generate.verdicts`). "Used / not used" narrows the
gallery to the edits the filter kept or rejected, so a user can check (and bulk-override) its decisions."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st
from PIL import Image, ImageOps

from genmix_core.generate import load_config, manifest
from genmix_core.i18n import t as catalog_t
from ui.state import lang, t

ALL = "__all__"
#: The gallery's third filter: every finished image, the used ones, the ones not used (filter or review).
SHOW = {ALL: "gen.page.all", "used": "gen.page.show_used", "unused": "gen.page.show_unused"}
PAGE_SIZE = 12
COLUMNS = 3


@st.cache_data(show_spinner=False, max_entries=256)
def pair_thumbnail(original: str, mixed: str, side: int = 320) -> Image.Image:
    """The original (left) and its GenMix image (right), each fitted into a ``side``² square, 8 px apart."""
    canvas = Image.new("RGB", (2 * side + 8, side), (255, 255, 255))
    for x, path in ((0, original), (side + 8, mixed)):
        try:
            with Image.open(path) as im:
                canvas.paste(ImageOps.pad(im.convert("RGB"), (side, side), color=(255, 255, 255)), (x, 0))
        except OSError:
            pass  # a missing original (moved since): the GenMix image is still shown
    return canvas


def _toggle(run_dir: Path, item_id: str, key: str) -> None:
    manifest.set_accepted(run_dir, item_id, bool(st.session_state[key]))


def _set_all(run_dir: Path, ids: list[str], accepted: bool) -> None:
    manifest.set_accepted_many(run_dir, ids, accepted)
    for item_id in ids:  # the toggles show the new decision
        st.session_state.pop(f"gen_accept_{run_dir.name}_{item_id}", None)


def review(run_dir: Path, df: pd.DataFrame, labels: dict[str, str]) -> None:
    """Filters (class, prompt: each "(all)" by default), bulk accept/reject, the image pairs with toggles.

    Args:
        df: the run's manifest (:func:`genmix_core.generate.manifest.load_manifest`).
        labels: prompt text → label in the session language.
    """
    done = df[df["status"] == "done"]
    if done.empty:
        return
    try:
        data_dir = Path(load_config(run_dir).data)
    except Exception:  # a folder without its settings: show the GenMix images alone
        data_dir = Path("/nonexistent")
    left, right, third = st.columns(3)
    classes = [ALL, *sorted(done["label"].unique())]
    prompts = [ALL, *sorted(done["prompt"].unique())]
    shown_labels = {ALL: t("gen.page.all"), **labels}
    label = left.selectbox(t("gen.page.class"), classes, key="gen_filter_class",
                           format_func=lambda c: shown_labels.get(c, c))
    prompt = right.selectbox(t("gen.page.prompt"), prompts, key="gen_filter_prompt",
                             format_func=lambda p: shown_labels.get(p, p))
    show = third.selectbox(t("gen.page.show"), list(SHOW), key="gen_filter_show", format_func=lambda s: t(SHOW[s]))
    used = done["accepted"].astype(bool)
    shown = done[((done["label"] == label) | (label == ALL)) & ((done["prompt"] == prompt) | (prompt == ALL))
                 & ((show == ALL) | (used == (show == "used")))]
    ids = list(shown["item_id"])
    name = shown_labels.get(prompt, prompt)
    left, right = st.columns(2)
    whole_prompt = prompt != ALL and label == ALL and show == ALL
    left.button(t("gen.page.reject_prompt" if whole_prompt else "gen.page.reject_shown", n=len(ids), prompt=name),
                key="gen_reject_all", on_click=_set_all, args=(run_dir, ids, False), icon="🚫")
    right.button(t("gen.page.accept_prompt" if whole_prompt else "gen.page.accept_shown", n=len(ids), prompt=name),
                 key="gen_accept_all", on_click=_set_all, args=(run_dir, ids, True), icon="✅")
    pages = max(1, -(-len(shown) // PAGE_SIZE))
    page = int(st.number_input(t("gen.page.page", pages=pages), 1, pages, 1, key="gen_page")) if pages > 1 else 1
    for i, row in enumerate(shown.iloc[(page - 1) * PAGE_SIZE:page * PAGE_SIZE].itertuples()):
        if i % COLUMNS == 0:
            grid = st.columns(COLUMNS)   # one row of columns per 3 pairs, so the toggles line up across a row
        with grid[i % COLUMNS]:
            st.image(pair_thumbnail(str(data_dir / row.image), str(run_dir / row.mix_path)), width="stretch",
                     caption=t("gen.page.pair_caption", image=row.image, prompt=labels.get(row.prompt, row.prompt)))
            key = f"gen_accept_{run_dir.name}_{row.item_id}"
            st.toggle(t("gen.page.accept"), value=bool(row.accepted), key=key,
                      on_change=_toggle, args=(run_dir, row.item_id, key))
            quality_note(row)


def quality_note(row) -> None:
    """The quality filter's similarity and, for an image not used, why (in the session language)."""
    similarity = pd.to_numeric(row.similarity, errors="coerce")
    if pd.notna(similarity):
        st.caption(t("gen.page.similarity", value=f"{float(similarity):.3f}"))
    if row.reason:
        st.caption(t(f"gen.reason.{row.reason}"))


def failed_reasons(run_dir: Path, failed: pd.DataFrame) -> list[str]:
    """One line per prompt and reason: "“prompt” (150 images): why", the reason in the session language where
    the record keeps its catalog key (one undrawable prompt was 150 identical rows)."""
    records = manifest.read_records(run_dir)
    groups: dict[tuple[str, str], int] = {}
    for row in failed.itertuples():
        rec = records.get(row.item_id, {})
        key = rec.get("error_key")
        reason = catalog_t(key, lang(), **(rec.get("error_params") or {})) if key else str(row.error)
        groups[(row.prompt, reason)] = groups.get((row.prompt, reason), 0) + 1
    return [t("gen.page.failed_line", prompt=prompt, n=n, reason=reason) for (prompt, reason), n in groups.items()]
