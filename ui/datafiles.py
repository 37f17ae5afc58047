"""Deleting one class of a project's stored photos (the Data page's delete action).

Kept out of the page so it is tested without Streamlit; user-chosen class names go through ``safe_join``
so nothing outside the project's data folder can be removed.
"""

from __future__ import annotations

import shutil

from genmix_core.paths import safe_join


def delete_class(proj, split: str, label: str) -> int:
    """Remove the folder of class ``label`` in ``split``; returns how many image files it held."""
    root = proj.data_dir(split)
    folder = safe_join(root, label)
    if not folder.is_dir() or folder == root.resolve():
        return 0
    count = sum(1 for p in folder.rglob("*") if p.is_file())
    shutil.rmtree(folder)
    return count



def grouped_lines(findings, lang: str, shown: int = 3, names: int = 8) -> list[str]:
    """One Markdown bullet per finding, but at most ``shown`` per kind of message; the rest of a kind become one
    line "N more like this: a.png, b.png, …" (24 identical duplicate warnings were 24 lines).

    Args:
        findings: :class:`genmix_core.data.Rejection` items (each names its file).
    """
    from genmix_core.i18n import t

    by_key: dict[str, list] = {}
    for finding in findings:
        by_key.setdefault(finding.key, []).append(finding)
    lines = []
    for group in by_key.values():
        lines += [f"- {f.message(lang)}" for f in group[:shown]]
        rest = group[shown:]
        if rest:
            listed = ", ".join(f.name for f in rest[:names]) + (", …" if len(rest) > names else "")
            lines.append(f"- {t('data.warn.grouped', lang, count=len(rest), names=listed)}")
    return lines
