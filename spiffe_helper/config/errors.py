"""Config errors that carry a hint: ``message`` stays the Go helper's exact text, the hint says how to fix it."""

from __future__ import annotations

from spiffe_helper.errors import ConfigParseError, ConfigValidationError


class HintedParseError(ConfigParseError):
    """A parse/decode error; rendered as ``file:line:col: <Go message> (<hint>)``."""

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
        self.hint = hint
        super().__init__(message, file=file, line=line, column=column, key=key)

    def render(self) -> str:
        """The one-line text, with the hint in parentheses."""
        base = super().render()
        return f"{base} ({self.hint})" if self.hint else base


class HintedValidationError(ConfigValidationError):
    """A validation error; ``message`` is exactly Go's ``ValidateConfig`` text where Go has the rule."""

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
        self.hint = hint
        super().__init__(message, file=file, line=line, column=column, key=key)

    def render(self) -> str:
        """The one-line text, with the hint in parentheses."""
        base = super().render()
        return f"{base} ({self.hint})" if self.hint else base
