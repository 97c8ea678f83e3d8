"""Config errors that carry a hint: ``message`` stays the Go helper's exact text, the hint says how to fix it."""

from __future__ import annotations

from spiffe_helper.errors import ConfigError, ConfigParseError, ConfigValidationError


class HintedError(ConfigError):
    """A config error with an optional hint, rendered as ``<where>: <Go message> (<hint>)``.

    Mixed in ahead of the parse or validation class, so callers still catch those by their usual type.
    """

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
        key: str | None = None,
    ) -> None:
        self.hint = hint  # set first: the base class renders the message in its __init__
        super().__init__(message, file=file, line=line, column=column, key=key)

    def render(self) -> str:
        """The one-line text, with the hint in parentheses."""
        base = super().render()
        return f"{base} ({self.hint})" if self.hint else base


class HintedParseError(HintedError, ConfigParseError):
    """A parse/decode error; rendered as ``file:line:col: <Go message> (<hint>)``."""


class HintedValidationError(HintedError, ConfigValidationError):
    """A validation error; ``message`` is exactly Go's ``ValidateConfig`` text where Go has the rule."""
