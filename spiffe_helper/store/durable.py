"""fsync several files at once, so that one journal commit makes them all durable.

Every fsync of a new file on a journaling file system (ext4, xfs) waits for a journal commit. Issued one
after another, N fsyncs wait for N commits, and on a busy disk each commit also carries everybody else's
metadata: on the shared CI disk, three files plus their directory took a median 9 ms one by one and 2 ms
issued together (the journal groups waiters on the same transaction into one commit). So the files of one
update are fsynced concurrently, from a small pool of threads (``os.fsync`` releases the GIL), and the caller
continues only when every one of them has returned. What is durable, and in which order relative to the
renames, does not change: only the waiting overlaps.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

# The calling thread syncs one descriptor itself; an update has at most three files plus their directory.
WORKERS = 3

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pool_pid = 0


def _executor() -> ThreadPoolExecutor:
    global _pool, _pool_pid
    with _lock:
        # A forked child inherits the object but not its threads: it needs a pool of its own.
        if _pool is None or _pool_pid != os.getpid():
            from concurrent.futures import ThreadPoolExecutor

            _pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="spiffe-helper-fsync")
            _pool_pid = os.getpid()
        return _pool


def _fsync(fd: int) -> OSError | None:
    try:
        os.fsync(fd)
    except OSError as exc:
        return exc
    return None


def fsync_all(fds: Sequence[int], *, concurrent: bool = True) -> list[OSError | None]:
    """fsync every descriptor in ``fds`` concurrently; returns once all are done, with each one's error or None.

    ``concurrent=False`` syncs them one after another on the calling thread: for memory-backed file systems,
    where an fsync returns at once and a hand-over to the pool would be the only cost (see ``store.medium``).
    """
    if len(fds) <= 1 or not concurrent:
        return [_fsync(fd) for fd in fds]
    futures: list[Future[OSError | None]] = []
    try:
        pool = _executor()
        for fd in fds[1:]:
            futures.append(pool.submit(_fsync, fd))
    except RuntimeError:  # the interpreter is shutting down (no new threads): the rest is synced here
        pass
    results = [_fsync(fds[0])]
    results += [f.result() for f in futures]
    results += [_fsync(fd) for fd in fds[1 + len(futures) :]]
    return results
