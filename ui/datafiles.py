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

