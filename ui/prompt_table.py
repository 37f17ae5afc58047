"""The Prompts page's table: its columns (the style filter as a select box of styles), the rows' check marks,
and prompt labels in the user's language (``"dim lighting（暗い照明）"`` on Japanese pages)."""

from __future__ import annotations

from typing import Iterable

import pandas as pd
import streamlit as st

from genmix_core.editing import style_ids, style_key
from genmix_core.prompts import TABLE_COLUMNS, prompt_key, prompt_set_to_table
from ui.state import lang, t


# The style cell of a prompt without a chosen style: a real option ("none: match by text"), so that a new row
# shows that label and never a grey "None".
AUTO = "auto"


def table_frame(prompt_set, checked: Iterable[str] | None) -> pd.DataFrame:
    """The set as an editable frame with a "use" column: rows whose text is in ``checked`` are ticked (all rows
    when ``checked`` is empty: nothing chosen yet)."""
    rows = prompt_set_to_table(prompt_set)
    keys = {prompt_key(p) for p in checked or ()}
    table = pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
    table["filter"] = [f or AUTO for f in table["filter"]]
    table.insert(0, "use", [not keys or prompt_key(r["text"]) in keys for r in rows])
    return table


def from_editor(edited: pd.DataFrame) -> pd.DataFrame:
    """What the table editor returned, with empty cells as ``""`` and "no style" as an empty style."""
    edited = edited.copy()
    for column in ("text", "ja", "filter"):
        edited[column] = ["" if v is None or (isinstance(v, float) and v != v) or v == AUTO and column == "filter"
                          else v for v in edited[column]]
    return edited


def column_config() -> dict:
    """Columns in the session language; empty cells stay empty (never "None"), the style is one of the list."""
    styles = {AUTO: t(style_key(None)), **{s: t(style_key(s)) for s in style_ids()}}
    return {
        "use": st.column_config.CheckboxColumn(t("ui.prompts.col.use"), default=True, width="small"),
        "text": st.column_config.TextColumn(t("ui.prompts.col.text"), default="", max_chars=120),
        "ja": st.column_config.TextColumn(t("ui.prompts.col.ja"), default=""),
        "filter": st.column_config.SelectboxColumn(t("ui.prompts.col.filter"), options=list(styles), default=AUTO,
                                                   format_func=lambda s: styles.get(s or AUTO, str(s)),
                                                   help=t("ui.prompts.col.filter_help"), width="medium"),
    }


def checked_texts(edited: pd.DataFrame) -> list[str]:
    """Texts of the ticked rows that have text, in table order."""
    return [str(r["text"]).strip() for r in edited.to_dict("records")
            if bool(r.get("use")) and isinstance(r.get("text"), str) and r["text"].strip()]


def prompt_labels(prompts) -> dict[str, str]:
    """``{text: label}``: the text, with its Japanese meaning beside it on Japanese pages."""
    return {p.text: p.label(lang()) for p in prompts}


def text_labels(texts: Iterable[str], prompt_sets: Iterable) -> dict[str, str]:
    """``{text: label}`` for prompt texts, the Japanese meaning taken from any set that has the prompt."""
    glosses: dict[str, object] = {}
    for pset in prompt_sets:
        for p in pset.prompts:
            if p.ja and prompt_key(p.text) not in glosses:
                glosses[prompt_key(p.text)] = p
    return {text: glosses[prompt_key(text)].label(lang()) if prompt_key(text) in glosses else text
            for text in texts}
