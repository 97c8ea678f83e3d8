"""Signal names as the Go helper spells them, and the helper's own signal handlers on the event loop.

Names: ``renew_signal`` / ``reload.signal`` accept exactly the names Go's ``unix.SignalNum`` knows on Linux
(``SIGHUP``, case-sensitive, ``SIG`` prefix required, no aliases such as ``SIGIOT``). Errors and descriptions
use Go's texts (``error getting signal: HUP``, ``user defined signal 1``) so log lines match.

Handlers: PID 1 ignores every signal it has no handler for, so the helper installs an explicit handler for
each signal it forwards (the tini/dumb-init set). They go through ``loop.add_signal_handler`` (a wakeup fd),
never a plain ``signal.signal`` handler, so a signal is never lost on a gRPC thread nor delayed by a thread
parked in a C call.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterable

# Linux signal numbers, names and descriptions as golang.org/x/sys/unix and syscall report them.
_GO_SIGNALS: tuple[tuple[int, str, str], ...] = (
    (1, "SIGHUP", "hangup"),
    (2, "SIGINT", "interrupt"),
    (3, "SIGQUIT", "quit"),
    (4, "SIGILL", "illegal instruction"),
    (5, "SIGTRAP", "trace/breakpoint trap"),
    (6, "SIGABRT", "aborted"),
    (7, "SIGBUS", "bus error"),
    (8, "SIGFPE", "floating point exception"),
    (9, "SIGKILL", "killed"),
    (10, "SIGUSR1", "user defined signal 1"),
    (11, "SIGSEGV", "segmentation fault"),
    (12, "SIGUSR2", "user defined signal 2"),
    (13, "SIGPIPE", "broken pipe"),
    (14, "SIGALRM", "alarm clock"),
    (15, "SIGTERM", "terminated"),
    (16, "SIGSTKFLT", "stack fault"),
    (17, "SIGCHLD", "child exited"),
    (18, "SIGCONT", "continued"),
    (19, "SIGSTOP", "stopped (signal)"),
    (20, "SIGTSTP", "stopped"),
    (21, "SIGTTIN", "stopped (tty input)"),
    (22, "SIGTTOU", "stopped (tty output)"),
    (23, "SIGURG", "urgent I/O condition"),
    (24, "SIGXCPU", "CPU time limit exceeded"),
    (25, "SIGXFSZ", "file size limit exceeded"),
    (26, "SIGVTALRM", "virtual timer expired"),
    (27, "SIGPROF", "profiling timer expired"),
    (28, "SIGWINCH", "window changed"),
    (29, "SIGIO", "I/O possible"),
    (30, "SIGPWR", "power failure"),
    (31, "SIGSYS", "bad system call"),
)
_BY_NAME = {name: num for num, name, _ in _GO_SIGNALS}
_NAMES = {num: name for num, name, _ in _GO_SIGNALS}
_DESCRIPTIONS = {num: desc for num, _, desc in _GO_SIGNALS}

#: Signals the helper handles and passes on to the child's process group (tini's and dumb-init's set).
#: SIGCHLD belongs to the reaper; SIGKILL/SIGSTOP cannot be caught; fault signals are never forwarded.
FORWARDED_SIGNALS: tuple[signal.Signals, ...] = (
    signal.SIGHUP,
    signal.SIGINT,
    signal.SIGQUIT,
    signal.SIGTERM,
    signal.SIGUSR1,
    signal.SIGUSR2,
    signal.SIGWINCH,
    signal.SIGCONT,
    signal.SIGALRM,
)

#: Signals that ask the helper itself to stop (the child gets the same signal, then SIGKILL after the
#: grace period).
STOP_SIGNALS: frozenset[int] = frozenset({signal.SIGTERM, signal.SIGINT})


class SignalNameError(ValueError):
    """An unknown signal name; ``str()`` is Go's ``error getting signal: <name>``."""


def parse_signal(name: str) -> signal.Signals:
    """The signal called ``name`` (``"SIGHUP"``); raises :class:`SignalNameError` as Go does."""
    num = _BY_NAME.get(name)
    if num is None:
        raise SignalNameError(f"error getting signal: {name}")
    return signal.Signals(num)


def signal_name(sig: int) -> str:
    """``SIGHUP`` for 1; ``signal 40`` for numbers without a name."""
    return _NAMES.get(int(sig), f"signal {int(sig)}")


def signal_description(sig: int) -> str:
    """Go's ``syscall.Signal.String()``: ``hangup``, ``user defined signal 1``, ``signal 40``."""
    return _DESCRIPTIONS.get(int(sig), f"signal {int(sig)}")


class SignalRouter:
    """Routes the helper's signals to one callback on the event loop.

    ``on_signal(signum)`` runs in the loop thread for every signal in ``signals``. The owner decides what
    each means (stop for :data:`STOP_SIGNALS`, forward the rest to the child). :meth:`close` removes the
    handlers and restores the default dispositions.
    """

    def __init__(self, on_signal: Callable[[int], None], signals: Iterable[int] = FORWARDED_SIGNALS) -> None:
        self._on_signal = on_signal
        self._signals = tuple(signals)
        self._loop: asyncio.AbstractEventLoop | None = None

    def install(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Install the handlers (must run in the main thread, inside or with the loop)."""
        self._loop = loop or asyncio.get_running_loop()
        for sig in self._signals:
            self._loop.add_signal_handler(sig, self._on_signal, int(sig))

    def close(self) -> None:
        """Remove the handlers (idempotent)."""
        if self._loop is None:
            return
        for sig in self._signals:
            with contextlib.suppress(ValueError, RuntimeError):
                self._loop.remove_signal_handler(sig)
        self._loop = None
