"""Editor backends behind one contract (:mod:`genmix_core.editing.base`)."""

from genmix_core.editing.base import Editor, EditorInfo

__all__ = ["Editor", "EditorInfo"]
