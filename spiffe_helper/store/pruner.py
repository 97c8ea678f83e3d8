"""Remove old ``..data`` generations on a background thread, after the update has been reported.

Pruning is not part of an update: when :meth:`~spiffe_helper.store.atomic.AtomicDir.publish` returns, the
swap is durable and readers see the new files. The unlinks still cost a few milliseconds on a journaled disk
(more when other programs keep the journal busy), and in daemon mode the renew signal waits for the write to
return. So the daemon's writer hands the prune to one idle thread: :meth:`BackgroundPruner.request` only
notifies it, and the thread runs :meth:`AtomicDir.prune <spiffe_helper.store.atomic.AtomicDir.prune>`, which
holds the directory's lock, so it never overlaps the next publish.

The thread is a daemon thread: a helper stopped in the middle of a prune leaves at most an old, partly
removed generation, which :meth:`AtomicDir.recover <spiffe_helper.store.atomic.AtomicDir.recover>` removes at
the next start (exactly as after a crash).
"""

from __future__ import annotations

import threading

from spiffe_helper.errors import WriteError
from spiffe_helper.logs import get_logger
from spiffe_helper.store.atomic import AtomicDir

log = get_logger()


class BackgroundPruner:
    """One lazily started thread that prunes ``adir`` whenever asked; requests made meanwhile coalesce."""

    def __init__(self, adir: AtomicDir) -> None:
        self.adir = adir
        self._cond = threading.Condition()
        self._requested = 0
        self._done = 0
        self._thread: threading.Thread | None = None

    def request(self) -> None:
        """Ask for a prune soon; returns at once (the thread starts on the first request)."""
        with self._cond:
            self._requested += 1
            self._cond.notify_all()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="spiffe-helper-prune", daemon=True)
                self._thread.start()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until every request made so far has been served; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._done == self._requested, timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._done != self._requested)
                target = self._requested
            try:
                self.adir.prune()  # OSErrors are left for the next prune or recover()
            except WriteError as exc:
                # The files are visible and the child was signalled; only durability across a power cut is
                # in doubt, and nothing old was removed. Said, not fatal.
                log.warning("Unable to make the last update durable", extra={"fields": {"error": str(exc)}})
            finally:  # even a bug must not leave wait_idle() hanging
                with self._cond:
                    self._done = target
                    self._cond.notify_all()
