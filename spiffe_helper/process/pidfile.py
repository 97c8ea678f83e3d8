"""``pid_file_name``: signal the process whose pid is in a file, re-read on every rotation, with retry.

Go retries (v0.11.0, #333) 10 attempts with sleeps of 100 ms doubling (about 51 s), any error, and blocks
the update goroutine meanwhile. Here the retry runs as a background task: a newer rotation cancels an older
retry and starts afresh (the file is re-read, so a restarted process is found). Messages are Go's; a stale
pid is named as such (checked with psutil, which never waits on or reaps anything).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import random
import stat

from spiffe_helper.process.signals import SignalNameError, parse_signal, signal_description

log = logging.getLogger("spiffe_helper.process")

_GO_SPACE = " \t\n\v\f\r\x85\xa0"  # bytes.TrimSpace on the ASCII/Latin-1 range
_INT64_MAX = 2**63 - 1


class PidFileError(Exception):
    """Signalling through the pid file failed; ``str()`` is the Go helper's message."""


def _go_quote(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def _go_errno_text(err: OSError) -> str:
    text = os.strerror(err.errno) if err.errno else str(err)
    return text[:1].lower() + text[1:]


def _atoi(s: str) -> int:
    """Go's ``strconv.Atoi``: optional sign and decimal digits, int64 range, Go's error texts."""
    digits = s[1:] if s[:1] in ("+", "-") else s
    if not digits or not all("0" <= c <= "9" for c in digits):
        raise ValueError(f"strconv.Atoi: parsing {_go_quote(s)}: invalid syntax")
    value = int(s)
    if not -_INT64_MAX - 1 <= value <= _INT64_MAX:
        raise ValueError(f"strconv.Atoi: parsing {_go_quote(s)}: value out of range")
    return value


def read_pid_file(path: str) -> int:
    """The pid in ``path`` (surrounding whitespace ignored); :class:`PidFileError` with Go's messages."""
    failed = f"failed to read pid file {_go_quote(path)}"
    try:
        # Non-blocking, regular files only: this runs on the event loop, and a FIFO would block it forever.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as err:
        raise PidFileError(f"{failed}: open {path}: {_go_errno_text(err)}") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise PidFileError(f"{failed}: read {path}: {_go_errno_text(IsADirectoryError(errno.EISDIR, ''))}")
        if not stat.S_ISREG(st.st_mode):
            raise PidFileError(f"{failed}: read {path}: not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read()
    except OSError as err:
        raise PidFileError(f"{failed}: read {path}: {_go_errno_text(err)}") from None
    finally:
        os.close(fd)
    text = data.decode("utf-8", "replace").strip(_GO_SPACE)
    try:
        return _atoi(text)
    except ValueError as err:
        raise PidFileError(f"failed to parse pid file {_go_quote(path)}: {err}") from None


def _stale_reason(pid: int) -> str | None:
    """Why ``pid`` cannot be the process meant, or None if it is alive."""
    import psutil  # only when a pid file is used: psutil costs ~20 ms of start-up and ~0.4 MB

    try:
        if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
            return f"pid {pid} has exited (zombie)"
    except psutil.NoSuchProcess:
        return f"no process with pid {pid}"
    except psutil.Error:
        return None
    return None


def signal_pid_file(path: str, signal_name: str) -> int:
    """Read ``path`` and send ``signal_name`` to that pid; returns the pid. An empty name is a no-op (Go)."""
    pid = read_pid_file(path)
    if pid <= 0:
        # Go would pass this to kill(2), where 0 and negative numbers address whole process groups.
        raise PidFileError(f"failed to find process id {pid}: not a process id")
    if signal_name == "":
        return pid
    try:
        sig = parse_signal(signal_name)
    except SignalNameError as err:
        raise PidFileError(str(err)) from None
    prefix = f"error signaling process with signal num {signal_description(sig)}"
    stale = _stale_reason(pid)
    if stale is not None:
        raise PidFileError(f"{prefix}: os: process already finished (stale pid file {_go_quote(path)}: {stale})")
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        raise PidFileError(
            f"{prefix}: os: process already finished (stale pid file {_go_quote(path)}: no process with pid {pid})"
        ) from None
    except OSError as err:
        raise PidFileError(f"{prefix}: {_go_errno_text(err)}") from None
    return pid


class PidFileSignaller:
    """Signals the pid in a file on each :meth:`trigger`, retrying in the background with Go's backoff.

    ``attempts`` tries with sleeps of ``base_delay`` multiplied by ``factor`` each time, plus up to
    ``jitter`` of random extra (Go: 10, 100 ms, 2.0, 0.1). The final failure logs ``Unable to signal PID
    file`` with ``error=``; intermediate failures log at debug level only.
    """

    def __init__(
        self,
        path: str,
        signal_name: str,
        *,
        attempts: int = 10,
        base_delay: float = 0.1,
        factor: float = 2.0,
        jitter: float = 0.1,
    ) -> None:
        self.path = path
        self.signal_name = signal_name
        self._attempts = max(1, attempts)
        self._base = base_delay
        self._factor = factor
        self._jitter = jitter
        self._task: asyncio.Task[int | None] | None = None

    def trigger(self) -> asyncio.Task[int | None]:
        """Start signalling now; cancels a retry still running from an older rotation.

        The task's result is the pid signalled, or None after the final failure.
        """
        if self._task is not None and not self._task.done():
            log.debug("Superseding an unfinished PID file retry", extra={"fields": {"file": self.path}})
            self._task.cancel()
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"pidfile:{self.path}")
        return self._task

    async def wait(self) -> int | None:
        """Wait for the latest signalling run; its pid, or None (failed, superseded or never run)."""
        task = self._task
        if task is None:
            return None
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.cancelled():
                return None
            raise

    async def close(self) -> None:
        """Cancel a running retry and wait for it to end."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> int | None:
        delay = self._base
        last: PidFileError | None = None
        for attempt in range(1, self._attempts + 1):
            try:
                pid = signal_pid_file(self.path, self.signal_name)
            except PidFileError as err:
                last = err
            else:
                log.debug(
                    "Signalled process from PID file",
                    extra={"fields": {"pid": pid, "signal": self.signal_name, "file": self.path}},
                )
                return pid
            if attempt == self._attempts:
                break
            log.debug(
                "Signalling PID file failed; retrying",
                extra={"fields": {"attempt": attempt, "error": str(last)}},
            )
            await asyncio.sleep(delay * (1.0 + random.random() * self._jitter))
            delay *= self._factor
        log.error("Unable to signal PID file", extra={"fields": {"error": str(last)}})
        return None
