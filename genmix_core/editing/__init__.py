"""Editor backends behind one contract (:mod:`genmix_core.editing.base`), one file each, listed in one table
(:mod:`genmix_core.editing.registry`). Public face of the editing package.

Importing this package imports no diffusers or torch model code: backends load when an editor is created.
"""

from genmix_core.editing.base import Editor, EditorInfo
from genmix_core.editing.fast_preview import FastPreviewStatus, ensure_fast_preview, preview_editor_settings
from genmix_core.editing.loading import choose_device, describe_device
from genmix_core.editing.styles import quoted, style_ids, style_key, undrawable
from genmix_core.editing.registry import (EDITORS, EditorChoice, EditorSpec, create_editor, editor_choices, editor_ids,
                                          editor_record, editor_spec, estimate_seconds_per_edit, register_editor)

__all__ = [
    "EDITORS", "Editor", "EditorChoice", "EditorInfo", "EditorSpec", "FastPreviewStatus", "choose_device",
    "create_editor", "describe_device", "editor_choices", "editor_ids", "editor_record", "editor_spec",
    "ensure_fast_preview", "estimate_seconds_per_edit", "preview_editor_settings", "quoted", "register_editor",
    "style_ids", "style_key", "undrawable",
]
