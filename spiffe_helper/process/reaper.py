"""The only code that waits on processes: ``waitpid(-1, WNOHANG)`` on SIGCHLD plus a periodic tick.

As PID 1 (or a child subreaper) the helper inherits every orphan in the container; each must be reaped or it
stays a zombie. One reaper collects them all, and reports the exits of the children it was asked to watch as
:class:`ChildExit` values. Nothing else may call ``wait``: a second waiter (``Popen.wait``,
``psutil.Process.wait``) would steal exit statuses (design notes, fact 2).

Reaping runs only in the event-loop thread, so a pid spawned and passed to :meth:`Reaper.watch` before the
caller next awaits cannot be collected unobserved.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
from dataclasses import dataclass

from spiffe_helper.process.signals import signal_name

log = logging.getLogger("spiffe_helper.process")

_PR_SET_CHILD_SUBREAPER = 36


@dataclass(frozen=True)
class ChildExit:
    """How a child ended. ``exit_code`` is the shell convention: the code, or 128+N after signal N."""

    pid: int
    exit_code: int
    signal: int | None = None

    @classmethod
    def from_status(cls, pid: int, status: int) -> ChildExit:
        """Decode a raw ``waitpid`` status (``os.waitstatus_to_exitcode`` gives -N, we want 128+N)."""
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            return cls(pid, 128 + sig, sig)
        if os.WIFEXITED(status):
            return cls(pid, os.WEXITSTATUS(status))
        return cls(pid, 255)  # not reachable without WUNTRACED/WCONTINUED

    def describe(self) -> str:
        """``exit status 3`` or ``killed by signal SIGTERM``."""
        if self.signal is not None:
            return f"killed by signal {signal_name(self.signal)}"
        return f"exit status {self.exit_code}"


def set_child_subreaper(enabled: bool = True) -> bool:
    """Become (or stop being) a child subreaper: orphans of our descendants re-parent to us. False if unsupported."""
    try:
        # The interpreter's own symbols include libc's: no ctypes.util.find_library, which imports
        # shutil/tempfile/bz2/lzma (~25 ms cold) and runs `ldconfig -p` in a subprocess.
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_CHILD_SUBREAPER, int(enabled), 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


class Reaper:
    """Collects every child of this process; resolves a future for each watched pid.

    ``start()`` inside the running loop, ``watch(pid)`` right after spawning, ``close()`` at the end.
    ``orphans_reaped`` counts exits of processes nobody watched (re-parented orphans).
    """

    def __init__(self, *, tick: float = 1.0, subreaper: bool = True) -> None:
        self._tick = tick
        self._want_subreaper = subreaper
        self._watched: dict[int, asyncio.Future[ChildExit]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self.orphans_reaped = 0
        self.subreaper = False

    def start(self) -> None:
        """Install the SIGCHLD handler and the tick; become a subreaper unless we are PID 1."""
        self._loop = asyncio.get_running_loop()
        if self._want_subreaper and os.getpid() != 1:
            self.subreaper = set_child_subreaper()
        self._loop.add_signal_handler(signal.SIGCHLD, self.reap)
        self._schedule_tick()
        self.reap()  # anything that ended before the handler existed

    def close(self) -> None:
        """Remove the handler and the tick, stop being a subreaper; pending watches stay unresolved."""
        if self.subreaper:
            # Orphans arriving after this would stay zombies: let init adopt them again.
            set_child_subreaper(False)
            self.subreaper = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._loop is not None:
            with contextlib.suppress(ValueError, RuntimeError):
                self._loop.remove_signal_handler(signal.SIGCHLD)
            self._loop = None

    def watch(self, pid: int) -> asyncio.Future[ChildExit]:
        """A future resolved with the exit of ``pid``. Call before the next ``await`` after spawning."""
        loop = self._loop or asyncio.get_running_loop()
        fut = self._watched.get(pid)
        if fut is None or fut.done():
            fut = loop.create_future()
            self._watched[pid] = fut
        return fut

    def reap(self) -> None:
        """Collect every child that has ended (called on SIGCHLD, on the tick, or by hand)."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return  # no children at all
            except InterruptedError:
                continue
            if pid == 0:
                return
            result = ChildExit.from_status(pid, status)
            fut = self._watched.pop(pid, None)
            if fut is None:
                self.orphans_reaped += 1
                log.debug("Reaped orphan", extra={"fields": {"pid": pid, "status": result.describe()}})
            elif not fut.done():
                fut.set_result(result)

    def _schedule_tick(self) -> None:
        if self._loop is not None:
            self._timer = self._loop.call_later(self._tick, self._on_tick)

    def _on_tick(self) -> None:
        # A safety net: signals coalesce, and a SIGCHLD may arrive while the handler is being replaced.
        self.reap()
        self._schedule_tick()
