"""The dev agent's runtime error: one line, mapped by the CLI to exit code 1."""

from __future__ import annotations

from spiffe_helper.errors import SpiffeHelperError


class DevAgentError(SpiffeHelperError):
    """The dev agent cannot start or serve (socket in use, unreadable state directory, ...)."""
