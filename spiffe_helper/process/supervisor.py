"""The supervisor the orchestrator talks to, and how one is chosen from the configuration.

Two implementations share one small interface (:class:`Supervisor`):

- :class:`~spiffe_helper.process.legacy.LegacySupervisor` for the Go keys ``cmd``, ``cmd_args``,
  ``renew_signal`` and ``pid_file_name`` (Go semantics; the helper never exits because the child did);
- :class:`~spiffe_helper.process.wrapper.AppSupervisor` for ``start {}`` / ``reload {}`` (the helper is the
  app's entrypoint and ends with its exit code).

The orchestrator calls ``on_credentials_written(changed)`` after each successful X.509 write (all files in
place), ``forward(sig)`` for signals it does not handle itself, ``stop(sig)`` on shutdown, and awaits
``wait_exit()`` to learn that the helper must end, with which code.
"""

from __future__ import annotations

import signal
from typing import Protocol

from spiffe_helper.process.legacy import LegacySupervisor
from spiffe_helper.process.reaper import Reaper
from spiffe_helper.process.wrapper import AppSupervisor, ReloadAction, RestartBackoff


class Supervisor(Protocol):
    """What the orchestrator needs from either supervisor."""

    @property
    def child_pid(self) -> int | None:
        """The running child's pid, if any."""
        ...

    def on_credentials_written(self, changed: bool) -> None:
        """After each successful X.509 write: start, signal or re-run as the mode says."""
        ...

    def forward(self, sig: int) -> None:
        """Forward a signal the helper received to the child's process group."""
        ...

    async def stop(self, sig: int = signal.SIGTERM) -> int:
        """Stop the child (``sig``, SIGKILL after the grace period); the exit code the helper should use."""
        ...

    async def wait_exit(self) -> int:
        """Resolves when the helper must end (wrapper mode: the app ended; both: after ``stop``)."""
        ...

    async def idle(self) -> None:
        """Wait for background work (reload commands, pid file retries)."""
        ...


class _StartSettings(Protocol):
    @property
    def cmd(self) -> str: ...
    @property
    def args(self) -> tuple[str, ...]: ...
    @property
    def restart(self) -> str: ...


class _ReloadSettings(Protocol):
    @property
    def signal(self) -> str: ...
    @property
    def cmd(self) -> str: ...
    @property
    def args(self) -> tuple[str, ...]: ...
    @property
    def pid_file_name(self) -> str: ...


class SupervisorSettings(Protocol):
    """The configuration fields a supervisor is built from (``spiffe_helper.config.model.Config`` fits)."""

    @property
    def cmd(self) -> str: ...
    @property
    def cmd_args(self) -> str | tuple[str, ...]: ...
    @property
    def renew_signal(self) -> str: ...
    @property
    def pid_file_name(self) -> str: ...
    @property
    def shutdown_grace_period(self) -> float: ...
    @property
    def start(self) -> _StartSettings | None: ...
    @property
    def reload(self) -> _ReloadSettings | None: ...


def build_supervisor(
    config: SupervisorSettings, reaper: Reaper, *, backoff: RestartBackoff | None = None
) -> Supervisor | None:
    """The supervisor ``config`` asks for, or None when there is nothing to run or signal.

    ``start {}`` or ``reload {}`` selects wrapper mode (validation has already rejected mixing them with
    the legacy keys they replace); otherwise ``cmd`` / ``pid_file_name`` select legacy mode.
    """
    grace = config.shutdown_grace_period
    if config.start is not None or config.reload is not None:
        start = config.start
        reload = config.reload
        action = (
            ReloadAction(reload.signal, reload.cmd, tuple(reload.args), reload.pid_file_name)
            if reload is not None
            else None
        )
        return AppSupervisor(
            reaper,
            cmd=start.cmd if start is not None else "",
            args=tuple(start.args) if start is not None else (),
            restart=start.restart if start is not None and start.restart else "never",
            reload=action,
            grace_period=grace,
            backoff=backoff,
        )
    if config.cmd or config.pid_file_name:
        return LegacySupervisor(
            reaper,
            cmd=config.cmd,
            cmd_args=config.cmd_args,
            renew_signal=config.renew_signal,
            pid_file_name=config.pid_file_name,
            grace_period=grace,
        )
    return None
