"""Config hot reload: notice that the config file's content changed, and hand the new bytes over.

Watches the config file's *directory* (and, when the path is a symlink, the directory it resolves into,
re-resolved after every batch), because a Kubernetes ConfigMap update never touches the file: it swaps the
``..data`` symlink to a new timestamped directory. Editors that save by rename are caught the same way.
Every batch of filesystem events leads to one read and a SHA-256 comparison, so only a real content change
reaches the callback, once. Parsing, validation and applying are the owner's job: this module knows nothing
about the format.

On Linux the events come from inotify on the event loop (:mod:`spiffe_helper.dirwatch`): no thread and no
wake-up while the file does not change. Where inotify cannot be used (another OS, the inotify limits of the
node reached), or when polling is asked for (``force_polling``, or ``WATCHFILES_FORCE_POLLING`` set as
before), watchfiles does the watching, with its own thread and a wake-up every ``step``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import inspect
import logging
import os
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass

from spiffe_helper.dirwatch import DirWatch

log = logging.getLogger("spiffe_helper.reload")


@dataclass(frozen=True)
class ConfigChange:
    """The config file's new content."""

    path: str
    data: bytes
    digest: str


def digest(data: bytes) -> str:
    """The content digest used to tell a real change from a touch."""
    return hashlib.sha256(data).hexdigest()


class ConfigWatcher:
    """Calls ``on_change(ConfigChange)`` once per real change of ``path``'s content.

    ``initial`` is the content the running configuration was loaded from (so a change between loading and
    watching is not missed); without it the file is read when :meth:`run` starts. ``on_change`` may be a
    plain function or a coroutine function; an exception in it is logged and watching goes on.
    """

    def __init__(
        self,
        path: str,
        on_change: Callable[[ConfigChange], Awaitable[None] | None],
        *,
        initial: bytes | None = None,
        debounce_ms: int = 200,
        force_polling: bool | None = None,
    ) -> None:
        self.path = os.path.abspath(path)
        self._on_change = on_change
        self._digest = digest(initial) if initial is not None else None
        self._debounce_ms = debounce_ms
        self._force_polling = force_polling
        self._unreadable_logged = False
        #: Batches of filesystem events seen so far (lets a caller know the watch is live).
        self.batches = 0

    def watched_dirs(self) -> list[str]:
        """The directories to watch: the path's own, and the one its symlinks resolve into (now)."""
        dirs = [os.path.dirname(self.path)]
        real = os.path.dirname(os.path.realpath(self.path))
        if real != dirs[0] and os.path.isdir(real):
            dirs.append(real)
        return dirs

    def check(self) -> ConfigChange | None:
        """Read the file now; the change if its digest differs from the last one seen."""
        try:
            with open(self.path, "rb") as f:
                data = f.read()
        except OSError as err:
            # Mid-swap or mid-save the file can be missing for a moment; the next event will tell.
            if not self._unreadable_logged:
                log.warning(
                    "Config file unreadable; keeping the running configuration",
                    extra={"fields": {"file": self.path, "error": err.strerror or str(err)}},
                )
                self._unreadable_logged = True
            return None
        self._unreadable_logged = False
        new = digest(data)
        if new == self._digest:
            return None
        self._digest = new
        return ConfigChange(self.path, data, new)

    async def run(self, stop_event: asyncio.Event | None = None) -> None:
        """Watch until cancelled (or ``stop_event`` is set)."""
        if stop_event is None:
            await self._watch()
            return
        watching = asyncio.create_task(self._watch())
        stopping = asyncio.create_task(stop_event.wait())
        try:
            done, _ = await asyncio.wait([watching, stopping], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (watching, stopping):
                task.cancel()
            await asyncio.gather(watching, stopping, return_exceptions=True)
        if watching in done:
            watching.result()  # raises what ended the watch

    async def _watch(self) -> None:
        if self._force_polling or (self._force_polling is None and os.environ.get("WATCHFILES_FORCE_POLLING")):
            await self._watch_with(self._polled_batches())
            return
        watch: DirWatch | None = None
        try:
            watch = DirWatch()
            watch.watch(self.watched_dirs())
        except OSError as err:
            if watch is not None:
                watch.close()
            log.warning(
                "Config file notifications unavailable; polling for changes instead",
                extra={"fields": {"error": err.strerror or str(err)}},
            )
            await self._watch_with(self._polled_batches())
            return
        with watch:
            await self._watch_with(watch.batches(debounce=self._debounce_ms / 1000), watch)

    async def _watch_with(self, batches: AsyncGenerator[None, None], watch: DirWatch | None = None) -> None:
        if self._digest is None:
            self.check()
        else:
            await self._on_batch()  # the file may have changed between loading and watching
        async with contextlib.aclosing(batches):  # closed here even when cancelled in the callback
            async for _ in batches:
                self.batches += 1
                if watch is not None:
                    # Watch where the symlinks point now (a ConfigMap swap moved it) before reading: a write
                    # after this wakes us again, one before it is in what we read.
                    try:
                        watch.watch(self.watched_dirs())
                    except OSError as err:
                        log.warning("Unable to watch the config directory", extra={"fields": {"error": str(err)}})
                await self._on_batch()

    async def _polled_batches(self) -> AsyncGenerator[None, None]:
        # Imported here: watchfiles brings anyio and, once running, a worker thread for its loop.
        from watchfiles import awatch

        dirs = self.watched_dirs()
        async for _changes in awatch(
            *[d for d in dirs if not d.startswith(dirs[0] + os.sep)],  # dirs[0] is watched recursively
            watch_filter=None,
            debounce=self._debounce_ms,
            step=500,  # idle wake-ups: 2 a second (0.1 % CPU at 20 a second); a change is seen <= 0.5 s late
            force_polling=True,  # asked for, or the notifications it would otherwise use are unavailable
        ):
            yield

    async def _on_batch(self) -> None:
        change = self.check()
        if change is None:
            return
        log.info("Config file changed", extra={"fields": {"file": self.path}})
        try:
            result = self._on_change(change)
            if inspect.isawaitable(result):
                await result
        except asyncio.CancelledError:
            raise
        except Exception as err:
            log.error(
                "Applying the changed config failed; keeping the running configuration",
                extra={"fields": {"error": str(err)}},
            )
