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
