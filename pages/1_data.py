"""Data: sample data, uploads (training and on-site photos), a summary of what is stored, delete actions.

Uploads are copied into the project folder in the same run they arrive (widget values are lost when the
user changes page); the uploader is then reset so the same files are not imported twice.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from genmix_core import data as data_core
from ui.datafiles import delete_class, grouped_lines
from ui.state import lang as session_lang
from ui.state import project, project_name, t
from ui.widgets import go_to_page_button, image_grid, localize_uploader, show_error

UPLOAD_TYPES = ["png", "jpg", "jpeg", "bmp", "gif", "tif", "tiff", "webp", "zip"]  # as err.image.not_image says
SPLITS = ("train", "onsite")
THUMBS_PER_CLASS = 6
NEW_CLASS = "__new__"
REPORT_KEY = "data_report"

st.title(t("ui.data.title"))
st.caption(t("ui.data.project", name=project_name()))


def _split_name(split: str) -> str:
    return t(f"ui.data.split.{split}")


def _remember(report, split: str) -> None:
    """Keep the import report for the next run (the page reruns to reset the uploader)."""
    st.session_state[REPORT_KEY] = {"split": split, "added": len(report.added),
                                    "rejected": list(report.rejected), "warnings": list(report.warnings),
                                    "skipped": list(report.skipped), "stopped": getattr(report, "stopped", None)}


def _show_report() -> None:
    report = st.session_state.pop(REPORT_KEY, None)
    if not report:
        return
    lang = session_lang()
    if report["added"] and report["split"] == "sample":
        st.success(t("ui.data.report.added_sample", count=report["added"]))
    elif report["added"]:
        st.success(t("ui.data.report.added", count=report["added"], split=_split_name(report["split"])))
    else:
        st.warning(t("ui.data.report.none_added"))
    if report["rejected"]:
        lines = "\n".join(grouped_lines(report["rejected"], lang))  # each message names its file
        st.error(t("ui.data.report.rejected", count=len(report["rejected"])) + "\n\n" + lines)
    if report.get("stopped"):
        st.error(report["stopped"].message(lang))
    if report["warnings"]:
        lines = "\n".join(grouped_lines(report["warnings"], lang))
        st.warning(t("ui.data.report.warnings") + "\n\n" + lines)
    if report.get("skipped"):
        names = ", ".join(n.rsplit("/", 1)[-1] for n in report["skipped"][:3])
        st.info(t("ui.data.report.skipped", count=len(report["skipped"]), names=names))


def _scan(proj, split: str) -> pd.DataFrame:
    return data_core.scan_split(proj, split)


try:
    proj = project()
except Exception as exc:  # an unusable project name
    show_error(exc)
    st.stop()

_show_report()

st.subheader(t("ui.data.sample.header"))
st.caption(t("ui.data.sample.help"))
if st.button(t("ui.data.sample.button"), key="data_use_sample", type="primary", icon="🧪"):
    try:
        with st.spinner(t("ui.data.working")):
            _remember(data_core.use_sample_data(proj), "sample")
        st.rerun()
    except Exception as exc:
        show_error(exc)

st.subheader(t("ui.data.upload.header"))
st.caption(t("ui.data.upload.help"))
frames = {}
for split, tab in zip(SPLITS, st.tabs([_split_name(s) for s in SPLITS])):
    with tab:
        try:
            frames[split] = _scan(proj, split)
        except Exception as exc:
            show_error(exc)
            frames[split] = pd.DataFrame(columns=["path", "rel", "label", "split", "width", "height"])
        if split == "onsite":
            st.caption(t("ui.data.split.onsite_help"))
        # On-site photos use the training classes, so offer those too.
        classes = sorted(set(frames[split]["label"]) | set(frames["train"]["label"]))
        # Labels computed now: AppTest calls format_func outside the script run, where the language is unknown.
        names = {NEW_CLASS: t("ui.data.class_new")}
        choice = st.selectbox(t("ui.data.class_select"), [*classes, NEW_CLASS], key=f"data_class_{split}",
                              format_func=lambda c, names=names: names.get(c, c))
        label = choice
        if choice == NEW_CLASS:
            label = st.text_input(t("ui.data.class_new_name"), key=f"data_new_class_{split}").strip() or None
        nonce_key = f"data_upload_nonce_{split}"
        nonce = st.session_state.setdefault(nonce_key, 0)
        localize_uploader(UPLOAD_TYPES)
        files = st.file_uploader(t("ui.data.uploader"), type=UPLOAD_TYPES, accept_multiple_files=True,
                                 key=f"data_upload_{split}_{nonce}")
        if files:
            try:
                with st.spinner(t("ui.data.working")):
                    report = data_core.import_uploads(proj, [(f.name, f.getvalue()) for f in files],
                                                      split=split, label=label)
                _remember(report, split)
            except Exception as exc:
                show_error(exc)
            else:
                # A new widget key empties the uploader, so the files are not imported again.
                st.session_state[nonce_key] = nonce + 1
                st.rerun()

st.subheader(t("ui.data.summary.header"))
train_df, onsite_df = frames["train"], frames["onsite"]
if len(train_df) == 0 and len(onsite_df) == 0:
    st.info(t("ui.data.summary.empty"))
    st.stop()

counts = pd.concat([train_df, onsite_df]).groupby(["label", "split"]).size().unstack(fill_value=0)
counts = counts.reindex(columns=list(SPLITS), fill_value=0)
metric_cols = st.columns(3)
metric_cols[0].metric(t("ui.data.summary.classes"), len(counts))
for column, split in zip(metric_cols[1:], SPLITS):
    column.metric(t("ui.data.summary.images", split=_split_name(split)), int(counts[split].sum()))
table = counts.rename(columns={s: _split_name(s) for s in SPLITS}).rename_axis(t("ui.data.summary.col.class"))
st.dataframe(table.reset_index(), hide_index=True)
# On-site photos of only some classes test only those: say so here, as the report does (issue 9).
no_onsite = [label for label, n in counts["onsite"].items() if n == 0] if counts["onsite"].sum() else []
if no_onsite:
    st.info(t("data.check.onsite_missing_classes", n=len(counts) - len(no_onsite), total=len(counts),
              missing=", ".join(no_onsite)))

try:
    problems = data_core.check_dataset(train_df)
except Exception as exc:
    show_error(exc)
    problems = []
lang = session_lang()
for problem in problems:
    # check_dataset also reports plain facts (level "info"), which must not look like problems.
    show = st.info if getattr(problem, "level", "warning") == "info" else st.warning
    show(problem.message(lang))

st.markdown(f"**{t('ui.data.summary.thumbs')}**")
for split, tab in zip(SPLITS, st.tabs([_split_name(s) for s in SPLITS])):
    df = frames[split]
    with tab:
        for label_name, group in df.groupby("label", sort=True):
            st.markdown(t("ui.data.summary.class_count", label=label_name, count=len(group)))
            rows = group.head(THUMBS_PER_CLASS)
            image_grid([(row.path, t("ui.data.summary.thumb_caption", name=str(row.rel).split("/")[-1],
                                     width=row.width, height=row.height)) for row in rows.itertuples()],
                       cols=THUMBS_PER_CLASS)

go_to_page_button("pages/2_prompts.py", t("ui.data.next"), key="data_next", icon="➡️")

with st.expander(t("ui.data.manage.header")):
    split_names = {s: _split_name(s) for s in SPLITS}
    split = st.radio(t("ui.data.manage.split"), SPLITS, format_func=split_names.get, key="data_manage_split",
                     horizontal=True)
    df = frames[split]
    if len(df) == 0:
        st.caption(t("ui.data.manage.nothing"))
    else:
        label_counts = df.groupby("label").size()
        target = st.selectbox(t("ui.data.manage.class"), list(label_counts.index), key="data_manage_class")
        sure = st.checkbox(t("ui.data.manage.confirm_class", label=target, count=int(label_counts[target]),
                             split=_split_name(split)), key="data_confirm_class")
        if st.button(t("ui.data.manage.delete_class"), key="data_delete_class", disabled=not sure, icon="🗑️"):
            try:
                st.toast(t("ui.data.manage.deleted", count=delete_class(proj, split, target)))
                st.session_state.pop("data_confirm_class", None)
                st.rerun()
            except Exception as exc:
                show_error(exc)
        sure_all = st.checkbox(t("ui.data.manage.confirm_clear", count=len(df), split=_split_name(split)),
                               key="data_confirm_clear")
        if st.button(t("ui.data.manage.clear"), key="data_clear", disabled=not sure_all, icon="🗑️"):
            try:
                st.toast(t("ui.data.manage.deleted", count=proj.clear_split(split)))
                st.session_state.pop("data_confirm_clear", None)
                st.rerun()
            except Exception as exc:
                show_error(exc)
