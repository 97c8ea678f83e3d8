"""Legacy ``cmd`` / ``cmd_args`` / ``renew_signal`` / ``pid_file_name``: the Go helper's semantics.

- The first successful write of this run starts ``cmd`` (no signal to a freshly started child).
- A later write that changed the files sends ``renew_signal`` to the running child (an empty name is a
  no-op, as Go), or re-runs the child if it has exited, so one-shot reloaders such as
  ``mysql -e "ALTER INSTANCE RELOAD TLS"`` run once per rotation. A write that changed nothing does neither.
- A launch that failed (bad ``cmd_args``, command not found) is retried at the next write, changed or not.
- The child's exit is logged and never ends the helper.
- ``pid_file_name`` is signalled on the first write and on every change, retried in the background.
- Errors are logged with Go's ``Unable to signal process`` line and never stop the helper.

Beyond Go: the child leads its own process group, signals sent to the helper are forwarded to that group,
and on shutdown the group gets SIGTERM and, after the grace period, SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Sequence

from spiffe_helper.errors import EXIT_OK, SpawnError
from spiffe_helper.process.child import (
    Child,
    SignalSendError,
    log_exited,
    log_started,
    send_named_signal,
    start_child,
)
from spiffe_helper.process.cmdargs import CmdArgsError, split_cmd_args
from spiffe_helper.process.pidfile import PidFileSignaller
from spiffe_helper.process.reaper import Reaper

log = logging.getLogger("spiffe_helper.process")


class LegacySupervisor:
    """Runs ``cmd`` and signals it (and the pid file) on rotation, as the Go helper does."""

    def __init__(
        self,
        reaper: Reaper,
        *,
        cmd: str = "",
        cmd_args: str | Sequence[str] = "",
        renew_signal: str = "",
        pid_file_name: str = "",
        grace_period: float = 10.0,
        signal_group: bool = False,
        pid_file: PidFileSignaller | None = None,
    ) -> None:
        self._reaper = reaper
        self.cmd = cmd
        self.cmd_args = cmd_args
        self.renew_signal = renew_signal
        self.grace_period = grace_period
        self.signal_group = signal_group
        if pid_file is None and pid_file_name:
            pid_file = PidFileSignaller(pid_file_name, renew_signal)
        self.pid_file = pid_file
        self.child: Child | None = None
        self._written = False
        self._stopping = False
        self._done: asyncio.Future[int] | None = None
        self._watchers: set[asyncio.Task[None]] = set()

    @property
    def child_pid(self) -> int | None:
        """The running child's pid, if any."""
        return self.child.pid if self.child is not None and self.child.running else None

    def argv(self) -> list[str]:
        """``[cmd, *args]``; raises :class:`CmdArgsError` (Go's csv message) on bad ``cmd_args``."""
        return [self.cmd, *split_cmd_args(self.cmd_args)]

    def on_credentials_written(self, changed: bool) -> None:
        """Call after every successful write of the X.509 files, once all of them are in place."""
        if self._stopping:
            return
        first = not self._written
        self._written = True
        if self.cmd:
            if self.child is None:
                self._launch()  # first write, or an earlier launch failed
            elif not self.child.running:
                if changed:
                    self._launch()
            elif changed:
                self._renew()
        if self.pid_file is not None and (first or changed):
            self.pid_file.trigger()

    def forward(self, sig: int) -> None:
        """Pass a signal the helper received on to the child's process group (if there is one)."""
        if self.child is not None and (self.child.running or self.child.group_alive()):
            self.child.signal_group(sig)

    async def stop(self, sig: int = signal.SIGTERM) -> int:
        """Stop the child's group (``sig``, then SIGKILL after the grace period). Returns 0, as Go exits."""
        self._stopping = True
        if self.pid_file is not None:
            await self.pid_file.close()
        if self.child is not None and (self.child.running or self.child.group_alive()):
            await self.child.terminate(self.grace_period, sig)
        for task in list(self._watchers):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        done = self._exit_future()
        if not done.done():
            done.set_result(EXIT_OK)
        return EXIT_OK

    async def wait_exit(self) -> int:
        """Resolves only after :meth:`stop`: in legacy mode the child's exit never ends the helper."""
        return await asyncio.shield(self._exit_future())

    async def idle(self) -> None:
        """Wait for background work (pid file retries) to finish; for tests and orderly shutdown."""
        if self.pid_file is not None:
            await self.pid_file.wait()

    def _exit_future(self) -> asyncio.Future[int]:
        if self._done is None:
            self._done = asyncio.get_running_loop().create_future()
        return self._done

    def _launch(self) -> None:
        try:
            argv = self.argv()
        except CmdArgsError as err:
            _unable(f"error parsing cmd arguments: {err}")
            return
        try:
            child = start_child(self._reaper, argv)
        except SpawnError as err:
            _unable(str(err))
            return
        self.child = child
        log_started(child)
        task = asyncio.get_running_loop().create_task(self._watch(child), name=f"child:{child.pid}")
        self._watchers.add(task)
        task.add_done_callback(self._watchers.discard)

    def _renew(self) -> None:
        try:
            send_named_signal(self.child, self.renew_signal, group=self.signal_group)
        except SignalSendError as err:
            _unable(str(err))

    async def _watch(self, child: Child) -> None:
        log_exited(child, await child.exited)


def _unable(error: str) -> None:
    log.error("Unable to signal process", extra={"fields": {"error": error}})
