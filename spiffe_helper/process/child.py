"""A started child process: its pid, its process group, its exit future, and a graceful stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shlex
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from signal import SIGKILL, SIGTERM

from spiffe_helper.process.reaper import ChildExit, Reaper
from spiffe_helper.process.signals import SignalNameError, parse_signal, signal_description, signal_name
from spiffe_helper.process.spawn import spawn

log = logging.getLogger("spiffe_helper.process")


class ProcessFinishedError(ProcessLookupError):
    """The child has already exited; ``str()`` is Go's ``os: process already finished``."""

    def __init__(self) -> None:
        super().__init__("os: process already finished")


@dataclass
class Child:
    """A child started by :func:`start_child`. Its process group id equals its pid."""

    pid: int
    argv: tuple[str, ...]
    exited: asyncio.Future[ChildExit]
    started_at: float = field(default_factory=time.monotonic)

    @property
    def running(self) -> bool:
        """True until the reaper has collected the child."""
        return not self.exited.done()

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the child itself; :class:`ProcessFinishedError` once it has exited.

        Safe against pid reuse: the pid cannot be recycled before the reaper collects it, and the reaper
        runs in this (the loop) thread.
        """
        if not self.running:
            raise ProcessFinishedError()
        os.kill(self.pid, sig)

    def signal_group(self, sig: int) -> bool:
        """Send ``sig`` to the child's process group; False when the group no longer exists."""
        try:
            os.killpg(self.pid, sig)
        except ProcessLookupError:
            return False
        except PermissionError:
            # A member changed credentials (setuid); reach at least the leader.
            if self.running:
                os.kill(self.pid, sig)
        return True

    def group_alive(self) -> bool:
        """Whether any process (the child or something it started) is still in the group."""
        try:
            os.killpg(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    async def terminate(self, grace: float, sig: int = SIGTERM) -> ChildExit:
        """Stop the whole group: ``sig`` now, SIGKILL to whatever is left after ``grace`` seconds.

        Returns the child's own exit (the group's other members are stopped but not reported).
        """
        deadline = time.monotonic() + grace
        if self.running or self.group_alive():
            self.signal_group(sig)
        try:
            result = await asyncio.wait_for(asyncio.shield(self.exited), max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            log.warning(
                "Process did not exit within the grace period; killing it",
                extra={"fields": {"pid": self.pid, "grace_period": f"{grace:g}s"}},
            )
            self.signal_group(SIGKILL)
            result = await self.exited
        # What the child started may still run in its group; give it the rest of the grace period.
        while self.group_alive() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if self.group_alive():
            self.signal_group(SIGKILL)
        return result

    def stop_group_leftovers(self, sig: int = SIGTERM) -> None:
        """After the child exited, send ``sig`` to what it left running in its group (tini does this)."""
        if not self.running and self.group_alive():
            log.debug(
                "Signalling the rest of the process group",
                extra={"fields": {"pgid": self.pid, "signal": signal_name(sig)}},
            )
            with contextlib.suppress(OSError):
                os.killpg(self.pid, sig)


def start_child(
    reaper: Reaper,
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    foreground_tty: bool = False,
) -> Child:
    """Spawn ``argv`` in its own process group and register it with ``reaper`` in the same step.

    Raises :class:`spiffe_helper.errors.SpawnError` (exit code 127 or 126).
    """
    pid = spawn(argv, env=env, new_group=True, foreground_tty=foreground_tty)
    return Child(pid=pid, argv=tuple(argv), exited=reaper.watch(pid))


class SignalSendError(Exception):
    """A renew/reload signal could not be sent; ``str()`` is the Go helper's message."""


def send_named_signal(child: Child | None, signal_name_: str, *, group: bool = False) -> None:
    """Go's ``SignalProcess``: an empty name is a no-op; errors carry Go's texts.

    ``error getting signal: HUP`` for an unknown name, ``error signaling process with signal num
    hangup: os: process already finished`` when the child has exited.
    """
    if signal_name_ == "":
        return
    try:
        sig = parse_signal(signal_name_)
    except SignalNameError as err:
        raise SignalSendError(str(err)) from None
    prefix = f"error signaling process with signal num {signal_description(sig)}"
    if child is None:
        raise SignalSendError(f"{prefix}: {ProcessFinishedError()}")
    try:
        if group and child.running:
            child.signal_group(sig)
        else:
            child.signal(sig)
    except OSError as err:
        text = str(err) if isinstance(err, ProcessFinishedError) else (err.strerror or str(err)).lower()
        raise SignalSendError(f"{prefix}: {text}") from None


def log_started(child: Child) -> None:
    """``Process started`` (the Go helper logs nothing here; users asked to see it).

    The arguments go to debug level only: they may carry secrets (``cmd_args = "-pSECRET"``).
    """
    log.info("Process started", extra={"fields": {"cmd": child.argv[0], "pid": child.pid}})
    log.debug("Process arguments", extra={"fields": {"pid": child.pid, "args": shlex.join(child.argv[1:])}})


def log_exited(child: Child, result: ChildExit) -> None:
    """``Process exited`` with the exit code (128+N after signal N) and how it ended."""
    log.info(
        "Process exited",
        extra={
            "fields": {
                "cmd": child.argv[0],
                "pid": child.pid,
                "exit_code": result.exit_code,
                "status": result.describe(),
            }
        },
    )
