"""Waiting for the agent's Unix socket file instead of sleeping through a backoff.

After a failed connection the client calls :func:`wait_for_socket` with its backoff delay and the socket
file's identity as it was when the failed attempt *began* (``seen``):

* socket file different from ``seen`` (it appeared, or was replaced, while the attempt ran or its failure was
  being reported): return at once -- the agent has just (re)started, so sleeping would only lose time;
* socket file missing (agent not started yet, or gone): wait -- with no time limit -- until it appears;
* socket file present and unchanged (a stale file left by a killed agent, or a live agent that refused us):
  wait for the delay, but return early when the file is replaced, which is what a restarting agent does
  (unlink + bind, or bind elsewhere + rename over the old file: either way a new inode).

Changes are seen through ``watchfiles`` on the socket's directory (non-recursively), or, while that directory
does not exist either, on its nearest existing ancestor, moving down as directories appear. The file is also
re-checked with ``stat`` every :data:`RECHECK_MS` milliseconds, which covers file systems without inotify and
the instant between checking the file and starting the watcher.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from watchfiles import Change

# watchfiles (with anyio, ~10 ms to import) is loaded only when the client has to wait for the socket: a run
# that connects at once, like every healthy one-shot run, never needs it.

from spiffe_helper.logs import get_logger

# Fallback re-check interval; also bounds how late an event missed by the watcher is noticed.
RECHECK_MS = 500
# Quiet time after a change before watchfiles reports it: a restarting agent unlinks and binds in one go.
STEP_MS = 20

SocketIdentity = tuple[int, int, int]
_log = get_logger("workload")


def socket_identity(path: str) -> SocketIdentity | None:
    """(device, inode, ctime) of ``path``, or ``None`` when it does not exist; a new file gives a new value."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_ctime_ns)


def nearest_existing_dir(path: str) -> str:
    """``path`` itself when it is an existing directory, else its closest existing ancestor."""
    path = os.path.abspath(path)
    while not os.path.isdir(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return path


async def wait_for_socket(path: str, timeout: float, *, seen: SocketIdentity | None) -> bool:
    """Wait as described in the module docstring; True when the socket file appeared or was replaced.

    ``seen`` is :func:`socket_identity` taken before the failed attempt started. Taking it here instead
    would miss an agent that (re)created its socket between the attempt and this call, and sleep the whole
    delay next to a fresh socket. While the file is missing ``timeout`` does not apply: there is nothing to
    connect to before it appears.
    """
    from watchfiles import Change

    added = Change.added
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    parent = os.path.dirname(os.path.abspath(path))
    while True:
        current = socket_identity(path)
        if current is not None and current != seen:
            return True
        if current is not None and loop.time() >= deadline:
            return False
        watch_dir = nearest_existing_dir(parent)
        limit = None if current is None else deadline - loop.time()
        async with contextlib.aclosing(_changes(watch_dir, limit)) as batches:
            async for changes in batches:
                now_id = socket_identity(path)
                if now_id is not None and (now_id != seen or (added, path) in changes):
                    return True
                if now_id is None and current is not None:
                    break  # the file went away: drop the deadline and wait for it to come back
                if nearest_existing_dir(parent) != watch_dir:
                    break  # a missing directory level appeared: watch closer to the socket
        # The watcher ended: deadline reached, file removed, or a directory level appeared. Re-evaluate.


async def _changes(directory: str, limit: float | None) -> AsyncGenerator[set[tuple[Change, str]], None]:
    """Batches of changes in ``directory`` (an empty batch every RECHECK_MS), ending after ``limit`` seconds.

    When no watcher can be set up, one empty batch after a poll interval ends it: the caller re-checks.
    Cancelling the consumer stops the watcher thread within one watchfiles step instead of one RECHECK_MS.
    """
    stop = threading.Event()
    timer = asyncio.get_running_loop().call_later(limit, stop.set) if limit is not None else None
    from watchfiles import awatch

    watcher = awatch(
        directory,
        watch_filter=None,
        recursive=False,
        step=STEP_MS,
        rust_timeout=RECHECK_MS,
        yield_on_timeout=True,
        stop_event=stop,
        ignore_permission_denied=True,
    )
    try:
        while True:
            nxt = asyncio.ensure_future(anext(watcher))
            try:
                changes = await asyncio.shield(nxt)
            except StopAsyncIteration:
                return
            except asyncio.CancelledError:
                # The watcher thread cannot be interrupted; ask it to stop and let it finish before leaving.
                stop.set()
                with contextlib.suppress(BaseException):
                    await nxt
                raise
            except (OSError, RuntimeError) as exc:
                # No watcher: the directory vanished since it was picked, or inotify limits are exhausted.
                # Degrade to one stat re-check after a poll interval; the caller then tries a watcher again.
                _log.debug(
                    "Cannot watch the agent socket directory", extra={"fields": {"dir": directory, "error": exc}}
                )
                await asyncio.sleep(RECHECK_MS / 1000 if limit is None else min(RECHECK_MS / 1000, limit))
                yield set()
                return
            yield {(change, os.path.abspath(p)) for change, p in changes}
    finally:
        if timer is not None:
            timer.cancel()
        stop.set()
        await watcher.aclose()
