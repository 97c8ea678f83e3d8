"""Log a failure once per distinct cause, not once per retry.

A full disk or a read-only directory fails every update the same way; the first occurrence is logged at
its level (Go's message and ``error=`` field), repeats of the same cause go to debug, and a success
re-arms every cause so that the next failure is reported again.
"""

from __future__ import annotations

import logging


class ErrorOnce:
    """Logs ``message`` the first time each cause is seen since the last success.

    The cause goes into an ``error=`` field, or with ``inline=True`` after ``": "`` in the message itself,
    which is how the Go helper prints some of its lines (``Error while watching x509 context: <err>``).
    """

    def __init__(self, logger: logging.Logger, message: str, *, level: int = logging.ERROR, inline: bool = False):
        self._logger = logger
        self._message = message
        self._level = level
        self._inline = inline
        self._seen: set[str] = set()

    def __call__(self, error: BaseException | str) -> None:
        """Report one failure."""
        cause = str(error)
        level = logging.DEBUG if cause in self._seen else self._level
        self._seen.add(cause)
        if self._inline:
            self._logger.log(level, "%s: %s", self._message, cause)
        else:
            self._logger.log(level, self._message, extra={"fields": {"error": cause}})

    def reset(self) -> None:
        """A success: the next failure of any cause is logged again."""
        self._seen.clear()
