"""Stop requests and the exit code: the orchestrator's one place to decide how the helper ends."""

from __future__ import annotations

import asyncio


class Stopped(Exception):
    """Raised inside a run's TaskGroup to cancel every task once a stop was requested."""


class Shutdown:
    """The first stop request wins: it fixes the exit code and wakes every waiter.

    Signal handlers (SIGTERM/SIGINT -> 0), a terminal error, or the supervisor (the child's exit code)
    call :meth:`request`; the run awaits :meth:`wait` and ends with :attr:`code`.
    """

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self.code: int | None = None
        self.reason = ""

    def request(self, code: int, reason: str = "") -> None:
        """Ask the run to stop with ``code``; later requests do not change the code."""
        if self.code is None:
            self.code = code
            self.reason = reason
        self._event.set()

    @property
    def requested(self) -> bool:
        """True once a stop was requested."""
        return self._event.is_set()

    async def wait(self) -> int:
        """Resolve with the exit code once a stop is requested."""
        await self._event.wait()
        assert self.code is not None
        return self.code

    async def raise_when_requested(self) -> None:
        """A TaskGroup member: raises :class:`Stopped` when a stop is requested, cancelling its siblings."""
        await self._event.wait()
        raise Stopped(self.reason)
