"""Errors the user can fix, carrying a catalog key so the UI can show them in the user's language."""

from __future__ import annotations


class UserError(ValueError):
    """A problem with the user's input, model or environment, with the fix in the message.

    ``key`` names a message in the text catalog (``genmix_core/locales/*.yaml``, usually under ``err.``);
    ``params`` fill its ``{placeholders}``. ``str(e)`` is the English text, so CLI users and logs read it
    directly; the UI calls ``e.message(lang)``.

    Example:
        raise UserError("err.prompts.duplicate", prompt="snowy", file="mine.yaml")
    """

    def __init__(self, key: str, **params: object) -> None:
        self.key = key
        self.params = params
        super().__init__(self.message("en"))

    def message(self, lang: str = "en") -> str:
        from genmix_core.i18n import t

        return t(self.key, lang, **self.params)


# Subclasses for what code branches on; each keeps its catalog key (huggingface_hub's errors.py does the same).

class StorageError(UserError):
    """Writing to disk failed: a full disk, a read-only folder, missing permissions (``err.io.*``).

    Every following write would fail too, so a job stops and says so once, keeping what it already wrote.
    """


class DiskFullError(StorageError):
    """The disk is full (``err.io.disk_full``)."""


class ModelUnavailableError(UserError):
    """The chosen diffusion model is not on this PC and cannot be downloaded now (offline, no hub access)."""


class OutOfMemoryError(UserError):
    """The accelerator ran out of memory even for a single image."""
